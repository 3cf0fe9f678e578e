# bench/lib.sh: what the scripts that benchmark through hbpoold share: a gateway (the
# developer's, or a local HBase started for the run), an hbpoold of the run's own, and undoing
# both on the way out. Sourced; the caller sets top.
hbase_run_dir="" dir="" daemon_pid="" bench_exit_hook=()

# bench_programs BUILDDIR: sets hbpoold and cli to that build's, or exits 2 unless both are built.
bench_programs() {
  hbpoold=$1/daemon/hbpoold cli=$1/clients/cli/hbpool
  local prog
  for prog in "$hbpoold" "$cli"; do
    [ -x "$prog" ] || { echo "no $prog: build first (tests/check.sh or make)" >&2; exit 2; }
  done
}

# bench_on_exit [COMMAND...]: whatever the way out, stop hbpoold, run COMMAND (say, dropping the
# run's table), remove the run's files and the HBase it started; a failure of hbpoold's exit
# fails the run.
bench_on_exit() {
  bench_exit_hook=("$@")
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

bench_cleanup() {
  local rc=$?
  set +e
  bench_stop_daemon || rc=1
  [ ${#bench_exit_hook[@]} -eq 0 ] || "${bench_exit_hook[@]}"
  bench_remove_run
  exit "$rc"
}

# bench_gateway: the gateway named by $HBPOOL_TEST_THRIFT_*, or a local HBase started now (and
# stopped by bench_remove_run).
bench_gateway() {
  if [ -z "${HBPOOL_TEST_THRIFT_PORT:-}" ]; then
    eval "$("$top/tests/hbase/hbase-local.sh" start)"
    hbase_run_dir=$HBPOOL_HBASE_RUN_DIR
  fi
  export HBPOOL_TEST_THRIFT_HOST=${HBPOOL_TEST_THRIFT_HOST:-127.0.0.1} HBPOOL_TEST_THRIFT_PORT \
         HBPOOL_TEST_THRIFT_FRAMED=${HBPOOL_TEST_THRIFT_FRAMED:-0} \
         HBPOOL_TEST_THRIFT_COMPACT=${HBPOOL_TEST_THRIFT_COMPACT:-0} \
         HBPOOL_TEST_THRIFT_HTTP=${HBPOOL_TEST_THRIFT_HTTP:-0}
}

# bench_start_daemon HBPOOLD POOL_SIZE [DAEMON_LINES [GATEWAY_LINES]]: hbpoold on
# $dir/hbpoold.sock (config $dir/hbpoold.conf) in front of that gateway, with more [daemon] and
# [gateway] settings if given; prints what the run is measuring on.
bench_start_daemon() {
  local transport=buffered protocol=binary
  [ "$HBPOOL_TEST_THRIFT_FRAMED" = 0 ] || transport=framed
  [ "$HBPOOL_TEST_THRIFT_HTTP" = 0 ] || transport=http
  [ "$HBPOOL_TEST_THRIFT_COMPACT" = 0 ] || protocol=compact
  cat >"$dir/hbpoold.conf" <<EOF
[daemon]
listen_socket = $dir/hbpoold.sock
log_level = warning
${3:-}

[gateway]
host = $HBPOOL_TEST_THRIFT_HOST
port = $HBPOOL_TEST_THRIFT_PORT
transport = $transport
protocol = $protocol
pool_size = $2
${4:-}
EOF
  "$1" -c "$dir/hbpoold.conf" >"$dir/hbpoold.log" 2>&1 &
  daemon_pid=$!
  for _ in $(seq 200); do
    [ -S "$dir/hbpoold.sock" ] && break
    kill -0 "$daemon_pid" 2>/dev/null || { echo "hbpoold failed to start" >&2; return 1; }
    sleep 0.1
  done
  [ -S "$dir/hbpoold.sock" ] || { echo "hbpoold did not create its socket in 20 s" >&2; return 1; }
  echo "gateway: $HBPOOL_TEST_THRIFT_HOST:$HBPOOL_TEST_THRIFT_PORT $transport+$protocol;" \
       "hbpoold pid $daemon_pid, pool_size $2;" \
       "$(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
}

# bench_stop_daemon: SIGTERM, then SIGKILL after 10 s; fails unless hbpoold exited with 0.
bench_stop_daemon() {
  [ -n "$daemon_pid" ] || return 0
  local status=0
  kill -TERM "$daemon_pid" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$daemon_pid" 2>/dev/null && echo "hbpoold did not stop on SIGTERM: killed" >&2
  wait "$daemon_pid" || status=$?
  daemon_pid=""
  [ "$status" -eq 0 ] || { echo "*** hbpoold exited with status $status ***" >&2; return 1; }
}

# bench_remove_run: shows the daemon's log, removes the run's directory, stops the HBase that
# bench_gateway started.
bench_remove_run() {
  if [ -n "$dir" ]; then
    if [ -s "$dir/hbpoold.log" ]; then
      echo "hbpoold log (warnings and errors):" >&2
      cat "$dir/hbpoold.log" >&2
    fi
    rm -rf "$dir"
  fi
  [ -z "$hbase_run_dir" ] || "$top/tests/hbase/hbase-local.sh" stop --run-dir "$hbase_run_dir"
}
