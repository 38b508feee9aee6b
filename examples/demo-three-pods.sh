#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# A narrated walk-through of libmicroseg: three network namespaces stand in for three pods,
# the library puts each behind a veth with an identity, traffic flows between them, and the
# per-endpoint counters show what the datapath saw. Every step is a separate process that
# opens the instance and exits: the datapath is pinned in the kernel, not held by a daemon.
#
# Usage: sudo examples/demo-three-pods.sh [--bin PATH/TO/demo_endpoints]
# The default binary is build/examples/demo_endpoints (meson setup build && meson compile -C build).
# Exits 77 when not root (meson's "skipped"), non-zero when any step fails. Everything it
# creates (namespaces, veths, the instance's pins and state) is removed on every exit.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin=${MICROSEG_DEMO_BIN:-$here/../build/examples/demo_endpoints}
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

if [ -t 1 ]; then bold=$'\e[1m' green=$'\e[32m' red=$'\e[31m' off=$'\e[0m'; else bold='' green='' red='' off=''; fi
say() { printf '\n%s==> %s%s\n' "$bold" "$*" "$off"; }
run() { printf '  $ %s\n' "$*"; "$@" 2>&1 | sed 's/^/    /'; return "${PIPESTATUS[0]}"; }

# Unique names per run, so that two demos (or a demo and the test suite) never collide.
id=$$
inst="demo-$id"
names=(web db client)
declare -A ns veth addr4 addr6
oct=$((240 + id % 16)) # host routes to the pods are visible host-wide: keep them per run
for i in 0 1 2; do
	n=${names[$i]}
	ns[$n]="msdemo-$id-$n"
	veth[$n]="msd$id${n:0:1}"
	addr4[$n]="10.200.$oct.$((i + 2))"
	addr6[$n]="fd00:200:0:$oct::$((i + 2))"
done
tmp=$(mktemp -d /tmp/msdemo.XXXXXX)
pids=()

cleanup() {
	local rc=$?
	set +e
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	# Purge only if the instance exists: opening a missing one would create it.
	if [ -e "/sys/fs/bpf/microseg/$inst" ] || [ -e "/run/microseg/$inst" ]; then
		"$bin" purge "$inst" >/dev/null 2>&1
	fi
	for n in "${names[@]}"; do
		ip netns del "${ns[$n]}" 2>/dev/null
		ip link del "${veth[$n]}" 2>/dev/null
	done
	# If purge itself failed, the pins and state of this run's instance are still ours to drop.
	rm -rf "/sys/fs/bpf/microseg/$inst" "/run/microseg/$inst"
	rm -rf "$tmp"
	if [ "$rc" -eq 0 ]; then
		printf '\n%sdemo: OK%s (instance %s and its namespaces removed)\n' "$green" "$off" "$inst"
	else
		printf '\n%sdemo: FAILED (exit %d)%s; everything it created was removed\n' "$red" "$rc" "$off" >&2
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

failed() { # failed "what": reports, shows what the datapath counted (drops say why), exits 1
	echo "${red}demo: step failed: $1${off}" >&2
	if [ -e "/sys/fs/bpf/microseg/$inst" ]; then
		echo "demo: the endpoints' counters at the time of the failure:" >&2
		"$bin" show "$inst" >&2
	fi
	exit 1
}

step() { # step "what" command...: narrates, runs, fails the demo with a message
	local what=$1; shift
	run "$@" || failed "$what"
}

say "Three pods: network namespaces ${ns[web]}, ${ns[db]}, ${ns[client]}"
for n in "${names[@]}"; do step "create namespace" ip netns add "${ns[$n]}"; done

say "Each pod gets a veth and an identity from its labels (one process per call; the datapath stays)"
step "add web" "$bin" add "$inst" "${ns[web]}" "${veth[web]}" "${addr4[web]},${addr6[web]}" \
	k8s:app=web k8s:tier=frontend
step "add db" "$bin" add "$inst" "${ns[db]}" "${veth[db]}" "${addr4[db]},${addr6[db]}" \
	k8s:app=db k8s:tier=backend
step "add client" "$bin" add "$inst" "${ns[client]}" "${veth[client]}" \
	"${addr4[client]},${addr6[client]}" k8s:app=client

say "Inside a pod: one address per family, a default route through the library's gateway"
step "show client addresses" ip -n "${ns[client]}" -br addr show dev eth0
step "show client routes" ip -n "${ns[client]}" route show

say "The instance, reopened from its pins by a new process, before any traffic of ours"
step "show" "$bin" show "$inst"

say "ping: client -> web and client -> db over IPv4, client -> web over IPv6"
step "ping web" ip netns exec "${ns[client]}" ping -c 3 -i 0.2 -W 2 "${addr4[web]}"
step "ping db" ip netns exec "${ns[client]}" ping -c 3 -i 0.2 -W 2 "${addr4[db]}"
step "ping web v6" ip netns exec "${ns[client]}" ping -6 -c 3 -i 0.2 -W 2 "${addr6[web]}"

tcp() { # tcp FROM TO PORT: sends a line from pod FROM to a listener in pod TO and checks it arrived
	local from=$1 to=$2 port=$3 msg="hello from $1 to $2 ($id)" out="$tmp/recv-$2-$3"
	ip netns exec "${ns[$to]}" timeout 20 nc -l "${addr4[$to]}" "$port" >"$out" &
	pids+=($!)
	local tries=0
	until ip netns exec "${ns[$to]}" ss -Hltn "sport = :$port" | grep -q .; do
		tries=$((tries + 1)); [ $tries -lt 50 ] || { echo "    no listener in $to"; return 1; }
		sleep 0.1
	done
	printf '  $ echo "%s" | nc %s %s   (in %s)\n' "$msg" "${addr4[$to]}" "$port" "${ns[$from]}"
	echo "$msg" | ip netns exec "${ns[$from]}" timeout 10 nc -N -w 5 "${addr4[$to]}" "$port" || return 1
	wait "${pids[-1]}" || true
	if [ "$(cat "$out")" = "$msg" ]; then
		echo "    $to received: $(cat "$out")"
	else
		echo "    $to received \"$(cat "$out")\", expected \"$msg\""; return 1
	fi
}

say "TCP: client -> web:8080, web -> db:5432"
tcp client web 8080 || failed "TCP client -> web"
tcp web db 5432 || failed "TCP web -> db"

say "Counters per endpoint, as the datapath counted them (every pod sent and received)"
step "counters" "$bin" show "$inst" --expect-traffic

say "Purge: programs detached, pins and state removed"
step "purge" "$bin" purge "$inst"
if [ -e "/sys/fs/bpf/microseg/$inst" ] || [ -e "/run/microseg/$inst" ]; then
	echo "${red}demo: pins or state of $inst still exist after purge${off}" >&2
	exit 1
fi
