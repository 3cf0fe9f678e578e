"""hbpool.aio: AIOHappyBase's asyncio API over hbpoold: ``import hbpool.aio as aiohappybase``.

One Connection may serve many tasks at once: their requests are pipelined on its link to hbpoold
and replies matched by id, so a pool is only needed to spread work over several sockets.
``hbpool.aio.sync`` is AIOHappyBase's synchronous flavour, ``aiohappybase.sync``.
"""

import asyncio
import contextlib
import functools
import sys

from .. import _ops, _wire, errors
from .._version import __version__
from ..errors import IOError, IllegalArgument, AlreadyExists, NoConnectionsAvailable  # noqa: A004

__all__ = ["Connection", "Table", "Batch", "ConnectionPool", "NoConnectionsAvailable",
           "IOError", "IllegalArgument", "AlreadyExists", "DEFAULT_HOST", "DEFAULT_PORT",
           "__version__"]

DEFAULT_HOST = _ops.DEFAULT_HOST
DEFAULT_PORT = _ops.DEFAULT_PORT
# Requests one link keeps in flight; more wait here. hbpoold refuses more than
# max_requests_per_client (256 by default) with too_many_requests.
MAX_IN_FLIGHT = 128
# The longest reply line accepted (a StreamReader refuses longer lines).
_READ_LIMIT = 1 << 30


def _driven(op):
    """A coroutine method that runs one of _ops' operations on this object's connection."""
    @functools.wraps(op)
    async def method(self, *args, **kwargs):
        return await self._run(op(self, *args, **kwargs))
    return method


def _not_in_running_loop(message):
    """AIOHappyBase's synchronous forms (autoconnect, ``with``) cannot wait inside a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(message)


async def _connect(path, timeout_ms):
    """A socket connected to hbpoold. asyncio takes a connect refused with EAGAIN (hbpoold's
    listen queue is full) for one under way, and returns a socket that is not connected: so
    connect here, and try again while the queue is full, within timeout_ms (None: for ever)."""
    delays = _wire.retry_delays(path, timeout_ms)
    while True:
        sock = _wire.try_connect(path)
        if sock is not None:
            return sock
        await asyncio.sleep(next(delays))


class Link:
    """One socket to hbpoold: what ``connection.client`` is.

    Requests are pipelined on it and each reply goes to the request with its id. ``close()``
    drops it and fails the requests still waiting; the Connection opens a new link when it is
    next used, so a pool replaces it. A link belongs to the event loop that started it; one
    connected before any loop ran (autoconnect, ``with``) starts in the first loop that uses it.
    """

    def __init__(self, path, sock=None, connect_timeout_ms=None):
        self.path = path
        self.connect_timeout_ms = connect_timeout_ms
        self.closed = False
        self.loop = None
        self._sock = sock
        self._start_lock = asyncio.Lock()
        self._writer = None
        self._reader_task = None
        self._pending = {}
        self._next_id = 1
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._drain_lock = asyncio.Lock()

    async def start(self):
        """Connect in the running loop (once: tasks that ask meanwhile wait for it)."""
        if self._writer is not None:
            return
        async with self._start_lock:
            if self._writer is not None:
                return
            if self.closed:
                raise errors.DaemonUnavailable("the connection was closed")
            try:
                if self._sock is not None:
                    reader, writer = await asyncio.open_unix_connection(
                        sock=self._sock, limit=_READ_LIMIT)
                else:
                    reader, writer = await asyncio.open_unix_connection(
                        sock=await _connect(self.path, self.connect_timeout_ms),
                        limit=_READ_LIMIT)
            except errors.DaemonUnavailable:
                self._fail(None)
                raise
            except OSError as e:
                self._fail(None)
                raise _wire.cannot_connect(self.path, e) from None
            self._sock = None
            self.loop = asyncio.get_running_loop()
            self._writer = writer
            self._reader_task = self.loop.create_task(self._read(reader))

    def close(self):
        """Drop the link; requests still waiting fail with DaemonUnavailable."""
        if self.closed:
            return
        self._fail(errors.DaemonUnavailable("the connection was closed"))
        if self._reader_task is not None:
            self._reader_task.cancel()
            self._reader_task = None

    async def call(self, method, params, timeout_ms):
        """One request and its reply (a dict)."""
        await self.start()
        async with self._slots:
            if self.closed:
                raise errors.DaemonUnavailable("connection to hbpoold at %s lost" % self.path)
            request_id = self._next_id
            self._next_id += 1
            future = self.loop.create_future()
            self._pending[request_id] = future
            try:
                return await self._exchange(request_id, method, params, timeout_ms, future)
            finally:
                self._pending.pop(request_id, None)

    async def _exchange(self, request_id, method, params, timeout_ms, future):
        writer = self._writer
        try:
            writer.write(_wire.request_line(request_id, method, params))
            if writer.transport.get_write_buffer_size() > 65536:
                async with self._drain_lock:
                    await writer.drain()
            if timeout_ms:
                return await asyncio.wait_for(future, timeout_ms / 1000.0)
            return await future
        except asyncio.TimeoutError:
            # The late reply finds no one waiting and is dropped: the link stays usable.
            raise errors.DaemonTimeout("no reply from hbpoold within %s ms (%s)"
                                       % (timeout_ms, method)) from None
        except (ConnectionError, RuntimeError) as e:  # a write on a closing transport
            # A line over max_line_bytes is refused while it is still being sent: the
            # reason is on its way to the reader.
            try:
                return await asyncio.wait_for(future, 0.5)
            except errors.HBPoolError as refusal:
                raise refusal from None
            except asyncio.TimeoutError:
                raise errors.DaemonUnavailable("connection to hbpoold at %s lost: %s"
                                               % (self.path, e)) from None

    async def _read(self, reader):
        """Hands each reply to the request waiting for its id, until the link ends."""
        error = errors.DaemonUnavailable("hbpoold at %s closed the connection" % self.path)
        try:
            while True:
                line = await reader.readline()
                if not line.endswith(b"\n"):
                    break
                reply = _wire.parse_reply(line)
                if reply.get("id") is None and "error" in reply:
                    # A refusal of the connection itself (request_too_large, too many
                    # clients): hbpoold closes it next.
                    error = errors.from_reply(reply["error"])
                    break
                future = self._pending.pop(reply.get("id"), None)
                if future is not None and not future.done():
                    future.set_result(reply)
        except (OSError, ValueError, errors.HBPoolError) as e:
            error = e if isinstance(e, errors.HBPoolError) else errors.DaemonUnavailable(
                "connection to hbpoold at %s lost: %s" % (self.path, e))
        self._fail(error)

    def _fail(self, error):
        """The link is over: its socket is closed and its requests fail with ``error``."""
        self.closed = True
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._writer is not None:
            with contextlib.suppress(RuntimeError):  # its loop is closed: nothing to flush
                self._writer.close()
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(error)


class Connection(_ops.AioFlavour, _ops.ConnectionBase):
    """A connection to hbpoold, with AIOHappyBase's constructor arguments.

    ``socket`` is hbpoold's Unix socket (default: $HBPOOL_SOCKET, else
    /run/hbpool/hbpoold.sock); ``timeout`` (milliseconds) bounds each wait for a reply.
    Open it with ``await open()`` or ``async with``; ``autoconnect`` and ``with`` connect at
    once, outside a running event loop only, as in AIOHappyBase. ``host``, ``port``,
    ``transport``, ``protocol``, ``client`` and ``client_kwargs`` are checked as AIOHappyBase
    checks them and otherwise unused: hbpoold's configuration chooses the gateway.
    ``client`` is the link to hbpoold once open; its ``close()`` drops it, and the connection
    opens a new one when next used.
    """

    LOG_NAME = "hbpool.aio.connection"
    CLIENT_KWARGS = _ops.ASYNC_CLIENT_KWARGS

    def __init__(self, host=DEFAULT_HOST, port=DEFAULT_PORT, timeout=None, autoconnect=False,
                 table_prefix=None, table_prefix_separator=b"_", compat=_ops.DEFAULT_COMPAT,
                 transport=_ops.DEFAULT_TRANSPORT, protocol=_ops.DEFAULT_PROTOCOL,
                 client="socket", *, socket=None, **client_kwargs):
        self.client = None
        super().__init__(host, port, timeout, table_prefix, table_prefix_separator, compat,
                         transport, protocol, socket)
        self._init_client(client, client_kwargs)
        self._path = _wire.socket_path(socket)
        self._wanted = False  # opened and not closed since: reconnect when needed
        if autoconnect:
            _not_in_running_loop("Cannot autoconnect in a running event loop!")
            self._connect_now()

    def _connect_now(self):
        """Connect before any loop runs; the link starts in the first loop that uses it."""
        self._check_client_kwargs()
        self._wanted = True
        if not self._link_open():
            self.client = Link(self._path, _wire.connect(self._path, self.timeout))

    def _link_open(self):
        return self.client is not None and not self.client.closed

    def _drop_link(self):
        if self.client is not None:
            self.client.close()

    async def open(self):
        """Connect to hbpoold (a no-op when connected)."""
        self._check_client_kwargs()
        self._wanted = True
        link = self.client
        if link is None or link.closed:
            link = self.client = Link(self._path, connect_timeout_ms=self.timeout)
        try:
            await link.start()
        except errors.DaemonUnavailable:
            if self.client is link:
                self.client = None
            raise

    def close(self):
        """Disconnect from hbpoold (as in AIOHappyBase, not a coroutine); open() connects
        again. Requests still waiting fail with DaemonUnavailable."""
        self._wanted = False
        self._drop_link()
        self.client = None

    async def __aenter__(self):
        await self.open()
        return self

    async def __aexit__(self, exc_type, exc_value, traceback):
        self.close()

    def __enter__(self):
        _not_in_running_loop("Use 'async with' in a running event loop!")
        self._connect_now()
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.close()

    # table(): _ops.ConnectionBase. tables, create_table, delete_table... : _ops.bind() below.

    async def _run(self, op):
        try:
            request = next(op)
            while True:
                request = op.send(await self._call(*request))
        except StopIteration as stop:
            return stop.value

    async def _close_scanner(self, scanner, pending):
        """Ends a scan however it ended. A lost connection took the scanner with it; a failed
        close does not hide the error that ended the scan."""
        if not self._link_open():
            return
        try:
            await self._call("scanner_close", {"scanner": scanner})
        except errors.HBPoolError:
            if pending is None:
                raise

    async def _call(self, method, params):
        link = self.client
        if link is not None and link.loop is not None \
                and link.loop is not asyncio.get_running_loop():
            link.close()  # a link of a loop that ended (asyncio.run again): start anew
        if link is None or link.closed:
            if not self._wanted:
                raise errors.DaemonUnavailable(
                    "the connection is not open: await open() or use 'async with'")
            await self.open()
            link = self.client
        return _wire.result_of(await link.call(method, params, self.timeout))


class Table(_ops.TableBase):
    """A table; get one with Connection.table()."""

    def _run(self, op):
        return self.connection._run(op)

    # row, rows, cells, put, delete, counter_*, families, regions, append: _ops.bind() below.
    column_family_names = _driven(_ops.column_family_names)

    async def scan(self, row_start=None, row_stop=None, row_prefix=None, columns=None,
                   filter=None, timestamp=None, include_timestamp=False, batch_size=1000,
                   scan_batching=None, limit=None, sorted_columns=False, reverse=False):
        """Rows as (key, data) pairs from a scanner, fetched ``batch_size`` rows at a time:
        ``async for key, data in table.scan(...)``.

        ``row_prefix`` selects exactly the rows starting with it, also with ``reverse``.
        """
        plan = _ops.ScanPlan(self, row_start, row_stop, row_prefix, columns, filter, timestamp,
                             include_timestamp, batch_size, scan_batching, limit, sorted_columns,
                             reverse)
        conn = self.connection
        scanner = (await conn._call("scanner_open", plan.open_params))["scanner"]
        try:
            while True:
                params = plan.next_params(scanner)
                if params is None:
                    return
                found = plan.take(await conn._call("scanner_next", params))
                if not found:
                    return
                for item in found:
                    yield item
        finally:
            await conn._close_scanner(scanner, sys.exc_info()[1])

    def batch(self, timestamp=None, batch_size=None, transaction=False, wal=True):
        """A Batch of writes to this table: ``async with table.batch() as b:``."""
        return Batch(self, timestamp, batch_size, transaction, wal)


Connection._Table = Table
_ops.bind(Connection, _ops.CONNECTION_OPS, _driven)
_ops.bind(Table, _ops.TABLE_OPS, _driven)


class Batch:
    """Writes buffered and sent together (on send(), at the end of an ``async with`` block,
    or each time ``batch_size`` mutations are buffered). With ``transaction``, a block that
    raises sends nothing."""

    def __init__(self, table, timestamp=None, batch_size=None, transaction=False, wal=True):
        self._buffer = _ops.BatchBuffer(table, timestamp, batch_size, transaction, wal)
        self._run = table.connection._run

    async def send(self):
        """Send the buffered operations."""
        await self._run(self._buffer.send())

    async def close(self):
        """Send what is left."""
        await self.send()

    async def put(self, row, data, wal=None):
        """Buffer a put (``wal`` overrides the batch's)."""
        await self._run(self._buffer.put(row, data, wal))

    async def delete(self, row, columns=None, wal=None):
        """Buffer a delete of a row, or of ``columns`` of it."""
        await self._run(self._buffer.delete(row, columns, wal))

    async def counter_inc(self, row, column, value=1):
        """Buffer a counter increment (changes to one counter are summed)."""
        await self._run(self._buffer.counter_inc(row, column, value))

    async def counter_dec(self, row, column, value=1):
        """Buffer a counter decrement."""
        await self._run(self._buffer.counter_dec(row, column, value))

    async def __aenter__(self):
        return self

    async def __aexit__(self, exc_type, exc_value, traceback):
        if self._buffer.transaction and exc_type is not None:
            return
        await self.close()

    def __enter__(self):
        raise RuntimeError("Use async with")

    def __exit__(self, exc_type, exc_value, traceback):
        raise RuntimeError("Use async with")


class ConnectionPool:
    """``size`` connections, lent with ``async with pool.connection(timeout) as conn:``.

    A task that asks again inside its block gets the same connection. A connection whose link
    to hbpoold broke is reconnected before it is lent again; HBase's own errors leave it.
    Connections open when first lent. Close the pool (``close()``, or ``async with``): one
    garbage-collected open logs a warning, as in AIOHappyBase.
    """

    QUEUE_TYPE = asyncio.LifoQueue
    LOG_NAME = "hbpool.aio.pool"

    def __init__(self, size, **kwargs):
        _ops.check_pool_size(size, "Pool 'size' arg must be greater than zero")
        kwargs["autoconnect"] = False
        self._queue = self.QUEUE_TYPE(maxsize=size)
        self._by_task = {}
        for _ in range(size):
            self._queue.put_nowait(Connection(**kwargs))
        self._closed = False

    def close(self):
        """Close every connection the pool holds."""
        self._closed = True
        while not self._queue.empty():
            self._queue.get_nowait().close()

    def __del__(self):
        if getattr(self, "_closed", True) is False:
            with contextlib.suppress(Exception):
                _ops.warn_unclosed(self, self.LOG_NAME)

    @contextlib.asynccontextmanager
    async def connection(self, timeout=None):
        """Lend a connection; wait up to ``timeout`` seconds (None: forever)."""
        task = asyncio.current_task()
        connection = self._by_task.get(task)
        if connection is not None:
            yield connection
            return
        try:
            connection = await asyncio.wait_for(self._queue.get(), timeout)
        except asyncio.TimeoutError:
            raise NoConnectionsAvailable("Timeout waiting for a connection") from None
        self._by_task[task] = connection
        try:
            await connection.open()
            yield connection
        except OSError:
            _ops.log_replaced(__name__)
            connection.close()  # reconnected when next lent
            raise
        finally:
            del self._by_task[task]
            self._queue.put_nowait(connection)

    async def __aenter__(self):
        return self

    async def __aexit__(self, exc_type, exc_value, traceback):
        self.close()

    def __enter__(self):
        _not_in_running_loop("Use async with inside a running event loop!")
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.close()
