"""hbpool.aio.sync: AIOHappyBase's synchronous flavour (``aiohappybase.sync``) over hbpoold:
``import hbpool.aio.sync as happybase``.

It is hbpool.happybase's driver with what AIOHappyBase's sync API has beyond HappyBase's:
create_table returns the Table, ``Table.column_family_names()``, ``Batch.close()``, the
``client`` argument and attribute, a ConnectionPool that opens connections when first lent and
is closed (``close()`` or ``with``), and a warning for a Connection or pool left unclosed.
"""

import contextlib
import queue

from .. import _ops, happybase as _happybase
from .._version import __version__
from ..errors import IOError, IllegalArgument, AlreadyExists, NoConnectionsAvailable  # noqa: A004

__all__ = ["Connection", "Table", "Batch", "ConnectionPool", "NoConnectionsAvailable",
           "IOError", "IllegalArgument", "AlreadyExists", "DEFAULT_HOST", "DEFAULT_PORT",
           "__version__"]

DEFAULT_HOST = _ops.DEFAULT_HOST
DEFAULT_PORT = _ops.DEFAULT_PORT


class Connection(_ops.AioFlavour, _happybase.Connection):
    """A connection to hbpoold, with aiohappybase.sync's constructor arguments.

    As hbpool.happybase's Connection (``socket``, ``timeout`` in milliseconds, shared by
    threads), plus ``client`` and ``client_kwargs``, checked as AIOHappyBase checks them and
    otherwise unused. ``client`` is the link to hbpoold while open; its ``close()`` drops it,
    and the connection opens a new one when next used.
    """

    LOG_NAME = "hbpool.aio.sync.connection"
    CLIENT_KWARGS = _ops.SYNC_CLIENT_KWARGS

    def __init__(self, host=DEFAULT_HOST, port=DEFAULT_PORT, timeout=None, autoconnect=True,
                 table_prefix=None, table_prefix_separator=b"_", compat=_ops.DEFAULT_COMPAT,
                 transport=_ops.DEFAULT_TRANSPORT, protocol=_ops.DEFAULT_PROTOCOL,
                 client="socket", *, socket=None, **client_kwargs):
        self.client = None
        self._init_client(client, client_kwargs)
        super().__init__(host, port, timeout, False, table_prefix, table_prefix_separator,
                         compat, transport, protocol, socket)
        if autoconnect:
            self.open()

    def open(self):
        """Connect to hbpoold (a no-op when connected)."""
        self._check_client_kwargs()
        super().open()
        if self.client is None:
            self.client = self.transport

    def close(self):
        """Disconnect from hbpoold; open() connects again."""
        super().close()
        self.client = None

    def _link_open(self):
        return self._sock is not None

    def _drop_link(self):
        self._drop()


class Table(_happybase.Table):
    """A table; get one with Connection.table()."""

    _NO_ROWS = list  # AIOHappyBase's rows([]), where HappyBase's is {}

    column_family_names = _happybase.Table._column_family_names


class Batch(_happybase.Batch):
    """Writes buffered and sent together (on send(), close(), at the end of a ``with`` block,
    or each time ``batch_size`` mutations are buffered). With ``transaction``, a ``with``
    block that raises sends nothing."""

    def close(self):
        """Send what is left."""
        self.send()


Connection._Table = Table
Table._Batch = Batch


class ConnectionPool(_happybase.ConnectionPool):
    """``size`` connections, lent with ``with pool.connection(timeout) as connection:``.

    As hbpool.happybase's pool, except that, as in AIOHappyBase, connections open when first
    lent, and the pool is closed (``close()``, or ``with ConnectionPool(...) as pool``): one
    garbage-collected open logs a warning.
    """

    QUEUE_TYPE = queue.LifoQueue
    LOG_NAME = "hbpool.aio.sync.pool"
    _Connection = Connection
    _SIZE_MESSAGE = "Pool 'size' arg must be greater than zero"
    _TIMEOUT_MESSAGE = "Timeout waiting for a connection"

    def __init__(self, size, **kwargs):
        self._start(size, kwargs)
        self._closed = False

    def close(self):
        """Close every connection the pool holds."""
        self._closed = True
        while True:
            try:
                self._queue.get_nowait().close()
            except queue.Empty:
                return

    def __del__(self):
        if getattr(self, "_closed", True) is False:
            with contextlib.suppress(Exception):
                _ops.warn_unclosed(self, self.LOG_NAME)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.close()

