// SPDX-License-Identifier: Apache-2.0
/*
 * vqvm: parse the command line, then let the controller boot the VM (at once, or when
 * the API says so), run it and report how it ended.
 */
#include <stdio.h>
#include <stdlib.h>

#include "lib/log.h"
#include "vmm/cli.h"
#include "vmm/control.h"

int main(int argc, char **argv)
{
	struct vm_config cfg;
	struct err e = { { 0 } };
	struct control *c;
	bool boot_now = true;
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
	case CLI_WAIT:
		boot_now = false;
		break;
	case CLI_RUN:
		break;
	}
	log_set_level(cfg.log_level);
	control_block_signals(); /* before any thread starts */
	c = calloc(1, sizeof(*c));
	if (!c) {
		fprintf(stderr, "vqvm: out of memory\n");
		config_free(&cfg);
		return 1;
	}
	if (control_init(c, &cfg, &e) || (c->cfg.api_sock && control_start_api(c, &e))) {
		fprintf(stderr, "vqvm: %s\n", e.msg);
		control_destroy(c);
		free(c);
		config_free(&cfg);
		return 1;
	}
	c->watch_signals = true;
	status = control_run(c, boot_now);
	if (status)
		fprintf(stderr, "vqvm: %s\n", c->end_msg);
	else
		log_info("%s", c->end_msg);
	control_destroy(c);
	free(c);
	return status;
}
