#!/usr/bin/env bash
# Installs dependencies, checks the C layout, builds hbpool out of tree and runs every test (unit
# tests, leak check, integration tests against a real HBase it starts itself). Ends with
# "N passed, N failed".
# Usage: tests/check.sh [--sanitizers]     (build in build/ or, with sanitizers, build-asan/)
set -euo pipefail
top=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$top"

configure_args=()
builddir=build
if [ "${1:-}" = --sanitizers ]; then
  configure_args+=(--enable-sanitizers)
  builddir=build-asan
  # The Python suite's run against happybase and aiohappybase from PyPI tests nothing of this
  # build: the normal build runs it. So with the gateway in HTTP mode: the sanitizers see netio's
  # HTTP code in test_netio, and the normal build runs the suites on it. The Debian packages
  # are built with their own flags: the normal build checks them.
  export HBPOOL_TEST_PYTHON_RUN=hbpool HBPOOL_TEST_HTTP_GATEWAY=0 HBPOOL_TEST_PACKAGE=0
elif [ $# -gt 0 ]; then
  echo "usage: tests/check.sh [--sanitizers]" >&2
  exit 2
fi

tests/install-deps.sh

# The layout (.clang-format, docs/style.md): every C file as clang-format writes it. One check.
unformatted=()
while IFS= read -r f; do
  clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || unformatted+=("$f")
done < <(find src daemon clients/cli tests bench -name '*.[ch]' -not -path 'src/gen*' | sort)
if [ ${#unformatted[@]} -eq 0 ]; then
  format_passed=1 format_failed=0
else
  format_passed=0 format_failed=1
  echo "check: not as clang-format writes them (clang-format -i FILE...): ${unformatted[*]}"
fi
[ -x configure ] && [ configure -nt configure.ac ] && [ configure -nt Makefile.am ] \
  && [ configure -nt tests/Makefile.inc ] || autoreconf -fi >/dev/null
mkdir -p "$builddir"
cd "$builddir"
[ -f config.status ] && ./config.status --recheck >/dev/null && ./config.status >/dev/null \
  || ../configure -q "${configure_args[@]}"
make -j"$(nproc)" >/dev/null

status=0
make -j1 check VERBOSE=1 || status=$?
[ "$format_failed" -eq 0 ] || status=1

# The suite's figures: Check's summaries of each program, plus the plain lines of shell tests.
passed=$format_passed failed=$format_failed
while read -r n f e; do
  passed=$((passed + n - f - e)); failed=$((failed + f + e))
done < <(sed -n 's/^[0-9]*%: Checks: \([0-9]*\), Failures: \([0-9]*\), Errors: \([0-9]*\)$/\1 \2 \3/p' \
           tests/*.log 2>/dev/null)
while read -r n f; do
  passed=$((passed + n)); failed=$((failed + f))
done < <(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' tests/valgrind-decode.sh.log \
           tests/integration.sh.log 2>/dev/null)  # integration: test_examples.sh's and test_python.sh's
[ "$status" -eq 0 ] || [ "$failed" -gt 0 ] || failed=1  # a harness failure counts too
# Programs a given gateway cannot serve (integration.sh names them): neither passed nor failed.
skipped=$(sed -n 's/^integration: skipped \([^:]*\):.*/\1/p' tests/integration.sh.log 2>/dev/null |
          sort -u | paste -sd' ' -)
[ -z "$skipped" ] || echo "check: skipped by name, not counted as passed: $skipped"
# What failed, again at the end, where a reader of the tail finds it: Check's failure and error
# lines, the shell tests' failure lines, and the integration programs that failed.
grep -hE '^[^ :]+:[0-9]+:[FE]:|^FAILED[: ]|^integration: .*FAILED|^(not ok|FAIL:) |^[0-9]+\) [A-Za-z]+::|^test_package: .*: FAILED' \
  tests/*.log 2>/dev/null |
  sed 's/^/check: failed: /' | head -n 40 || true
echo "check: $passed passed, $failed failed"
exit "$status"
