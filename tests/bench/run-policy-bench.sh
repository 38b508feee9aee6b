#!/usr/bin/env bash
# Runs the policy benchmarks of an existing build and prints their tables. Builds nothing.
#   tests/bench/run-policy-bench.sh BUILD_DIR [bench-policy options, see --help]
# The binary cleans up after itself (and a reaper process of tests/lib/topo does if it is
# killed); if anything carrying its PID is still there afterwards, this script removes it:
# namespaces, links, pins, state and scratch directories.
set -u

. "$(dirname "${BASH_SOURCE[0]}")/bench-common.sh"
bench_start bench-policy ': -p 1,2,3 --repeat N --rounds N --pps-rules N --seconds S --endpoints N --runs N --budget S --cases sdt --purge -v' "$@"
shift

pid=

sweep() {
  local p=$1 ns name
  for ns in /run/netns/mspbench-"$p"-*; do
    [ -e "$ns" ] || continue
    ip netns del "${ns##*/}" 2>/dev/null   # the veth peers inside take their host ends along
  done
  # Every veth has its peer in one of those namespaces, so the pairs are gone with them; a
  # part-3 host end (mp<pid % 100000>e<set>x<i>) whose peer never got there is removed by name.
  # (Part 1's host ends, ms<pid % 100000><n>, are not swept by pattern: another run's names
  # can share that prefix.)
  local short=$((p % 100000))
  ip -o link show 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' |
    grep -E "^mp${short}e[0-9]x[0-9]+\$" |
    while read -r name; do ip link del "$name" 2>/dev/null; done
  rm -rf --one-file-system /sys/fs/bpf/microseg/pb"$p"* /run/microseg/pb"$p"* "/tmp/pbench-$p"
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
sleep 1  # the topology reaper may still be finishing
sweep "$pid"
exit "$rc"
