// SPDX-License-Identifier: Apache-2.0
/* vqvm: parse the command line, build the VM, run it, report how it ended. */
#include <stdio.h>
#include <stdlib.h>

#include "lib/log.h"
#include "vmm/cli.h"
#include "vmm/vm.h"

int main(int argc, char **argv)
{
	struct vm_config cfg;
	struct err e = { { 0 } };
	struct vm *vm;
	int status;

	config_init(&cfg);
	switch (cli_parse(argc, argv, &cfg, &e)) {
	case CLI_EXIT_OK:
		config_free(&cfg);
		return 0;
	case CLI_ERROR:
		fprintf(stderr, "vqvm: %s\n", e.msg);
		config_free(&cfg);
		return 2;
	case CLI_RUN:
		break;
	}
	log_set_level(cfg.log_level);
	vm = calloc(1, sizeof(*vm));
	if (!vm) {
		fprintf(stderr, "vqvm: out of memory\n");
		return 1;
	}
	if (vm_create(vm, &cfg, &e)) {
		fprintf(stderr, "vqvm: %s\n", e.msg);
		vm_destroy(vm);
		free(vm);
		config_free(&cfg);
		return 1;
	}
	vm_run(vm);
	status = vm_exit_status(vm);
	if (status)
		fprintf(stderr, "vqvm: %s\n", vm->end_msg);
	else
		log_info("%s", vm->end_msg);
	vm_destroy(vm);
	free(vm);
	config_free(&cfg);
	return status;
}
