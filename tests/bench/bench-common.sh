# Sourced by the run-*-bench.sh scripts: checks the arguments, the binary and root, and sets
# $bin to the benchmark binary. Usage: bench_start NAME USAGE_ARGS "$@"; then shift 1.
bench_start() {
  local name=$1 usage=$2
  shift 2
  if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
    echo "usage: $0 BUILD_DIR [$name options$usage]" >&2
    exit 2
  fi
  bin=$1/tests/bench/$name
  if [ ! -x "$bin" ]; then
    echo "$0: no $bin; build first: meson compile -C $1" >&2
    exit 2
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "$0: needs root (netns, veth, BPF); skipping" >&2
    exit 77
  fi
}
