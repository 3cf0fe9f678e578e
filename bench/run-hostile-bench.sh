#!/usr/bin/env bash
# Measures what hostile clients cost well-behaved ones: 16 steady clients make a get every 10 ms
# through hbpoold, alone, then beside 1,000 slowloris clients (a byte a second each), 500 clients
# that ask for large scans and never read, 10,000 idle connections, one client putting a 15 MiB
# line again and again, and one client keeping 404 slow scans in flight (hog); prints their p99 against the quiet run's, steady failures, and
# the daemon's peak RSS and buffered bytes under max_buffered_bytes (64 MiB here, so that the
# deaf clients pass it). The last line is "summary: {json}". Uses $HBPOOL_TEST_THRIFT_* when set,
# else starts a local HBase.
# Usage: bench/run-hostile-bench.sh [BUILDDIR (build) [OPTS]]; OPTS go to hostile_bench:
# --seconds S (10) per set, --steady N, --pace-ms MS, --slowloris N, --deaf N, --deaf-scans N,
# --deaf-reconnect, --sets slowloris,deaf,idle,big-line,hog (the hostile sets to run; all by
# default; hog: one client keeping slow scans on every connection max_pool_share lets it hold
# and 400 more queued),
# --idle N, --line-mib N. HBPOOLD=PATH measures another build's daemon (one from before
# max_buffered_bytes shows what the budget changes; the budget's own figures then read -1).
# GATEWAY_SETTINGS="key = value..." adds lines to the daemon's [gateway] section (an A/B of one).
set -euo pipefail
top=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
builddir=$(cd -- "${1:-$top/build}" && pwd -P)
[ $# -gt 0 ] && shift
bench="$builddir/bench/hostile_bench"
hbpoold=${HBPOOLD:-$builddir/daemon/hbpoold}
for prog in "$bench" "$hbpoold"; do
  [ -x "$prog" ] || { echo "no $prog: build first (tests/check.sh or make)" >&2; exit 2; }
done
budget=$((64 << 20))

# shellcheck source=bench/lib.sh
. "$top/bench/lib.sh"
bench_on_exit
bench_gateway

# Every hostile connection is a descriptor in the daemon and in hostile_bench.
need=$((10000 + 1000 + 500 + 1024))
soft=$(ulimit -Sn)
if [ "$soft" != unlimited ] && [ "$soft" -lt "$need" ]; then
  ulimit -Sn "$need" || { echo "open-files limit too low for the hostile clients" >&2; exit 2; }
fi

dir=$(mktemp -d /tmp/hbpool-hbench.XXXXXX)
budget_line="max_buffered_bytes = $budget"
if ! grep -q max_buffered_bytes "$hbpoold"; then
  budget_line=""
  echo "$hbpoold has no max_buffered_bytes: measuring without a budget"
fi
bench_start_daemon "$hbpoold" 8 "max_clients = 12000
max_requests_per_client = 1024
$budget_line" "${GATEWAY_SETTINGS:-}"
[ -z "$budget_line" ] || echo "$budget_line ($((budget >> 20)) MiB)"
"$bench" --socket "$dir/hbpoold.sock" --pid "$daemon_pid" --table "hbpool_hbench_$$" "$@"
