# SPDX-License-Identifier: Apache-2.0
# Shell helpers for the API's VM tests (tests/vm/api-*.sh). A test puts them in front of
# the script that vm-run runs as the VMM command (in the sandbox's L1, or here): that
# script starts vqvm with --api-sock and drives it with curl. $dir is its scratch
# directory. Its own output (API_ lines) goes to stderr, so that it never lands inside
# a line of the guest's console, which is vqvm's stdout.
exec 3>&1 1>&2

# vqvm_start VQVM [ARGS...]: run it with --api-sock $dir/api.sock in the background
# ($pid, $sock) and return once the socket exists (or 10 s passed).
vqvm_start() {
	sock=$dir/api.sock
	"$@" --api-sock "$sock" >&3 &
	pid=$!
	for _ in $(seq 100); do
		[ -S "$sock" ] && break
		sleep 0.1
	done
}

# api NAME METHOD PATH [BODY]: print API_NAME=<HTTP status>; the reply's body is in
# $dir/NAME.
api() {
	local name=$1 method=$2 path=$3 body=${4:-}
	local args=(-sS --unix-socket "$sock" -o "$dir/$name" -w '%{http_code}' -X "$method")
	: >"$dir/$name"
	[ -z "$body" ] || args+=(-H 'Content-Type: application/json' -d "$body")
	echo "API_$name=$(curl "${args[@]}" "http://localhost$path")"
}

# api_wait NAME PATH REGEX SECONDS: GET PATH until its body matches the extended REGEX;
# print API_NAME=ok or API_NAME=timeout (the last body is in $dir/NAME).
api_wait() {
	local name=$1 path=$2 re=$3 i=0
	while [ "$i" -lt $(($4 * 2)) ]; do
		curl -sS --unix-socket "$sock" -o "$dir/$name" "http://localhost$path"
		grep -Eq -- "$re" "$dir/$name" && { echo "API_$name=ok"; return 0; }
		sleep 0.5
		i=$((i + 1))
	done
	echo "API_$name=timeout"
	return 1
}
