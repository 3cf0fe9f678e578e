#!/usr/bin/env bash
# make check driver for tests/test_hbase, tests/test_pool and the daemon's tests/test_daemon*:
# runs them against a given gateway, or against a throwaway HBase with three gateways
# (buffered+binary, framed+compact, and one with a short idle timeout) that it always stops
# afterwards. test_daemon_faults starts, stops and restarts a gateway of its own on that HBase.
set -euo pipefail

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
# Absolute: the test program runs hbase-local.sh itself (automake passes relative paths).
top_srcdir=$(cd -- "${top_srcdir:-$script_dir/..}" && pwd -P)
top_builddir=$(cd -- "${top_builddir:-$script_dir/..}" && pwd -P)
readonly hbase_local=$top_srcdir/tests/hbase/hbase-local.sh
readonly test_prog=$top_builddir/tests/test_hbase
readonly pool_prog=$top_builddir/tests/test_pool
readonly daemon_prog=$top_builddir/tests/test_daemon
# Large requests against a framed gateway, whose frame limit is real.
readonly bytes_prog=$top_builddir/tests/test_daemon_bytes
# The daemon's other end-to-end programs: listeners and limits, the memory budget, 200 clients
# at once, coalescing,
# [access] rules, the metrics endpoint, the hbpool command line.
readonly daemon_more=("$top_builddir"/tests/test_daemon_{limits,hbase_limits,budget,share,load,coalesce,access} \
  "$top_builddir"/tests/test_systemd "$top_builddir"/tests/test_metrics \
  "$top_builddir"/tests/test_cli)
# Gateway restarts and faults injected by a proxy, on a gateway of its own.
readonly faults_prog=$top_builddir/tests/test_daemon_faults
# Several gateways: one of its own and the exported one.
readonly gateways_prog=$top_builddir/tests/test_daemon_gateways
# The client examples in clients/examples/ (shell, Node.js, Go) run against a daemon of their own.
readonly examples_prog=$top_srcdir/tests/test_examples.sh
# The Python client (clients/python), pip installed in a venv, under pytest.
readonly python_prog=$top_srcdir/tests/test_python.sh
# The PHP client (clients/php) under PHPUnit, against a daemon of its own.
readonly php_prog=$top_srcdir/tests/test_php.sh
readonly package_prog=$top_srcdir/tests/test_package.sh
# The third gateway drops idle connections and forgets unused scanners quickly, for the pool's
# stale-socket tests and the daemon's idle and scanner-expiry tests (the gateway forgets a scanner
# after twice hbase.client.scanner.timeout.period).
readonly idle_timeout_ms=2000 scanner_timeout_ms=1000
run_dir=""

log() { printf 'integration: %s\n' "$*" >&2; }

mode_name() {
  local framed=${HBPOOL_TEST_THRIFT_FRAMED:-0} compact=${HBPOOL_TEST_THRIFT_COMPACT:-0}
  local http=${HBPOOL_TEST_THRIFT_HTTP:-0}
  printf '%s+%s' "$( ((http)) && echo http || { ((framed)) && echo framed || echo buffered; })" \
    "$( ((compact)) && echo compact || echo binary)"
}

# run_tests [PROG]: PROG (default test_hbase) against the gateway named by the exported
# HBPOOL_TEST_* variables.
run_tests() {
  local prog=${1:-$test_prog} start=$SECONDS rc=0
  log "testing ${prog##*/} on $(mode_name) gateway '${HBPOOL_TEST_GATEWAY_NAME:-?}' at" \
    "${HBPOOL_TEST_THRIFT_HOST:-?}:${HBPOOL_TEST_THRIFT_PORT:-?}"
  "$prog" || rc=$?
  log "${prog##*/} $(mode_name): $( ((rc == 0)) && echo passed || echo "FAILED (exit $rc)")" \
    "in $((SECONDS - start))s"
  return "$rc"
}

# load_env LINES: exports the HBPOOL_* lines printed by hbase-local.sh start/gateway-start.
load_env() {
  local line
  while IFS= read -r line; do
    if [[ ! $line =~ ^HBPOOL_[A-Z_]+= ]]; then
      log "unexpected output from hbase-local.sh: $line"
      return 1
    fi
    eval "export $line"
  done <<<"$1"
}

dump_logs() {
  local f
  for f in "$run_dir"/logs/*.log; do
    [[ -f $f ]] || continue
    printf '\n===== last 40 lines of %s =====\n' "$f" >&2
    tail -n 40 -- "$f" >&2
  done
}

# Always stops what this script started (the run dir goes with it); keeps a failing status.
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local rc=$?
  trap - EXIT
  if [[ -n $run_dir ]]; then
    log "stopping HBase in $run_dir"
    if ! "$hbase_local" stop --run-dir "$run_dir"; then
      log "could not stop HBase in $run_dir: check 'ps aux | grep java'"
      ((rc != 0)) || rc=1
    fi
  fi
  exit "$rc"
}

# start_gateway NAME OPTIONS...: prints the gateway's env lines; dumps the logs on failure.
start_gateway() {
  local name=$1 out
  shift
  log "starting gateway '$name' ($*)"
  if ! out=$("$hbase_local" gateway-start --run-dir "$run_dir" --name "$name" "$@"); then
    log "gateway '$name' failed to start"
    dump_logs
    return 1
  fi
  printf '%s\n' "$out"
}

# run_daemon_tests [--without-gateways]: test_daemon, its siblings (test_daemon_gateways too,
# unless told), test_pool and the examples on the exported gateway; runs them all, fails if any
# failed.
run_daemon_tests() {
  local prog rc=0 progs=("$daemon_prog" "${daemon_more[@]}" "$pool_prog")
  [[ ${1:-} == --without-gateways ]] || progs+=("$gateways_prog")
  [[ -n $run_dir ]] || progs+=("$faults_prog") # run_all runs it beside the others
  for prog in "${progs[@]}"; do
    run_tests "$prog" || rc=1
  done
  top_srcdir=$top_srcdir top_builddir=$top_builddir run_tests "$examples_prog" || rc=1
  return "$rc"
}

# python_runs RUN...: test_python.sh's runs (hbpool: the package through hbpoold; reference:
# HappyBase and AIOHappyBase from PyPI, straight on the gateway) that $HBPOOL_TEST_PYTHON_RUN
# also asks for, on the exported gateway.
python_runs() {
  local wanted=" ${HBPOOL_TEST_PYTHON_RUN:-hbpool reference} " run runs=()
  for run in "$@"; do
    [[ $wanted == *" $run "* ]] && runs+=("$run")
  done
  [[ ${#runs[@]} -gt 0 ]] || return 0
  HBPOOL_TEST_PYTHON_RUN="${runs[*]}" top_srcdir=$top_srcdir top_builddir=$top_builddir \
    run_tests "$python_prog"
}

run_php() { top_srcdir=$top_srcdir top_builddir=$top_builddir run_tests "$php_prog"; }

# The Debian packages, built, installed, checked and purged: where apt-get may run and a
# package's postinst starts no service (root, and systemd not running: CI's machine), or when
# HBPOOL_TEST_PACKAGE=1; HBPOOL_TEST_PACKAGE=0 leaves it out (check.sh --sanitizers: it tests
# nothing of that build).
run_package() {
  local wanted=${HBPOOL_TEST_PACKAGE:-}
  if [[ -z $wanted ]]; then
    [[ $(id -u) == 0 && ! -d /run/systemd/system ]] && wanted=1 || wanted=0
  fi
  if [[ $wanted == 0 ]]; then
    [[ ${HBPOOL_TEST_PACKAGE:-} == 0 ]] ||
      log "skipped ${package_prog##*/}: it installs packages; run as root where systemd is not" \
        "running, or set HBPOOL_TEST_PACKAGE=1"
    return 0
  fi
  top_srcdir=$top_srcdir run_tests "$package_prog"
}

# run_all ENV_MAIN: test_hbase on the buffered+binary and framed+compact gateways (and the
# daemon's large requests on the framed one), then the daemon's tests and test_pool on a gateway
# with short idle and scanner timeouts; beside them test_pool on the default-settings 'main' and
# the Python and PHP suites through the daemon on the framed one. Unless HBPOOL_TEST_HTTP_GATEWAY=0,
# test_hbase, test_daemon and test_daemon_gateways run (the last with gateways of both transports)
# on one in HTTP mode with the same timeouts, beside them too. Fails if any failed.
run_all() {
  local env_main=$1 env_fc env_idle env_http="" rc=0
  env_fc=$(start_gateway fc --framed --compact) || return 1
  env_idle=$(start_gateway idle --idle-timeout-ms "$idle_timeout_ms" \
    --scanner-timeout-ms "$scanner_timeout_ms") || return 1
  if [[ ${HBPOOL_TEST_HTTP_GATEWAY:-1} == 1 ]]; then
    env_http=$(start_gateway http --http --idle-timeout-ms "$idle_timeout_ms" \
      --scanner-timeout-ms "$scanner_timeout_ms") || return 1
  fi
  # Programs on different gateways run side by side where they mostly wait on HBase; each
  # background one's output follows the foreground's. Each gateway has one program at a time,
  # as test_hbase and test_pool restart theirs. Two phases: 'main' and 'fc' each serve two
  # chains in turn; 'idle' and 'http' serve one each, from the start.
  local fc_log=$run_dir/fc.log fc_pid pool_log=$run_dir/test_pool_main.log pool_pid
  local faults_log=$run_dir/faults.log faults_pid
  # On a gateway of its own, waiting out restarts and faults most of the time.
  (load_env "$env_main" && run_tests "$faults_prog") >"$faults_log" 2>&1 &
  faults_pid=$!
  # The daemon's tests, the longest chain: on 'idle' from the start.
  local idle_log=$run_dir/idle.log idle_pid without=()
  [[ -z $env_http ]] || without=(--without-gateways)
  (load_env "$env_idle" && export HBPOOL_TEST_GATEWAY_NAME=idle \
     HBPOOL_TEST_IDLE_TIMEOUT_MS=$idle_timeout_ms \
     HBPOOL_TEST_SCANNER_EXPIRY_MS=$((2 * scanner_timeout_ms)) &&
     run_daemon_tests "${without[@]}") >"$idle_log" 2>&1 &
  idle_pid=$!
  local http_log=$run_dir/http.log http_pid=""
  if [[ -n $env_http ]]; then
    (load_env "$env_http" && export HBPOOL_TEST_GATEWAY_NAME=http \
       HBPOOL_TEST_IDLE_TIMEOUT_MS=$idle_timeout_ms \
       HBPOOL_TEST_SCANNER_EXPIRY_MS=$((2 * scanner_timeout_ms)) &&
       { r=0; run_tests || r=1; run_tests "$daemon_prog" || r=1
         run_tests "$gateways_prog" || r=1; exit "$r"; }) >"$http_log" 2>&1 &
    http_pid=$!
  fi
  (load_env "$env_fc" && export HBPOOL_TEST_GATEWAY_NAME=fc &&
     { r=0; run_tests || r=1; run_tests "$bytes_prog" || r=1; run_package || r=1; exit "$r"; }) \
    >"$fc_log" 2>&1 &
  fc_pid=$!
  (load_env "$env_main" && export HBPOOL_TEST_GATEWAY_NAME=main &&
     { r=0; run_tests || r=1; python_runs reference || r=1; exit "$r"; }) || rc=1
  wait "$fc_pid" || rc=1
  cat "$fc_log"
  # test_pool on 'main' too, whose settings are the gateway's defaults (a 60 s idle timeout), as
  # on the documented quick-iteration path. It mostly waits out that timeout.
  (load_env "$env_main" && export HBPOOL_TEST_GATEWAY_NAME=main && run_tests "$pool_prog") \
    >"$pool_log" 2>&1 &
  pool_pid=$!
  # The Python and PHP suites through the daemon, on 'fc' now free: most of their time is the
  # daemon's and the gateway's.
  local py_log=$run_dir/python.log py_pid
  (load_env "$env_fc" && export HBPOOL_TEST_GATEWAY_NAME=fc &&
     { r=0; python_runs hbpool || r=1; run_php || r=1; exit "$r"; }) >"$py_log" 2>&1 &
  py_pid=$!
  wait "$idle_pid" || rc=1
  cat "$idle_log"
  wait "$pool_pid" || rc=1
  cat "$pool_log"
  wait "$py_pid" || rc=1
  cat "$py_log"
  if [[ -n $http_pid ]]; then
    wait "$http_pid" || rc=1
    cat "$http_log"
  fi
  wait "$faults_pid" || rc=1
  cat "$faults_log"
  return "$rc"
}

main() {
  local rc=0 start env_main
  local prog
  for prog in "$test_prog" "$pool_prog" "$daemon_prog" "${daemon_more[@]}" "$faults_prog" \
    "$gateways_prog" "$bytes_prog" \
    "$examples_prog" "$python_prog" "$php_prog" "$package_prog"; do
    [[ -x $prog ]] || { log "$prog is not built"; exit 2; }
  done
  export HBPOOL_HBASE_SCRIPT=${HBPOOL_HBASE_SCRIPT:-$hbase_local}
  if [[ -n ${HBPOOL_TEST_THRIFT_PORT:-} ]]; then
    # A gateway of the developer's: its idle timeout is the gateway default unless told.
    export HBPOOL_TEST_GATEWAY_NAME=${HBPOOL_TEST_GATEWAY_NAME:-main}
    run_tests || rc=$?
    run_daemon_tests || rc=$?
    python_runs hbpool reference || rc=$?
    run_php || rc=$?
    run_package || rc=$?
    if [[ ${HBPOOL_TEST_THRIFT_FRAMED:-0} == 1 ]]; then
      run_tests "$bytes_prog" || rc=$?
    else
      # check.sh counts this line as a skip: it is not a pass.
      log "skipped ${bytes_prog##*/}: it needs a framed gateway (HBPOOL_TEST_THRIFT_FRAMED=1)"
    fi
    exit "$rc"
  fi
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap cleanup EXIT
  run_dir=$(mktemp -d "${TMPDIR:-/tmp}/hbpool-it.XXXXXX")
  log "starting HBase in $run_dir (buffered+binary gateway 'main')"
  start=$SECONDS
  if ! env_main=$("$hbase_local" start --run-dir "$run_dir"); then
    log "HBase failed to start"
    dump_logs
    exit 1
  fi
  log "HBase started in $((SECONDS - start))s"
  run_all "$env_main" || rc=$?
  exit "$rc"
}

main "$@"
