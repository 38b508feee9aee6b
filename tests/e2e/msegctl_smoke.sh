#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# msegctl against a live instance while its managing process keeps it open: msegctl_fixture
# makes two endpoints ("frontend", "backend") and applies examples/policy/backend-http.yaml
# (backend takes TCP 80 from frontend only); then every msegctl command must show them, flow
# events must come for real pings (dropped frontend -> backend, forwarded backend -> frontend),
# and the manager must still hold the instance and purge it at the end.
# Usage: msegctl_smoke.sh MSEGCTL FIXTURE POLICY.yaml   (root; exits 77 otherwise)
set -u

ctl=${1:?usage: msegctl_smoke.sh MSEGCTL FIXTURE POLICY.yaml}
fixture=${2:?}
policy=${3:?}
if [ "$(id -u)" -ne 0 ]; then
	echo "msegctl smoke: needs root (namespaces, BPF); skipping"
	exit 77
fi

id=$$
inst="msctl-$id"
ns_a="msctl-$id-a" ns_b="msctl-$id-b"
veth_a="mscf$((id % 100000))" veth_b="mscb$((id % 100000))"
oct=$((100 + id % 50)) # host routes to the pods are host-wide: per run
addr_a="10.200.$oct.2" addr_b="10.200.$oct.3"
tmp=$(mktemp -d /tmp/msegctl-smoke.XXXXXX)
fixture_pid=
failed=0

cleanup() {
	local rc=$?
	set +e
	exec 3>&- 2>/dev/null # the fixture purges the instance when its stdin closes
	if [ -n "$fixture_pid" ]; then
		for _ in $(seq 50); do kill -0 "$fixture_pid" 2>/dev/null || break; sleep 0.1; done
		kill "$fixture_pid" 2>/dev/null
		wait "$fixture_pid" 2>/dev/null
	fi
	ip netns del "$ns_a" 2>/dev/null
	ip netns del "$ns_b" 2>/dev/null
	ip link del "$veth_a" 2>/dev/null
	ip link del "$veth_b" 2>/dev/null
	rm -rf "/sys/fs/bpf/microseg/$inst" "/run/microseg/$inst" "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

check() { # check "what" cmd...: counts a failure, shows the output
	local what=$1; shift
	if ! "$@"; then
		echo "FAIL: $what"
		failed=$((failed + 1))
	fi
}
ctl() { "$ctl" --instance "$inst" "$@"; }
has() { grep -q -- "$1" "$2" || { echo "  '$1' not in:"; sed 's/^/    /' "$2"; return 1; }; }

ip netns add "$ns_a" && ip netns add "$ns_b" || exit 1
mkfifo "$tmp/stdin"
"$fixture" "$inst" "$policy" "$ns_a" "$veth_a" "$addr_a" "$ns_b" "$veth_b" "$addr_b" \
	<"$tmp/stdin" >"$tmp/fixture.out" 2>&1 &
fixture_pid=$!
exec 3>"$tmp/stdin"
for _ in $(seq 200); do
	grep -q ready "$tmp/fixture.out" && break
	kill -0 "$fixture_pid" 2>/dev/null || break
	sleep 0.1
done
if ! grep -q ready "$tmp/fixture.out"; then
	echo "FAIL: the fixture did not get the instance ready:"
	cat "$tmp/fixture.out"
	exit 1
fi

echo "== status"
ctl status >"$tmp/status"; cat "$tmp/status"
check "status: both endpoints attached" has "2 attached / 2 total" "$tmp/status"
check "status: the policy" has "1 rules, 1 policies" "$tmp/status"
check "status: program ids" grep -Eq "from-container id [1-9][0-9]*, to-container id [1-9]" "$tmp/status"

echo "== endpoint list -v"
ctl endpoint list -v >"$tmp/eps"; cat "$tmp/eps"
for w in frontend backend "$veth_a" "$veth_b" "$addr_a" "$addr_b"; do
	check "endpoint list names $w" has "$w" "$tmp/eps"
done

echo "== identity list"
ctl identity list >"$tmp/ids"; cat "$tmp/ids"
check "identity list: frontend labels" has "k8s:app=frontend,k8s:io.kubernetes.pod.namespace=prod" "$tmp/ids"

echo "== policy list / get / explain"
ctl policy list >"$tmp/pol"; cat "$tmp/pol"
check "policy list: the document" has "prod/backend-http" "$tmp/pol"
ctl policy get prod/backend-http >"$tmp/yaml"
check "policy get: the YAML" has "app: backend" "$tmp/yaml"
ctl policy explain frontend backend tcp/80
check "explain frontend -> backend tcp/80 is allowed (exit 0)" test $? -eq 0
ctl policy explain frontend backend tcp/22
check "explain frontend -> backend tcp/22 is denied (exit 1)" test $? -eq 1
ctl policy explain -q backend frontend icmp/8
check "explain backend -> frontend icmp/8 is allowed" test $? -eq 0
ctl service list >"$tmp/svc"
check "service list" has "no services" "$tmp/svc"

# Pings until the observer has its event: it may subscribe a moment after it starts.
observe() { # observe FROM_NS TO_ADDR OUTFILE msegctl-observe-args...
	local from=$1 to=$2 out=$3; shift 3
	ctl observe "$@" --count 1 --timeout 15 >"$out" 2>"$out.err" &
	local pid=$!
	for _ in $(seq 30); do
		kill -0 "$pid" 2>/dev/null || break
		ip netns exec "$from" ping -c 1 -W 0.3 "$to" >/dev/null 2>&1
		sleep 0.2
	done
	wait "$pid"
}
echo "== observe --json --verdict dropped (ping frontend -> backend: only TCP 80 is allowed)"
observe "$ns_a" "$addr_b" "$tmp/drop" --json --verdict dropped
check "observe exits 0" test $? -eq 0
cat "$tmp/drop" "$tmp/drop.err"
check "a drop event" has '"verdict":"dropped"' "$tmp/drop"
check "dropped by policy" has '"drop_reason":"policy"' "$tmp/drop"
check "at the backend" has '"endpoint":"backend"' "$tmp/drop"
check "from the frontend's address" has "\"src\":\"$addr_a\"" "$tmp/drop"

echo "== observe --endpoint frontend --verdict forwarded (ping backend -> frontend)"
observe "$ns_b" "$addr_a" "$tmp/fwd" --endpoint frontend --verdict forwarded
check "observe exits 0" test $? -eq 0
cat "$tmp/fwd" "$tmp/fwd.err"
check "a forwarded flow at the frontend" grep -Eq "^[0-9:.]+ +frontend +ingress +$addr_b .* -> $addr_a .* icmp/8 +forwarded" "$tmp/fwd"

echo "== metrics"
ctl metrics >"$tmp/metrics"; cat "$tmp/metrics"
check "metrics: drops by reason" grep -Eq "^backend +ingress +policy +[1-9]" "$tmp/metrics"
ctl metrics --prometheus >"$tmp/prom"
check "prometheus: frontend" has 'endpoint="frontend"' "$tmp/prom"
prom_drops() { # label order is the library's business: match each label alone
	grep '^microseg_endpoint_dropped_packets_total{' "$tmp/prom" | grep 'endpoint="backend"' |
		grep 'direction="ingress"' | grep 'reason="policy"' | grep -Eq ' [1-9][0-9]*$'
}
check "prometheus: backend policy drops" prom_drops

# msegctl took no lock and changed nothing: the manager still runs and purges cleanly.
check "the managing process is still running" kill -0 "$fixture_pid"
exec 3>&-
wait "$fixture_pid"
check "the manager purged the instance (exit 0)" test $? -eq 0
fixture_pid=
check "no pins left" test ! -e "/sys/fs/bpf/microseg/$inst"
"$ctl" --instance "$inst" status 2>"$tmp/gone"
check "status of the purged instance exits 1" test $? -eq 1
check "and says it is not found" has "instance '$inst' not found" "$tmp/gone"

if [ $failed -ne 0 ]; then
	echo "$failed check(s) failed"
	exit 1
fi
echo "msegctl smoke: all checks passed"
