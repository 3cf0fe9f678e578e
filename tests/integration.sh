#!/usr/bin/env bash
# make check driver for tests/test_hbase: runs it against a given gateway, or against a throwaway
# HBase with two gateways (buffered+binary and framed+compact) that it always stops afterwards.
set -euo pipefail

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
# Absolute: the test program runs hbase-local.sh itself (automake passes relative paths).
top_srcdir=$(cd -- "${top_srcdir:-$script_dir/..}" && pwd -P)
top_builddir=$(cd -- "${top_builddir:-$script_dir/..}" && pwd -P)
readonly hbase_local=$top_srcdir/tests/hbase/hbase-local.sh
readonly test_prog=$top_builddir/tests/test_hbase
run_dir=""

log() { printf 'integration: %s\n' "$*" >&2; }

mode_name() {
  local framed=${HBPOOL_TEST_THRIFT_FRAMED:-0} compact=${HBPOOL_TEST_THRIFT_COMPACT:-0}
  printf '%s+%s' "$( ((framed)) && echo framed || echo buffered)" \
    "$( ((compact)) && echo compact || echo binary)"
}

# run_tests: test_hbase against the gateway named by the exported HBPOOL_TEST_* variables.
run_tests() {
  local start=$SECONDS rc=0
  log "testing $(mode_name) gateway '${HBPOOL_TEST_GATEWAY_NAME:-?}' at" \
    "${HBPOOL_TEST_THRIFT_HOST:-?}:${HBPOOL_TEST_THRIFT_PORT:-?}"
  "$test_prog" || rc=$?
  local verdict=passed
  ((rc == 0)) || verdict="FAILED (exit $rc)"
  log "$(mode_name): $verdict in $((SECONDS - start))s"
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

# run_both ENV_MAIN: a second gateway, then one run per gateway; fails if either run failed.
run_both() {
  local env_main=$1 env_fc rc_main=0 rc_fc=0
  log "starting a second gateway 'fc' (framed+compact)"
  if ! env_fc=$("$hbase_local" gateway-start --run-dir "$run_dir" --name fc --framed \
    --compact); then
    log "gateway 'fc' failed to start"
    dump_logs
    return 1
  fi
  (load_env "$env_main" && export HBPOOL_TEST_GATEWAY_NAME=main && run_tests) || rc_main=$?
  (load_env "$env_fc" && export HBPOOL_TEST_GATEWAY_NAME=fc && run_tests) || rc_fc=$?
  if ((rc_main != 0)); then return "$rc_main"; fi
  return "$rc_fc"
}

main() {
  local rc=0 start env_main
  [[ -x $test_prog ]] || { log "$test_prog is not built"; exit 2; }
  export HBPOOL_HBASE_SCRIPT=${HBPOOL_HBASE_SCRIPT:-$hbase_local}
  if [[ -n ${HBPOOL_TEST_THRIFT_PORT:-} ]]; then
    export HBPOOL_TEST_GATEWAY_NAME=${HBPOOL_TEST_GATEWAY_NAME:-main}
    run_tests || rc=$?
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
  run_both "$env_main" || rc=$?
  exit "$rc"
}

main "$@"
