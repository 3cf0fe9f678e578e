"""errors: the exceptions hbpool raises, and the mapping from hbpoold's error codes to them."""

__all__ = [
    "HBPoolError", "IOError", "IllegalArgument", "AlreadyExists", "GatewayError",
    "RequestError", "Forbidden", "DaemonUnavailable", "DaemonTimeout", "NoConnectionsAvailable",
]


class HBPoolError(Exception):
    """Base of every error hbpool raises for a request that failed.

    ``error`` is hbpoold's stable error name (``hbase_io_error``...), ``code`` its JSON-RPC code,
    ``retryable`` whether sending the same request again is safe, ``detail`` the Java stack when
    HBase gave one.
    """

    def __init__(self, message, code=None, error=None, retryable=False, detail=None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.error = error
        self.retryable = retryable
        self.detail = detail


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
    ``request_timeout``, ``too_many_requests``, ``gateway_error``, ``shutting_down``).
    """


class RequestError(HBPoolError, ValueError):
    """hbpoold refused the request itself (a parameter it does not accept, binary data it
    cannot carry...): the arguments need fixing, resending will not help."""


class Forbidden(HBPoolError, PermissionError):
    """hbpoold's [access] rules do not let this process do that (``forbidden``): it is denied,
    read-only, or the table is outside the ones it may use. Nothing was sent to HBase."""


class DaemonUnavailable(HBPoolError, ConnectionError):
    """hbpoold could not be reached, or the connection to it was lost (is it running? is
    HBPOOL_SOCKET right?)."""


class DaemonTimeout(HBPoolError, TimeoutError):
    """hbpoold did not reply within the connection's ``timeout``."""


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
