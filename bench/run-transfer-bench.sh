#!/usr/bin/env bash
# Benchmarks hbpool export and import (the C command) against the loop a Python user would write
# with hbpool.happybase (a Batch of 1,000 rows to import, a scan of 1,000-row batches to export),
# both through the same hbpoold, on the same rows, rounds alternating. Prints rows/s per round, the
# medians, the ratios (command / Python), and last "summary: {json}". Uses $HBPOOL_TEST_THRIFT_*
# when set, else starts a local HBase; starts its own hbpoold (pool_size 8).
# usage: bench/run-transfer-bench.sh [BUILDDIR (build)] [--rows N] [--value-bytes N] [--rounds N]
#   --rows N         rows per table (100000)
#   --value-bytes N  bytes of each row's one value (100)
#   --rounds N       measured rounds of each side (3)
set -euo pipefail
top=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
usage() { sed -n 's/^# \{0,1\}//; 7,10p' "${BASH_SOURCE[0]}" >&2; exit 2; }
builddir=$top/build
if [ $# -gt 0 ] && [[ $1 != -* ]]; then builddir=$1; shift; fi
builddir=$(cd -- "$builddir" && pwd -P)
rows=100000 value_bytes=100 rounds=3
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] && [[ $2 =~ ^[1-9][0-9]*$ ]] || { echo "$1 needs a positive integer" >&2; usage; }
  case $1 in
    --rows) rows=$2 ;;
    --value-bytes) value_bytes=$2 ;;
    --rounds) rounds=$2 ;;
    *) echo "unknown argument '$1'" >&2; usage ;;
  esac
  shift 2
done
# shellcheck source=bench/lib.sh
. "$top/bench/lib.sh"
bench_programs "$builddir"
export PYTHONPATH=$top/clients/python${PYTHONPATH:+:$PYTHONPATH}
python3 -c 'import hbpool.happybase' ||
  { echo "cannot import hbpool.happybase from $top/clients/python" >&2; exit 2; }

prefix="xferbench$$"
drop_tables() {
  [ -S "${dir:-/nonexistent}/hbpoold.sock" ] || return 0
  local t
  for t in $("$cli" -s "$dir/hbpoold.sock" tables 2>/dev/null | tr -d '"' | grep "^${prefix}_"); do
    "$cli" -s "$dir/hbpoold.sock" drop "$t" >/dev/null 2>&1 || true
  done
}
# The run's tables go first, while hbpoold still runs (bench_on_exit's hook runs after it stops).
drop_then_cleanup() {
  local rc=$?
  drop_tables
  (exit "$rc")
  bench_cleanup
}
bench_on_exit
trap drop_then_cleanup EXIT

bench_gateway
dir=$(mktemp -d "${TMPDIR:-/tmp}/hbpool-xferbench.XXXXXX")
bench_start_daemon "$hbpoold" 8
export HBPOOL_SOCKET=$dir/hbpoold.sock

# The rows: keys in order, so that an export of the imported table is the file itself.
python3 - "$rows" "$value_bytes" >"$dir/rows.jsonl" <<'PY'
import json, sys
rows, size = int(sys.argv[1]), int(sys.argv[2])
for i in range(rows):
    value = ("%08d" % i) * (size // 8 + 1)
    print(json.dumps({"row": "r%08d" % i, "columns": {"cf:v": value[:size]}},
                     separators=(",", ":")))
PY
echo "rows: $rows of $value_bytes bytes ($(du -h "$dir/rows.jsonl" | cut -f1) of JSON lines)"

# The Python side: what a user would write with hbpool.happybase.
cat >"$dir/py_side.py" <<'PY'
import json, sys, time
import hbpool.happybase as happybase
mode, table, path = sys.argv[1:4]
t = happybase.Connection().table(table)
start = time.monotonic()
n = 0
if mode == "import":
    with open(path) as f, t.batch(batch_size=1000) as b:
        for line in f:
            r = json.loads(line)
            b.put(r["row"], r["columns"])
            n += 1
else:
    with open(path, "w") as f:
        for key, data in t.scan(batch_size=1000):
            f.write(json.dumps({"row": key.decode(), "columns": {k.decode(): v.decode()
                                for k, v in data.items()}}, separators=(",", ":")) + "\n")
            n += 1
print("%d %.3f" % (n, time.monotonic() - start))
PY

now() { date +%s.%N; }
# rate ROWS START END: rows per second.
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", n / (b - a) }'; }
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

cli_import=() cli_export=() py_import=() py_export=()
for r in $(seq "$rounds"); do
  for side in cli py; do
    table=${prefix}_${side}_$r
    "$cli" create "$table" cf >/dev/null
    if [ "$side" = cli ]; then
      a=$(now); "$cli" import "$table" "$dir/rows.jsonl"; b=$(now)
      cli_import+=("$(rate "$rows" "$a" "$b")")
      a=$(now); "$cli" export "$table" >"$dir/out.jsonl"; b=$(now)
      cli_export+=("$(rate "$rows" "$a" "$b")")
    else
      read -r n secs < <(python3 "$dir/py_side.py" import "$table" "$dir/rows.jsonl")
      py_import+=("$(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')")
      read -r n secs < <(python3 "$dir/py_side.py" export "$table" "$dir/out.jsonl")
      py_export+=("$(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')")
    fi
    cmp -s "$dir/rows.jsonl" "$dir/out.jsonl" ||
      { echo "round $r, $side: the export is not the imported file" >&2; exit 1; }
    "$cli" drop "$table" >/dev/null
  done
  echo "round $r: import ${cli_import[-1]} rows/s (python ${py_import[-1]}), export" \
       "${cli_export[-1]} rows/s (python ${py_export[-1]})"
done

ci=$(median "${cli_import[@]}") ce=$(median "${cli_export[@]}")
pi=$(median "${py_import[@]}") pe=$(median "${py_export[@]}")
ri=$(awk -v a="$ci" -v b="$pi" 'BEGIN { printf "%.2f", a / b }')
re=$(awk -v a="$ce" -v b="$pe" 'BEGIN { printf "%.2f", a / b }')
echo "medians of $rounds: import $ci rows/s (${ri}x hbpool.happybase's $pi), export $ce rows/s" \
     "(${re}x its $pe)"
printf 'summary: {"rows": %d, "value_bytes": %d, "import_rows_per_s": %d, "export_rows_per_s": %d, "python_import_rows_per_s": %d, "python_export_rows_per_s": %d, "import_ratio": %s, "export_ratio": %s}\n' \
  "$rows" "$value_bytes" "$ci" "$ce" "$pi" "$pe" "$ri" "$re"
