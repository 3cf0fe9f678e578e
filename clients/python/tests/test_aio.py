"""The asyncio API (hbpool.aio), checked against AIOHappyBase 1.4's behaviour.

Plain pytest tests that drive their coroutines with asyncio.run (no pytest-asyncio)."""

import asyncio
import struct
import time

import pytest

pack = struct.Struct(">q").pack
only_target = pytest.mark.only_target
HBPOOL = "hbpool"
HAPPYBASE = "happybase"


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


async def collect(agen):
    return [item async for item in agen]


async def keys(agen):
    return [k async for k, _ in agen]


class Boom(Exception):
    pass


# --------------------------------------------------------------------------------------------
# Connection

def test_connection_arguments(aio, aconnect):
    with pytest.raises(ValueError):
        aconnect(compat="0.80")
    with pytest.raises(ValueError):
        aconnect(transport="http2")
    with pytest.raises(ValueError):
        aconnect(protocol="json")
    with pytest.raises(TypeError):
        aconnect(table_prefix=1)


def test_open_close_and_context_manager(aconnect, table_name):
    async def main():
        c = aconnect()
        await c.open()
        await c.open()  # no-op
        assert table_name.encode() in await c.tables()
        c.close()
        c.close()
        with pytest.raises(Exception):
            await c.tables()
        await c.open()
        assert table_name.encode() in await c.tables()
        c.close()
        async with aconnect() as c2:
            t = c2.table(table_name)
            assert t.name == table_name.encode()
            await t.put(b"r", {b"cf1:a": b"1"})
            assert await t.row(b"r") == {b"cf1:a": b"1"}
    run(main())


def test_admin_calls(aconnect, new_name, table_name, aio_errors):
    async def main():
        async with aconnect() as c:
            name = new_name()
            await c.create_table(name, {"cf1": {"max_versions": 2}, "cf2:": {}})
            try:
                with pytest.raises(aio_errors.AlreadyExists):
                    await c.create_table(name, {"cf1": {}})
                with pytest.raises(ValueError):
                    await c.create_table(new_name(), {})
                with pytest.raises(TypeError):
                    await c.create_table(new_name(), ["cf1"])
                t = c.table(name)
                fams = await t.families()
                assert set(fams) == {b"cf1", b"cf2"}
                assert fams[b"cf1"]["name"] == b"cf1:"
                assert fams[b"cf1"]["max_versions"] == 2
                assert fams[b"cf2"]["max_versions"] == 3
                (region,) = await t.regions()
                assert set(region) == {"start_key", "end_key", "id", "name", "version",
                                       "server_name", "port"}
                assert isinstance(region["port"], int)
                assert await c.is_table_enabled(name) is True
                await c.disable_table(name)
                assert await c.is_table_enabled(name) is False
                await c.enable_table(name)
                assert await c.is_table_enabled(name) is True
                assert await c.compact_table(name) is None
                assert await c.compact_table(name, major=True) is None
                with pytest.raises(aio_errors.IOError):
                    await c.delete_table(name)  # enabled
            finally:
                await c.delete_table(name, disable=True)
            assert name.encode() not in await c.tables()
            with pytest.raises(aio_errors.IOError):
                await c.table(new_name()).row(b"r")
            with pytest.raises(aio_errors.IOError):
                await c.delete_table(new_name())
            assert table_name.encode() in await c.tables()
    run(main())


def test_table_prefix(aconnect, new_name, raw_drop):
    prefix = new_name() + "a"

    async def main():
        async with aconnect(table_prefix=prefix) as c, aconnect() as plain:
            assert c.table("t").name == (prefix + "_t").encode()
            assert c.table("t", use_prefix=False).name == b"t"
            await c.create_table("t", {"cf": {}})
            assert (prefix + "_t").encode() in await plain.tables()
            assert await c.tables() == [b"t"]
            await c.table("t").put(b"r", {b"cf:a": b"1"})
            assert await plain.table(prefix + "_t").row(b"r") == {b"cf:a": b"1"}
            await c.delete_table("t", disable=True)
            assert await c.tables() == []
    try:
        run(main())
    finally:
        raw_drop(prefix + "_t")


# --------------------------------------------------------------------------------------------
# Reads and writes

def test_row_rows_cells_columns_timestamps(aconnect, table_name):
    async def main():
        async with aconnect() as c:
            t = c.table(table_name)
            await t.put(b"r", {b"cf1:a": b"v10", b"cf1:": b"E", b"cf2:x": b"X"}, timestamp=10)
            await t.put(b"r", {b"cf1:a": b"v20"}, timestamp=20)
            await t.put(b"r", {b"cf1:a": b"v30"}, timestamp=30)
            assert await t.row(b"r") == {b"cf1:a": b"v30", b"cf1:": b"E", b"cf2:x": b"X"}
            assert await t.row(b"r", columns=[b"cf1:"]) == {b"cf1:": b"E"}
            assert await t.row(b"r", columns=[b"cf1"]) == {b"cf1:a": b"v30", b"cf1:": b"E"}
            assert await t.row(b"r", columns=[b"cf1:a"], timestamp=30,
                               include_timestamp=True) == {b"cf1:a": (b"v20", 20)}
            assert await t.rows([b"r", b"nope"], timestamp=20) == [
                (b"r", {b"cf1:a": b"v10", b"cf1:": b"E", b"cf2:x": b"X"})]
            assert await t.rows([]) == []
            assert await t.rows([b"r"], columns=[b"cf2"], include_timestamp=True) == [
                (b"r", {b"cf2:x": (b"X", 10)})]
            assert await t.cells(b"r", b"cf1:a") == [b"v30", b"v20", b"v10"]
            assert await t.cells(b"r", b"cf1:a", versions=2, include_timestamp=True) == [
                (b"v30", 30), (b"v20", 20)]
            assert await t.cells(b"r", b"cf1:a", timestamp=30) == [b"v20", b"v10"]
            with pytest.raises(ValueError):
                await t.cells(b"r", b"cf1:a", versions=0)
            with pytest.raises(TypeError):
                await t.cells(b"r", b"cf1:a", versions="1")
            with pytest.raises(TypeError):
                await t.row(b"r", timestamp="1")
            with pytest.raises(TypeError):
                await t.row(b"r", columns=b"cf1")
            await t.delete(b"r", columns=[b"cf1:a"], timestamp=20)
            assert await t.cells(b"r", b"cf1:a") == [b"v30"]
            await t.delete(b"r", columns=[b"cf2"])
            assert await t.row(b"r") == {b"cf1:a": b"v30", b"cf1:": b"E"}
            await t.delete(b"r")
            assert await t.row(b"r") == {}
    run(main())


def test_counters_and_append(aconnect, table_name):
    async def main():
        async with aconnect() as c:
            t = c.table(table_name)
            assert await t.counter_get(b"r", b"cf1:c") == 0
            assert await t.row(b"r") == {b"cf1:c": pack(0)}
            assert await t.counter_inc(b"r", b"cf1:c", 5) == 5
            assert await t.counter_dec(b"r", b"cf1:c", 7) == -2
            assert await t.row(b"r") == {b"cf1:c": pack(-2)}
            await asyncio.sleep(0.1)  # increments run ahead of the clock (see test_happybase)
            await t.counter_set(b"r", b"cf1:c", 1000)
            assert await t.counter_get(b"r", b"cf1:c") == 1000
            await t.put(b"r", {b"cf2:n": pack(41)})
            assert await t.counter_inc(b"r", b"cf2:n") == 42
            assert await t.append(b"a", {b"cf1:s": b"ab"}) == {b"cf1:s": b"ab"}
            assert await t.append(b"a", {b"cf1:s": b"cd"}) == {b"cf1:s": b"abcd"}
            got = await t.append(b"a", {b"cf1:s": b"e"}, include_timestamp=True)
            assert list(got) == [b"cf1:s"]
            value, ts = got[b"cf1:s"]
            assert value == b"abcde" and isinstance(ts, int) and ts > 0
    run(main())


@only_target(HBPOOL, reason="check_and_put is hbpool's: neither HappyBase nor AIOHappyBase has it")
def test_check_and_put_races(aconnect, table_name):
    """20 tasks on one connection race to take the same absent cell: exactly one wins."""
    async def main():
        async with aconnect() as c:
            t = c.table(table_name)
            won = await asyncio.gather(*(
                t.check_and_put(b"lock", b"cf1:owner", None, {b"cf1:owner": b"task%d" % i})
                for i in range(20)))
            assert won.count(True) == 1 and won.count(False) == 19
            winner = won.index(True)
            assert await t.row(b"lock") == {b"cf1:owner": b"task%d" % winner}
    run(main())


def test_append_not_before_098(aconnect, table_name):
    async def main():
        async with aconnect(compat="0.96") as c:
            with pytest.raises(NotImplementedError):
                await c.table(table_name).append(b"r", {b"cf1:a": b"x"})
    run(main())


def test_binary_and_str(aconnect, table_name):
    every = bytes(range(256))

    async def main():
        async with aconnect() as c:
            t = c.table(table_name)
            await t.put(every, {b"cf1:" + every: every})
            assert await t.row(every) == {b"cf1:" + every: every}
            await t.put("zeile", {"cf1:q": "\u00e4"})
            assert await t.row("zeile") == {b"cf1:q": "\u00e4".encode()}
    run(main())


# --------------------------------------------------------------------------------------------
# Scans

def test_scan_ranges_prefix_limit_and_batches(aconnect, table_name):
    want = [b"row%03d" % i for i in range(120)]

    async def main():
        async with aconnect() as c:
            t = c.table(table_name)
            async with t.batch() as b:
                for k in want:
                    await b.put(k, {b"cf1:k": k})
                await b.put(b"\x12\xff", {b"cf1:k": b"x"})
                await b.put(b"\x12\xff\x01", {b"cf1:k": b"x"})
                await b.put(b"\x13", {b"cf1:k": b"x"})
            assert await keys(t.scan(batch_size=7, row_prefix=b"row")) == want
            assert await keys(t.scan(row_start=b"row010", row_stop=b"row013")) == want[10:13]
            assert await keys(t.scan(row_prefix=b"row1", batch_size=3)) == want[100:]
            assert await keys(t.scan(limit=5, batch_size=2, row_prefix=b"row")) == want[:5]
            assert await keys(t.scan(limit=3, batch_size=50, row_prefix=b"row")) == want[:3]
            assert await keys(t.scan(row_prefix=b"\x12\xff")) == [b"\x12\xff", b"\x12\xff\x01"]
    run(main())


def test_scan_reverse_prefix(aconnect, table_name, target):
    async def main():
        async with aconnect() as c:
            t = c.table(table_name)
            for k in (b"o", b"p", b"pa", b"pb", b"q"):
                await t.put(k, {b"cf1:k": k})
            got = await keys(t.scan(row_prefix=b"p", reverse=True))
            if target == HAPPYBASE:
                assert got == [b"q", b"pb", b"pa"]  # AIOHappyBase keeps HappyBase's bug
            else:
                assert got == [b"pb", b"pa", b"p"]  # deliberate difference
            assert await keys(t.scan(reverse=True, row_start=b"pb", row_stop=b"o")) == [
                b"pb", b"pa", b"p"]
    run(main())


def test_scan_options(aconnect, table_name):
    async def main():
        async with aconnect() as c:
            t = c.table(table_name)
            cols = {b"cf1:c%d" % i: b"%d" % i for i in range(5)}
            await t.put(b"wide", cols, timestamp=100)
            await t.put(b"wide", {b"cf2:z": b"late"}, timestamp=200)
            parts = await collect(t.scan(scan_batching=2, columns=[b"cf1"]))
            assert [k for k, _ in parts] == [b"wide"] * 3
            assert [len(d) for _, d in parts] == [2, 2, 1]
            assert await collect(t.scan(filter=b"KeyOnlyFilter()", columns=[b"cf2"])) == [
                (b"wide", {b"cf2:z": b""})]
            assert await collect(t.scan(timestamp=200, columns=[b"cf2"])) == []
            got = await collect(t.scan(timestamp=101, include_timestamp=True))
            assert got == [(b"wide", {c: (v, 100) for c, v in cols.items()})]
            ((_, data),) = await collect(t.scan(sorted_columns=True))
            assert list(data) == sorted(list(cols) + [b"cf2:z"])
            with pytest.raises(ValueError):
                await collect(t.scan(batch_size=0))
            with pytest.raises(ValueError):
                await collect(t.scan(limit=0))
            with pytest.raises(ValueError):
                await collect(t.scan(scan_batching=0))
            with pytest.raises(TypeError):
                await collect(t.scan(row_prefix=b"a", row_stop=b"b"))
        async with aconnect(compat="0.94") as c94:
            with pytest.raises(NotImplementedError):
                await collect(c94.table(table_name).scan(sorted_columns=True))
        async with aconnect(compat="0.96") as c96:
            with pytest.raises(NotImplementedError):
                await collect(c96.table(table_name).scan(reverse=True))
        async with aconnect(compat="0.90") as c90:
            with pytest.raises(NotImplementedError):
                await collect(c90.table(table_name).scan(filter=b"KeyOnlyFilter()"))
            assert await keys(c90.table(table_name).scan(row_start=b"a", row_stop=b"x")) == [
                b"wide"]
    run(main())


def test_scan_early_abandon_closes_scanner(aconnect, table_name, target, request):
    stats = request.getfixturevalue("stats") if target == HBPOOL else None

    async def main():
        async with aconnect() as c:
            t = c.table(table_name)
            async with t.batch() as b:
                for i in range(20):
                    await b.put(b"r%02d" % i, {b"cf1:a": b"x"})
            agen = t.scan(batch_size=3)
            assert (await agen.__anext__())[0] == b"r00"
            assert (await agen.__anext__())[0] == b"r01"
            if stats:
                assert stats()["scanners"] >= 1
            await agen.aclose()
            if stats:
                assert stats()["scanners"] == 0
            assert len(await collect(t.scan(batch_size=4))) == 20
            if stats:
                assert stats()["scanners"] == 0
    run(main())


# --------------------------------------------------------------------------------------------
# Batches

def test_batch_send_transaction_and_errors(aconnect, table_name, target):
    async def main():
        async with aconnect() as c:
            t = c.table(table_name)
            async with t.batch() as b:
                await b.put(b"r1", {b"cf1:a": b"1"})
                await b.put(b"r1", {b"cf1:a": b"2"})  # same cell: last wins
                assert await t.row(b"r1") == {}
            assert await t.row(b"r1") == {b"cf1:a": b"2"}
            with pytest.raises(Boom):
                async with t.batch(transaction=True) as b:
                    await b.put(b"r2", {b"cf1:a": b"1"})
                    raise Boom()
            assert await t.row(b"r2") == {}
            with pytest.raises(Boom):
                async with t.batch() as b:
                    await b.put(b"r3", {b"cf1:a": b"1"})
                    raise Boom()
            assert await t.row(b"r3") == {b"cf1:a": b"1"}
            with pytest.raises(TypeError):
                t.batch(transaction=True, batch_size=5)
            with pytest.raises(ValueError):
                t.batch(batch_size=0)
            with pytest.raises(TypeError):
                t.batch(timestamp="5")
            async with t.batch(timestamp=77, wal=False) as b:
                await b.put(b"r4", {b"cf1:a": b"ts"})
                await b.put(b"r4", {b"cf2:b": b"w"}, wal=True)
            assert await t.row(b"r4", include_timestamp=True) == {
                b"cf1:a": (b"ts", 77), b"cf2:b": (b"w", 77)}
            b = t.batch()
            await b.put(b"r6", {b"cf1:a": b"1"})
            await b.delete(b"r1", [b"cf1:a"])
            assert await t.row(b"r6") == {}
            await b.send()
            assert await t.row(b"r6") == {b"cf1:a": b"1"}
            assert await t.row(b"r1") == {}
    run(main())


@only_target(HBPOOL, reason="AIOHappyBase sends the colliding deletes first, but in the same "
                            "millisecond as the put, so whether the put survives is down to timing")
def test_batch_delete_then_put_same_row_keeps_put(aconnect, table_name):
    async def main():
        async with aconnect() as c:
            t = c.table(table_name)
            await t.put(b"r5", {b"cf1:old": b"o", b"cf2:old": b"o"})
            async with t.batch() as b:
                await b.delete(b"r5")
                await b.put(b"r5", {b"cf1:new": b"n"})
            assert await t.row(b"r5") == {b"cf1:new": b"n"}
            async with t.batch() as b:
                await b.delete(b"r5", [b"cf1:new"])
                await b.put(b"r5", {b"cf1:new": b"again"})
            assert await t.row(b"r5") == {b"cf1:new": b"again"}
    run(main())


def test_batch_auto_send_and_counters(aconnect, table_name):
    async def main():
        async with aconnect() as c:
            t = c.table(table_name)
            async with t.batch(batch_size=4) as b:
                await b.put(b"a1", {b"cf1:a": b"1", b"cf1:b": b"1"})
                await b.put(b"a2", {b"cf1:a": b"1"})
                assert await keys(t.scan(row_prefix=b"a")) == []
                await b.put(b"a3", {b"cf1:a": b"1"})  # 4 mutations: sent
                assert await keys(t.scan(row_prefix=b"a")) == [b"a1", b"a2", b"a3"]
                await b.put(b"a4", {b"cf1:a": b"1"})
                assert await t.row(b"a4") == {}
            assert await t.row(b"a4") == {b"cf1:a": b"1"}
            async with t.batch() as b:
                await b.counter_inc(b"n", b"cf1:c", 5)
                await b.counter_inc(b"n", b"cf1:c")
                await b.counter_dec(b"n", b"cf1:c", 2)
                await b.counter_inc(b"m", b"cf2:c", 3)
                assert await t.row(b"n") == {}
            assert await t.counter_get(b"n", b"cf1:c") == 4
            assert await t.counter_get(b"m", b"cf2:c") == 3
    run(main())


# --------------------------------------------------------------------------------------------
# ConnectionPool

def test_pool_size_checks(aio, pool_kwargs):
    with pytest.raises(TypeError):
        aio.ConnectionPool("1", **pool_kwargs())
    with pytest.raises(ValueError):
        aio.ConnectionPool(0, **pool_kwargs())


def test_pool_reentrant_per_task_and_distinct_across_tasks(aio, pool_kwargs, table_name):
    async def main():
        async with aio.ConnectionPool(3, **pool_kwargs()) as pool:
            async with pool.connection() as c1:
                async with pool.connection() as c2:
                    assert c2 is c1
                assert table_name.encode() in await c1.tables()

            held = []
            all_in = asyncio.Event()

            async def hold():
                async with pool.connection() as c:
                    held.append(c)
                    if len(held) == 3:
                        all_in.set()
                    await asyncio.wait_for(all_in.wait(), 10)
                    await c.table(table_name).put(b"k%d" % id(c), {b"cf1:a": b"1"})
            await asyncio.gather(*(asyncio.ensure_future(hold()) for _ in range(3)))
            assert len({id(c) for c in held}) == 3
    run(main())


def test_pool_no_connections_available(aio, pool_kwargs):
    async def main():
        async with aio.ConnectionPool(1, **pool_kwargs()) as pool:
            entered = asyncio.Event()
            release = asyncio.Event()

            async def hold():
                async with pool.connection():
                    entered.set()
                    await release.wait()
            holder = asyncio.ensure_future(hold())
            await entered.wait()

            async def try_get():
                async with pool.connection(timeout=0.3):
                    return True
            t0 = time.monotonic()
            with pytest.raises(aio.NoConnectionsAvailable):
                await asyncio.ensure_future(try_get())
            assert 0.25 <= time.monotonic() - t0 < 5
            release.set()
            await holder
            assert await asyncio.ensure_future(try_get()) is True
    run(main())


def test_pool_many_tasks(aio, pool_kwargs, table_name):
    async def main():
        async with aio.ConnectionPool(4, **pool_kwargs()) as pool:
            async def work(n):
                async with pool.connection() as c:
                    t = c.table(table_name)
                    for i in range(5):
                        key = b"p%03d-%d" % (n, i)
                        await t.put(key, {b"cf1:v": key})
                        assert await t.row(key) == {b"cf1:v": key}
            await asyncio.gather(*(asyncio.ensure_future(work(n)) for n in range(30)))
            async with pool.connection() as c:
                assert len(await collect(c.table(table_name).scan(row_prefix=b"p"))) == 150
    run(main())


@only_target(HBPOOL, reason="one AIOHappyBase connection cannot serve concurrent tasks; "
                            "hbpool's pipelines requests by id")
def test_many_tasks_share_one_connection(aconnect, table_name):
    async def main():
        async with aconnect() as c:
            t = c.table(table_name)

            async def work(n):
                key = b"task%03d" % n
                await t.put(key, {b"cf1:v": key, b"cf2:n": b"%d" % n})
                assert await t.row(key) == {b"cf1:v": key, b"cf2:n": b"%d" % n}
                assert await t.cells(key, b"cf1:v") == [key]
                await t.counter_inc(b"shared", b"cf1:c")
                rows = await collect(t.scan(row_start=key, row_stop=key + b"\x00"))
                assert rows == [(key, {b"cf1:v": key, b"cf2:n": b"%d" % n})]
                return n
            done = await asyncio.gather(*(work(n) for n in range(200)))
            assert sorted(done) == list(range(200))
            assert await t.counter_get(b"shared", b"cf1:c") == 200
            assert len(await collect(t.scan(row_prefix=b"task", batch_size=37))) == 200
    run(main())
