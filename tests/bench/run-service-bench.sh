#!/usr/bin/env bash
# Runs the service benchmark of an existing build and prints its tables. Builds nothing.
#   tests/bench/run-service-bench.sh BUILD_DIR [bench-service options, see --help]
# Development runs on a shared machine: -i 1000 --install 1000 (about 30 s).
# The binary cleans up after itself (and reaper processes do if it is killed); if anything
# carrying its PID is still there afterwards, this script removes it: namespaces (the veths,
# iptables rules and the server go with them), pins, state, scratch files and the cgroup.
set -u

. "$(dirname "${BASH_SOURCE[0]}")/bench-common.sh"
bench_start bench-service ': -p 1,2 -n 10,1000,10000 -i N --rounds N --nft --install N --backends N --maglev --batch -v' "$@"
shift

pid=

sweep() {
  local p=$1 ns cg
  for ns in /run/netns/mssvcb-"$p"-*; do
    [ -e "$ns" ] || continue
    ip netns del "${ns##*/}" 2>/dev/null   # the veth peers inside take their host ends along
  done
  rm -rf --one-file-system /sys/fs/bpf/microseg/sb"$p"* /run/microseg/sb"$p"* /dev/shm/sb"$p"* \
    "/tmp/sbench-$p"
  for cg in /sys/fs/cgroup/unified/microseg-bench-"$p" /sys/fs/cgroup/microseg-bench-"$p"; do
    [ -d "$cg" ] && rmdir "$cg" 2>/dev/null
  done
  return 0
}

# A script's background job ignores SIGINT, so pass interruptions on; the binary then tears
# down its topology and exits.
trap '[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null' INT TERM HUP

"$bin" "$@" &
pid=$!
rc=0
wait "$pid" || rc=$?
while kill -0 "$pid" 2>/dev/null; do  # wait was cut short by a trapped signal
  rc=0
  wait "$pid" || rc=$?
done
sleep 1  # the reapers may still be finishing
sweep "$pid"
exit "$rc"
