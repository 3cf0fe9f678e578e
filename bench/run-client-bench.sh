#!/usr/bin/env bash
# Benchmarks the client layer against a real gateway, with HappyBase (Python) measured in the
# same run as the baseline. Uses $HBPOOL_TEST_THRIFT_* when set, else starts a local HBase.
# Run from a build directory (default: build/), e.g. bench/run-client-bench.sh [BUILDDIR].
set -euo pipefail
top=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
builddir=$(cd -- "${1:-$top/build}" && pwd -P)
bench="$builddir/bench/client_bench"
[ -x "$bench" ] || { echo "no $bench: build first (tests/check.sh or make)" >&2; exit 2; }

if [ -z "${HBPOOL_TEST_THRIFT_PORT:-}" ]; then
  eval "$("$top/tests/hbase/hbase-local.sh" start)"
  trap '"$top/tests/hbase/hbase-local.sh" stop --run-dir "$HBPOOL_HBASE_RUN_DIR"' EXIT
  export HBPOOL_TEST_THRIFT_HOST HBPOOL_TEST_THRIFT_PORT HBPOOL_TEST_THRIFT_FRAMED HBPOOL_TEST_THRIFT_COMPACT
fi

venv=${HBPOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hbpool}/venv-bench
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import happybase' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'happybase==1.3.0'
fi

echo "gateway: ${HBPOOL_TEST_THRIFT_HOST:-127.0.0.1}:$HBPOOL_TEST_THRIFT_PORT" \
     "framed=${HBPOOL_TEST_THRIFT_FRAMED:-0} compact=${HBPOOL_TEST_THRIFT_COMPACT:-0}"
"$bench" --load
# A fresh gateway JVM needs thousands of calls before its JIT settles: one unmeasured round of
# each client first, then measured rounds that alternate, so neither client gets the warmer JVM.
"$bench" >/dev/null
"$venv/bin/python" "$top/bench/happybase_bench.py" >/dev/null
c_out="" py_out=""
for round in 1 2 3; do
  c_out+=$("$bench")$'\n'
  py_out+=$("$venv/bin/python" "$top/bench/happybase_bench.py")$'\n'
done

# median KEY OUTPUT: the median over the rounds of one figure.
median() { sed -n "s/^$1=//p" <<<"$2" | sort -n | sed -n 2p; }
printf '%-42s %12s %12s %8s\n' "median of 3 rounds (us)" hbpool happybase ratio
for key in get_row_10_columns_p50_us get_row_10_columns_p99_us get_row_10_columns_cpu_us \
           scan_1000_rows_open_get_close_p50_us scan_1000_rows_open_get_close_p99_us \
           scan_1000_rows_open_get_close_cpu_us; do
  c=$(median "$key" "$c_out"); p=$(median "$key" "$py_out")
  awk -v k="$key" -v c="$c" -v p="$p" 'BEGIN { printf "%-42s %12.1f %12.1f %7.2fx\n", k, c, p, p / c }'
done
echo "hbpool scanner_get_list_1000_rows_p50_us (median): $(median scanner_get_list_1000_rows_p50_us "$c_out")"
echo "ratio = happybase / hbpool: above 1 means hbpool is faster or cheaper"
