#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# msegctl's command line, without privileges and without any instance: usage errors exit 2
# with one line on stderr, every --help exits 0, a missing instance exits 1 with one clear
# line, and no argument makes it crash. Usage: test_msegctl.sh PATH/TO/msegctl
set -u

bin=${1:?usage: test_msegctl.sh PATH/TO/msegctl}
tmp=$(mktemp -d /tmp/msegctl-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# Never look at a real instance: every run points at directories that do not exist.
nowhere=(--bpffs-dir "$tmp/bpf" --state-dir "$tmp/state")
failed=0

fail() {
	echo "FAIL: $*"
	echo "  stdout: $(head -c 600 "$tmp/out")"
	echo "  stderr: $(head -c 600 "$tmp/err")"
	failed=$((failed + 1))
}

run() { "$bin" "$@" >"$tmp/out" 2>"$tmp/err"; }

lines() { wc -l <"$1"; }

# usage_error ARGS...: exit 2, exactly one line on stderr naming msegctl, nothing on stdout.
usage_error() {
	run "$@"
	local rc=$?
	if [ $rc -ne 2 ] || [ "$(lines "$tmp/err")" -ne 1 ] || [ -s "$tmp/out" ] ||
		! grep -q '^msegctl' "$tmp/err"; then
		fail "usage error expected (exit 2, one line) for: msegctl $*; got exit $rc"
	fi
}

# usage_error_says TEXT ARGS...: as usage_error, and the line contains TEXT.
usage_error_says() {
	local text=$1; shift
	usage_error "$@"
	grep -qF -- "$text" "$tmp/err" || fail "msegctl $*: the error does not say '$text'"
}

# ---- usage errors ----
usage_error_says "missing command"
usage_error_says "unknown command 'bogus'" bogus
usage_error_says "missing subcommand" endpoint
usage_error_says "missing subcommand" policy
usage_error_says "unknown subcommand 'remove'" endpoint remove
usage_error_says "unknown subcommand 'add'" service add
usage_error_says "unknown option '--bogus'" --bogus status
usage_error_says "unknown option '--bogus'" status --bogus
usage_error_says "unknown option '-x'" endpoint list -x
usage_error_says "takes no value" status --debug=1
usage_error_says "needs a value" status --instance
usage_error_says "needs a value" endpoint list --bpffs-dir
usage_error_says "too many arguments" status extra
usage_error_says "too many arguments" identity list extra
usage_error_says "too many arguments" service list extra
usage_error_says "too many arguments" metrics extra
usage_error_says "missing argument" policy get
usage_error_says "too many arguments" policy get a b
usage_error_says "missing argument" policy explain
usage_error_says "missing argument" policy explain frontend backend
usage_error_says "too many arguments" policy explain frontend backend tcp/80 extra
for pp in tcp80 tcp/ /80 tcp/abc tcp/0 tcp/65536 tcp/-1 "tcp/ 80" tcp/80x foo/80 icmp/256 any/80 \
	tcp/99999999999999999999 ""; do
	usage_error_says "bad PROTO/PORT" policy explain frontend backend "$pp"
done
usage_error_says "bad --count 'abc'" observe --count abc
usage_error_says "bad --count" observe --count 0
usage_error_says "bad --count" observe --count -5
usage_error_says "bad --count" observe --count 1.5
usage_error_says "bad --count" observe --count 99999999999
usage_error_says "needs a value" observe --count
usage_error_says "bad --timeout" observe --timeout abc
usage_error_says "bad --timeout" observe --timeout 0
usage_error_says "bad --timeout" observe --timeout -1
usage_error_says "bad --timeout" observe --timeout nan
usage_error_says "bad --timeout" observe --timeout inf
usage_error_says "bad --verdict" observe --verdict allowed
usage_error_says "bad --identity" observe --identity 0
usage_error_says "bad --identity" observe --identity world
usage_error_says "bad --identity" observe --identity 16777216
usage_error_says "unknown option '--prometheus'" status --prometheus
usage_error_says "unknown option '-v'" metrics -v
# The instance name is checked (by the library) before anything is looked at.
usage_error "${nowhere[@]}" --instance "bad name" status
usage_error "${nowhere[@]}" --instance "" status
usage_error "${nowhere[@]}" --instance "$(printf 'x%.0s' {1..40})" status
usage_error --instance x --bpffs-dir relative/path status

# ---- --help of every command, group and the tool ----
help_ok() {
	run "$@"
	local rc=$?
	if [ $rc -ne 0 ] || [ -s "$tmp/err" ] || ! grep -q "Usage" "$tmp/out"; then
		fail "msegctl $* should print help and exit 0; got exit $rc"
	fi
}
help_ok --help
help_ok -h
for cmd in "endpoint list" "identity list" "policy list" "policy get" "policy explain" \
	"service list" observe metrics status endpoint identity policy service; do
	# shellcheck disable=SC2086
	help_ok $cmd --help
	# shellcheck disable=SC2086
	help_ok $cmd -h
done
help_ok observe --count 3 --help
grep -q -- "--timeout" <("$bin" observe --help) || fail "observe --help does not mention --timeout"
run --version
[ $? -eq 0 ] && grep -q "^msegctl " "$tmp/out" || fail "msegctl --version"

# Output that cannot be written is an error, not a silent success.
if [ -w /dev/full ]; then
	"$bin" status --help >/dev/full 2>"$tmp/err"
	rc=$?
	[ $rc -eq 1 ] && grep -q "cannot write" "$tmp/err" || fail "help into /dev/full: want exit 1; got $rc"
fi

# ---- an instance that does not exist: exit 1, one line naming it, for every command ----
missing="msegctl-test-$$"
for cmd in "status" "endpoint list" "endpoint list -v" "identity list" "policy list" \
	"policy get prod/web" "policy explain a b tcp/80" "service list" "metrics" \
	"metrics --prometheus" "observe --count 1 --timeout 1"; do
	# shellcheck disable=SC2086
	run --instance "$missing" "${nowhere[@]}" $cmd
	rc=$?
	if [ $rc -ne 1 ] || [ "$(lines "$tmp/err")" -ne 1 ] || [ -s "$tmp/out" ] ||
		! grep -q "^msegctl: .*instance '$missing'" "$tmp/err"; then
		fail "msegctl $cmd on a missing instance: want exit 1 and one line naming it; got exit $rc"
	fi
done
# Under a bpf filesystem the library can tell "does not exist" from "cannot be a pin directory".
if [ "$(stat -f -c %T /sys/fs/bpf 2>/dev/null)" = bpf_fs ]; then
	run --instance "$missing" --bpffs-dir "/sys/fs/bpf/$missing" --state-dir "$tmp/state" status
	rc=$?
	[ $rc -eq 1 ] && grep -q "^msegctl: instance '$missing' not found: " "$tmp/err" ||
		fail "missing instance under /sys/fs/bpf: want \"instance '$missing' not found\", exit 1; got exit $rc"
	[ -e "/sys/fs/bpf/$missing" ] && fail "a read-only look created /sys/fs/bpf/$missing"
fi
[ -e "$tmp/bpf" ] || [ -e "$tmp/state" ] && fail "a read-only look created the instance's directories"

# ---- no argument crashes it: whatever it says, it exits 0, 1 or 2 ----
long=$(head -c 5000 /dev/zero | tr '\0' 'a')
ctrl=$(printf 'a\nb\tc\033[31m')
weird=("" "-" "--" "---" "-h-" "--=" "$long" "$ctrl" "é" "%s%n%s" "--instance=$long" "-vvvv")
for w in "${weird[@]}"; do
	for cmd in "" "endpoint" "endpoint list" "policy get" "policy explain a b" "observe --count" \
		"observe --endpoint" "observe --timeout" "metrics" "status"; do
		# shellcheck disable=SC2086
		run "${nowhere[@]}" $cmd "$w"
		rc=$?
		if [ $rc -gt 2 ]; then
			fail "msegctl $cmd <arg of ${#w} bytes>: exit $rc"
		elif [ $rc -ne 0 ] && [ "$(lines "$tmp/err")" -ne 1 ]; then
			fail "msegctl $cmd <arg of ${#w} bytes>: error not on exactly one line"
		fi
	done
done

if [ $failed -ne 0 ]; then
	echo "$failed check(s) failed"
	exit 1
fi
echo "all msegctl command-line checks passed"
