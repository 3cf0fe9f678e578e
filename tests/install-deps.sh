#!/usr/bin/env bash
# Installs what hbpool needs to build and test on Debian 12 (apt-get); quiet when all is there.
# Usage: tests/install-deps.sh [--runtime-only]
set -euo pipefail

build_pkgs=(build-essential autoconf automake pkg-config perl thrift-compiler
            libglib2.0-dev libthrift-c-glib-dev libevent-dev libjansson-dev libsystemd-dev)
test_pkgs=(check valgrind openjdk-17-jdk-headless maven procps iproute2 curl socat
           python3-prometheus-client python3-pytest python3-venv clang-format
           clang libclang-rt-14-dev  # libFuzzer, for tests/fuzz/run.sh
           php-cli phpunit ruby      # the PHP client's suite, the Ruby example
           debhelper dh-python pybuild-plugin-pyproject python3-all python3-setuptools
           lintian)                  # tests/test_package.sh: debian/ built and checked

pkgs=("${build_pkgs[@]}")
[ "${1:-}" = --runtime-only ] || pkgs+=("${test_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
