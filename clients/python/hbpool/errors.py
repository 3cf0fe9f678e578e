"""errors: the exceptions hbpool raises, and the mapping from hbpoold's error codes to them."""

import sys

__all__ = [
    "HBPoolError", "IOError", "IllegalArgument", "AlreadyExists", "GatewayError",
    "RequestError", "Forbidden", "DaemonUnavailable", "DaemonTimeout", "NoConnectionsAvailable",
]


class HBPoolError(Exception):
    """Base of every error hbpool raises for a request that failed.

    ``error`` is hbpoold's stable error name (``hbase_io_error``...), ``code`` its JSON-RPC code,
    ``retryable`` whether sending the same request again is safe, ``detail`` the Java stack when
    HBase gave one.

    In a program that has imported thriftpy2, as every program that catches its exceptions has,
    each error is made as a subclass of its class that is also thriftpy2's TException, or
    TTransportException for the errors of a lost link (``_LINK``): HappyBase programs catch those
    around their calls. Importing thriftpy2 here instead would cost every process tens of
    milliseconds, and the package needs nothing outside the standard library.
    """

    _LINK = False

    def __new__(cls, *args, **kwargs):
        # The keywords are __init__'s: OSError's __new__ (DaemonUnavailable, Forbidden...) takes
        # none once a class has a __new__ of its own.
        return super().__new__(_thriftpy2_flavour(cls), *args)

    def __init__(self, message, code=None, error=None, retryable=False, detail=None):
        # Not super(): thriftpy2's TTransportException.__init__ would take message for its type.
        Exception.__init__(self, message)
        self.message = message
        self.code = code
        self.error = error
        self.retryable = retryable
        self.detail = detail

    # thriftpy2's TException prints its fields; ours print as exceptions do.
    __str__ = Exception.__str__
    __repr__ = Exception.__repr__

    def __reduce__(self):
        # Pickled as the plain class: a thriftpy2 flavour is made at run time, and made again
        # where it is unpickled if that process has thriftpy2.
        return (_remake, (_plain(type(self)), self.message), self.__dict__)


# thriftpy2's TTransportException.type values, which the link's errors carry.
TRANSPORT_UNKNOWN, TRANSPORT_NOT_OPEN, TRANSPORT_TIMED_OUT = 0, 1, 3

_flavours = {}  # plain class -> its thriftpy2 flavour


def _thriftpy2_flavour(cls):
    """cls, or its subclass that is also thriftpy2's exception, when thriftpy2 is imported."""
    thrift, transport = sys.modules.get("thriftpy2.thrift"), sys.modules.get("thriftpy2.transport")
    if thrift is None or transport is None or cls in _flavours.values():
        return cls
    flavour = _flavours.get(cls)
    if flavour is None:
        base = transport.TTransportException if cls._LINK else thrift.TException
        flavour = type(cls)(cls.__name__, (cls, base), {"__module__": cls.__module__,
                                                         "__qualname__": cls.__qualname__})
        # Two threads may both get here: one class wins, for both.
        flavour = _flavours.setdefault(cls, flavour)
    return flavour


def _plain(cls):
    return next((plain for plain, flavour in _flavours.items() if flavour is cls), cls)


def _remake(cls, message):
    return cls.__new__(cls, message)


# The names HappyBase users catch (happybase.hbase.ttypes): they shadow the built-in IOError on
# purpose, inside this module and for whoever imports them by name.
class IOError(HBPoolError):  # noqa: A001
    """HBase raised IOError (a missing table or family, a disabled table...)."""

    @property
    def canRetry(self):  # noqa: N802 (HappyBase's attribute name)
        return self.retryable


class IllegalArgument(HBPoolError):
    """HBase raised IllegalArgument (an expired scanner, a cell over the size limit...)."""


class AlreadyExists(HBPoolError):
    """The table already exists."""


class GatewayError(HBPoolError):
    """hbpoold could not get an answer from HBase: the gateway is down, busy or failed the call.

    ``error`` says which (``gateway_unavailable``, ``no_connection_available``,
    ``request_timeout``, ``too_many_requests``, ``gateway_error``, ``shutting_down``). It is
    also thriftpy2's TTransportException (see HBPoolError), as HappyBase's own connection to a
    gateway that is down or slow would raise, with ``type`` set as thriftpy2 would.
    """

    _LINK = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.type = {"gateway_unavailable": TRANSPORT_NOT_OPEN,
                     "shutting_down": TRANSPORT_NOT_OPEN,
                     "request_timeout": TRANSPORT_TIMED_OUT}.get(self.error, TRANSPORT_UNKNOWN)


class RequestError(HBPoolError, ValueError):
    """hbpoold refused the request itself (a parameter it does not accept, binary data it
    cannot carry...): the arguments need fixing, resending will not help."""


class Forbidden(HBPoolError, PermissionError):
    """hbpoold's [access] rules do not let this process do that (``forbidden``): it is denied,
    read-only, or the table is outside the ones it may use. Nothing was sent to HBase."""


class DaemonUnavailable(HBPoolError, ConnectionError):
    """hbpoold could not be reached, or the connection to it was lost (is it running? is
    HBPOOL_SOCKET right?). Also thriftpy2's TTransportException (see HBPoolError)."""

    _LINK = True
    type = TRANSPORT_NOT_OPEN


class DaemonTimeout(HBPoolError, TimeoutError):
    """hbpoold did not reply within the connection's ``timeout``. Also thriftpy2's
    TTransportException (see HBPoolError)."""

    _LINK = True
    type = TRANSPORT_TIMED_OUT


class NoConnectionsAvailable(RuntimeError):
    """No connection became free in the pool within the given timeout (as in HappyBase)."""


_BY_CODE = {
    -32001: IOError,
    -32002: IllegalArgument,
    -32003: AlreadyExists,
    -32004: GatewayError,
    -32005: GatewayError,
    -32006: GatewayError,
    -32009: GatewayError,
    -32010: GatewayError,
    -32011: GatewayError,
    -32012: Forbidden,
}


def from_reply(error):
    """The exception for the ``error`` member of a JSON-RPC reply."""
    if not isinstance(error, dict):
        return RequestError("hbpoold sent a malformed error: %r" % (error,))
    data = error.get("data") if isinstance(error.get("data"), dict) else {}
    code = error.get("code")
    cls = _BY_CODE.get(code, RequestError)
    return cls(str(error.get("message", "")), code=code, error=data.get("error"),
               retryable=bool(data.get("retryable", False)), detail=data.get("detail"))
