#!/usr/bin/env bash
# Installs clients/python with pip into a throwaway venv and runs its pytest suite (the sync and
# asyncio APIs, many processes) against a real hbpoold and the gateway in HBPOOL_TEST_THRIFT_*.
# Then the same suite against happybase and aiohappybase from PyPI, on the gateway itself.
# HBPOOL_TEST_PYTHON_RUN says which runs: "hbpool reference" (the default), or either alone.
# Needs python3 with pytest, and top_builddir. Prints "N passed, N failed" (a skipped test counts
# as failed: none may skip here).
set -uo pipefail
script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
top_srcdir=$(cd -- "${top_srcdir:-$script_dir/..}" && pwd -P)
top_builddir=$(cd -- "${top_builddir:-$script_dir/..}" && pwd -P)
# Debian's interpreter by default: tests/install-deps.sh gives it pytest and venv.
python=${PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}
dir=$(mktemp -d "${TMPDIR:-/tmp}/hbpool-py.XXXXXX")
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() { rm -rf -- "$dir"; }
trap cleanup EXIT

fail() { echo "test_python: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

[[ -n ${HBPOOL_TEST_THRIFT_PORT:-} ]] || fail "HBPOOL_TEST_THRIFT_PORT is not set"
"$python" -m pytest --version >/dev/null 2>&1 || fail "$python has no pytest (tests/install-deps.sh installs it)"
# The venv sees the interpreter's own packages (pytest) but not the source tree: the tests run
# against the package as pip installed it. No build isolation: setuptools comes from the venv,
# so the install needs no network.
"$python" -m venv --system-site-packages "$dir/venv" || fail "python3 -m venv failed"
# pip's build copies the source tree: copy the package alone, so nothing lands in the checkout.
mkdir -p "$dir/src" && cp -R "$top_srcdir/clients/python/pyproject.toml" \
  "$top_srcdir/clients/python/README.md" "$top_srcdir/clients/python/hbpool" "$dir/src/"
"$dir/venv/bin/pip" install -q --no-build-isolation --no-cache-dir "$dir/src" \
  || fail "pip install ./clients/python failed"
installed=$(cd "$dir" && "$dir/venv/bin/python" -c 'import hbpool.happybase as h; print(h.__file__)')
[[ $installed == "$dir/venv/"* ]] || fail "hbpool imported from $installed, not from the venv"
echo "test_python: testing hbpool as installed in $installed"
# The package's version is the daemon's (pyproject.toml and hbpool/_version.py follow AC_INIT).
daemon_version=$("${HBPOOL_HBPOOLD:-$top_builddir/daemon/hbpoold}" -V | sed 's/^hbpoold //')
package_version=$(cd "$dir" && "$dir/venv/bin/python" -c \
  'import hbpool, importlib.metadata as m; print(hbpool.__version__, m.version("hbpool"))')
[[ $package_version == "$daemon_version $daemon_version" ]] \
  || fail "hbpool $package_version (clients/python) is not hbpoold's version $daemon_version"

cp -R "$top_srcdir/clients/python/tests" "$dir/tests"

# run_suite NAME TARGET PYTHON [PYTEST ARGS]: the pytest suite (or what the arguments select)
# on one target; prints "N passed, N failed" (a skipped test counts as failed).
run_suite() {
  local name=$1 target=$2 py=$3 rc=0 passed failed
  shift 3
  (( $# )) || set -- tests
  (cd "$dir" && HBPOOL_HBPOOLD=${HBPOOL_HBPOOLD:-$top_builddir/daemon/hbpoold} \
    HBPOOL_PYTEST_TARGET=$target "$py" -m pytest -p no:cacheprovider -q -rfEs \
    --junit-xml="$dir/junit-$name.xml" "$@") || rc=$?
  read -r passed failed < <("$py" - "$dir/junit-$name.xml" <<'PY'
import sys
import xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError):
    print(0, 1)
    sys.exit()
suite = root if root.tag == "testsuite" else root.find("testsuite")
n = int(suite.get("tests", 0))
bad = int(suite.get("failures", 0)) + int(suite.get("errors", 0)) + int(suite.get("skipped", 0))
print(n - bad, bad)
PY
)
  if [[ $rc != 0 && $failed == 0 ]]; then failed=1; fi  # pytest itself failed (collection...)
  echo "$passed passed, $failed failed"
  return "$rc"
}

rc=0
runs=" ${HBPOOL_TEST_PYTHON_RUN:-hbpool reference} "
if [[ $runs == *" hbpool "* ]]; then
  run_suite hbpool hbpool "$dir/venv/bin/python" || rc=1
fi

# The same tests against HappyBase 1.3.0 and AIOHappyBase 1.4.0 from PyPI, straight on the
# gateway: this proves the tests themselves. Their connections are the programs' own, so the
# gateway must keep idle ones open (tests/integration.sh runs this on its main gateway).
if [[ $runs == *" reference "* ]]; then
  "$python" -m venv --system-site-packages "$dir/refvenv" || fail "python3 -m venv failed"
  "$dir/refvenv/bin/pip" install -q --no-cache-dir happybase==1.3.0 aiohappybase==1.4.0 \
    || fail "pip install happybase==1.3.0 aiohappybase==1.4.0 (from PyPI) failed"
  echo "test_python: the same tests against happybase 1.3.0 and aiohappybase 1.4.0 on the gateway"
  run_suite reference happybase "$dir/refvenv/bin/python" || rc=1
  # hbpool beside thriftpy2 (which happybase brought): its errors are thriftpy2's too. The run
  # above had none, and checked that the package stays within the standard library then.
  "$dir/refvenv/bin/pip" install -q --no-deps --no-build-isolation --no-cache-dir "$dir/src" \
    || fail "pip install ./clients/python (beside happybase) failed"
  echo "test_python: hbpool's errors beside thriftpy2"
  run_suite thriftpy2 hbpool "$dir/refvenv/bin/python" tests/test_daemon_link.py -k thriftpy2 \
    || rc=1
fi
exit "$rc"
