#!/usr/bin/env bash
# Benchmarks hbpoold against HBase's REST server (org.apache.hbase:hbase-rest, the other
# JSON-for-any-language route to HBase), both in front of the same HBase, from the same language
# and client style (bench/rest_bench.py: Python's http.client with keep-alive against REST's JSON,
# plain JSON lines on hbpoold's socket): single-row gets, multi-row gets, scans and puts, at 1 and
# 16 processes. Prints the figures and ratios, and last "summary: {json}".
# Uses the HBase of $HBPOOL_HBASE_RUN_DIR and $HBPOOL_TEST_THRIFT_* when both are set, else starts
# one (tests/hbase/hbase-local.sh start); starts the REST server beside its master (rest-start:
# its runtime is fetched from Maven Central on first use) and hbpoold (pool_size 8, the
# configuration's defaults otherwise).
# usage: bench/run-rest-bench.sh [BUILDDIR (build)] [--rows N] [--procs N] [--seconds S] [--rounds N]
#   --rows N     rows in the table (20000; a scan reads them all)
#   --procs N    processes in the concurrent phases (16)
#   --seconds S  seconds per phase and side (3; scans 4)
#   --rounds N   rounds per phase, sides alternating first (3)
#   --phases P   some of get,multiget,scan,put (all)
# GATEWAY_SETTINGS="key = value..." adds lines to hbpoold's [gateway] section (an A/B of one).
set -euo pipefail
top=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
usage() { sed -n 's/^# \{0,1\}//; 11,16p' "${BASH_SOURCE[0]}" >&2; exit 2; }
builddir=$top/build
if [ $# -gt 0 ] && [[ $1 != -* ]]; then builddir=$1; shift; fi
builddir=$(cd -- "$builddir" && pwd -P)
bench_args=()
while [ $# -gt 0 ]; do
  case $1 in
    --rows|--procs|--rounds|--seconds)
      [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || { echo "$1 needs a positive integer" >&2; usage; }
      bench_args+=("$1" "$2"); shift 2 ;;
    --phases)
      [[ ${2:-} =~ ^(get|multiget|scan|put)(,(get|multiget|scan|put))*$ ]] ||
        { echo "--phases takes some of get,multiget,scan,put" >&2; usage; }
      bench_args+=("$1" "$2"); shift 2 ;;
    *) echo "unknown argument '$1'" >&2; usage ;;
  esac
done
# shellcheck source=bench/lib.sh
. "$top/bench/lib.sh"
bench_programs "$builddir"

# The REST server runs beside a master of hbase-local.sh's: the developer's (both
# $HBPOOL_TEST_THRIFT_PORT and $HBPOOL_HBASE_RUN_DIR set; the REST server is stopped after), or
# one started for the run (stopped with it).
rest_run_dir=""
if [ -n "${HBPOOL_TEST_THRIFT_PORT:-}" ] && [ -n "${HBPOOL_HBASE_RUN_DIR:-}" ]; then
  rest_run_dir=$HBPOOL_HBASE_RUN_DIR
  bench_on_exit "$top/tests/hbase/hbase-local.sh" rest-stop --run-dir "$rest_run_dir"
else
  unset HBPOOL_TEST_THRIFT_PORT
  bench_on_exit
fi
bench_gateway
rest_run_dir=${rest_run_dir:-$hbase_run_dir}
rest_port=$("$top/tests/hbase/hbase-local.sh" rest-start --run-dir "$rest_run_dir" |
            sed -n 's/^HBPOOL_TEST_REST_PORT=//p')
[ -n "$rest_port" ] || { echo "the REST server did not start" >&2; exit 1; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/hbpool-restbench.XXXXXX")
bench_start_daemon "$hbpoold" 8 "" "${GATEWAY_SETTINGS:-}"
table=restbench$$
"$cli" -s "$dir/hbpoold.sock" create "$table" cf >/dev/null
echo "REST server: 127.0.0.1:$rest_port, RSS $(ps -o rss= -p "$(cat "$rest_run_dir/rest/pid")") kB"
python3 "$top/bench/rest_bench.py" --socket "$dir/hbpoold.sock" --rest-port "$rest_port" \
  --table "$table" "${bench_args[@]}"
"$cli" -s "$dir/hbpoold.sock" drop "$table" >/dev/null
