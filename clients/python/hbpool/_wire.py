"""_wire: hbpoold's JSON-RPC lines and the base64 form of HBase bytes, for both drivers."""

import binascii
import json
import os
import socket as _socket
import time

from . import errors

DEFAULT_SOCKET = "/run/hbpool/hbpoold.sock"

_encode_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True).encode
_decode_json = json.loads


def socket_path(socket):
    """The daemon's socket: the argument, else $HBPOOL_SOCKET, else the packaged default."""
    if socket is not None:
        return os.fspath(socket)
    return os.environ.get("HBPOOL_SOCKET") or DEFAULT_SOCKET


def connect(path, timeout_ms):
    """A blocking socket connected to hbpoold; ``timeout_ms`` (None: none) bounds each wait, the
    connect's too."""
    delays = retry_delays(path, timeout_ms)
    while True:
        sock = try_connect(path)
        if sock is not None:
            sock.settimeout(timeout_ms / 1000.0 if timeout_ms else None)
            return sock
        time.sleep(next(delays))


def try_connect(path):
    """A non-blocking socket connected to hbpoold, or None if its listen queue is full (EAGAIN:
    it is busy accepting others): try again. A Unix socket connects at once or not at all."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        sock.connect(path)
        return sock
    except BlockingIOError:
        sock.close()
        return None
    except OSError as e:
        sock.close()
        raise cannot_connect(path, e) from None


def retry_delays(path, timeout_ms):
    """The waits between connects while hbpoold's listen queue is full: 5 ms, doubling up to
    100 ms, for timeout_ms (None: for ever); then DaemonUnavailable."""
    deadline = time.monotonic() + timeout_ms / 1000.0 if timeout_ms else None
    delay = 0.005
    while deadline is None or time.monotonic() < deadline:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        yield delay if left is None else min(delay, left)
        delay = min(delay * 2, 0.1)
    raise errors.DaemonUnavailable(
        "cannot connect to hbpoold at %s: its listen queue stayed full for %d ms (it is too busy "
        "accepting connections)" % (path, timeout_ms))


def cannot_connect(path, e):
    return errors.DaemonUnavailable(
        "cannot connect to hbpoold at %s: %s (is hbpoold running? the socket comes from "
        "socket= or HBPOOL_SOCKET)" % (path, e.strerror or e))


def to_bytes(value, what):
    """HappyBase takes bytes, and str as UTF-8; anything else is the caller's mistake."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise TypeError("%s must be bytes or str, not %s" % (what, type(value).__name__))


def enc(value, what="a row key, column or value"):
    """Bytes as they travel: every request says "encoding": "base64", so nothing is mangled."""
    if type(value) is bytes:  # the common case, first and cheapest
        return binascii.b2a_base64(value, newline=False).decode("ascii")
    return binascii.b2a_base64(to_bytes(value, what), newline=False).decode("ascii")


dec = binascii.a2b_base64


def request_line(request_id, method, params):
    request = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params:
        request["params"] = params
    return (_encode_json(request) + "\n").encode("ascii")


def parse_reply(line):
    """A reply line as a dict; a line that is not one means the connection cannot be trusted."""
    try:
        reply = _decode_json(line)
    except ValueError as e:
        raise errors.DaemonUnavailable("hbpoold sent a line that is not JSON: %s" % e) from None
    if not isinstance(reply, dict):
        raise errors.DaemonUnavailable("hbpoold sent a reply that is not a JSON object")
    return reply


def result_of(reply):
    """The result of a reply, or the error it carries raised as an exception."""
    if "error" in reply:
        raise errors.from_reply(reply["error"])
    return reply.get("result")
