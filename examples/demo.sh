#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The Star Wars demo: a deathstar service (three replicas), an Empire tiefighter and an Alliance
# xwing, each a network namespace behind a veth with an identity from its labels. Then no policy,
# an L3/L4 policy, an L7 policy and an L7 policy with a header rule, each with the requests that
# show what it changed, narrated like a terminal session, and the flow events of it all.
#
# Usage: sudo examples/demo.sh [--bin PATH/TO/starwars]
# The default binary is build/examples/starwars (meson setup build && meson compile -C build).
# Exits 77 when not root (meson's "skipped"), non-zero when any step fails. Everything it
# creates (namespaces, veths, servers, the instance's pins and state) is removed on every exit.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin=${MICROSEG_DEMO_BIN:-$here/../build/examples/starwars}
while [ $# -gt 0 ]; do
	case "$1" in
	--bin) bin=$2; shift 2 ;;
	-h|--help) sed -n '2,12p' "$0"; exit 0 ;;
	*) echo "demo: unknown argument $1" >&2; exit 2 ;;
	esac
done

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: needs root (network namespaces, BPF); skipping" >&2
	exit 77
fi
if [ ! -x "$bin" ]; then
	echo "demo: $bin not found; build first: meson setup build && meson compile -C build" >&2
	exit 1
fi

# One name per run (instance and namespace prefix), so that two demos never collide.
name="starwars-$$"
pid=

cleanup() {
	local rc=$?
	set +e
	# The demo program removes what it made on every exit it sees (SIGINT and SIGTERM too);
	# this is the net for one that was killed outright.
	if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
	for ns in $(ip netns list | awk -v p="$name-" 'index($1, p) == 1 { print $1 }'); do
		ip netns del "$ns"
	done
	rm -rf "/sys/fs/bpf/microseg/$name" "/run/microseg/$name"
	# The empty cgroup it made for the socket load balancer, named after the instance.
	local cg
	cg=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
	if [ -n "$cg" ] && [ -d "$cg/$name" ]; then rmdir "$cg/$name"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# In the background and waited for, so that a signal to this script is handled at once.
"$bin" --dir "$here/starwars" --name "$name" &
pid=$!
rc=0
wait "$pid" || rc=$?
pid=
exit "$rc"
