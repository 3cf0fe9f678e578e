#!/usr/bin/env bash
# Builds the fuzz targets of tests/fuzz/ with clang's libFuzzer, AddressSanitizer and
# UndefinedBehaviorSanitizer (in build-fuzz/), then runs each for SECONDS on its seed corpus
# (tests/fuzz/corpus/TARGET, read only) plus what earlier runs found (build-fuzz/corpus-TARGET).
# A target passes when it ran without a crash, a leak, a timeout or a sanitizer report; a
# failing input is kept as build-fuzz/artifacts/TARGET-*. Prints each target's executions, then
# "fuzz: N passed, N failed".
# Usage: tests/fuzz/run.sh SECONDS|ci [TARGET...]   (targets: request codec reply; default all)
# "ci" runs a fixed number of inputs from a fixed seed instead of for a time: the same inputs on
# every run (the seeds, regressions among them, then the same mutations), so that CI passes or
# fails on the code, not on what a random search happened to try this time; random searches are
# for SECONDS runs.
set -euo pipefail
top=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)
seconds=${1:-}
[[ $seconds =~ ^[0-9]+$ || $seconds == ci ]] \
  || { echo "usage: tests/fuzz/run.sh SECONDS|ci [TARGET...]" >&2; exit 2; }
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(request codec reply)

[ -x "$top/configure" ] || (cd "$top" && autoreconf -fi >/dev/null)
build=$top/build-fuzz
mkdir -p "$build/artifacts"
cd "$build"
# The library, as the sanitizer build makes it, with clang and libFuzzer's coverage.
if [ ! -f config.status ]; then
  "$top/configure" -q CC=clang CFLAGS="-g -O1 -fsanitize=fuzzer-no-link" --enable-sanitizers
fi
# (clang finds unused variables in the generated code: its warnings go to the log, not the run's.)
make -j"$(nproc)" src/libhbgen.a src/libhbpool.a >make.log 2>&1 || { tail -n 40 make.log; exit 1; }
modules="glib-2.0 gobject-2.0 thrift_c_glib libevent libevent_pthreads jansson libsystemd"
read -r -a cflags <<<"$(pkg-config --cflags $modules)"
read -r -a libs <<<"$(pkg-config --libs $modules)"

# Per target: the longest input (a reply must fit a socket buffer) and a dictionary, if any.
declare -A max_len=([request]=65536 [codec]=4096 [reply]=32768)
# With "ci": inputs per target, about 20 s each here.
declare -A ci_runs=([request]=400000 [codec]=1500000 [reply]=6000)
passed=0 failed=0 total=0
for t in "${targets[@]}"; do
  src=$top/tests/fuzz/fuzz_$t.c
  [ -f "$src" ] || { echo "fuzz: no target $t" >&2; exit 2; }
  clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -D_GNU_SOURCE -I"$top/src" -Isrc -Isrc/gen "${cflags[@]}" "$src" src/libhbpool.a \
    src/libhbgen.a "${libs[@]}" -o "fuzz_$t"
  [ "$seconds" != ci ] || rm -rf "corpus-$t" # what earlier runs found would change the inputs
  mkdir -p "corpus-$t"
  opts=(-timeout=10 -print_final_stats=1 -max_len="${max_len[$t]}" -artifact_prefix="artifacts/$t-")
  if [ "$seconds" = ci ]; then
    opts+=(-seed=1 -runs="${ci_runs[$t]}")
  else
    opts+=(-max_total_time="$seconds")
  fi
  [ ! -f "$top/tests/fuzz/$t.dict" ] || opts+=(-dict="$top/tests/fuzz/$t.dict")
  seeds=()
  [ ! -d "$top/tests/fuzz/corpus/$t" ] || seeds=("$top/tests/fuzz/corpus/$t")
  if "./fuzz_$t" "${opts[@]}" "corpus-$t" "${seeds[@]}" >"fuzz_$t.log" 2>&1; then
    passed=$((passed + 1))
    outcome=passed
  else
    failed=$((failed + 1))
    outcome=FAILED
    tail -n 40 "fuzz_$t.log"
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "fuzz_$t.log" | tail -n 1)
  total=$((total + ${execs:-0}))
  echo "fuzz: $t $outcome: ${execs:-0} executions (log: build-fuzz/fuzz_$t.log)"
done
echo "fuzz: $total executions in all"
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
