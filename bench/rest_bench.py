"""rest_bench: HBase's REST server and hbpoold side by side, from the same language and client
style: Python's http.client with keep-alive against REST's JSON, and plain JSON lines on hbpoold's
Unix socket (no hbpool package). Run by bench/run-rest-bench.sh, which starts both.

Phases, each at 1 and at --procs processes (every process with its own connection), the two sides
alternating: single-row gets, multi-row gets (REST's multiget, hbpoold's rows) of --multi rows,
a scan of the whole table (REST's scanner, hbpoold's scan pages, --scan-batch rows a call) and
single-row puts. Every reply is checked against the rows written. Prints each phase's figures and
ratios (hbpoold / REST), and last one line "summary: {json}".
"""

import argparse
import base64
import http.client
import json
import multiprocessing
import socket
import statistics
import sys
import time
import urllib.parse

ROW_FMT = "row%07d"
COLUMN = "cf:v"


def value_of(i):
    return ("v%07d" % i) * 8  # 64 bytes


def b64(text):
    return base64.b64encode(text.encode()).decode()


def unb64(text):
    return base64.b64decode(text).decode()


# ------------------------------------------------------------------------------------------------
# hbpoold: JSON lines on its socket.

class Hbpool:
    def __init__(self, path, table):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.reader = self.sock.makefile("rb")
        self.table = table
        self.next_id = 0

    def call(self, method, params):
        self.next_id += 1
        line = json.dumps({"jsonrpc": "2.0", "id": self.next_id, "method": method,
                           "params": params}) + "\n"
        self.sock.sendall(line.encode())
        reply = json.loads(self.reader.readline())
        if "error" in reply:
            raise RuntimeError("hbpoold: %s: %s" % (method, reply["error"]))
        return reply["result"]

    def get(self, i):
        row = self.call("row", {"table": self.table, "row": ROW_FMT % i})
        return row.get(COLUMN)

    def multiget(self, keys):
        found = self.call("rows", {"table": self.table, "rows": [ROW_FMT % i for i in keys]})
        return [cells[COLUMN] for _, cells in found]

    def scan(self, batch):
        params = {"table": self.table, "batch_size": batch}
        n = 0
        while params is not None:
            page = self.call("scan", params)
            n += len(page["rows"])
            params = page["next"]
        return n

    def put(self, i, value):
        self.call("put", {"table": self.table, "row": ROW_FMT % i, "data": {COLUMN: value}})


# ------------------------------------------------------------------------------------------------
# HBase REST: its JSON over HTTP/1.1 keep-alive; keys, columns and values are base64.

class Rest:
    def __init__(self, port, table):
        self.conn = http.client.HTTPConnection("127.0.0.1", port)
        self.table = table

    def request(self, method, path, body=None, want=(200,)):
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(body)
        self.conn.request(method, path, body, headers)
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status not in want:
            raise RuntimeError("REST %s %s: %d %s" % (method, path, resp.status, data[:200]))
        return resp, data

    @staticmethod
    def values(data):
        return [unb64(cell["$"]) for row in json.loads(data)["Row"] for cell in row["Cell"]]

    def get(self, i):
        _, data = self.request("GET", "/%s/%s/%s" % (self.table, ROW_FMT % i, COLUMN))
        return self.values(data)[0]

    def multiget(self, keys):
        query = "&".join("row=" + ROW_FMT % i for i in keys)
        _, data = self.request("GET", "/%s/multiget?%s" % (self.table, query))
        return self.values(data)

    def scan(self, batch):
        resp, _ = self.request("POST", "/%s/scanner" % self.table, {"batch": batch}, want=(201,))
        location = urllib.parse.urlsplit(resp.getheader("Location")).path
        n = 0
        while True:
            resp, data = self.request("GET", location, want=(200, 204))
            if resp.status == 204:
                break
            n += len(json.loads(data)["Row"])
        self.request("DELETE", location)
        return n

    def put(self, i, value):
        row = ROW_FMT % i
        body = {"Row": [{"key": b64(row), "Cell": [{"column": b64(COLUMN), "$": b64(value)}]}]}
        self.request("PUT", "/%s/%s/%s" % (self.table, row, COLUMN), body)


# ------------------------------------------------------------------------------------------------
# Phases.

def client(args, side):
    return Hbpool(args.socket, args.table) if side == "hbpool" else Rest(args.rest_port,
                                                                          args.table)


def worker(args, side, phase, seed, seconds, out):
    """Runs phase for seconds; puts (operations, rows) done on out. Checks every reply."""
    c = client(args, side)
    ops = rows = 0
    i = seed * 7919
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        i = (i + 7) % args.rows
        if phase == "get":
            got = c.get(i)
            assert got == value_of(i), (side, i, got)
            rows += 1
        elif phase == "multiget":
            keys = [(i + k * 13) % args.rows for k in range(args.multi)]
            got = c.multiget(keys)
            assert got == [value_of(k) for k in keys], (side, keys[:3], got[:3])
            rows += len(keys)
        elif phase == "scan":
            got = c.scan(args.scan_batch)
            assert got == args.rows, (side, got)
            rows += got
        else:
            c.put(args.rows + seed * 1000000 + ops, value_of(i))
            rows += 1
        ops += 1
    out.put((ops, rows))


def run_phase(args, side, phase, procs):
    """Rows (or operations) per second of procs processes running phase at once."""
    out = multiprocessing.Queue()
    seconds = args.scan_seconds if phase == "scan" else args.seconds
    ps = [multiprocessing.Process(target=worker, args=(args, side, phase, s, seconds, out))
          for s in range(procs)]
    start = time.monotonic()
    for p in ps:
        p.start()
    results = [out.get(timeout=seconds + 120) for _ in ps]
    for p in ps:
        p.join()
        if p.exitcode != 0:
            raise RuntimeError("%s %s: a process failed (exit %s)" % (side, phase, p.exitcode))
    elapsed = time.monotonic() - start
    return sum(r[1] for r in results) / elapsed


def load(args):
    c = Hbpool(args.socket, args.table)
    for start in range(0, args.rows, 1000):
        ops = [{"op": "put", "row": ROW_FMT % i, "data": {COLUMN: value_of(i)}}
               for i in range(start, min(start + 1000, args.rows))]
        c.call("batch", {"table": args.table, "operations": ops})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", required=True)
    ap.add_argument("--rest-port", type=int, required=True)
    ap.add_argument("--table", required=True)
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--procs", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--scan-seconds", type=float, default=4)
    ap.add_argument("--multi", type=int, default=10)
    ap.add_argument("--scan-batch", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--phases", default="get,multiget,scan,put")
    args = ap.parse_args()
    load(args)
    summary = {}
    for phase in args.phases.split(","):
        for procs in (1, args.procs):
            rates = {"hbpool": [], "rest": []}
            for r in range(args.rounds):
                order = ("hbpool", "rest") if r % 2 == 0 else ("rest", "hbpool")
                for side in order:
                    rates[side].append(run_phase(args, side, phase, procs))
            h, s = statistics.median(rates["hbpool"]), statistics.median(rates["rest"])
            unit = "ops/s" if phase in ("get", "put") else "rows/s"
            print("%-8s %2d procs: hbpoold %9.0f %s, REST %9.0f %s: %.2fx (rounds: %s / %s)"
                  % (phase, procs, h, unit, s, unit, h / s,
                     " ".join("%.0f" % x for x in rates["hbpool"]),
                     " ".join("%.0f" % x for x in rates["rest"])), flush=True)
            key = "%s_%d" % (phase, procs)
            summary[key + "_hbpool"] = round(h)
            summary[key + "_rest"] = round(s)
            summary[key + "_ratio"] = round(h / s, 2)
    print("summary: " + json.dumps(summary))


if __name__ == "__main__":
    sys.exit(main())
