#!/usr/bin/env bash
# Runs the endpoint benchmark of an existing build and prints its table. Builds nothing.
#   tests/bench/run-endpoint-bench.sh BUILD_DIR [bench-endpoint options, see --help]
# The binary cleans up after itself; if it dies without doing so (killed, crashed), this script
# removes what carries its PID: namespaces, links, the bridge, pins, state and work directories.
set -u

. "$(dirname "${BASH_SOURCE[0]}")/bench-common.sh"
bench_start bench-endpoint ', see bench-endpoint --help' "$@"
shift

ip_forward_before=$(cat /proc/sys/net/ipv4/ip_forward 2>/dev/null || true)
pid=

sweep() {
  local p=$1 ns name
  for ns in /run/netns/msb"$p"-*; do
    [ -e "$ns" ] || continue
    ns=${ns##*/}
    ip -n "$ns" link del eth0 2>/dev/null   # takes the host end of the veth with it
    ip netns del "$ns" 2>/dev/null
  done
  # Host ends made by the binary: mb<pid>a<i> and mb<pid>v<i>; the letter stops at our PID.
  ip -o link show 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' |
    grep -E "^mb${p}[av][0-9]+\$" | while read -r name; do ip link del "$name" 2>/dev/null; done
  ip link del "mbbr$p" 2>/dev/null
  rm -rf --one-file-system "/sys/fs/bpf/microseg/bench$p" "/run/microseg/bench$p" \
    "/dev/shm/microseg-bench$p" "/tmp/msbench-$p"
  if [ -n "$ip_forward_before" ]; then
    echo "$ip_forward_before" > /proc/sys/net/ipv4/ip_forward 2>/dev/null
  fi
}

# A script's background job ignores SIGINT, so pass interruptions on; the binary then stops
# after its current call and cleans up.
trap '[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null' INT TERM HUP

"$bin" "$@" &
pid=$!
rc=0
wait "$pid" || rc=$?
while kill -0 "$pid" 2>/dev/null; do  # wait was cut short by a trapped signal
  rc=0
  wait "$pid" || rc=$?
done

case $rc in
  0 | 1 | 2 | 77) ;;
  *)
    echo "$0: bench-endpoint ended abnormally (status $rc); removing what it left" >&2
    sweep "$pid"
    ;;
esac
exit "$rc"
