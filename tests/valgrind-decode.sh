#!/usr/bin/env bash
# Runs tests/decode_loop under a leak checker and fails on any leaked byte: valgrind for normal
# builds, LeakSanitizer for sanitizer builds (valgrind cannot run ASan binaries).
set -euo pipefail
top_builddir=${top_builddir:-$(dirname "$0")/..}
prog="$top_builddir/tests/decode_loop"
passed=0 failed=0

if [ "${HBPOOL_SANITIZERS:-no}" = yes ]; then
  echo "leak check: LeakSanitizer (sanitizer build)"
  if ASAN_OPTIONS=detect_leaks=1:exitcode=3 "$prog"; then passed=1; else failed=1; fi
else
  command -v valgrind >/dev/null || { echo "valgrind is not installed (tests/install-deps.sh)"; exit 99; }
  echo "leak check: valgrind"
  log=$(mktemp)
  trap 'rm -f "$log"' EXIT
  # Only definite and indirect losses count: GLib's type system keeps its registrations
  # reachable for the life of the process by design.
  if valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect \
       --errors-for-leak-kinds=definite,indirect --error-exitcode=3 \
       --log-file="$log" "$prog"; then
    passed=1
  else
    failed=1
  fi
  cat "$log"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
