#!/usr/bin/env bash
# Runs the PHP client's PHPUnit suite (clients/php/tests) against a real hbpoold of its own and
# the exported gateway. Needs HBPOOL_TEST_THRIFT_HOST/PORT (FRAMED, COMPACT) and top_builddir.
# Prints "N passed, N failed"; a missing php or phpunit is a failure.
set -uo pipefail
script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
top_srcdir=$(cd -- "${top_srcdir:-$script_dir/..}" && pwd -P)
top_builddir=$(cd -- "${top_builddir:-$script_dir/..}" && pwd -P)
dir=$(mktemp -d "${TMPDIR:-/tmp}/hbpool-php.XXXXXX")
export HBPOOL_SOCKET=$dir/hbpoold.sock
pid=""

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() { [[ -n $pid ]] && kill -CONT "$pid" 2>/dev/null && kill "$pid" 2>/dev/null; rm -rf -- "$dir"; }
trap cleanup EXIT

[[ -n ${HBPOOL_TEST_THRIFT_PORT:-} ]] || { echo 'HBPOOL_TEST_THRIFT_PORT is not set' >&2; exit 2; }
for tool in php phpunit; do
  command -v "$tool" >/dev/null || { echo "test_php: no $tool (tests/install-deps.sh)"; echo "0 passed, 1 failed"; exit 1; }
done
# shellcheck source=tests/daemon_lib.sh
. "$script_dir/daemon_lib.sh"
start_daemon "$dir"
export HBPOOL_TEST_DAEMON_PID=$pid

rc=0
phpunit --bootstrap "$top_srcdir/clients/php/hbpool.php" --log-junit "$dir/junit.xml" \
  --do-not-cache-result "$top_srcdir/clients/php/tests" || rc=$?
# The suite's figures from PHPUnit's JUnit report: a skipped or warned test is not a pass.
read -r tests bad < <(php -r '$s = @simplexml_load_file($argv[1]);
  $a = $s ? $s->testsuite[0]->attributes() : null;
  echo $a ? $a["tests"] . " " . ($a["failures"] + $a["errors"] + $a["skipped"] + $a["warnings"]) : "0 0";' \
  "$dir/junit.xml")
kill "$pid"; status=0; wait "$pid" || status=$?; pid=""
[[ $status == 0 ]] || echo "test_php: hbpoold exited with status $status"
failed=$(( bad + (status != 0) ))
passed=$(( tests - bad ))
[[ $rc == 0 || $failed -gt 0 ]] || failed=1
echo "$passed passed, $failed failed"
((rc == 0 && failed == 0))
