#!/usr/bin/env bash
# L7 benchmark: HTTP requests per second and latency (wrk) from a client namespace to a server
# namespace, side by side in one run:
#   plain     veths routed by a router namespace, no libmicroseg (the floor)
#   direct    libmicroseg endpoints, L3/L4 allow policy on the server, no proxy
#   L7 tN     the same endpoints, the policy with 10 HTTP rules on port 80, the library's L7
#             proxy with N worker threads (microseg_proxy_start)
#   haproxy   the same endpoints and L3/L4 policy, haproxy (mode http, nbthread N) in the host
#             namespace as a reverse proxy; the client connects to haproxy's address
# and prints rate, p50 and p99 for each, and the ratios L7/direct and L7/haproxy.
#   tests/bench/run-l7-bench.sh BUILD_DIR [--quick] [-d SEC] [-t N] [-c N] [--rounds N]
#       [--proxy-threads LIST] [--server-threads N] [--no-plain] [--no-haproxy] [-v]
# Builds nothing; needs root, wrk, haproxy and curl (exits 77 otherwise). See README.md, "L7".
set -u

. "$(dirname "${BASH_SOURCE[0]}")/bench-common.sh"
bench_start bench-l7-fixture ': --quick -d SEC -t N -c N --rounds N --proxy-threads 1,2 --server-threads N --no-plain --no-haproxy -v' "$@"
build=$1
shift
# shellcheck disable=SC2154 # bench_start sets bin
fixture_bin=$bin
server_bin=$build/tests/bench/bench-http-server
haproxy_bin=/usr/sbin/haproxy

duration=10 warmup=1 wrk_threads=2 conns=50 rounds=1 proxy_threads=1,2 server_threads=2
with_plain=1 with_haproxy=1 verbose=0
while [ $# -gt 0 ]; do
  case $1 in
    --quick) duration=2 warmup=0 ;;
    -d) duration=$2; shift ;;
    -t) wrk_threads=$2; shift ;;
    -c) conns=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    --proxy-threads) proxy_threads=$2; shift ;;
    --server-threads) server_threads=$2; shift ;;
    --no-plain) with_plain=0 ;;
    --no-haproxy) with_haproxy=0 ;;
    -v) verbose=1 ;;
    *) echo "$0: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
for tool in wrk curl ip "$haproxy_bin"; do
  if ! command -v "$tool" >/dev/null; then
    echo "$0: $tool not found; skipping" >&2
    exit 77
  fi
done
if [ ! -x "$server_bin" ]; then
  echo "$0: no $server_bin; build first: meson compile -C $build" >&2
  exit 2
fi
IFS=, read -r -a proxy_thread_list <<<"$proxy_threads"
[ "$with_haproxy" = 1 ] && haproxy_thread_list=("${proxy_thread_list[@]}") || haproxy_thread_list=()

# ---- names: everything carries the PID, so two runs never meet ----
P=$$
short=$((P % 100000))
inst=l7b$P
ns_c=l7b$P-c ns_s=l7b$P-s ns_r=l7b$P-r
veth_c=m7c$short veth_s=m7s$short dummy=m7h$short
work=$(mktemp -d "/tmp/l7bench-$P.XXXXXX")
# Endpoint and haproxy addresses are host routes: pick a /24 no route of this host uses yet.
sub=$((P % 250 + 1))
for _ in $(seq 250); do
  [ -z "$(ip -4 route show table all to root "10.207.$sub.0/24" 2>/dev/null)" ] && break
  sub=$((sub % 250 + 1))
done
addr_h=10.207.$sub.1 addr_c=10.207.$sub.2 addr_s=10.207.$sub.3
# The plain path lives inside the namespaces only: client 10.208.0.2 - .1 R .5 - .6 server.
plain_c=10.208.0.2 plain_s=10.208.0.6

log() { [ "$verbose" = 1 ] && echo "  [$(date +%T)] $*" >&2; return 0; }
die() { echo "$0: $*" >&2; exit 1; }

# ---- clean-up, on every exit ----
server_pid='' haproxy_pid='' wrk_pid='' fixture_pid='' fixture_in='' fixture_rc=''
rules_file=$work/proxy-rules
stop_pid() {  # PID [seconds]: TERM, then KILL if it is still there after the grace period
  local pid=$1 grace=${2:-5} i
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < grace * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}
stop_fixture() {
  [ -n "$fixture_pid" ] || return 0
  local pid=$fixture_pid i
  fixture_pid=
  # EOF on its stdin: the fixture stops the proxy and purges the instance.
  [ -n "$fixture_in" ] && eval "exec $fixture_in>&-"
  for ((i = 0; i < 600; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    stop_pid "$pid" 10
    fixture_rc=killed
  else
    wait "$pid" 2>/dev/null
    fixture_rc=$?
  fi
}
cleanup() {
  trap '' INT TERM HUP
  set +u  # clean up whatever state the script died in
  stop_pid "$wrk_pid" 2
  stop_pid "$haproxy_pid"
  stop_pid "$server_pid"
  stop_fixture
  if [ "$fixture_rc" != 0 ] && [ -s "$rules_file" ]; then
    # The fixture did not stop its proxy: remove the routing the library installed for it.
    while read -r fam pref mark table; do
      ip "$fam" rule del pref "$pref" fwmark "$mark" table "$table" 2>/dev/null
      ip "$fam" route flush table "$table" 2>/dev/null
    done <"$rules_file"
  fi
  for ns in "$ns_c" "$ns_s" "$ns_r"; do
    ip netns del "$ns" 2>/dev/null   # the veths inside take their host ends along
  done
  for link in "$veth_c" "$veth_s" "$dummy"; do
    ip link del "$link" 2>/dev/null
  done
  rm -rf --one-file-system "/sys/fs/bpf/microseg/$inst" "/run/microseg/$inst" "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# ---- topology ----
log "namespaces, plain path, haproxy address"
ip netns add "$ns_c" && ip netns add "$ns_s" && ip netns add "$ns_r" || die "cannot create namespaces"
for ns in "$ns_c" "$ns_s" "$ns_r"; do ip -n "$ns" link set lo up; done
ip link add p0 netns "$ns_c" type veth peer name pc netns "$ns_r" &&
  ip link add p0 netns "$ns_s" type veth peer name ps netns "$ns_r" &&
  ip -n "$ns_c" addr add "$plain_c/30" dev p0 && ip -n "$ns_c" link set p0 up &&
  ip -n "$ns_s" addr add "$plain_s/30" dev p0 && ip -n "$ns_s" link set p0 up &&
  ip -n "$ns_r" addr add 10.208.0.1/30 dev pc && ip -n "$ns_r" link set pc up &&
  ip -n "$ns_r" addr add 10.208.0.5/30 dev ps && ip -n "$ns_r" link set ps up &&
  ip -n "$ns_c" route add 10.208.0.4/30 via 10.208.0.1 &&
  ip -n "$ns_s" route add 10.208.0.0/30 via 10.208.0.5 &&
  ip netns exec "$ns_r" sysctl -qw net.ipv4.ip_forward=1 || die "cannot build the plain path"
# haproxy's listening address: a host address of its own, made before the instance opens so the
# library already knows it as one of the host's. It sits on a veth whose peer idles in the
# router namespace (this kernel has no dummy links), so it goes when that namespace goes.
ip link add "$dummy" type veth peer name h0 netns "$ns_r" && ip -n "$ns_r" link set h0 up &&
  ip addr add "$addr_h/32" dev "$dummy" && ip link set "$dummy" up || die "cannot create $dummy"

ip netns exec "$ns_s" "$server_bin" 0.0.0.0 80 "$server_threads" >"$work/server.out" 2>&1 &
server_pid=$!
for _ in $(seq 50); do grep -q listening "$work/server.out" && break; sleep 0.1; done
grep -q listening "$work/server.out" || die "the HTTP server did not start: $(cat "$work/server.out")"

rule_snapshot() {  # the host's policy routing rules, each line tagged with its family
  ip -4 rule show 2>/dev/null | sed 's/^/-4 /'
  ip -6 rule show 2>/dev/null | sed 's/^/-6 /'
}
log "fixture: instance $inst, endpoints $veth_c $addr_c, $veth_s $addr_s"
coproc FIX { exec "$fixture_bin" "$inst" "$ns_c" "$veth_c" "$addr_c" "$ns_s" "$veth_s" "$addr_s" 2>"$work/fixture.err"; }
# Bash forgets FIX and FIX_PID once the coprocess ends: keep copies.
fixture_pid=$FIX_PID fixture_in=${FIX[1]} fixture_out=${FIX[0]}
fix() {  # COMMAND: sends it to the fixture, prints its answer; dies on an error
  local reply=
  { echo "$*" >&"$fixture_in"; } 2>/dev/null
  { read -r -t 60 reply <&"$fixture_out"; } 2>/dev/null
  case $reply in
    ok*|ready) echo "$reply" ;;
    *) die "fixture: '$*': ${reply:-no answer} $(cat "$work/fixture.err")" ;;
  esac
}
read -r -t 60 first <&"$fixture_out" || first=
[ "$first" = ready ] || die "the fixture did not start: $first $(cat "$work/fixture.err")"

# ---- the path under test: policy, proxy, haproxy ----
cur_policy='' cur_proxy=0 cur_haproxy=0
use_policy() {
  [ "$cur_policy" = "$1" ] && return
  fix "$1" >/dev/null
  cur_policy=$1
}
use_proxy() {  # N worker threads, 0: stopped
  [ "$cur_proxy" = "$1" ] && return
  if [ "$1" = 0 ]; then
    fix noproxy >/dev/null
  else
    # Remember the routing the library adds, for clean-up should the fixture die. (Taken just
    # around the start, so that another program's rules are very unlikely to be among them.)
    local rules_before
    rules_before=$(rule_snapshot)
    fix proxy "$1" >/dev/null
    diff <(echo "$rules_before") <(rule_snapshot) |
      sed -n 's/^> \(-[46]\) \(9[0-9][0-9][0-9]\):.*fwmark \(0x[0-9a-f]*\) lookup \([0-9a-z]*\).*/\1 \2 \3 \4/p' \
      >>"$rules_file"
  fi
  cur_proxy=$1
}
use_haproxy() {  # N threads, 0: stopped
  [ "$cur_haproxy" = "$1" ] && return
  stop_pid "$haproxy_pid"
  haproxy_pid=
  cur_haproxy=0
  [ "$1" = 0 ] && return
  cat >"$work/haproxy.cfg" <<EOF
global
    nbthread $1
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend bench
    bind $addr_h:80
    default_backend server
backend server
    server s1 $addr_s:80
EOF
  "$haproxy_bin" -db -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
  haproxy_pid=$!
  local code=
  for _ in $(seq 50); do
    code=$(probe "http://$addr_h/bench/item")
    [ "${code%% *}" = 200 ] && break
    sleep 0.1
  done
  [ "${code%% *}" = 200 ] || die "haproxy did not answer ($code): $(cat "$work/haproxy.log")"
  cur_haproxy=$1
}
probe() {  # URL: "status bytes" of one GET from the client namespace
  ip netns exec "$ns_c" curl -s -o /dev/null -w '%{http_code} %{size_download}' --max-time 3 "$1"
}

# Variants: key, label, threads, URL.
variants=()
[ "$with_plain" = 1 ] && variants+=("plain|plain veths, router ns|-|http://$plain_s/bench/item")
variants+=("direct|libmicroseg L3/L4, no proxy|-|http://$addr_s/bench/item")
for t in "${proxy_thread_list[@]}"; do
  variants+=("l7-$t|libmicroseg L7 proxy, 10 rules|$t|http://$addr_s/bench/item")
done
for t in "${haproxy_thread_list[@]}"; do
  variants+=("haproxy-$t|haproxy mode http|$t|http://$addr_h/bench/item")
done

prepare() {  # KEY: sets the path up for that variant
  case $1 in
    plain|direct) use_haproxy 0; use_proxy 0; use_policy l4 ;;
    l7-*) use_haproxy 0; use_policy l7; use_proxy "${1#l7-}" ;;
    haproxy-*) use_proxy 0; use_policy l4; use_haproxy "${1#haproxy-}" ;;
  esac
}

# What each path must do before it is measured: the benchmark request gets the 100-byte
# answer; a request outside the rules is refused (403) on the L7 path and served elsewhere.
check() {  # KEY URL
  local key=$1 url=$2 want_other=200 got other
  got=$(probe "$url")
  other=$(probe "${url%/bench/item}/other")
  [ "${key%%-*}" = l7 ] && want_other=403
  [ "$got" = "200 100" ] && [ "${other%% *}" = "$want_other" ] ||
    die "$key: GET /bench/item gave '$got' (want '200 100'), GET /other '$other' (want $want_other)"
  log "$key: checked: /bench/item $got, /other $other"
}

to_ms() {  # wrk's "1.23ms" / "456.00us" / "1.02s" in ms
  awk -v v="$1" 'BEGIN { u = v; sub(/^[0-9.]+/, "", u); n = v + 0;
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000;
    printf "%.3f", n }'
}

# One wrk run; sets wrk_result to "rate p50 p99 requests errors". (Not run in a subshell, so
# that an interruption stops wrk at once and a failure ends the script.)
run_wrk() {  # URL SECONDS
  local out=$work/wrk.out
  ip netns exec "$ns_c" wrk -t"$wrk_threads" -c"$conns" -d"$2"s --latency "$1" >"$out" 2>&1 &
  wrk_pid=$!
  wait "$wrk_pid"
  local rc=$?
  wrk_pid=
  [ "$rc" = 0 ] || die "wrk failed ($rc): $(cat "$out")"
  local rate p50 p99 reqs errs
  rate=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
  p50=$(awk '$1 == "50%" { print $2 }' "$out")
  p99=$(awk '$1 == "99%" { print $2 }' "$out")
  reqs=$(awk '/requests in/ { print $1 }' "$out")
  errs=$(awk '/Socket errors:/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 }
              /Non-2xx or 3xx responses:/ { n += $5 } END { print n + 0 }' "$out")
  [ -n "$rate" ] && [ -n "$p99" ] || die "cannot read wrk's output: $(cat "$out")"
  wrk_result="$rate $(to_ms "$p50") $(to_ms "$p99") $reqs $errs"
}

cpu_ticks() {  # PID: user + system CPU time it has used, in clock ticks (0 if no PID)
  [ -n "$1" ] || { echo 0; return; }
  sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}
busy_ticks() {  # every CPU's non-idle time so far (user..steal, /proc/stat), in clock ticks
  awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}
proxy_pid() {  # KEY: the process that proxies on that path, if any
  case $1 in
    l7-*) echo "$fixture_pid" ;;
    haproxy-*) echo "$haproxy_pid" ;;
  esac
}

proxy_allowed() {  # sets allowed to the proxy's count of allowed requests (0: not running)
  allowed=0
  [ "$cur_proxy" = 0 ] && return
  fix stats >"$work/stats"
  allowed=$(awk '{ for (i = 2; i < NF; i++) if ($i == "allowed") print $(i + 1) }' "$work/stats")
}

echo "L7 benchmark: wrk -t$wrk_threads -c$conns -d${duration}s, $rounds round(s), warm-up ${warmup}s;" \
  "server: bench-http-server, $server_threads thread(s), 100-byte body"
echo "loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs"
declare -A results checked proxied
for ((r = 1; r <= rounds; r++)); do
  for v in "${variants[@]}"; do
    IFS='|' read -r key label threads url <<<"$v"
    log "round $r: $key ($url)"
    prepare "$key"
    if [ -z "${checked[$key]:-}" ]; then
      check "$key" "$url"
      checked[$key]=1
    fi
    [ "$warmup" -gt 0 ] && run_wrk "$url" "$warmup"
    proxy_allowed
    before=$allowed
    ppid=$(proxy_pid "$key")
    cpu0=$(cpu_ticks "$ppid") busy0=$(busy_ticks)
    run_wrk "$url" "$duration"
    cpu1=$(cpu_ticks "$ppid") busy1=$(busy_ticks)
    proxy_allowed
    # The proxy's CPU per request, in us: less sensitive to other load on the machine than
    # the rate. (Field 6 of a result; the fixture process runs nothing but the proxy then.)
    cpu_us=$(awk -v t=$((cpu1 - cpu0)) -v hz="$(getconf CLK_TCK)" \
      -v r="$(cut -d' ' -f4 <<<"$wrk_result")" 'BEGIN { printf "%.2f", (r > 0 ? t * 1e6 / hz / r : 0) }')
    # And the whole machine's (wrk, server, proxy, softirq, BPF programs) per request: on a
    # saturated machine the rate is its inverse, so it says where a rate difference comes from.
    machine_us=$(awk -v t=$((busy1 - busy0)) -v hz="$(getconf CLK_TCK)" \
      -v r="$(cut -d' ' -f4 <<<"$wrk_result")" 'BEGIN { printf "%.2f", (r > 0 ? t * 1e6 / hz / r : 0) }')
    wrk_result+=" $cpu_us $machine_us"
    results[$key]+="$wrk_result;"
    proxied[$key]=$((allowed - before))
    log "$key: $wrk_result (rate p50 p99 requests errors), proxy allowed ${proxied[$key]}"
  done
done
use_haproxy 0
use_proxy 0
echo "loadavg at end:   $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- the table: medians over rounds ----
median() {  # FIELD (1-based) of the ';'-separated results: the median
  tr ';' '\n' <<<"$2" | awk -v f="$1" 'NF { print $f }' | sort -g |
    awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
declare -A rate p50 p99 errs
echo
printf '%-34s %7s %12s %9s %9s %8s %10s %12s %12s\n' variant threads "req/s" "p50 ms" "p99 ms" errors \
  proxied "proxy CPU us/req" "machine CPU us/req"
for v in "${variants[@]}"; do
  IFS='|' read -r key label threads url <<<"$v"
  rate[$key]=$(median 1 "${results[$key]}")
  p50[$key]=$(median 2 "${results[$key]}")
  p99[$key]=$(median 3 "${results[$key]}")
  errs[$key]=$(tr ';' '\n' <<<"${results[$key]}" | awk 'NF { n += $5 } END { print n + 0 }')
  reqs=$(tr ';' '\n' <<<"${results[$key]}" | awk 'NF { n = $4 } END { print n + 0 }')
  note=- cpu=-
  case $key in l7-*|haproxy-*) cpu=$(median 6 "${results[$key]}") ;; esac
  machine=$(median 7 "${results[$key]}")
  # On the L7 path the proxy must have judged every request wrk counted in the last round.
  if [ "${key%%-*}" = l7 ]; then
    note=${proxied[$key]}
    [ "${proxied[$key]}" -ge "$reqs" ] || note="${proxied[$key]}<$reqs!"
  fi
  printf '%-34s %7s %12.0f %9.3f %9.3f %8s %10s %12s %12s\n' "$label" "$threads" "${rate[$key]}" \
    "${p50[$key]}" "${p99[$key]}" "${errs[$key]}" "$note" "$cpu" "$machine"
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }
echo
for t in "${proxy_thread_list[@]}"; do
  k=l7-$t
  line="L7 t$t: rate $(ratio "${rate[$k]}" "${rate[direct]}") of direct (target >= 0.5x)"
  line+=", p99 $(ratio "${p99[$k]}" "${p99[direct]}")"
  if [ -n "${rate[haproxy-$t]:-}" ]; then
    line+="; rate $(ratio "${rate[$k]}" "${rate[haproxy-$t]}") of haproxy nbthread $t (target >= 1x)"
    line+=", p99 $(ratio "${p99[$k]}" "${p99[haproxy-$t]}")"
  fi
  echo "$line"
done
[ "$with_plain" = 1 ] && echo "direct: rate $(ratio "${rate[direct]}" "${rate[plain]}") of plain veths"

bad=0
for v in "${variants[@]}"; do
  IFS='|' read -r key _ <<<"$v"
  [ "${errs[$key]}" = 0 ] || { echo "warning: $key had ${errs[$key]} socket errors or non-2xx answers" >&2; bad=1; }
done
stop_fixture
[ "$fixture_rc" = 0 ] || { echo "warning: the fixture exited with $fixture_rc: $(cat "$work/fixture.err")" >&2; bad=1; }
exit "$bad"
