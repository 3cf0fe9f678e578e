"""The link between the client and hbpoold, which HappyBase does not have: hbpool's own errors,
reconnecting after a daemon restart, reply timeouts (through a proxy that holds replies back),
refused lines, and batches larger than one request line may be."""

import asyncio
import importlib.util
import os
import pickle
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from conftest import Daemon, _hbpoold_binary

pytestmark = pytest.mark.only_target("hbpool", reason="tests hbpool's link to hbpoold")


@pytest.fixture
def hbpool_errors():
    import hbpool.errors
    return hbpool.errors


@pytest.fixture
def own_daemon():
    """own_daemon(**Daemon kwargs) -> a started hbpoold of the test's own, stopped after it
    (exit status 0 asserted)."""
    started = []

    def factory(**kwargs):
        d = Daemon(_hbpoold_binary(), tempfile.mkdtemp(prefix="hbpool-pytest-own."), **kwargs)
        d.start()
        started.append(d)
        return d

    yield factory
    for d in started:
        rc = d.stop()
        assert rc == 0, "hbpoold exit status %r; log:\n%s" % (rc, d.log_tail())


class HoldingProxy:
    """A Unix-socket proxy in front of hbpoold that can hold replies back (test equipment: the
    requests and replies are hbpoold's own, only delayed)."""

    def __init__(self, target, backlog=16, accepting=True):
        self.target = target
        self.path = os.path.join(tempfile.mkdtemp(prefix="hbpool-proxy."), "proxy.sock")
        self.released = threading.Event()
        self.released.set()
        self.accepted = 0
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(backlog)
        if accepting:
            self.start_accepting()

    def start_accepting(self):
        threading.Thread(target=self._accept, daemon=True).start()

    def fill_listen_queue(self):
        """Connections the proxy has not accepted, until the next one gets EAGAIN."""
        waiting = []
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.setblocking(False)
            try:
                s.connect(self.path)
            except BlockingIOError:
                s.close()
                return waiting
            waiting.append(s)

    def hold(self):
        self.released.clear()

    def release(self):
        self.released.set()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self.target)
            threading.Thread(target=self._pump, args=(client, upstream, False),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True),
                             daemon=True).start()

    def _pump(self, src, dst, replies):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if replies:
                    self.released.wait()
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.listener.close()


@pytest.fixture
def proxy(daemon):
    p = HoldingProxy(daemon.socket)
    yield p
    p.release()
    p.close()


def test_no_daemon_raises_daemon_unavailable(hb, aio, hbpool_errors, tmp_path):
    path = str(tmp_path / "nobody.sock")
    with pytest.raises(hbpool_errors.DaemonUnavailable) as e:
        hb.Connection(socket=path)
    assert isinstance(e.value, ConnectionError) and isinstance(e.value, hbpool_errors.HBPoolError)
    assert path in str(e.value) and "HBPOOL_SOCKET" in str(e.value)

    async def run():
        with pytest.raises(hbpool_errors.DaemonUnavailable) as e:
            async with aio.Connection(socket=path):
                pass
        assert path in str(e.value)
    asyncio.run(run())


def test_connect_waits_while_the_listen_queue_is_full(hb, aio, daemon, hbpool_errors, table):
    """A connect with a timeout is non-blocking, and a Unix socket refuses it with EAGAIN while
    the daemon's listen queue is full (a burst of clients while it is busy): the clients try
    again within their timeout (asyncio on its own would return a socket that is not connected)."""
    table.put(b"q1", {b"cf1:a": b"queued"})
    p = HoldingProxy(daemon.socket, backlog=1, accepting=False)
    waiting = p.fill_listen_queue()
    threading.Timer(0.3, p.start_accepting).start()
    start = time.monotonic()
    c = hb.Connection(socket=p.path, timeout=5000)
    assert time.monotonic() - start >= 0.25
    assert c.table(table.name).row(b"q1") == {b"cf1:a": b"queued"}
    c.close()
    p.close()

    p = HoldingProxy(daemon.socket, backlog=1, accepting=False)
    waiting += p.fill_listen_queue()

    async def run():
        asyncio.get_running_loop().call_later(0.3, p.start_accepting)
        async with aio.Connection(socket=p.path, timeout=5000) as c:
            assert await c.table(table.name).row(b"q1") == {b"cf1:a": b"queued"}
    asyncio.run(run())
    p.close()

    p = HoldingProxy(daemon.socket, backlog=1, accepting=False)
    waiting += p.fill_listen_queue()
    start = time.monotonic()
    with pytest.raises(hbpool_errors.DaemonUnavailable) as e:
        hb.Connection(socket=p.path, timeout=200)
    assert "listen queue stayed full for 200 ms" in str(e.value)
    assert 0.15 < time.monotonic() - start < 2

    async def refused():
        with pytest.raises(hbpool_errors.DaemonUnavailable) as e:
            async with aio.Connection(socket=p.path, timeout=200):
                pass
        assert "listen queue stayed full" in str(e.value)
    asyncio.run(refused())
    p.close()
    for s in waiting:
        s.close()


def test_a_thousand_clients_with_a_timeout_connect_at_once(hb, aio, own_daemon):
    """1,000 sync clients (threads) and 1,000 aio clients, each with timeout=, connect at once
    while the daemon is stopped (SIGSTOP: a loop busy for a moment), then are served."""
    import resource
    import signal
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    d = own_daemon(extra_config="max_clients = 2200\n")
    n = 1000
    d.proc.send_signal(signal.SIGSTOP)
    threading.Timer(0.3, d.proc.send_signal, (signal.SIGCONT,)).start()
    conns, failures = [None] * n, []

    def connect(i):
        try:
            conns[i] = hb.Connection(socket=d.socket, timeout=10000)
        except Exception as e:  # counted and reported below
            failures.append(repr(e))
    threads = [threading.Thread(target=connect, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == [], "%d of %d failed, first: %s" % (len(failures), n, failures[:1])
    assert all(c.tables() is not None for c in conns)
    for c in conns:
        c.close()

    async def run():
        d.proc.send_signal(signal.SIGSTOP)
        asyncio.get_running_loop().call_later(0.3, d.proc.send_signal, signal.SIGCONT)
        clients = [aio.Connection(socket=d.socket, timeout=10000) for _ in range(n)]
        await asyncio.gather(*(c.open() for c in clients))
        tables = await asyncio.gather(*(c.tables() for c in clients))
        assert all(t is not None for t in tables)
        for c in clients:
            c.close()
    asyncio.run(run())


def test_socket_comes_from_hbpool_socket(hb, daemon, monkeypatch, table_name):
    monkeypatch.setenv("HBPOOL_SOCKET", daemon.socket)
    c = hb.Connection()
    try:
        assert table_name.encode() in c.tables()
    finally:
        c.close()
    monkeypatch.setenv("HBPOOL_SOCKET", daemon.socket + ".missing")
    with pytest.raises(ConnectionError):
        hb.Connection()


def _stop(d):
    assert d.stop() == 0


def _kill(d):
    """kill -9: no goodbye from the daemon, and its socket file stays behind."""
    d.proc.kill()
    d.proc.wait()


@pytest.mark.parametrize("take_down", [_stop, _kill], ids=["stopped", "killed"])
def test_connection_survives_the_daemon_going(hb, aio, own_daemon, hbpool_errors, table_name,
                                               take_down):
    d = own_daemon()
    c = hb.Connection(socket=d.socket)
    t = c.table(table_name)
    t.put(b"restart", {b"cf1:a": b"1"})

    async def aio_call():
        async with aio.Connection(socket=d.socket) as ac:
            at = ac.table(table_name)
            assert await at.row(b"restart") == {b"cf1:a": b"1"}
            take_down(d)
            with pytest.raises(hbpool_errors.DaemonUnavailable):
                await at.row(b"restart")
            with pytest.raises(hbpool_errors.DaemonUnavailable):
                t.row(b"restart")
            d.start()
            # The same Connection objects connect again on their next call.
            assert await at.row(b"restart") == {b"cf1:a": b"1"}
    asyncio.run(aio_call())
    assert t.row(b"restart") == {b"cf1:a": b"1"}
    c.close()


def test_sync_timeout_raises_and_the_connection_recovers(hb, proxy, hbpool_errors, table):
    table.put(b"t1", {b"cf1:a": b"one"})
    c = hb.Connection(socket=proxy.path, timeout=150)
    t = c.table(table.name)
    assert t.row(b"t1") == {b"cf1:a": b"one"}
    proxy.hold()
    start = time.monotonic()
    with pytest.raises(hbpool_errors.DaemonTimeout) as e:
        t.row(b"t1")
    assert isinstance(e.value, TimeoutError)
    assert 0.1 < time.monotonic() - start < 1.5
    proxy.release()
    # The late reply went with the old socket: the next call uses a new one.
    assert t.row(b"t1") == {b"cf1:a": b"one"}
    assert proxy.accepted == 2
    c.close()


def test_aio_timeout_drops_the_late_reply_and_keeps_the_connection(aio, proxy, hbpool_errors,
                                                                   table):
    table.put(b"a1", {b"cf1:a": b"first"})
    table.put(b"a2", {b"cf1:a": b"second"})

    async def run():
        async with aio.Connection(socket=proxy.path, timeout=300) as c:
            t = c.table(table.name)
            proxy.hold()
            with pytest.raises(hbpool_errors.DaemonTimeout):
                await t.row(b"a1")
            second = asyncio.ensure_future(t.row(b"a2"))
            await asyncio.sleep(0.05)
            proxy.release()
            # a1's late reply arrives first; it must not be taken for a2's.
            assert await second == {b"cf1:a": b"second"}
            assert await t.row(b"a1") == {b"cf1:a": b"first"}
    asyncio.run(run())
    assert proxy.accepted == 1


def test_gateway_errors_carry_the_daemons_code(hb, aio, own_daemon, hbpool_errors, table):
    with pytest.raises(hbpool_errors.GatewayError) as e:
        list(table.scan(filter=b"NoSuchFilter()"))
    assert e.value.error == "gateway_error" and e.value.code == -32010
    assert e.value.retryable is False

    down = own_daemon(gateway_port=1)  # nothing listens there
    c = hb.Connection(socket=down.socket)
    with pytest.raises(hbpool_errors.GatewayError) as e:
        c.table(table.name).row(b"x")
    assert e.value.error == "gateway_unavailable" and e.value.retryable is True
    c.close()

    async def run():
        async with aio.Connection(socket=down.socket) as ac:
            with pytest.raises(hbpool_errors.GatewayError) as e:
                await ac.tables()
            assert e.value.error == "gateway_unavailable"
    asyncio.run(run())


def test_errors_are_thriftpy2s_when_it_is_installed(hb, aio, own_daemon, proxy, hbpool_errors,
                                                    table, tmp_path):
    # HappyBase programs catch thriftpy2's TException (HBase's errors) and TTransportException
    # (a lost link). tests/test_python.sh runs this file once where thriftpy2 is installed and
    # once where it is not, so both branches run.
    # Either way, hbpool alone does not import it: its errors stay the standard library's.
    probe = ("import sys, hbpool.happybase, hbpool.aio, hbpool.aio.sync, hbpool.errors as e; "
             "x = e.DaemonUnavailable('x'); "
             "print('thriftpy2' in sys.modules, "
             "all(c.__module__ in ('builtins', 'hbpool.errors') for c in type(x).__mro__))")
    package_dir = os.path.dirname(os.path.dirname(hbpool_errors.__file__))
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, cwd=str(tmp_path),
                         env=dict(os.environ, PYTHONPATH=package_dir)).stdout
    assert out.split() == ["False", "True"]
    if importlib.util.find_spec("thriftpy2") is None:
        return
    from thriftpy2.thrift import TException
    from thriftpy2.transport import TTransportException

    with pytest.raises(TException) as e:
        hb.Connection(socket=proxy.path).table(b"no_such_table_here").row(b"r")
    assert isinstance(e.value, hb.IOError) and not isinstance(e.value, TTransportException)
    assert str(e.value) == e.value.message and "no_such_table_here" in str(e.value)

    with pytest.raises(TTransportException) as e:
        hb.Connection(socket=str(tmp_path / "nobody.sock"))
    assert isinstance(e.value, hbpool_errors.DaemonUnavailable)
    assert e.value.type == TTransportException.NOT_OPEN and "nobody.sock" in e.value.message

    down = own_daemon(gateway_port=1)  # nothing listens there
    with pytest.raises(TTransportException) as e:
        hb.Connection(socket=down.socket).table(table.name).row(b"x")
    assert e.value.error == "gateway_unavailable" and e.value.type == TTransportException.NOT_OPEN
    copy = pickle.loads(pickle.dumps(e.value))  # multiprocessing sends errors back this way
    assert isinstance(copy, TTransportException) and isinstance(copy, hbpool_errors.GatewayError)
    assert (copy.error, copy.retryable, str(copy)) == ("gateway_unavailable", True, str(e.value))

    async def run():
        with pytest.raises(TTransportException) as e:
            async with aio.Connection(socket=str(tmp_path / "nobody.sock")):
                pass
        assert isinstance(e.value, hbpool_errors.DaemonUnavailable)
    asyncio.run(run())

    # Connected (autoconnect) before the proxy holds replies; no call first: under CI's load a
    # first call could itself outlast the 150 ms.
    c = hb.Connection(socket=proxy.path, timeout=150)
    proxy.hold()
    with pytest.raises(TTransportException) as e:
        c.tables()
    assert isinstance(e.value, hbpool_errors.DaemonTimeout) and isinstance(e.value, TimeoutError)
    assert e.value.type == TTransportException.TIMED_OUT
    proxy.release()
    c.close()


def test_access_rules_raise_forbidden(hb, aio, own_daemon, hbpool_errors, table):
    table.put(b"f1", {b"cf1:a": b"v"})
    ro = own_daemon(extra_config="[access]\n* = read-only\n")
    c = hb.Connection(socket=ro.socket)
    t = c.table(table.name)
    assert t.row(b"f1") == {b"cf1:a": b"v"}
    with pytest.raises(hbpool_errors.Forbidden) as e:
        t.put(b"f2", {b"cf1:a": b"x"})
    assert isinstance(e.value, PermissionError)
    assert e.value.error == "forbidden" and e.value.code == -32012
    assert e.value.retryable is False and "read only, and put is not a read" in str(e.value)
    assert t.row(b"f1") == {b"cf1:a": b"v"}  # a refusal does not break the connection
    c.close()

    async def run():
        async with aio.Connection(socket=ro.socket) as ac:
            with pytest.raises(hbpool_errors.Forbidden):
                await ac.table(table.name).delete(b"f1")
    asyncio.run(run())
    assert table.row(b"f1") == {b"cf1:a": b"v"} and table.row(b"f2") == {}


def test_a_refused_line_raises_and_the_connection_recovers(hb, aio, own_daemon, hbpool_errors,
                                                           table_name):
    d = own_daemon(extra_config="max_line_bytes = 65536\n")
    c = hb.Connection(socket=d.socket)
    t = c.table(table_name)
    # 100 kB fits in the socket's buffers; 8 MB does not, so hbpoold closes the connection
    # while the client is still sending: the client must still tell why.
    for size in (100000, 8000000):
        with pytest.raises(hbpool_errors.RequestError) as e:
            t.put(b"big", {b"cf1:a": b"x" * size})
        assert e.value.error == "request_too_large" and isinstance(e.value, ValueError)
    t.put(b"small", {b"cf1:a": b"y"})
    assert t.row(b"small") == {b"cf1:a": b"y"}
    assert t.row(b"big") == {}
    c.close()

    async def run():
        async with aio.Connection(socket=d.socket) as ac:
            at = ac.table(table_name)
            for size in (100000, 8000000):
                with pytest.raises(hbpool_errors.RequestError) as e:
                    await at.put(b"big", {b"cf1:a": b"x" * size})
                assert e.value.error == "request_too_large"
                assert await at.row(b"small") == {b"cf1:a": b"y"}
    asyncio.run(run())


def test_a_cell_written_to_a_family_alone_is_refused(hbpool_errors, table):
    # HappyBase sends these, and the gateway fails each whole call with an internal error.
    calls = (lambda: table.put(b"fam", {b"cf1:a": b"1", b"cf2": b"2"}),
             lambda: table.counter_set(b"fam", b"cf2", 5),
             lambda: table.append(b"fam", {b"cf2": b"x"}))
    for call in calls:
        with pytest.raises(hbpool_errors.RequestError) as e:
            call()
        assert e.value.error == "invalid_params" and "not a family alone" in str(e.value)
    assert table.row(b"fam") == {}
    table.put(b"fam", {b"cf2:": b"empty qualifier"})
    assert table.row(b"fam") == {b"cf2:": b"empty qualifier"}


def test_a_batch_larger_than_a_request_line_is_sent_in_pieces(table, stats):
    # 12 values of 1.5 MiB: 24 MiB in base64, more than hbpoold's 16 MiB max_line_bytes.
    values = {b"big%02d" % i: os.urandom(1536 * 1024) for i in range(12)}
    before = stats()["methods"].get("batch", {}).get("calls", 0)
    with table.batch() as b:
        for key, value in values.items():
            b.put(key, {b"cf1:v": value})
    sent = stats()["methods"]["batch"]["calls"] - before
    assert sent >= 6
    for key, value in values.items():
        assert table.row(key) == {b"cf1:v": value}
