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
c_out=$("$bench")
py_out=$("$venv/bin/python" "$top/bench/happybase_bench.py")
echo "hbpool client layer (C):"; sed 's/^/  /' <<<"$c_out"
echo "happybase 1.3.0 (baseline, same gateway, same run):"; sed 's/^/  /' <<<"$py_out"
for key in get_row_10_columns_mean_us scan_1000_rows_open_get_close_mean_us; do
  c=$(sed -n "s/^$key=//p" <<<"$c_out"); p=$(sed -n "s/^$key=//p" <<<"$py_out")
  awk -v k="$key" -v c="$c" -v p="$p" 'BEGIN { printf "ratio %s: happybase/hbpool = %.2fx\n", k, p / c }'
done
