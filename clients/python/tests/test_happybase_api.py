"""Every public name and signature of HappyBase 1.3's Connection, Table, Batch and
ConnectionPool, and the public attributes of their instances, compared with the target's.

The reference list is happybase_api.txt, written from happybase 1.3.0 itself by running this
file as a script (``python3 test_happybase_api.py > happybase_api.txt`` with happybase 1.3.0
importable). On the happybase target the test proves the list against happybase 1.3.0; on the
hbpool target it holds hbpool.happybase to it. What hbpool.happybase has beyond it, and what it
lacks, are listed below, and each is in clients/python/README.md.
"""

import inspect
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CLASSES = ("Connection", "Table", "Batch", "ConnectionPool")
# Dunder methods that are part of a class's API when the class defines them.
PROTOCOL_METHODS = ("__enter__", "__exit__", "__iter__")

# Lines of hbpool.happybase that happybase 1.3.0 does not have (hbpool target only).
EXTRAS = {
    # hbpoold's Unix socket (else $HBPOOL_SOCKET): the one thing hbpool needs to know that
    # HappyBase has no argument for; last, so positional calls are unchanged.
    "Connection(host='localhost', port=9090, timeout=None, autoconnect=True, table_prefix=None, "
    "table_prefix_separator=b'_', compat='0.98', transport='buffered', protocol='binary', "
    "socket=None)",
    # A context manager, as AIOHappyBase's Connection is.
    "Connection.__enter__(self)",
    "Connection.__exit__(self, exc_type, exc_value, traceback)",
    # HappyBase 1.3 has no append (its Thrift call, yes); AIOHappyBase's Table has it.
    "Table.append(self, row, data, include_timestamp=False)",
    "Table.check_and_put(self, row, column, value, data)",
    # Batch counters, as AIOHappyBase's Batch has.
    "Batch.counter_inc(self, row, column, value=1)",
    "Batch.counter_dec(self, row, column, value=1)",
    "Connection instance: compat, host, port, socket, table_prefix, table_prefix_separator, "
    "timeout, transport",
}
# Lines of happybase 1.3.0 that hbpool.happybase does not have, each replaced by an EXTRAS line.
MISSING = {
    # The socket argument above.
    "Connection(host='localhost', port=9090, timeout=None, autoconnect=True, table_prefix=None, "
    "table_prefix_separator=b'_', compat='0.98', transport='buffered', protocol='binary')",
    # connection.client is HappyBase's raw Thrift client; there is no Thrift on this side of
    # hbpoold. connection.transport is there (the link to hbpoold, with close() and is_open()).
    "Connection instance: client, compat, host, port, table_prefix, table_prefix_separator, "
    "timeout, transport",
}


def public_methods(cls):
    for name in sorted(dir(cls)):
        if name.startswith("_") and name not in PROTOCOL_METHODS:
            continue
        if name in PROTOCOL_METHODS and getattr(cls, name, None) is getattr(object, name, None):
            continue
        yield name, getattr(cls, name)


def listing(module, socket_path="/nonexistent/hbpoold.sock"):
    """The API of module's four classes, a line each: signatures, then the public attributes
    of a Connection made with autoconnect=False, of its Table and of their Batch."""
    lines = []
    for cname in CLASSES:
        cls = getattr(module, cname)
        lines.append("%s%s" % (cname, inspect.signature(cls)))
        for name, value in public_methods(cls):
            if callable(value):
                lines.append("%s.%s%s" % (cname, name, inspect.signature(value)))
            else:
                lines.append("%s.%s = <%s>" % (cname, name, type(value).__name__))
    kwargs = {"autoconnect": False}
    if "socket" in inspect.signature(module.Connection).parameters:
        kwargs["socket"] = socket_path
    connection = module.Connection(**kwargs)
    table = connection.table("t")
    instances = (("Connection", connection), ("Table", table), ("Batch", table.batch()))
    for cname, obj in instances:
        names = sorted(k for k in vars(obj) if not k.startswith("_"))
        lines.append("%s instance: %s" % (cname, ", ".join(names) or "(none)"))
    return lines


def reference():
    with open(os.path.join(HERE, "happybase_api.txt")) as f:
        return [line.rstrip("\n") for line in f if line.strip() and not line.startswith("#")]


def test_api_matches_happybase_1_3(target, hb):
    ours, theirs = listing(hb), reference()
    if target == "happybase":
        # The list is happybase 1.3.0's own, line for line.
        assert hb.__version__ == "1.3.0"
        assert ours == theirs
        return
    missing = [line for line in theirs if line not in ours]
    extra = [line for line in ours if line not in theirs]
    assert sorted(missing) == sorted(MISSING), "hbpool.happybase lacks these: %s" % missing
    assert sorted(extra) == sorted(EXTRAS), "hbpool.happybase adds these: %s" % extra


def test_transport_close_makes_the_pool_replace_the_link(hb, pool_kwargs, table_name):
    # What programs do to make HappyBase's pool replace a connection: close its transport. The
    # pool opens it again when it next lends the connection.
    pool = hb.ConnectionPool(size=1, **pool_kwargs())
    with pool.connection() as c:
        t = c.table(table_name, use_prefix=False)
        t.put(b"r", {b"cf1:a": b"1"})
        assert c.transport.is_open()
        c.transport.close()
        assert not c.transport.is_open()
    with pool.connection() as c:
        assert c.table(table_name, use_prefix=False).row(b"r") == {b"cf1:a": b"1"}
        assert c.transport.is_open()


if __name__ == "__main__":
    import happybase

    sys.stdout.write("# HappyBase %s's public API, written by tests/test_happybase_api.py from "
                     "happybase itself. Do not edit by hand.\n" % happybase.__version__)
    for line in listing(happybase):
        sys.stdout.write(line + "\n")
