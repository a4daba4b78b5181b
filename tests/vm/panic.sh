#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A guest kernel panic ends vqvm with a non-zero status and says so on stderr, even though
# panic=1 makes the kernel reset the machine just like a reboot.
. "$(dirname "$0")/../lib.sh"

cat >"$work/guest.sh" <<'GUEST'
echo "about to crash"
echo c >/proc/sysrq-trigger
GUEST
"$vm_run" --script "$work/guest.sh" >"$work/out" 2>"$work/err"
status=$?
check "vqvm exits 1 on a guest panic" expect_status 1 "$status"
check "the panic is on the console" expect_line "$work/out" 'Kernel panic - not syncing'
check "vqvm names the reason" expect_line "$work/err" '^vqvm: guest kernel panicked$'
[ "$failures" -eq 0 ] || { show "$work/out"; show "$work/err"; }
finish
