#!/usr/bin/env bash
# Benchmarks hbpool's Python client (clients/python, through hbpoold) against HappyBase from PyPI
# (straight to the gateway) in one run: single-row gets from one process, and the wall time of a
# short-lived process doing one get (python -c with each, and the C command hbpool get).
# Uses $HBPOOL_TEST_THRIFT_* when set, else starts a local HBase; starts its own hbpoold.
# usage: bench/run-python-bench.sh [BUILDDIR (build)] [--gets N] [--runs N] [--rounds N] [--profile]
#   --gets N    gets per measured round and client (10000)
#   --runs N    runs of each short-lived process (20)
#   --rounds N  measured rounds per client, alternating (3)
#   --profile   also print a cProfile of one hbpool round
# HappyBase lives in a venv under ${TMPDIR:-/tmp} (made on first use, then reused).
set -euo pipefail
top=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
usage() { sed -n 's/^# \{0,1\}//; 6,10p' "${BASH_SOURCE[0]}" >&2; exit 2; }
builddir=$top/build
if [ $# -gt 0 ] && [[ $1 != -* ]]; then builddir=$1; shift; fi
builddir=$(cd -- "$builddir" && pwd -P)
bench_args=()
while [ $# -gt 0 ]; do
  case $1 in
    --gets|--runs|--rounds)
      [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || { echo "$1 needs a positive integer" >&2; usage; }
      bench_args+=("$1" "$2"); shift 2 ;;
    --profile) bench_args+=("$1"); shift ;;
    *) echo "unknown argument '$1'" >&2; usage ;;
  esac
done
hbpoold="$builddir/daemon/hbpoold"
cli="$builddir/clients/cli/hbpool"
for prog in "$hbpoold" "$cli"; do
  [ -x "$prog" ] || { echo "no $prog: build first (tests/check.sh or make)" >&2; exit 2; }
done

venv=${TMPDIR:-/tmp}/hbpool-pybench-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import happybase' 2>/dev/null; then
  rm -rf -- "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'happybase==1.3.0'
fi
python=$venv/bin/python
export PYTHONPATH=$top/clients/python${PYTHONPATH:+:$PYTHONPATH}
"$python" -c 'import hbpool.happybase' ||
  { echo "cannot import hbpool.happybase from $top/clients/python" >&2; exit 2; }

# Everything this script starts or makes is undone on the way out, whatever the way out is.
hbase_run_dir="" dir="" daemon_pid=""
cleanup() {
  local rc=$? status=0
  set +e
  if [ -n "$daemon_pid" ]; then
    kill -TERM "$daemon_pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$daemon_pid" 2>/dev/null && echo "hbpoold did not stop on SIGTERM: killed" >&2
    wait "$daemon_pid"; status=$?
    if [ "$status" -ne 0 ]; then
      echo "*** hbpoold exited with status $status ***" >&2
      rc=1
    fi
  fi
  if [ -n "$dir" ]; then
    if [ -s "$dir/hbpoold.log" ]; then
      echo "hbpoold log (warnings and errors):" >&2
      cat "$dir/hbpoold.log" >&2
    fi
    rm -rf "$dir"
  fi
  [ -z "$hbase_run_dir" ] || "$top/tests/hbase/hbase-local.sh" stop --run-dir "$hbase_run_dir"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -z "${HBPOOL_TEST_THRIFT_PORT:-}" ]; then
  eval "$("$top/tests/hbase/hbase-local.sh" start)"
  hbase_run_dir=$HBPOOL_HBASE_RUN_DIR
fi
export HBPOOL_TEST_THRIFT_HOST=${HBPOOL_TEST_THRIFT_HOST:-127.0.0.1} HBPOOL_TEST_THRIFT_PORT \
       HBPOOL_TEST_THRIFT_FRAMED=${HBPOOL_TEST_THRIFT_FRAMED:-0} \
       HBPOOL_TEST_THRIFT_COMPACT=${HBPOOL_TEST_THRIFT_COMPACT:-0}
framed=$HBPOOL_TEST_THRIFT_FRAMED compact=$HBPOOL_TEST_THRIFT_COMPACT
pool_size=4

dir=$(mktemp -d "${TMPDIR:-/tmp}/hbpool-pybench.XXXXXX")
# Bytecode is cached, as it is for an installed package (the short-lived processes would
# otherwise compile every module they import), but here rather than in the source tree.
unset PYTHONDONTWRITEBYTECODE
export PYTHONPYCACHEPREFIX=$dir/pycache
cat >"$dir/hbpoold.conf" <<EOF
[daemon]
listen_socket = $dir/hbpoold.sock
log_level = warning

[gateway]
host = $HBPOOL_TEST_THRIFT_HOST
port = $HBPOOL_TEST_THRIFT_PORT
transport = $([ "$framed" != 0 ] && echo framed || echo buffered)
protocol = $([ "$compact" != 0 ] && echo compact || echo binary)
pool_size = $pool_size
EOF
"$hbpoold" -c "$dir/hbpoold.conf" >"$dir/hbpoold.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 200); do
  [ -S "$dir/hbpoold.sock" ] && break
  kill -0 "$daemon_pid" 2>/dev/null || { echo "hbpoold failed to start" >&2; exit 1; }
  sleep 0.1
done
[ -S "$dir/hbpoold.sock" ] || { echo "hbpoold did not create its socket in 20 s" >&2; exit 1; }

echo "gateway: $HBPOOL_TEST_THRIFT_HOST:$HBPOOL_TEST_THRIFT_PORT framed=$framed compact=$compact;" \
     "hbpoold pid $daemon_pid, pool_size $pool_size;" \
     "$(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$python" "$top/bench/python_bench.py" --socket "$dir/hbpoold.sock" --cli "$cli" \
  ${bench_args[@]+"${bench_args[@]}"}
