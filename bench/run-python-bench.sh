#!/usr/bin/env bash
# Benchmarks hbpool's Python client (clients/python, through hbpoold) against HappyBase from PyPI
# (straight to the gateway) in one run: single-row gets from one process and from 16 at once, and
# the wall time of a short-lived process doing one get (python -c with each, the C command
# hbpool get, and php -r with clients/php/hbpool.php where php is installed); the last line is "summary: {json}" of the figures. Uses $HBPOOL_TEST_THRIFT_* when
# set, else starts a local HBase; starts its own hbpoold (pool_size 8).
# usage: bench/run-python-bench.sh [BUILDDIR (build)] [--gets N] [--runs N] [--rounds N]
#                                  [--procs N] [--seconds N] [--profile]
#   --gets N    gets per measured round and client (10000)
#   --runs N    runs of each short-lived process (20)
#   --rounds N  measured rounds per client, alternating (3)
#   --procs N   processes making gets at once in the concurrency phase (16)
#   --seconds N seconds per concurrency round (3)
#   --profile   also print a cProfile of one hbpool round
# HappyBase lives in a venv under ${TMPDIR:-/tmp} (made on first use, then reused).
set -euo pipefail
top=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
usage() { sed -n 's/^# \{0,1\}//; 7,14p' "${BASH_SOURCE[0]}" >&2; exit 2; }
builddir=$top/build
if [ $# -gt 0 ] && [[ $1 != -* ]]; then builddir=$1; shift; fi
builddir=$(cd -- "$builddir" && pwd -P)
bench_args=()
while [ $# -gt 0 ]; do
  case $1 in
    --gets|--runs|--rounds|--procs|--seconds)
      [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || { echo "$1 needs a positive integer" >&2; usage; }
      bench_args+=("$1" "$2"); shift 2 ;;
    --profile) bench_args+=("$1"); shift ;;
    *) echo "unknown argument '$1'" >&2; usage ;;
  esac
done
# shellcheck source=bench/lib.sh
. "$top/bench/lib.sh"
bench_programs "$builddir"

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
bench_on_exit

bench_gateway

dir=$(mktemp -d "${TMPDIR:-/tmp}/hbpool-pybench.XXXXXX")
# Bytecode is cached, as it is for an installed package (the short-lived processes would
# otherwise compile every module they import), but here rather than in the source tree.
unset PYTHONDONTWRITEBYTECODE
export PYTHONPYCACHEPREFIX=$dir/pycache
bench_start_daemon "$hbpoold" 8
# php -r doing one get with the PHP client too, where php is installed.
command -v php >/dev/null && bench_args+=(--php-client "$top/clients/php/hbpool.php")
"$python" "$top/bench/python_bench.py" --socket "$dir/hbpoold.sock" --cli "$cli" \
  ${bench_args[@]+"${bench_args[@]}"}
