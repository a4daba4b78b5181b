/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Command line: `vqvm run [options]`, `vqvm --api-sock PATH [options]` (no guest until
 * the API's InstanceStart), `vqvm --config-file FILE [options]`, `vqvm --help`,
 * `vqvm --version`.
 */
#ifndef VQVM_VMM_CLI_H
#define VQVM_VMM_CLI_H

#include <stdio.h>

#include "lib/err.h"
#include "vmm/config.h"

enum cli_result {
	CLI_RUN = 0,   /* cfg is filled in: boot it */
	CLI_WAIT,      /* cfg is a start: wait for InstanceStart on cfg->api_sock */
	CLI_EXIT_OK,   /* help or version printed */
	CLI_ERROR = -1 /* e says why */
};

enum cli_result cli_parse(int argc, char **argv, struct vm_config *cfg, struct err *e);
void cli_usage(FILE *out);

#endif
