"""Many processes sharing one daemon (one gateway for the happybase target)."""

import importlib
import multiprocessing

import pytest

PROCESSES = 32
PUTS = 200
INCREMENT = 3

# Set in the parent before a fork, inherited by the children (fork start method only).
_INHERITED = {}


def _module(name):
    return importlib.import_module(name)


def _do_work(conn, table_name, n):
    t = conn.table(table_name)
    mine = [b"p%02d-%03d" % (n, i) for i in range(PUTS)]
    for i, key in enumerate(mine):
        t.put(key, {b"cf1:v": key, b"cf2:n": b"%d" % i})
    got = t.rows(mine)
    assert got == [(k, {b"cf1:v": k, b"cf2:n": b"%d" % i}) for i, k in enumerate(mine)], n
    assert t.row(mine[-1]) == {b"cf1:v": mine[-1], b"cf2:n": b"%d" % (PUTS - 1)}
    assert t.counter_inc(b"shared", b"cf1:count", INCREMENT) > 0
    return n


def own_connection_worker(args):
    module_name, kwargs, table_name, n = args
    conn = _module(module_name).Connection(**kwargs)
    try:
        return _do_work(conn, table_name, n)
    finally:
        conn.close()


def inherited_connection_worker(args):
    table_name, n = args
    return _do_work(_INHERITED["conn"], table_name, n)


def inherited_pool_worker(args):
    table_name, n = args
    with _INHERITED["pool"].connection() as conn:
        return _do_work(conn, table_name, n)


def _check(table):
    rows = dict(table.scan(row_prefix=b"p"))
    assert len(rows) == PROCESSES * PUTS
    for n in range(PROCESSES):
        for i in range(PUTS):
            key = b"p%02d-%03d" % (n, i)
            assert rows[key] == {b"cf1:v": key, b"cf2:n": b"%d" % i}
    assert table.counter_get(b"shared", b"cf1:count") == PROCESSES * INCREMENT


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_processes_with_own_connections(hb, conn_kwargs, table_name, conn, method):
    ctx = multiprocessing.get_context(method)
    jobs = [(hb.__name__, dict(conn_kwargs), table_name, n) for n in range(PROCESSES)]
    with ctx.Pool(PROCESSES) as pool:
        done = pool.map(own_connection_worker, jobs, chunksize=1)
    assert sorted(done) == list(range(PROCESSES))
    _check(conn.table(table_name))


@pytest.mark.only_target("hbpool", reason="a HappyBase connection is one Thrift socket; a child "
                                          "cannot share its parent's")
def test_connection_created_in_parent_used_in_forked_children(connect, table_name):
    parent = connect()
    t = parent.table(table_name)
    t.put(b"before", {b"cf1:a": b"1"})  # the connection is live before the fork
    _INHERITED["conn"] = parent
    try:
        with multiprocessing.get_context("fork").Pool(PROCESSES) as pool:
            done = pool.map(inherited_connection_worker,
                            [(table_name, n) for n in range(PROCESSES)], chunksize=1)
    finally:
        _INHERITED.clear()
    assert sorted(done) == list(range(PROCESSES))
    # the parent's connection still works after its children used their copies
    assert t.row(b"before") == {b"cf1:a": b"1"}
    _check(t)


@pytest.mark.only_target("hbpool", reason="HappyBase's pool opens a Thrift socket at creation; "
                                          "forked children would share it")
def test_connection_pool_created_before_fork(hb, pool_kwargs, table_name):
    cpool = hb.ConnectionPool(4, **pool_kwargs())
    with cpool.connection() as c:
        c.table(table_name).put(b"before", {b"cf1:a": b"1"})
    _INHERITED["pool"] = cpool
    try:
        with multiprocessing.get_context("fork").Pool(PROCESSES) as pool:
            done = pool.map(inherited_pool_worker,
                            [(table_name, n) for n in range(PROCESSES)], chunksize=1)
    finally:
        _INHERITED.clear()
    assert sorted(done) == list(range(PROCESSES))
    with cpool.connection() as c:
        t = c.table(table_name)
        assert t.row(b"before") == {b"cf1:a": b"1"}
        _check(t)
