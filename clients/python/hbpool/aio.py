"""hbpool.aio: AIOHappyBase's asyncio API over hbpoold: ``import hbpool.aio as aiohappybase``.

One Connection may serve many tasks at once: their requests are pipelined on the socket and
replies matched by id, so a pool is only needed to spread work over several sockets.
"""

import asyncio
import contextlib
import functools
import sys

from . import _ops, _wire, errors
from ._version import __version__
from .errors import IOError, IllegalArgument, AlreadyExists, NoConnectionsAvailable  # noqa: A004

__all__ = ["Connection", "Table", "Batch", "ConnectionPool", "NoConnectionsAvailable",
           "IOError", "IllegalArgument", "AlreadyExists", "DEFAULT_HOST", "DEFAULT_PORT",
           "__version__"]

DEFAULT_HOST = _ops.DEFAULT_HOST
DEFAULT_PORT = _ops.DEFAULT_PORT
THRIFT_CLIENTS = ("socket", "http")
# Requests one connection keeps in flight; more wait here. hbpoold refuses more than
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


class Connection(_ops.ConnectionBase):
    """A connection to hbpoold, with AIOHappyBase's constructor arguments.

    ``socket`` is hbpoold's Unix socket (default: $HBPOOL_SOCKET, else
    /run/hbpool/hbpoold.sock); ``timeout`` (milliseconds) bounds each wait for a reply.
    Open it with ``await open()`` or ``async with``; with ``autoconnect`` it opens on first
    use. ``host``, ``port``, ``transport``, ``protocol`` and ``client`` are checked as
    AIOHappyBase does and otherwise unused: hbpoold's configuration chooses the gateway.
    """

    def __init__(self, host=DEFAULT_HOST, port=DEFAULT_PORT, timeout=None, autoconnect=False,
                 table_prefix=None, table_prefix_separator=b"_", compat=_ops.DEFAULT_COMPAT,
                 transport=_ops.DEFAULT_TRANSPORT, protocol=_ops.DEFAULT_PROTOCOL,
                 client="socket", socket=None, **client_kwargs):
        super().__init__(host, port, timeout, table_prefix, table_prefix_separator, compat,
                         transport, protocol, socket)
        if client not in THRIFT_CLIENTS:
            raise ValueError("'client' must be one of %s" % ", ".join(THRIFT_CLIENTS))
        self.client_kwargs = client_kwargs
        self._path = _wire.socket_path(socket)
        self._writer = None
        self._reader_task = None
        self._pending = {}
        self._slots = None
        self._drain_lock = None
        self._next_id = 1
        self._wanted = False
        if autoconnect:
            if _running_loop() is not None:
                raise RuntimeError("Cannot autoconnect in a running event loop!")
            self._wanted = True  # streams belong to a loop: connect in the one that uses it

    async def open(self):
        """Connect to hbpoold (a no-op when connected)."""
        self._wanted = True
        if self._writer is not None:
            return
        try:
            reader, writer = await asyncio.open_unix_connection(self._path, limit=_READ_LIMIT)
        except OSError as e:
            raise errors.DaemonUnavailable(
                "cannot connect to hbpoold at %s: %s (is hbpoold running? the socket comes from "
                "socket= or HBPOOL_SOCKET)" % (self._path, e.strerror or e)) from None
        if self._writer is not None:  # another task connected meanwhile
            writer.close()
            return
        self._writer = writer
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._drain_lock = asyncio.Lock()
        self._reader_task = asyncio.get_running_loop().create_task(self._read(reader, writer))

    def close(self):
        """Disconnect from hbpoold (as in AIOHappyBase, not a coroutine); open() connects
        again. Requests still waiting fail with DaemonUnavailable."""
        self._wanted = False
        writer = self._writer
        if writer is None:
            return
        self._lost(writer, errors.DaemonUnavailable("the connection was closed"))
        if self._reader_task is not None:
            self._reader_task.cancel()
            self._reader_task = None

    async def __aenter__(self):
        await self.open()
        return self

    async def __aexit__(self, exc_type, exc_value, traceback):
        self.close()

    def table(self, name, use_prefix=True):
        """The table ``name`` (with the table prefix unless ``use_prefix`` is False)."""
        name = _wire.to_bytes(name, "a table name")
        return Table(self._table_name(name) if use_prefix else name, self)

    # tables, create_table, delete_table... : _ops.bind() below.

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
        if self._writer is None:
            return
        try:
            await self._call("scanner_close", {"scanner": scanner})
        except errors.HBPoolError:
            if pending is None:
                raise

    async def _call(self, method, params):
        if self._writer is None:
            if not self._wanted:
                raise errors.DaemonUnavailable(
                    "the connection is not open: await open() or use 'async with'")
            await self.open()
        async with self._slots:
            writer = self._writer
            if writer is None:
                raise errors.DaemonUnavailable("connection to hbpoold at %s lost" % self._path)
            request_id = self._next_id
            self._next_id += 1
            future = asyncio.get_running_loop().create_future()
            self._pending[request_id] = future
            try:
                writer.write(_wire.request_line(request_id, method, params))
                if writer.transport.get_write_buffer_size() > 65536:
                    async with self._drain_lock:
                        await writer.drain()
                if self.timeout:
                    reply = await asyncio.wait_for(future, self.timeout / 1000.0)
                else:
                    reply = await future
            except asyncio.TimeoutError:
                # The late reply finds no one waiting and is dropped: the socket stays usable.
                raise errors.DaemonTimeout("no reply from hbpoold within %s ms (%s)"
                                           % (self.timeout, method)) from None
            except (ConnectionError, RuntimeError) as e:  # a write on a closing transport
                # A line over max_line_bytes is refused while it is still being sent: the
                # reason is on its way to the reader.
                try:
                    reply = await asyncio.wait_for(future, 0.5)
                except errors.HBPoolError as refusal:
                    raise refusal from None
                except asyncio.TimeoutError:
                    raise errors.DaemonUnavailable("connection to hbpoold at %s lost: %s"
                                                   % (self._path, e)) from None
            finally:
                self._pending.pop(request_id, None)
        return _wire.result_of(reply)

    async def _read(self, reader, writer):
        """Hands each reply to the request waiting for its id, until the connection ends."""
        error = errors.DaemonUnavailable("hbpoold at %s closed the connection" % self._path)
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
                "connection to hbpoold at %s lost: %s" % (self._path, e))
        self._lost(writer, error)

    def _lost(self, writer, error):
        """The connection of ``writer`` is over: its requests fail with ``error``."""
        writer.close()
        if self._writer is not writer:
            return  # already replaced: the requests waiting now are the new connection's
        self._writer = None
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(error)


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
    """

    def __init__(self, size, **kwargs):
        _ops.check_pool_size(size, "Pool 'size' arg must be greater than zero")
        kwargs["autoconnect"] = False
        self._queue = asyncio.LifoQueue(maxsize=size)
        self._by_task = {}
        for _ in range(size):
            self._queue.put_nowait(Connection(**kwargs))

    def close(self):
        """Close every connection the pool holds."""
        while not self._queue.empty():
            self._queue.get_nowait().close()

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
        if _running_loop() is not None:
            raise RuntimeError("Use async with inside a running event loop!")
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.close()


def _running_loop():
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
