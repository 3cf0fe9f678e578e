"""hbpool's Python client against HappyBase from PyPI, in one run on one machine.

1. Throughput: one process makes single-row gets through hbpool.happybase (the daemon's socket)
   and through happybase (straight to the gateway), in rounds that alternate (A B A B ...) after
   one unmeasured round of each; every reply is compared with what was written.
2. Concurrency: --procs processes (16) make such gets at once, each with its own connection, for
   --seconds (3) per round; the aggregate ops/s of each side, rounds alternating as above.
3. Start-up: wall time of a short-lived process that makes one get: python -c with
   hbpool.happybase, python -c with happybase, the C command `hbpool get`, and with
   --php-client php -r with the PHP client; every run's output is compared with the row written.

Run by bench/run-python-bench.sh, which starts the daemon and provides the interpreter (a venv
holding happybase) and PYTHONPATH (clients/python). The gateway comes from
$HBPOOL_TEST_THRIFT_HOST/PORT/FRAMED/COMPACT, as in happybase_bench.py.
"""
import argparse
import hashlib
import json
import math
import multiprocessing
import os
import random
import signal
import statistics
import subprocess
import sys
import time

import happybase

import hbpool.happybase

FAMILY = "cf"
COLUMNS = [f"{FAMILY}:c{i}".encode() for i in range(4)]
VALUE_BYTES = 25  # 4 columns of 25 bytes: 100 bytes of values per row

# The short-lived Python processes (argv: SOCKET TABLE ROW, and HOST PORT TRANSPORT PROTOCOL
# TABLE ROW) print the row they read as the repr of its sorted items, which the parent compares.
CHILD_HBPOOL = """\
import sys
import hbpool.happybase as happybase
conn = happybase.Connection(socket=sys.argv[1])
print(sorted(conn.table(sys.argv[2]).row(sys.argv[3].encode()).items()))
"""
# php -r with the PHP client (clients/php/hbpool.php), when php is there.
CHILD_PHP = """\
require $argv[1];
$row = (new Hbpool\\Client($argv[2]))->row($argv[3], $argv[4]);
ksort($row);
echo json_encode($row), "\\n";
"""
CHILD_HAPPYBASE = """\
import sys
import happybase
conn = happybase.Connection(host=sys.argv[1], port=int(sys.argv[2]), transport=sys.argv[3],
                            protocol=sys.argv[4])
print(sorted(conn.table(sys.argv[5]).row(sys.argv[6].encode()).items()))
"""


class Mismatch(AssertionError):
    pass


def gateway():
    env = os.environ
    return {
        "host": env.get("HBPOOL_TEST_THRIFT_HOST", "127.0.0.1"),
        "port": int(env.get("HBPOOL_TEST_THRIFT_PORT", "9090")),
        "transport": "framed" if env.get("HBPOOL_TEST_THRIFT_FRAMED") == "1" else "buffered",
        "protocol": "compact" if env.get("HBPOOL_TEST_THRIFT_COMPACT") == "1" else "binary",
    }


def row_key(i):
    return b"pyb-%05d" % i


def row_data(key):
    """The cells of a row: distinct printable values derived from the key and column."""
    return {col: hashlib.sha256(key + b"/" + col).hexdigest()[:VALUE_BYTES].encode()
            for col in COLUMNS}


def load(conn, table_name, rows):
    conn.create_table(table_name, {FAMILY: {"max_versions": 1}})
    table = conn.table(table_name)
    expected = {}
    with table.batch(batch_size=500) as batch:
        for i in range(rows):
            key = row_key(i)
            expected[key] = row_data(key)
            batch.put(key, expected[key])
    return expected


def get_round(table, keys, expected):
    """Gets every key in order, checking each reply; returns (ops/s, client CPU us per get)."""
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    for key in keys:
        row = table.row(key)
        if row != expected[key]:
            raise Mismatch(f"row {key!r}: read {row!r}, wrote {expected[key]!r}")
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    return len(keys) / wall, cpu * 1e6 / len(keys)


def percentile(samples, p):
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def spread(samples):
    return f"{statistics.median(samples):,.0f} [{min(samples):,.0f}..{max(samples):,.0f}]"


def throughput(args, expected, gw):
    rng = random.Random(1)
    keys = [row_key(rng.randrange(args.rows)) for _ in range(args.gets)]
    sides = {
        "hbpool": hbpool.happybase.Connection(socket=args.socket).table(args.table),
        "happybase": happybase.Connection(**gw).table(args.table),
    }
    print(f"throughput: {args.gets} single-row gets per round over {args.rows} rows, "
          f"{len(COLUMNS)} columns, {len(COLUMNS) * VALUE_BYTES} bytes of values per row")
    for name, table in sides.items():
        ops, _ = get_round(table, keys, expected)
        print(f"  warm-up    {name:9} {ops:9,.0f} ops/s (not counted)")
    results = {name: {"ops": [], "cpu": []} for name in sides}
    for rnd in range(1, args.rounds + 1):
        # A B, then B A: neither side always goes first.
        order = list(sides) if rnd % 2 else list(reversed(sides))
        for name in order:
            ops, cpu = get_round(sides[name], keys, expected)
            results[name]["ops"].append(ops)
            results[name]["cpu"].append(cpu)
            print(f"  round {rnd}    {name:9} {ops:9,.0f} ops/s, {cpu:6.1f} us CPU per get")
    if args.profile:
        profile_hbpool(sides["hbpool"], keys, expected)
    return results


def gets_for(connect, table_name, keys, expected, seconds, ready, go, out):
    """One process of the concurrency phase: connect, wait for the start, then get and check
    rows until the time is up; puts the number of gets made on out."""
    table = connect().table(table_name)
    table.row(keys[0])
    ready.wait()
    go.wait()
    done, deadline, i = 0, time.perf_counter() + seconds, 0
    while time.perf_counter() < deadline:
        key = keys[i % len(keys)]
        i += 1
        row = table.row(key)
        if row != expected[key]:
            out.put(("mismatch", f"row {key!r}: read {row!r}, wrote {expected[key]!r}"))
            return
        done += 1
    out.put(("ok", done))


def parallel_round(connect, args, expected, seed):
    """Aggregate ops/s of args.procs processes making gets at once for args.seconds."""
    ctx = multiprocessing.get_context("fork")
    ready, go = ctx.Barrier(args.procs + 1), ctx.Event()
    out = ctx.Queue()
    rng = random.Random(seed)
    procs = []
    for _ in range(args.procs):
        keys = [row_key(rng.randrange(args.rows)) for _ in range(1000)]
        procs.append(ctx.Process(target=gets_for, args=(connect, args.table, keys, expected,
                                                        args.seconds, ready, go, out)))
    for p in procs:
        p.start()
    ready.wait()
    t0 = time.perf_counter()
    go.set()
    total = 0
    for _ in procs:
        kind, value = out.get(timeout=args.seconds + 120)
        if kind == "mismatch":
            raise Mismatch(value)
        total += value
    wall = time.perf_counter() - t0
    for p in procs:
        p.join()
    return total / wall


def concurrency(args, expected, gw):
    sides = {
        "hbpool": lambda: hbpool.happybase.Connection(socket=args.socket),
        "happybase": lambda: happybase.Connection(**gw),
    }
    print(f"concurrency: {args.procs} processes making single-row gets at once for "
          f"{args.seconds} s per round, each with its own connection")
    results = {name: [] for name in sides}
    for rnd in range(0, args.rounds + 1):
        order = list(sides) if rnd % 2 else list(reversed(sides))
        for name in order:
            ops = parallel_round(sides[name], args, expected, rnd)
            if rnd == 0:
                print(f"  warm-up    {name:9} {ops:9,.0f} ops/s (not counted)")
                continue
            results[name].append(ops)
            print(f"  round {rnd}    {name:9} {ops:9,.0f} ops/s")
    return results


def profile_hbpool(table, keys, expected):
    import cProfile
    import pstats
    prof = cProfile.Profile()
    prof.runcall(get_round, table, keys, expected)
    print("cProfile of one hbpool round (sorted by own time):")
    pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(25)


def startup(args, expected, gw):
    py = sys.executable
    gwargs = [gw["host"], str(gw["port"]), gw["transport"], gw["protocol"]]
    variants = {
        "a": ("python -c, hbpool.happybase",
              lambda key: [py, "-c", CHILD_HBPOOL, args.socket, args.table, key]),
        "b": ("python -c, happybase (PyPI)",
              lambda key: [py, "-c", CHILD_HAPPYBASE, *gwargs, args.table, key]),
        "c": ("hbpool get (C CLI)",
              lambda key: [args.cli, "-s", args.socket, "--json", "get", args.table, key]),
    }
    if args.php_client:
        variants["d"] = ("php -r, hbpool.php", lambda key: [
            "php", "-r", CHILD_PHP, "--", args.php_client, args.socket, args.table, key])

    def check(name, key, out):
        want = expected[key.encode()]
        columns = {c.decode(): v.decode() for c, v in sorted(want.items())}
        if name == "c":
            ok = json.loads(out) == {"row": key, "columns": columns}
        elif name == "d":
            ok = json.loads(out) == columns
        else:
            ok = out.strip() == repr(sorted(want.items()))
        if not ok:
            raise Mismatch(f"{variants[name][0]}, row {key}: printed {out!r}")

    def run(name, key):
        argv = variants[name][1](key)
        t0 = time.perf_counter()
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=60)
        elapsed = (time.perf_counter() - t0) * 1e3
        if proc.returncode != 0:
            raise RuntimeError(f"{variants[name][0]} exited {proc.returncode}: {proc.stderr}")
        check(name, key, proc.stdout)
        return elapsed

    print(f"start-up: {args.runs} runs of each short-lived process (one get, checked), "
          f"after 2 unmeasured runs of each")
    times = {name: [] for name in variants}
    for i in range(-2, args.runs):
        key = row_key((i * 37) % args.rows).decode()
        # Rotate the order so that no variant always follows the same one.
        names = list(variants)
        names = names[i % len(names):] + names[:i % len(names)]
        for name in names:
            ms = run(name, key)
            if i >= 0:
                times[name].append(ms)
    return {name: (variants[name][0], samples) for name, samples in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--socket", required=True, help="hbpoold's Unix socket")
    parser.add_argument("--cli", required=True, help="the hbpool command (clients/cli/hbpool)")
    parser.add_argument("--table", default=f"hbpool_pybench_{os.getpid()}",
                        help="table to create, fill and delete (default: hbpool_pybench_PID)")
    parser.add_argument("--rows", type=int, default=1000, help="rows written (1000)")
    parser.add_argument("--gets", type=int, default=10000, help="gets per round (10000)")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds per client (3)")
    parser.add_argument("--php-client", help="the PHP client (clients/php/hbpool.php): also time "
                        "php -r doing one get with it")
    parser.add_argument("--runs", type=int, default=20,
                        help="runs of each short-lived process (20)")
    parser.add_argument("--procs", type=int, default=16,
                        help="processes of the concurrency phase (16)")
    parser.add_argument("--seconds", type=int, default=3,
                        help="seconds per round of the concurrency phase (3)")
    parser.add_argument("--profile", action="store_true",
                        help="also profile one hbpool round with cProfile")
    args = parser.parse_args()
    for opt in ("rows", "gets", "rounds", "runs", "procs", "seconds"):
        if getattr(args, opt) < 1:
            parser.error(f"--{opt} must be at least 1")

    # SIGTERM unwinds like Ctrl-C, so that the table is deleted.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    gw = gateway()
    admin = happybase.Connection(**gw)
    print(f"python {sys.version.split()[0]} ({sys.executable}), happybase "
          f"{getattr(happybase, '__version__', '?')} from {os.path.dirname(happybase.__file__)}, "
          f"hbpool from {os.path.dirname(hbpool.__file__)}; table {args.table}")
    try:
        expected = load(admin, args.table, args.rows)
        tput = throughput(args, expected, gw)
        conc = concurrency(args, expected, gw)
        start = startup(args, expected, gw)
    finally:
        # The run outlasts a default gateway's 60 s idle timeout: the load's connection is gone.
        admin.close()
        admin = happybase.Connection(**gw)
        try:
            admin.delete_table(args.table, disable=True)
        except Exception as exc:  # the table may not have been created
            print(f"could not delete table {args.table}: {exc}", file=sys.stderr)
        admin.close()

    hb, pb = tput["happybase"], tput["hbpool"]
    print()
    print(f"{'single-row gets, one process':34} {'hbpool':>24} {'happybase':>24} {'ratio':>7}")
    print(f"{'  ops/s, median [min..max]':34} {spread(pb['ops']):>24} {spread(hb['ops']):>24} "
          f"{statistics.median(pb['ops']) / statistics.median(hb['ops']):6.2f}x")
    print(f"{'  client CPU us per get, median':34} {statistics.median(pb['cpu']):>24.1f} "
          f"{statistics.median(hb['cpu']):>24.1f} "
          f"{statistics.median(pb['cpu']) / statistics.median(hb['cpu']):6.2f}x")
    cp, ch = statistics.median(conc["hbpool"]), statistics.median(conc["happybase"])
    print(f"{f'gets, {args.procs} processes: ops/s':34} {spread(conc['hbpool']):>24} "
          f"{spread(conc['happybase']):>24} {cp / ch:6.2f}x")
    print(f"{'process doing one get (ms)':34} {'median':>10} {'p90':>10} {'median/b':>9} "
          f"{'p90/b':>7}")
    b_med = statistics.median(start["b"][1])
    b_p90 = percentile(start["b"][1], 90)
    for name, (label, samples) in start.items():
        med, p90 = statistics.median(samples), percentile(samples, 90)
        print(f"  ({name}) {label:29} {med:10.1f} {p90:10.1f} {med / b_med:8.2f}x "
              f"{p90 / b_p90:6.2f}x")
    print("ratio hbpool/happybase for ops/s: above 1 means hbpool is faster; for CPU and times: "
          "below 1 means hbpool is cheaper or faster")
    ops_p, ops_h = statistics.median(pb["ops"]), statistics.median(hb["ops"])
    one = {name: statistics.median(samples) for name, (_, samples) in start.items()}
    summary = {
        "python_gets_ratio_1proc": round(ops_p / ops_h, 3),
        "python_gets_per_s_1proc_hbpool": round(ops_p),
        "python_gets_per_s_1proc_happybase": round(ops_h),
        "python_cpu_us_per_get_1proc_hbpool": round(statistics.median(pb["cpu"]), 1),
        "python_cpu_us_per_get_1proc_happybase": round(statistics.median(hb["cpu"]), 1),
        f"python_gets_ratio_{args.procs}proc": round(cp / ch, 3),
        f"python_gets_per_s_{args.procs}proc_hbpool": round(cp),
        f"python_gets_per_s_{args.procs}proc_happybase": round(ch),
        "one_get_process_ms_hbpool": round(one["a"], 1),
        "one_get_process_ms_happybase": round(one["b"], 1),
        "one_get_process_ms_cli": round(one["c"], 1),
    }
    if "d" in one:
        summary["one_get_process_ms_php"] = round(one["d"], 1)
    print("summary: " + json.dumps(summary, sort_keys=True, separators=(",", ":")))


if __name__ == "__main__":
    try:
        main()
    except Mismatch as exc:
        print(f"*** wrong reply: {exc}", file=sys.stderr)
        sys.exit(1)
