#!/usr/bin/env bash
# Benchmarks hbpoold against a real gateway, once its JVM is warm (unmeasured rounds of every kind
# of phase until the direct gets' rate settles): single-row gets and puts through the daemon from 1,
# 16 and 128 clients (16 and 128 also with coalescing off, switched by a reload), the same
# directly over Thrift from 1 and 8 threads as the ceilings, whole scans of 200,000 rows by scan
# pages and by scanner_next against scannerGetList (with the daemon's RSS meanwhile), one client's
# gets while another scans ~20 MB pages, the daemon's CPU per request and its memory with 10,000
# idle clients; the last line is "summary: {json}" of the figures. Uses $HBPOOL_TEST_THRIFT_*
# when set, else starts a local HBase.
# Usage: bench/run-daemon-bench.sh [BUILDDIR (build) [OPTS]]; OPTS go to daemon_bench:
# --seconds S (3) and --warmup S (1) per phase, --idle-clients N (10000), --scan-rows N (200000).
set -euo pipefail
top=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
builddir=$(cd -- "${1:-$top/build}" && pwd -P)
[ $# -gt 0 ] && shift
bench="$builddir/bench/daemon_bench"
hbpoold="$builddir/daemon/hbpoold"
for prog in "$bench" "$hbpoold"; do
  [ -x "$prog" ] || { echo "no $prog: build first (tests/check.sh or make)" >&2; exit 2; }
done

idle=10000
load_args=()
args=("$@")
for i in "${!args[@]}"; do
  case ${args[$i]} in
    --idle-clients=*) idle=${args[$i]#*=} ;;
    --idle-clients) idle=${args[$((i + 1))]:-$idle} ;;
    --scan-rows=*) load_args=("${args[$i]}") ;;
    --scan-rows) load_args=(--scan-rows "${args[$((i + 1))]:-}") ;;
  esac
done

# Everything this script starts or makes is undone on the way out, whatever the way out is.
# shellcheck source=bench/lib.sh
. "$top/bench/lib.sh"
table=""
drop_table() {
  [ -z "$table" ] || "$bench" --drop "$table" >/dev/null || echo "could not delete table $table" >&2
}
bench_on_exit drop_table

bench_gateway

# One descriptor per idle client, in the daemon and in daemon_bench (which raises its own soft
# limit too), plus the busiest phase and a margin.
need=$((idle + 512))
soft=$(ulimit -Sn)
if [ "$soft" != unlimited ] && [ "$soft" -lt "$need" ]; then
  ulimit -Sn "$need" || { echo "open-files limit too low for $idle idle clients" >&2; exit 2; }
fi

dir=$(mktemp -d /tmp/hbpool-dbench.XXXXXX)
# daemon_bench switches coalescing off and on in this config (its trailing space included).
bench_start_daemon "$hbpoold" 8 "max_clients = $((idle + 256))" "coalesce = true "
table=hbpool_dbench_$$
"$bench" --load "$table" ${load_args[@]+"${load_args[@]}"}
"$bench" --socket "$dir/hbpoold.sock" --pid "$daemon_pid" --conf "$dir/hbpoold.conf" \
  --table "$table" "$@"
