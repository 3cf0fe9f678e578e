"""_ops: HappyBase's methods written once, for the sync and the asyncio driver alike.

Each operation checks its arguments as HappyBase does (same exceptions, same messages where a
program might match them), then is a generator: it yields ``(method, params)`` for hbpoold and
receives the result, so the two drivers differ only in how they wait for a reply.
"""

import collections.abc
from collections import OrderedDict
from numbers import Integral

from ._wire import dec, enc, to_bytes

DEFAULT_HOST = "localhost"
DEFAULT_PORT = 9090
DEFAULT_COMPAT = "0.98"
DEFAULT_TRANSPORT = "buffered"
DEFAULT_PROTOCOL = "binary"
COMPAT_MODES = ("0.90", "0.92", "0.94", "0.96", "0.98")
THRIFT_TRANSPORTS = ("buffered", "framed")
THRIFT_PROTOCOLS = ("binary", "compact")
THRIFT_CLIENTS = ("socket", "http")
# The keyword arguments thriftpy2's make_client takes (asyncio and sync), which AIOHappyBase
# passes client_kwargs on to: accepted, and unused here.
ASYNC_CLIENT_KWARGS = ("service", "unix_socket", "proto_factory", "trans_factory", "timeout",
                       "connect_timeout", "cafile", "ssl_context", "certfile", "keyfile",
                       "validate", "url", "socket_timeout", "socket_family")
SYNC_CLIENT_KWARGS = ("service", "unix_socket", "proto_factory", "trans_factory", "timeout",
                      "cafile", "ssl_context", "certfile", "keyfile", "url", "socket_family")
FAMILY_OPTIONS = ("max_versions", "compression", "in_memory", "bloom_filter_type",
                  "bloom_filter_vector_size", "bloom_filter_nb_hashes", "block_cache_enabled",
                  "time_to_live")
MAX_VERSIONS = 2 ** 31 - 1
B64 = "base64"
# A batch's send is split into requests of about this many bytes: hbpoold refuses lines over
# max_line_bytes (16 MiB by default) and closes the connection.
BATCH_REQUEST_BYTES = 4 * 1024 * 1024


class ConnectionBase:
    """What every Connection class shares: HappyBase's arguments, checked as HappyBase does.

    ``host``, ``port``, ``transport`` and ``protocol`` are accepted and checked, then unused:
    hbpoold's configuration picks the gateway. ``socket`` (else $HBPOOL_SOCKET) is hbpoold's.
    A driver sets ``_Table`` to its Table class.
    """

    _Table = None

    def __init__(self, host, port, timeout, table_prefix, table_prefix_separator, compat,
                 transport, protocol, socket):
        if table_prefix is not None:
            if not isinstance(table_prefix, (str, bytes)):
                raise TypeError("'table_prefix' must be a string")
            table_prefix = to_bytes(table_prefix, "'table_prefix'")
        if not isinstance(table_prefix_separator, (str, bytes)):
            raise TypeError("'table_prefix_separator' must be a string")
        for name, value, allowed in (("compat", compat, COMPAT_MODES),
                                     ("transport", transport, THRIFT_TRANSPORTS),
                                     ("protocol", protocol, THRIFT_PROTOCOLS)):
            self._check_choice(name, value, allowed)
        self.host = host or DEFAULT_HOST
        self.port = port or DEFAULT_PORT
        self.timeout = timeout
        self.table_prefix = table_prefix
        self.table_prefix_separator = to_bytes(table_prefix_separator, "'table_prefix_separator'")
        self.compat = compat
        self.socket = socket

    @staticmethod
    def _check_choice(name, value, allowed):
        if value not in allowed:
            raise ValueError("'%s' must be one of %s" % (name, ", ".join(allowed)))

    def _table_name(self, name):
        name = to_bytes(name, "a table name")
        if self.table_prefix is None:
            return name
        return self.table_prefix + self.table_prefix_separator + name

    def table(self, name, use_prefix=True):
        """The table ``name`` (with the table prefix unless ``use_prefix`` is False); no
        round trip, so the table is not checked for existence."""
        name = to_bytes(name, "a table name")
        return self._Table(self._table_name(name) if use_prefix else name, self)

    def _created(self, name):
        """What create_table returns: nothing in HappyBase."""
        return None


class AioFlavour:
    """What AIOHappyBase's two Connection classes (asyncio and sync) have that HappyBase's has
    not: the ``client`` argument and its keyword arguments, create_table returning the Table,
    AIOHappyBase's message for a bad choice, and a warning for a connection that was never
    closed. A driver gives ``_link_open()``, ``_drop_link()`` and ``CLIENT_KWARGS``."""

    LOG_NAME = None
    CLIENT_KWARGS = ()

    def _init_client(self, client, client_kwargs):
        self._check_choice("client", client, THRIFT_CLIENTS)
        self.client_kwargs = client_kwargs
        self._client_mode = client

    @staticmethod
    def _check_choice(name, value, allowed):
        if value not in allowed:
            raise ValueError("%s=%s is not in: %s" % (name, value, set(allowed)))

    def _check_client_kwargs(self):
        """AIOHappyBase hands client_kwargs to thriftpy2's make_client when it opens, which
        refuses a name it does not take; for ``http`` every name goes on to httpx."""
        if self._client_mode != "socket":
            return
        for name in self.client_kwargs:
            if name not in self.CLIENT_KWARGS:
                raise TypeError("make_client() got an unexpected keyword argument %r" % name)

    def _created(self, name):
        return self.table(name, use_prefix=False)

    def __del__(self):
        try:
            if self._link_open():
                warn_unclosed(self, self.LOG_NAME)
            self._drop_link()
        except Exception:  # noqa: BLE001 (interpreter shutdown: nothing left to tell)
            pass


def warn_unclosed(obj, logger_name):
    """AIOHappyBase's warning for a Connection or pool that was garbage-collected open."""
    import logging
    logging.getLogger(logger_name).warning("%s was not closed!", obj)


class TableBase:
    """What both Table classes share: the name, with the prefix already applied."""

    # What rows([]) returns, without a call: AIOHappyBase's [] (the documented list); HappyBase
    # 1.3 returns {}, and hbpool.happybase matches it.
    _NO_ROWS = list

    def __init__(self, name, connection):
        self.name = name
        self.connection = connection
        self._wire_name = wire_table(name)

    def __repr__(self):
        return "<%s.%s name=%r>" % (type(self).__module__, type(self).__name__, self.name)


def wire_table(name):
    try:
        return name.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("table name %r is not valid UTF-8 (HBase table names are plain text)"
                         % (name,)) from None


def check_pool_size(size, too_small):
    """A ConnectionPool's size, checked as HappyBase (and, with its own message, AIOHappyBase)."""
    if not isinstance(size, int):
        raise TypeError("Pool 'size' arg must be an integer")
    if not size > 0:
        raise ValueError(too_small)


def log_replaced(module):
    """HappyBase's log line for a pool connection that broke. logging is imported only then:
    it is a third of the package's import time, which short-lived processes pay."""
    import logging
    logging.getLogger(module).info("Replacing tainted pool connection")


# --- conversions --------------------------------------------------------------------------

def check_timestamp(timestamp, message="'timestamp' must be an integer"):
    if timestamp is not None and not isinstance(timestamp, Integral):
        raise TypeError(message)


def check_columns(columns):
    if columns is not None and not isinstance(columns, (tuple, list)):
        raise TypeError("'columns' must be a tuple or list")


def read_params(table, columns, timestamp, include_timestamp):
    params = {"table": table._wire_name, "encoding": B64}
    if columns:
        params["columns"] = [enc(c, "a column") for c in columns]
    if timestamp is not None:
        params["timestamp"] = int(timestamp)
    if include_timestamp:
        params["include_timestamp"] = True
    return params


def encode_data(data):
    if not isinstance(data, collections.abc.Mapping):
        raise TypeError("'data' must be a dict of columns to values, not %s"
                        % type(data).__name__)
    return {enc(c, "a column"): enc(v, "a value") for c, v in data.items()}


def make_row(cells, include_timestamp):
    if include_timestamp:
        return {dec(c): (dec(v[0]), v[1]) for c, v in cells.items()}
    return {dec(c): dec(v) for c, v in cells.items()}


def make_ordered_row(pairs, include_timestamp):
    if include_timestamp:
        return OrderedDict((dec(c), (dec(v[0]), v[1])) for c, v in pairs)
    return OrderedDict((dec(c), dec(v)) for c, v in pairs)


def check_counter_value(value):
    if not isinstance(value, Integral):
        raise TypeError("a counter value must be an integer, not %s" % type(value).__name__)
    return int(value)


# --- connection ---------------------------------------------------------------------------

def tables(self):
    """The names of the tables (with the table prefix, only those that have it, without it)."""
    names = [n.encode("utf-8") for n in (yield ("tables", None))]
    if self.table_prefix is None:
        return names
    prefix = self.table_prefix + self.table_prefix_separator
    return [n[len(prefix):] for n in names if n.startswith(prefix)]


def create_table(self, name, families):
    """Create a table: ``families`` maps each family name to a dict of its options
    (``max_versions``, ``compression``, ``in_memory``, ``bloom_filter_type``,
    ``bloom_filter_vector_size``, ``bloom_filter_nb_hashes``, ``block_cache_enabled``,
    ``time_to_live``) or None."""
    name = self._table_name(name)
    if not isinstance(families, dict):
        raise TypeError("'families' arg must be a dictionary")
    if not families:
        raise ValueError("Cannot create table %r (no column families specified)" % name)
    spec = {}
    for family, options in families.items():
        family = to_bytes(family, "a column family name").decode("utf-8")
        settings = {}
        for option, value in (options or {}).items():
            if option not in FAMILY_OPTIONS:
                raise TypeError("unknown column family option %r; the options are %s"
                                % (option, ", ".join(FAMILY_OPTIONS)))
            settings[option] = value.decode("utf-8") if isinstance(value, bytes) else value
        spec[family[:-1] if family.endswith(":") else family] = settings
    yield ("create_table", {"table": wire_table(name), "families": spec})
    return self._created(name)


def delete_table(self, name, disable=False):
    """Delete a table; with ``disable`` it is disabled first if it is enabled."""
    params = {"table": wire_table(self._table_name(name))}
    if disable:
        params["disable"] = True
    yield ("delete_table", params)


def enable_table(self, name):
    """Enable a table."""
    yield ("enable_table", {"table": wire_table(self._table_name(name))})


def disable_table(self, name):
    """Disable a table."""
    yield ("disable_table", {"table": wire_table(self._table_name(name))})


def is_table_enabled(self, name):
    """Whether a table is enabled."""
    return (yield ("is_table_enabled", {"table": wire_table(self._table_name(name))}))


def compact_table(self, name, major=False):
    """Ask HBase to compact a table (it returns before the compaction is done)."""
    params = {"table": wire_table(self._table_name(name))}
    if major:
        params["major"] = True
    yield ("compact_table", params)


# --- table: metadata and reads ------------------------------------------------------------

def families(self):
    """The column families: {name: settings}, settings with HappyBase's snake_case names."""
    found = yield ("families", {"table": self._wire_name})
    out = {}
    for family, settings in found.items():
        # As HappyBase gives them: every text setting (name, compression...) as bytes.
        out[family.encode("utf-8")] = {
            k: v.encode("utf-8") if isinstance(v, str) else v for k, v in settings.items()}
    return out


def column_family_names(self):
    return list((yield from families(self)))


def regions(self):
    """The table's regions: start_key, end_key, id, name, version, server_name, port."""
    found = yield ("regions", {"table": self._wire_name, "encoding": B64})
    for region in found:
        for key in ("start_key", "end_key", "name"):
            region[key] = dec(region[key])
        region["server_name"] = region["server_name"].encode("utf-8")
    return found


def row(self, row, columns=None, timestamp=None, include_timestamp=False):
    """One row as {column: value} ({} if it does not exist). ``timestamp`` is exclusive:
    only cells older than it are read."""
    check_columns(columns)
    check_timestamp(timestamp)
    params = read_params(self, columns, timestamp, include_timestamp)
    params["row"] = enc(row, "a row key")
    return make_row((yield ("row", params)), include_timestamp)


def rows(self, rows, columns=None, timestamp=None, include_timestamp=False):
    """Several rows as a list of (key, {column: value}); missing rows are left out."""
    check_columns(columns)
    if not rows:
        return self._NO_ROWS()
    check_timestamp(timestamp)
    params = read_params(self, columns, timestamp, include_timestamp)
    params["rows"] = [enc(r, "a row key") for r in rows]
    found = yield ("rows", params)
    return [(dec(key), make_row(cells, include_timestamp)) for key, cells in found]


def cells(self, row, column, versions=None, timestamp=None, include_timestamp=False):
    """The versions of one cell, newest first."""
    if versions is None:
        versions = MAX_VERSIONS
    elif not isinstance(versions, int):
        raise TypeError("'versions' parameter must be a number or None")
    elif versions < 1:
        raise ValueError("'versions' parameter must be at least 1 (or None)")
    check_timestamp(timestamp)
    params = read_params(self, None, timestamp, include_timestamp)
    params.update(row=enc(row, "a row key"), column=enc(column, "a column"),
                  versions=min(versions, MAX_VERSIONS))
    found = yield ("cells", params)
    if include_timestamp:
        return [(dec(value), ts) for value, ts in found]
    return [dec(value) for value in found]


class ScanPlan:
    """A scan's checked arguments, its scanner_open params, and the rows it has returned."""

    def __init__(self, table, row_start=None, row_stop=None, row_prefix=None, columns=None,
                 filter=None, timestamp=None, include_timestamp=False, batch_size=1000,
                 scan_batching=None, limit=None, sorted_columns=False, reverse=False):
        compat = table.connection.compat
        if batch_size < 1:
            raise ValueError("'batch_size' must be >= 1")
        if limit is not None and limit < 1:
            raise ValueError("'limit' must be >= 1")
        if scan_batching is not None and scan_batching < 1:
            raise ValueError("'scan_batching' must be >= 1")
        if sorted_columns and compat < "0.96":
            raise NotImplementedError("'sorted_columns' is only supported in HBase >= 0.96")
        if reverse and compat < "0.98":
            raise NotImplementedError("'reverse' is only supported in HBase >= 0.98")
        if row_prefix is not None and (row_start is not None or row_stop is not None):
            raise TypeError("'row_prefix' cannot be combined with 'row_start' or 'row_stop'")
        if filter is not None and compat == "0.90":
            raise NotImplementedError("'filter' is not supported in HBase 0.90")
        check_columns(columns)
        check_timestamp(timestamp)
        params = read_params(table, columns, timestamp, include_timestamp)
        params["batch_size"] = batch_size
        for key, value in (("row_start", row_start), ("row_stop", row_stop),
                           ("row_prefix", row_prefix), ("filter", filter)):
            if value is not None:
                params[key] = enc(value, "'%s'" % key)
        if scan_batching is not None:
            params["scan_batching"] = scan_batching
        if sorted_columns:
            params["sorted_columns"] = True
        if reverse:
            params["reverse"] = True
        self.open_params = params
        self.batch_size = batch_size
        self.limit = limit
        self.returned = 0
        self.include_timestamp = include_timestamp
        self.make = make_ordered_row if sorted_columns else make_row

    def next_params(self, scanner):
        """The next scanner_next, or None once ``limit`` rows came back."""
        count = self.batch_size
        if self.limit is not None:
            count = min(count, self.limit - self.returned)
            if count <= 0:
                return None
        return {"scanner": scanner, "count": count, "encoding": B64}

    def take(self, result):
        found = result["rows"]
        if self.limit is not None:
            found = found[:self.limit - self.returned]
        self.returned += len(found)
        return [(dec(key), self.make(cells, self.include_timestamp)) for key, cells in found]


# --- table: writes ------------------------------------------------------------------------

def put(self, row, data, timestamp=None, wal=True):
    """Store ``data`` ({column: value}) in a row, at ``timestamp`` if given."""
    check_timestamp(timestamp, "'timestamp' must be an integer or None")
    params = {"table": self._wire_name, "row": enc(row, "a row key"), "data": encode_data(data),
              "encoding": B64}
    if not params["data"]:
        return None  # HappyBase sends an empty mutation list, which changes nothing
    if timestamp is not None:
        params["timestamp"] = int(timestamp)
    if not wal:
        params["wal"] = False
    yield ("put", params)


def delete(self, row, columns=None, timestamp=None, wal=True):
    """Delete a row, or only ``columns`` of it; with ``timestamp``, versions up to it."""
    check_timestamp(timestamp, "'timestamp' must be an integer or None")
    params = {"table": self._wire_name, "row": enc(row, "a row key"), "encoding": B64}
    if columns is not None:
        params["columns"] = delete_columns(columns)
        if not params["columns"]:
            return None  # no column named: nothing to delete (not the whole row)
    if timestamp is not None:
        params["timestamp"] = int(timestamp)
    if not wal:
        params["wal"] = False
    yield ("delete", params)


def delete_columns(columns):
    if isinstance(columns, (str, bytes)):
        raise TypeError("'columns' must be a list of columns, not a single string")
    return [enc(c, "a column") for c in columns]


def counter_params(table, row, column):
    return {"table": table._wire_name, "row": enc(row, "a row key"),
            "column": enc(column, "a column"), "encoding": B64}


def counter_get(self, row, column):
    """A counter's value (a missing counter is created as 0, as HappyBase does)."""
    return (yield ("counter_get", counter_params(self, row, column)))


def counter_set(self, row, column, value=0):
    """Set a counter (stored as 8 bytes, big-endian, signed)."""
    params = counter_params(self, row, column)
    params["value"] = check_counter_value(value)
    yield ("counter_set", params)


def counter_inc(self, row, column, value=1):
    """Add ``value`` to a counter atomically; returns the new value."""
    params = counter_params(self, row, column)
    params["value"] = check_counter_value(value)
    return (yield ("counter_inc", params))


def counter_dec(self, row, column, value=1):
    """Subtract ``value`` from a counter atomically; returns the new value."""
    params = counter_params(self, row, column)
    params["value"] = check_counter_value(value)
    return (yield ("counter_dec", params))


def append(self, row, data, include_timestamp=False):
    """Append bytes to cells; returns their new values."""
    if self.connection.compat < "0.98":
        raise NotImplementedError("'append' is only supported in HBase >= 0.98")
    params = {"table": self._wire_name, "row": enc(row, "a row key"), "data": encode_data(data),
              "encoding": B64}
    if include_timestamp:
        params["include_timestamp"] = True
    return make_row((yield ("append", params)), include_timestamp)


def check_and_put(self, row, column, value, data):
    """Put ``data`` (one cell) only if ``column`` holds ``value``, or, with ``value`` None, only
    if ``column`` is absent; returns whether it was put. One atomic gateway call (Thrift1's
    checkAndPut); HappyBase has no such method."""
    params = {"table": self._wire_name, "row": enc(row, "a row key"),
              "column": enc(column, "a column"),
              "value": None if value is None else enc(value, "a value"),
              "data": encode_data(data), "encoding": B64}
    return (yield ("check_and_put", params))


class BatchBuffer:
    """A batch's operations until they are sent, counted as HappyBase counts them."""

    def __init__(self, table, timestamp=None, batch_size=None, transaction=False, wal=True):
        check_timestamp(timestamp, "'timestamp' must be an integer or None")
        if batch_size is not None:
            if transaction:
                raise TypeError("'transaction' cannot be used when 'batch_size' is specified")
            if not batch_size > 0:
                raise ValueError("'batch_size' must be > 0")
        self.table = table
        self.timestamp = timestamp
        self.batch_size = batch_size
        self.transaction = transaction
        self.wal = wal
        self.families = None
        self.ops = []
        self.sizes = []
        self.mutation_count = 0
        self.counter_cells = set()

    def _add(self, op, size):
        self.ops.append(op)
        self.sizes.append(size)

    def put(self, row, data, wal=None):
        data = encode_data(data)
        op = {"op": "put", "row": enc(row, "a row key"), "data": data}
        if wal is not None and bool(wal) != self.wal:
            op["wal"] = bool(wal)
        if data:
            self._add(op, len(op["row"]) + sum(len(c) + len(v) + 8 for c, v in data.items()))
        self.mutation_count += len(data)
        yield from self._send_if_full()

    def delete(self, row, columns=None, wal=None):
        op = {"op": "delete", "row": enc(row, "a row key")}
        if columns is None and self.batch_size:
            # HappyBase counts a whole-row delete as one mutation per family.
            if self.families is None:
                self.families = yield from column_family_names(self.table)
            columns = self.families
        if columns is not None:
            op["columns"] = delete_columns(columns)
        if wal is not None and bool(wal) != self.wal:
            op["wal"] = bool(wal)
        if columns is None or op["columns"]:
            self._add(op, len(op["row"]) + sum(len(c) + 4 for c in op.get("columns", ())))
        self.mutation_count += len(op["columns"]) if columns is not None else 1
        yield from self._send_if_full()

    def counter_inc(self, row, column, value=1):
        op = {"op": "counter_inc", "row": enc(row, "a row key"), "column": enc(column, "a column"),
              "value": check_counter_value(value)}
        self._add(op, len(op["row"]) + len(op["column"]) + 24)
        self.counter_cells.add((op["row"], op["column"]))
        yield from self._send_if_full()

    def counter_dec(self, row, column, value=1):
        yield from self.counter_inc(row, column, -check_counter_value(value))

    def _send_if_full(self):
        if self.batch_size and (self.mutation_count >= self.batch_size
                                or len(self.counter_cells) >= self.batch_size):
            yield from self.send()

    def send(self):
        """Sends what is buffered, in requests of at most BATCH_REQUEST_BYTES; what a failed
        request did not carry stays buffered."""
        while self.ops:
            n, size = 0, 0
            while n < len(self.ops) and (n == 0 or size + self.sizes[n] <= BATCH_REQUEST_BYTES):
                size += self.sizes[n]
                n += 1
            params = {"table": self.table._wire_name, "operations": self.ops[:n],
                      "encoding": B64}
            if self.timestamp is not None:
                params["timestamp"] = int(self.timestamp)
            if not self.wal:
                params["wal"] = False
            yield ("batch", params)
            del self.ops[:n]
            del self.sizes[:n]
        self.mutation_count = 0
        self.counter_cells.clear()


# The methods each driver's Connection and Table get, one per operation (bind()).
CONNECTION_OPS = (tables, create_table, delete_table, enable_table, disable_table,
                  is_table_enabled, compact_table)
TABLE_OPS = (families, regions, row, rows, cells, put, delete, counter_get, counter_set,
             counter_inc, counter_dec, append, check_and_put)


def bind(cls, ops, driven):
    """Gives ``cls`` a method per operation, named for it, run by the driver's ``driven``."""
    for op in ops:
        setattr(cls, op.__name__, driven(op))
