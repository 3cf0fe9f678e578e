#!/usr/bin/env bash
# Builds the Debian packages (debian/) from a copy of the tree with dpkg-buildpackage, checks
# them with lintian, installs them with apt-get, and checks what got installed against the
# gateway in HBPOOL_TEST_THRIFT_*: hbpoold -V, hbpoold -t on the installed config, the units
# through systemd-analyze verify, the hbpool user and /run/hbpool the package made, a put and
# a get through the installed hbpoold and hbpool, and a get through python3-hbpool. Then it purges
# them. Needs root (apt-get) and top_srcdir; prints "N passed, N failed".
set -uo pipefail
script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
top_srcdir=$(cd -- "${top_srcdir:-$script_dir/..}" && pwd -P)
# A package is built with Debian's own tools and interpreter, whatever this shell's PATH has.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive
dir=$(mktemp -d "${TMPDIR:-/tmp}/hbpool-pkg.XXXXXX")
passed=0 failed=0 installed=0 daemon_pid="" table="pkgtest$$"

# check NAME COMMAND...: runs COMMAND; counts it, and on failure shows what it printed.
check() {
  local name=$1 out rc=0
  shift
  out=$("$@" 2>&1) || rc=$?
  if ((rc == 0)); then
    passed=$((passed + 1))
    echo "test_package: $name: ok"
  else
    failed=$((failed + 1))
    echo "test_package: $name: FAILED (exit $rc)"
    printf '%s\n' "$out" | tail -n 40 | sed 's/^/  /'
  fi
  return "$rc"
}

finish() {
  if [[ -n $daemon_pid ]]; then
    hbpool -s "$dir/hbpoold.sock" drop "$table" >/dev/null 2>&1
    kill "$daemon_pid" 2>/dev/null
    wait "$daemon_pid" 2>/dev/null
  fi
  if ((installed)); then
    check "apt-get purge" apt-get purge -y -q hbpool python3-hbpool
    check "nothing left of the packages" \
      bash -c '! test -e /usr/sbin/hbpoold && ! test -e /etc/hbpool && ! dpkg -s hbpool'
  fi
  rm -rf -- "$dir"
  echo "$passed passed, $failed failed"
  ((failed == 0))
  exit
}
trap finish EXIT

[[ $(id -u) == 0 ]] || { failed=1; echo "test_package: needs root (apt-get install)"; exit; }
[[ -n ${HBPOOL_TEST_THRIFT_PORT:-} ]] || { failed=1; echo "test_package: no gateway"; exit; }

# The tree as git has it (a build tree or local changes must not leak into the package).
src=$dir/hbpool-0.1.0
mkdir -p "$src"
(cd "$top_srcdir" && git ls-files -z | xargs -0 cp --parents -t "$src") ||
  { failed=1; echo "test_package: cannot copy the tree"; exit; }
check "dpkg-buildpackage -b" bash -c "cd '$src' && dpkg-buildpackage -b -us -uc" || exit
debs=("$dir"/hbpool_*.deb "$dir"/python3-hbpool_*.deb)
# Info tags too: the overrides in debian/*.lintian-overrides say why each one left is there.
check "lintian" lintian --fail-on error,warning,info --pedantic "$dir"/hbpool_*.changes

check "apt-get install" apt-get install -y -q --no-install-recommends "${debs[@]}" || exit
installed=1
version=$(sed -n '1s/^hbpool (\([^)]*\)).*/\1/p' "$src/debian/changelog")
check "hbpoold -V" bash -c "[[ \$(/usr/sbin/hbpoold -V) == 'hbpoold $version' ]]"
check "hbpool -V" bash -c "[[ \$(/usr/bin/hbpool -V) == 'hbpool $version' ]]"
check "hbpoold -t on the installed config" /usr/sbin/hbpoold -t -c /etc/hbpool/hbpoold.conf
check "the config is a conffile" bash -c "dpkg-query -W -f='\${Conffiles}' hbpool | grep -q '/etc/hbpool/hbpoold.conf'"
check "systemd-analyze verify" bash -c \
  'out=$(cd /lib/systemd/system && systemd-analyze verify hbpoold.service hbpoold.socket 2>&1);
   rc=$?; printf "%s" "$out"; [[ $rc == 0 && -z $out ]]'
check "the hbpool user (sysusers.d)" getent passwd hbpool
check "/run/hbpool (tmpfiles.d)" bash -c '[[ $(stat -c %U /run/hbpool) == hbpool ]]'

cat >"$dir/hbpoold.conf" <<EOF
[daemon]
listen_socket = $dir/hbpoold.sock
[gateway]
host = $HBPOOL_TEST_THRIFT_HOST
port = $HBPOOL_TEST_THRIFT_PORT
transport = $([[ ${HBPOOL_TEST_THRIFT_FRAMED:-0} == 1 ]] && echo framed || echo buffered)
protocol = $([[ ${HBPOOL_TEST_THRIFT_COMPACT:-0} == 1 ]] && echo compact || echo binary)
EOF
/usr/sbin/hbpoold -c "$dir/hbpoold.conf" >"$dir/hbpoold.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do [[ -S $dir/hbpoold.sock ]] && break; sleep 0.1; done
check "put and get through the installed hbpoold and hbpool" bash -c "
  hb='/usr/bin/hbpool -s $dir/hbpoold.sock'
  \$hb create $table cf && \$hb put $table r1 cf:a=installed &&
  [[ \$(\$hb --json get $table r1) == '{\"row\":\"r1\",\"columns\":{\"cf:a\":\"installed\"}}' ]]"
check "a get through python3-hbpool" /usr/bin/python3 -c "
import hbpool.happybase as happybase
t = happybase.Connection(socket='$dir/hbpoold.sock').table('$table')
assert t.row(b'r1') == {b'cf:a': b'installed'}, t.row(b'r1')
assert happybase.__file__.startswith('/usr/lib/python3/dist-packages/'), happybase.__file__"
