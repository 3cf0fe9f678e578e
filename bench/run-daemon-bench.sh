#!/usr/bin/env bash
# Benchmarks hbpoold against a real gateway: single-row gets and puts through the daemon from 1,
# 16 and 128 clients, the same directly over Thrift as the ceiling, the daemon's CPU per request
# and its memory with 1,000 idle clients. Uses $HBPOOL_TEST_THRIFT_* when set, else starts a local
# HBase. Run from a build directory (default: build/): bench/run-daemon-bench.sh [BUILDDIR [OPTS]];
# OPTS go to daemon_bench: --seconds S (3) and --warmup S (1) per phase, --idle-clients N (1000).
set -euo pipefail
top=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
builddir=$(cd -- "${1:-$top/build}" && pwd -P)
[ $# -gt 0 ] && shift
bench="$builddir/bench/daemon_bench"
hbpoold="$builddir/daemon/hbpoold"
for prog in "$bench" "$hbpoold"; do
  [ -x "$prog" ] || { echo "no $prog: build first (tests/check.sh or make)" >&2; exit 2; }
done

idle=1000
args=("$@")
for i in "${!args[@]}"; do
  case ${args[$i]} in
    --idle-clients=*) idle=${args[$i]#*=} ;;
    --idle-clients) idle=${args[$((i + 1))]:-$idle} ;;
  esac
done

# Everything this script starts or makes is undone on the way out, whatever the way out is.
hbase_run_dir="" dir="" daemon_pid="" table=""
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
  [ -z "$table" ] || "$bench" --drop "$table" >/dev/null || echo "could not delete table $table" >&2
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
  export HBPOOL_TEST_THRIFT_HOST HBPOOL_TEST_THRIFT_PORT HBPOOL_TEST_THRIFT_FRAMED \
         HBPOOL_TEST_THRIFT_COMPACT
fi
host=${HBPOOL_TEST_THRIFT_HOST:-127.0.0.1}
framed=${HBPOOL_TEST_THRIFT_FRAMED:-0} compact=${HBPOOL_TEST_THRIFT_COMPACT:-0}

# One descriptor per idle client, in the daemon and in daemon_bench (which raises its own soft
# limit too), plus the busiest phase and a margin.
need=$((idle + 512))
soft=$(ulimit -Sn)
if [ "$soft" != unlimited ] && [ "$soft" -lt "$need" ]; then
  ulimit -Sn "$need" || { echo "open-files limit too low for $idle idle clients" >&2; exit 2; }
fi

dir=$(mktemp -d /tmp/hbpool-dbench.XXXXXX)
cat >"$dir/hbpoold.conf" <<EOF
[daemon]
listen_socket = $dir/hbpoold.sock
max_clients = $((idle + 256))
log_level = warning

[gateway]
host = $host
port = $HBPOOL_TEST_THRIFT_PORT
transport = $([ "$framed" != 0 ] && echo framed || echo buffered)
protocol = $([ "$compact" != 0 ] && echo compact || echo binary)
pool_size = 8
EOF
"$hbpoold" -c "$dir/hbpoold.conf" >"$dir/hbpoold.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 200); do
  [ -S "$dir/hbpoold.sock" ] && break
  kill -0 "$daemon_pid" 2>/dev/null || { echo "hbpoold failed to start" >&2; exit 1; }
  sleep 0.1
done
[ -S "$dir/hbpoold.sock" ] || { echo "hbpoold did not create its socket in 20 s" >&2; exit 1; }

echo "gateway: $host:$HBPOOL_TEST_THRIFT_PORT framed=$framed compact=$compact;" \
     "hbpoold pid $daemon_pid, pool_size 8;" \
     "$(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
table=hbpool_dbench_$$
"$bench" --load "$table"
"$bench" --socket "$dir/hbpoold.sock" --pid "$daemon_pid" --table "$table" "$@"
