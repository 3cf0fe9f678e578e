#!/usr/bin/env bash
# Runs the client examples in clients/examples/ (shell, Node.js, Go, Ruby) against a real hbpoold
# and gateway.
# Needs HBPOOL_TEST_THRIFT_HOST/PORT (FRAMED, COMPACT) and top_builddir.
# Prints "N passed, N failed"; a missing runtime (no node, go or ruby) is a failure.
set -uo pipefail
script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
top_srcdir=$(cd -- "${top_srcdir:-$script_dir/..}" && pwd -P)
top_builddir=$(cd -- "${top_builddir:-$script_dir/..}" && pwd -P)
examples=$top_srcdir/clients/examples
passed=0 failed=0
dir=$(mktemp -d "${TMPDIR:-/tmp}/hbpool-ex.XXXXXX")
export HBPOOL_SOCKET=$dir/hbpoold.sock
table=ex$$
pid=""

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; chmod -R u+w "$dir" 2>/dev/null; rm -rf -- "$dir"; }
trap cleanup EXIT

rpc() { printf '%s\n' "$1" | socat -t 30 - "UNIX-CONNECT:$HBPOOL_SOCKET"; }

# check NAME OK: counts one result.
check() {
  if [[ $2 == 0 ]]; then passed=$((passed + 1)); echo "ok: $1"
  else failed=$((failed + 1)); echo "FAILED: $1"; fi
}

# run_example NAME EXPECTED COMMAND...: the command must exit 0 and print EXPECTED.
run_example() {
  local name=$1 expected=$2 out rc=0
  shift 2
  out=$("$@" 2>&1) || rc=$?
  printf '%s\n' "$out" | sed "s|^|  $name: |"
  [[ $rc == 0 && $out == *"$expected"* ]]
  check "$name (exit $rc)" $?
}

[[ -n ${HBPOOL_TEST_THRIFT_PORT:-} ]] || { echo 'HBPOOL_TEST_THRIFT_PORT is not set' >&2; exit 2; }
# shellcheck source=tests/daemon_lib.sh
. "$script_dir/daemon_lib.sh"
start_daemon "$dir" "table_prefix = $table"
reply=$(rpc '{"jsonrpc":"2.0","id":1,"method":"create_table","params":{"table":"t","families":{"cf":{}}}}')
[[ $reply == *'"result":null'* ]]
check "create table ${table}_t: $reply" $?

run_example shell.sh "get: r1 cf:greeting=hello" bash "$examples/shell.sh" t
# Go: built offline (no dependencies) with caches in the temp dir.
go_build() {
  (cd "$examples/go" && GOFLAGS=-mod=mod GOCACHE=$dir/gocache GOPATH=$dir/gopath GOPROXY=off \
     go build -o "$dir/go-example" .) && "$dir/go-example" "$@"
}
run_example node.js "get: n1 cf:lang=js" node "$examples/node.js" t

run_example go/main.go "get: g1 cf:lang=go" go_build t
run_example ruby.rb "get: r1 cf:lang=ruby" ruby "$examples/ruby.rb" t

reply=$(rpc '{"jsonrpc":"2.0","id":2,"method":"delete_table","params":{"table":"t","disable":true}}')
[[ $reply == *'"result":null'* ]]
check "delete table ${table}_t: $reply" $?
kill "$pid"; rc=0; wait "$pid" || rc=$?; pid=""
check "hbpoold exit status $rc" "$rc"
echo "$passed passed, $failed failed"
((failed == 0))
