"""hbpool.happybase: HappyBase's API over hbpoold: ``import hbpool.happybase as happybase``.

Connections are to the local hbpoold (its Unix socket), which holds the pooled Thrift
connections to HBase; everything else is HappyBase's: the same classes, arguments, results
(bytes in, bytes out) and exceptions.
"""

import contextlib
import functools
import os
import queue
import sys
import socket as _socket
import threading
import weakref

from .. import _ops, _wire, errors
from .._version import __version__
from ..errors import IOError, IllegalArgument, AlreadyExists, NoConnectionsAvailable  # noqa: A004

__all__ = ["Connection", "Table", "Batch", "ConnectionPool", "NoConnectionsAvailable",
           "IOError", "IllegalArgument", "AlreadyExists", "DEFAULT_HOST", "DEFAULT_PORT",
           "__version__"]

DEFAULT_HOST = _ops.DEFAULT_HOST
DEFAULT_PORT = _ops.DEFAULT_PORT

# Connections a forked child must not use: the socket is the parent's (replies would go to
# whichever process reads first). The child reconnects on first use instead.
_open_connections = weakref.WeakSet()


def _forget_after_fork():
    for connection in list(_open_connections):
        connection._lock = threading.Lock()  # another thread of the parent may have held it
        connection._drop()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


def _driven(op):
    """A method that runs one of _ops' operations on this object's connection."""
    @functools.wraps(op)
    def method(self, *args, **kwargs):
        return self._run(op(self, *args, **kwargs))
    return method


class Transport:
    """``connection.transport``: the link to hbpoold, where HappyBase has its Thrift transport.

    Programs call ``close()`` on it to make a pool replace a connection: this drops the link,
    and the connection opens a new one when it is next used. ``is_open()`` tells whether the
    link is up. It holds the connection weakly, so that an unclosed connection is still freed.
    """

    def __init__(self, connection):
        self._connection = weakref.ref(connection)

    def is_open(self):
        connection = self._connection()
        return connection is not None and connection._sock is not None

    def open(self):
        connection = self._connection()
        if connection is not None:
            connection.open()

    def close(self):
        connection = self._connection()
        if connection is not None:
            connection._drop()


class Connection(_ops.ConnectionBase):
    """A connection to hbpoold, with HappyBase's constructor arguments.

    ``socket`` is hbpoold's Unix socket (default: $HBPOOL_SOCKET, else
    /run/hbpool/hbpoold.sock); ``timeout`` (milliseconds) bounds each wait for a reply.
    ``host``, ``port``, ``transport`` and ``protocol`` are checked as HappyBase does and
    otherwise unused: hbpoold's configuration chooses the gateway. Unlike HappyBase's, a
    Connection may be shared by threads: their calls take turns.
    """

    def __init__(self, host=DEFAULT_HOST, port=DEFAULT_PORT, timeout=None, autoconnect=True,
                 table_prefix=None, table_prefix_separator=b"_", compat=_ops.DEFAULT_COMPAT,
                 transport=_ops.DEFAULT_TRANSPORT, protocol=_ops.DEFAULT_PROTOCOL, socket=None):
        super().__init__(host, port, timeout, table_prefix, table_prefix_separator, compat,
                         transport, protocol, socket)
        self._path = _wire.socket_path(socket)
        self._sock = None
        self._reader = None
        self._wanted = False  # open() was called and close() was not: reconnect when needed
        self._next_id = 1
        self._lock = threading.Lock()
        self.transport = Transport(self)
        if autoconnect:
            self.open()

    def open(self):
        """Connect to hbpoold (a no-op when connected)."""
        self._wanted = True
        if self._sock is not None:
            return
        sock = _wire.connect(self._path, self.timeout)
        self._sock = sock
        self._reader = sock.makefile("rb")
        _open_connections.add(self)

    def close(self):
        """Disconnect from hbpoold; open() connects again."""
        self._wanted = False
        self._drop()

    def _drop(self):
        if self._sock is None:
            return
        _open_connections.discard(self)
        self._reader.close()
        self._sock.close()
        self._sock = self._reader = None

    def __del__(self):
        try:
            self._drop()
        except Exception:  # noqa: BLE001 (interpreter shutdown: nothing left to tell)
            pass

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.close()

    # table(): _ops.ConnectionBase. tables, create_table, delete_table... : _ops.bind() below.

    def _run(self, op):
        try:
            request = next(op)
            while True:
                request = op.send(self._call(*request))
        except StopIteration as stop:
            return stop.value

    def _close_scanner(self, scanner, pending):
        """Ends a scan however it ended. A lost connection took the scanner with it; a failed
        close does not hide the error that ended the scan."""
        if self._sock is None:
            return
        try:
            self._call("scanner_close", {"scanner": scanner})
        except errors.HBPoolError:
            if pending is None:
                raise

    def _refusal(self):
        """The error hbpoold sent before closing the connection on us (a line over
        max_line_bytes is refused while the client is still sending it), if it is there."""
        try:
            self._sock.settimeout(0.5)
            reply = _wire.parse_reply(self._reader.readline())
        except (OSError, errors.HBPoolError):
            return None
        if reply.get("id") is None and "error" in reply:
            return errors.from_reply(reply["error"])
        return None

    def _call(self, method, params):
        with self._lock:
            return self._call_locked(method, params)

    def _call_locked(self, method, params):
        if self._sock is None:
            if not self._wanted:
                raise errors.DaemonUnavailable("the connection is not open: call open() first")
            self.open()
        request_id = self._next_id
        self._next_id += 1
        try:
            self._sock.sendall(_wire.request_line(request_id, method, params))
            line = self._reader.readline()
        except _socket.timeout:
            self._drop()  # the reply may still come: this socket is out of step
            raise errors.DaemonTimeout("no reply from hbpoold within %s ms (%s)"
                                       % (self.timeout, method)) from None
        except OSError as e:
            refusal = self._refusal()
            self._drop()
            if refusal is not None:
                raise refusal from None
            raise errors.DaemonUnavailable("connection to hbpoold at %s lost: %s"
                                           % (self._path, e)) from None
        if not line.endswith(b"\n"):
            self._drop()
            raise errors.DaemonUnavailable("hbpoold at %s closed the connection" % self._path)
        try:
            reply = _wire.parse_reply(line)
        except errors.HBPoolError:
            self._drop()  # what follows on this socket cannot be trusted either
            raise
        if reply.get("id") != request_id:
            # Only a refusal of the connection itself (request_too_large, too many clients)
            # has no id, and hbpoold closes the connection after it.
            self._drop()
            if "error" in reply:
                raise errors.from_reply(reply["error"])
            raise errors.DaemonUnavailable("hbpoold replied to request %r instead of %r"
                                           % (reply.get("id"), request_id))
        return _wire.result_of(reply)


class Table(_ops.TableBase):
    """A table; get one with Connection.table()."""

    _NO_ROWS = dict  # HappyBase 1.3's rows([]) returns {}

    def _run(self, op):
        return self.connection._run(op)

    # row, rows, cells, put, delete, counter_*, families, regions, append: _ops.bind() below.
    _column_family_names = _driven(_ops.column_family_names)

    def scan(self, row_start=None, row_stop=None, row_prefix=None, columns=None, filter=None,
             timestamp=None, include_timestamp=False, batch_size=1000, scan_batching=None,
             limit=None, sorted_columns=False, reverse=False):
        """Rows as (key, data) pairs from a scanner, fetched ``batch_size`` rows at a time.

        ``row_prefix`` selects exactly the rows starting with it, also with ``reverse``.
        """
        plan = _ops.ScanPlan(self, row_start, row_stop, row_prefix, columns, filter, timestamp,
                             include_timestamp, batch_size, scan_batching, limit, sorted_columns,
                             reverse)
        conn = self.connection
        scanner = conn._call("scanner_open", plan.open_params)["scanner"]
        try:
            while True:
                params = plan.next_params(scanner)
                if params is None:
                    return
                found = plan.take(conn._call("scanner_next", params))
                if not found:
                    return
                yield from found
        finally:
            conn._close_scanner(scanner, sys.exc_info()[1])

    def batch(self, timestamp=None, batch_size=None, transaction=False, wal=True):
        """A Batch of writes to this table, sent together."""
        return self._Batch(self, timestamp, batch_size, transaction, wal)



_ops.bind(Connection, _ops.CONNECTION_OPS, _driven)
_ops.bind(Table, _ops.TABLE_OPS, _driven)


class Batch:
    """Writes buffered and sent together (on send(), at the end of a ``with`` block, or each
    time ``batch_size`` mutations are buffered). With ``transaction``, a ``with`` block that
    raises sends nothing."""

    def __init__(self, table, timestamp=None, batch_size=None, transaction=False, wal=True):
        self._buffer = _ops.BatchBuffer(table, timestamp, batch_size, transaction, wal)
        self._run = table.connection._run

    def send(self):
        """Send the buffered operations."""
        self._run(self._buffer.send())

    def put(self, row, data, wal=None):
        """Buffer a put (``wal`` overrides the batch's)."""
        self._run(self._buffer.put(row, data, wal))

    def delete(self, row, columns=None, wal=None):
        """Buffer a delete of a row, or of ``columns`` of it."""
        self._run(self._buffer.delete(row, columns, wal))

    def counter_inc(self, row, column, value=1):
        """Buffer a counter increment (changes to one counter are summed)."""
        self._run(self._buffer.counter_inc(row, column, value))

    def counter_dec(self, row, column, value=1):
        """Buffer a counter decrement."""
        self._run(self._buffer.counter_dec(row, column, value))

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        if self._buffer.transaction and exc_type is not None:
            return
        self.send()


Connection._Table = Table
Table._Batch = Batch


class ConnectionPool:
    """``size`` connections, lent with ``with pool.connection(timeout) as connection:``.

    A thread that asks again inside its ``with`` block gets the same connection. A
    connection whose link to hbpoold broke is reconnected before it is lent again; HBase's
    own errors (IOError...) leave it as it is.
    """

    _Connection = Connection
    _SIZE_MESSAGE = "Pool 'size' must be greater than zero"
    _TIMEOUT_MESSAGE = "No connection available from pool within specified timeout"

    def __init__(self, size, **kwargs):
        self._start(size, kwargs)
        # Connect one now, so that a wrong socket path fails here and not at first use.
        with self.connection():
            pass

    def _start(self, size, kwargs):
        _ops.check_pool_size(size, self._SIZE_MESSAGE)
        kwargs["autoconnect"] = False
        self._queue = queue.LifoQueue(maxsize=size)
        self._thread_connections = threading.local()
        for _ in range(size):
            self._queue.put(self._Connection(**kwargs))

    @contextlib.contextmanager
    def connection(self, timeout=None):
        """Lend a connection; wait up to ``timeout`` seconds (None: forever)."""
        connection = getattr(self._thread_connections, "current", None)
        if connection is not None:
            yield connection
            return
        try:
            connection = self._queue.get(True, timeout)
        except queue.Empty:
            raise NoConnectionsAvailable(self._TIMEOUT_MESSAGE) from None
        self._thread_connections.current = connection
        try:
            connection.open()
            yield connection
        except OSError:
            _ops.log_replaced(type(self).__module__)
            connection.close()  # reconnected when next lent
            raise
        finally:
            del self._thread_connections.current
            self._queue.put(connection)
