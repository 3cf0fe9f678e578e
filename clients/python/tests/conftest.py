"""Shared fixtures for the hbpool Python client tests.

Two targets, chosen by HBPOOL_PYTEST_TARGET:

* ``hbpool`` (default): a real hbpoold is started for the session and the modules under test are
  ``hbpool.happybase``, ``hbpool.aio`` and ``hbpool.aio.sync``, connecting through the daemon's
  Unix socket.
* ``happybase``: the very same tests run with the PyPI ``happybase`` 1.3.0, ``aiohappybase``
  and ``aiohappybase.sync`` 1.4.0 talking straight to the gateway, to prove the tests against
  the real thing.

The gateway comes from HBPOOL_TEST_THRIFT_HOST / HBPOOL_TEST_THRIFT_PORT (and
HBPOOL_TEST_THRIFT_FRAMED / HBPOOL_TEST_THRIFT_COMPACT).

Tests that apply to one target only carry ``@pytest.mark.only_target(NAME, reason=...)``; on the
other target they are deselected (not skipped) and listed with their reason in the summary.
"""

import contextlib
import itertools
import json
import os
import signal
import socket as socket_mod
import subprocess
import sys
import tempfile
import threading
import time
import types
from concurrent.futures import ThreadPoolExecutor

import pytest

TARGET = os.environ.get("HBPOOL_PYTEST_TARGET", "hbpool")
TARGETS = ("hbpool", "happybase")
HERE = os.path.dirname(os.path.abspath(__file__))
PY_SRC = os.path.dirname(HERE)  # clients/python
REPO = os.path.dirname(os.path.dirname(PY_SRC))

THRIFT_HOST = os.environ.get("HBPOOL_TEST_THRIFT_HOST", "127.0.0.1")
THRIFT_PORT = os.environ.get("HBPOOL_TEST_THRIFT_PORT", "")
THRIFT_FRAMED = os.environ.get("HBPOOL_TEST_THRIFT_FRAMED", "0") not in ("", "0")
THRIFT_COMPACT = os.environ.get("HBPOOL_TEST_THRIFT_COMPACT", "0") not in ("", "0")
TRANSPORT = "framed" if THRIFT_FRAMED else "buffered"
PROTOCOL = "compact" if THRIFT_COMPACT else "binary"

# Every table this session creates starts with this (unique per run).
NAME_BASE = "pyt%d" % os.getpid()


def _import_hbpool():
    try:
        import hbpool.happybase  # noqa: F401
    except ImportError:
        sys.path.insert(0, PY_SRC)
    import hbpool.aio
    import hbpool.aio.sync
    import hbpool.happybase
    return hbpool.happybase, hbpool.aio, hbpool.aio.sync


def _load_modules():
    if TARGET == "hbpool":
        return _import_hbpool()
    import happybase
    import aiohappybase
    import aiohappybase.sync
    return happybase, aiohappybase, aiohappybase.sync


def _thrift_exceptions(module):
    """IOError / AlreadyExists classes as raised by a thriftpy2-based (aio)happybase."""
    hbase_service = module.connection.Hbase
    io_error = hbase_service.getTableNames_result.thrift_spec[1][2]
    already = hbase_service.createTable_result.thrift_spec[3][2]
    illegal = hbase_service.createTable_result.thrift_spec[2][2]
    assert io_error.__name__ == "IOError" and already.__name__ == "AlreadyExists"
    return io_error, already, illegal


def _errors(module):
    if TARGET == "hbpool":
        import hbpool.happybase as sync_mod
        io_error = getattr(module, "IOError", sync_mod.IOError)
        already = getattr(module, "AlreadyExists", sync_mod.AlreadyExists)
        illegal = getattr(module, "IllegalArgument", sync_mod.IllegalArgument)
        from hbpool.errors import DaemonUnavailable as unreachable
    else:
        # aiohappybase.sync's exceptions are aiohappybase's.
        io_error, already, illegal = _thrift_exceptions(
            sys.modules[module.__name__.replace(".sync", "")])
        from thriftpy2.transport import TTransportException as unreachable
    return types.SimpleNamespace(IOError=io_error, AlreadyExists=already,
                                 IllegalArgument=illegal, Unreachable=unreachable,
                                 NoConnectionsAvailable=module.NoConnectionsAvailable)


# --------------------------------------------------------------------------------------------
# Target selection: deselect (never skip) tests that do not apply, and list them with reasons.

_DESELECTED = []


def pytest_configure(config):
    if TARGET not in TARGETS:
        raise pytest.UsageError("HBPOOL_PYTEST_TARGET must be one of %s, not %r"
                                % (", ".join(TARGETS), TARGET))
    if not THRIFT_PORT:
        raise pytest.UsageError("HBPOOL_TEST_THRIFT_PORT is not set (the Thrift1 gateway's port)")
    config.addinivalue_line(
        "markers", "only_target(name, reason): the test applies to one target only; it is "
        "deselected on the other, with the reason shown in the summary")


def pytest_collection_modifyitems(config, items):
    keep, drop = [], []
    for item in items:
        mark = item.get_closest_marker("only_target")
        if mark is not None:
            wanted = mark.args[0]
            assert wanted in TARGETS, wanted
            reason = mark.kwargs.get("reason")
            assert reason, "only_target needs a reason: %s" % item.nodeid
            if wanted != TARGET:
                drop.append(item)
                _DESELECTED.append((item.nodeid, reason))
                continue
        keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_report_header(config):
    where = ("hbpoold -> %s:%s" % (THRIFT_HOST, THRIFT_PORT) if TARGET == "hbpool"
             else "gateway %s:%s directly" % (THRIFT_HOST, THRIFT_PORT))
    return "hbpool test target: %s (%s, %s/%s)" % (TARGET, where, TRANSPORT, PROTOCOL)


def pytest_terminal_summary(terminalreporter):
    if _DESELECTED:
        terminalreporter.section("deselected for target %s" % TARGET)
        for nodeid, reason in _DESELECTED:
            terminalreporter.write_line("%s: %s" % (nodeid, reason))


# --------------------------------------------------------------------------------------------
# The daemon (target hbpool only).

def _hbpoold_binary():
    explicit = os.environ.get("HBPOOL_HBPOOLD")
    if explicit:
        return explicit
    builddir = os.environ.get("top_builddir")
    if builddir:
        return os.path.join(builddir, "daemon", "hbpoold")
    return os.path.join(REPO, "build", "daemon", "hbpoold")


class Daemon:
    def __init__(self, binary, workdir, gateway_port=None, extra_config=""):
        self.binary = binary
        self.workdir = workdir
        self.gateway_port = gateway_port or THRIFT_PORT
        self.extra_config = extra_config  # more [daemon] lines
        self.socket = os.path.join(workdir, "hbpoold.sock")
        self.config = os.path.join(workdir, "hbpoold.conf")
        self.log = os.path.join(workdir, "hbpoold.log")
        self.proc = None

    def log_tail(self, n=4000):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")[-n:]
        except OSError:
            return ""

    def start(self):
        with open(self.config, "w") as f:
            f.write("[daemon]\nlisten_socket = %s\nlog_level = warning\n%s"
                    "[gateway]\nhost = %s\nport = %s\ntransport = %s\nprotocol = %s\n"
                    % (self.socket, self.extra_config, THRIFT_HOST, self.gateway_port,
                       TRANSPORT, PROTOCOL))
        if not os.access(self.binary, os.X_OK):
            pytest.fail("hbpoold not found or not executable: %s (set HBPOOL_HBPOOLD or "
                        "top_builddir)" % self.binary, pytrace=False)
        logf = open(self.log, "wb")
        self.proc = subprocess.Popen([self.binary, "-c", self.config], stdout=logf,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        logf.close()
        deadline = time.monotonic() + 20
        while True:
            rc = self.proc.poll()
            if rc is not None:
                pytest.fail("hbpoold exited with status %s before its socket appeared:\n%s"
                            % (rc, self.log_tail()), pytrace=False)
            if os.path.exists(self.socket):
                try:
                    if self.rpc("ping") == "pong":
                        return
                except (OSError, ValueError):
                    pass
            if time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                pytest.fail("hbpoold did not answer on %s within 20 s:\n%s"
                            % (self.socket, self.log_tail()), pytrace=False)
            time.sleep(0.05)

    def rpc(self, method, params=None, timeout=10):
        """One raw JSON-RPC call on a fresh socket connection (independent of the package)."""
        req = {"jsonrpc": "2.0", "id": 1, "method": method}
        if params is not None:
            req["params"] = params
        with socket_mod.socket(socket_mod.AF_UNIX, socket_mod.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.socket)
            s.sendall(json.dumps(req).encode() + b"\n")
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    raise OSError("hbpoold closed the connection")
                buf += chunk
        reply = json.loads(buf)
        if "error" in reply:
            raise RuntimeError("hbpoold error: %r" % (reply["error"],))
        return reply["result"]

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return "timeout (killed)"


@pytest.fixture(scope="session")
def daemon():
    """The session's hbpoold (None for the happybase target)."""
    if TARGET != "hbpool":
        yield None
        return
    workdir = tempfile.mkdtemp(prefix="hbpool-pytest.")
    d = Daemon(_hbpoold_binary(), workdir)
    d.start()
    yield d
    rc = d.stop()
    tail = d.log_tail()
    assert rc == 0, "hbpoold exit status %r (a crash fails the run); log:\n%s" % (rc, tail)


@pytest.fixture
def stats(daemon):
    """Callable returning the daemon's `stats` result (hbpool target only)."""
    assert daemon is not None, "stats() needs the hbpool target"
    return lambda: daemon.rpc("stats")


# --------------------------------------------------------------------------------------------
# Modules, connection factories, tables.

@pytest.fixture(scope="session")
def target():
    return TARGET


@pytest.fixture(scope="session")
def modules():
    return _load_modules()


@pytest.fixture(scope="session")
def hb(modules):
    """The sync module under test: hbpool.happybase or happybase."""
    return modules[0]


@pytest.fixture(scope="session")
def aio(modules):
    """The asyncio module under test: hbpool.aio or aiohappybase."""
    return modules[1]


@pytest.fixture(scope="session")
def aio_sync(modules):
    """AIOHappyBase's sync flavour under test: hbpool.aio.sync or aiohappybase.sync."""
    return modules[2]


@pytest.fixture(scope="session")
def errors(hb):
    return _errors(hb)


@pytest.fixture(scope="session")
def aio_errors(aio):
    return _errors(aio)


@pytest.fixture(scope="session")
def aio_sync_errors(aio_sync):
    return _errors(aio_sync)


@pytest.fixture(scope="session")
def conn_kwargs(daemon):
    """Keyword arguments that point a Connection (or ConnectionPool) at the target."""
    if TARGET == "hbpool":
        return {"socket": daemon.socket}
    return {"host": THRIFT_HOST, "port": int(THRIFT_PORT), "transport": TRANSPORT,
            "protocol": PROTOCOL}


def _merge(base, kwargs):
    merged = dict(base)
    merged.update(kwargs)
    return merged


@pytest.fixture
def connect(hb, conn_kwargs):
    """connect(**kwargs) -> a sync Connection to the target (closed after the test)."""
    opened = []

    def factory(**kwargs):
        c = hb.Connection(**_merge(conn_kwargs, kwargs))
        opened.append(c)
        return c

    yield factory
    for c in opened:
        with contextlib.suppress(Exception):
            c.close()


@pytest.fixture
def conn(connect):
    return connect()


@pytest.fixture
def aconnect(aio, conn_kwargs):
    """aconnect(**kwargs) -> an aio Connection (not opened: `async with` it or await open())."""
    def factory(**kwargs):
        return aio.Connection(**_merge(conn_kwargs, kwargs))
    return factory


@pytest.fixture(scope="session")
def pool_kwargs(conn_kwargs):
    """Same as conn_kwargs, for ConnectionPool(size, **pool_kwargs) (a fresh dict each call)."""
    return lambda: dict(conn_kwargs)


FAMILIES = {"cf1": {"max_versions": 3}, "cf2": {}}


class TableStock:
    """Fresh tables (cf1 max_versions 3, cf2), created in parallel batches ahead of use.

    Creating a table takes ~0.6 s and deleting one ~0.4 s; done 16 at a time it is ~20x faster,
    which keeps the run short while every test still gets a table nobody else touched.
    All tables are deleted at the end of the session."""

    BATCH = 16

    def __init__(self, make_conn):
        self.make_conn = make_conn
        self.counter = itertools.count(1)
        self.ready = []
        self.created = []
        self.lock = threading.Lock()

    def _create(self, name):
        c = self.make_conn()
        try:
            c.create_table(name, FAMILIES)
        finally:
            c.close()
        return name

    def new_name(self):
        return "%s_%03d" % (NAME_BASE, next(self.counter))

    def take(self):
        with self.lock:
            if not self.ready:
                names = [self.new_name() for _ in range(self.BATCH)]
                with ThreadPoolExecutor(self.BATCH) as ex:
                    self.ready.extend(ex.map(self._create, names))
                self.created.extend(names)
            return self.ready.pop(0)

    def delete_all(self):
        def drop(name):
            c = self.make_conn()
            try:
                c.delete_table(name, disable=True)
            finally:
                c.close()
        with ThreadPoolExecutor(self.BATCH) as ex:
            list(ex.map(drop, self.created))


@pytest.fixture(scope="session")
def table_stock(hb, conn_kwargs):
    stock = TableStock(lambda: hb.Connection(**conn_kwargs))
    yield stock
    stock.delete_all()


@pytest.fixture
def table_name(table_stock):
    """Name of a fresh table (families cf1 with max_versions 3, and cf2), unused elsewhere."""
    return table_stock.take()


@pytest.fixture
def table(conn, table_name):
    """A fresh sync Table (cf1 max_versions 3, cf2); deleted at the end of the session."""
    return conn.table(table_name)


@pytest.fixture
def new_name(table_stock):
    """new_name() -> a unique table name that does not exist yet (for create/delete tests).
    Whatever a test creates under such a name it must delete itself."""
    return table_stock.new_name


@pytest.fixture
def raw_drop(hb, conn_kwargs):
    """raw_drop(full_name): delete a table if it exists (cleanup helper, ignores errors)."""
    def drop(name):
        c = hb.Connection(**conn_kwargs)
        try:
            with contextlib.suppress(Exception):
                c.delete_table(name, disable=True)
        finally:
            c.close()
    return drop
