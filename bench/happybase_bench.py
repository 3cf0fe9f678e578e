"""The same gets and scans as client_bench.c, made with HappyBase: the baseline of the run."""
import os
import statistics
import time

import happybase

GET_ROUNDS = 3000
SCAN_ROUNDS = 40


def report(name, samples):
    samples.sort()
    print(f"{name}_mean_us={statistics.fmean(samples):.1f}")
    print(f"{name}_p50_us={samples[len(samples) // 2]:.1f}")
    print(f"{name}_p99_us={samples[len(samples) * 99 // 100]:.1f}")


def main():
    conn = happybase.Connection(
        host=os.environ.get("HBPOOL_TEST_THRIFT_HOST", "127.0.0.1"),
        port=int(os.environ.get("HBPOOL_TEST_THRIFT_PORT", "9090")),
        transport="framed" if os.environ.get("HBPOOL_TEST_THRIFT_FRAMED") == "1" else "buffered",
        protocol="compact" if os.environ.get("HBPOOL_TEST_THRIFT_COMPACT") == "1" else "binary",
    )
    table = conn.table("hbpool_bench")
    times = []
    for i in range(-200, GET_ROUNDS):
        if i == 0:
            cpu0 = time.process_time()
        t0 = time.perf_counter()
        row = table.row(b"get-row")
        if i >= 0:
            times.append((time.perf_counter() - t0) * 1e6)
        assert len(row) == 10
    print(f"get_row_10_columns_cpu_us={(time.process_time() - cpu0) * 1e6 / GET_ROUNDS:.1f}")
    report("get_row_10_columns", times)
    times = []
    for i in range(-5, SCAN_ROUNDS):
        if i == 0:
            cpu0 = time.process_time()
        t0 = time.perf_counter()
        rows = list(table.scan(row_start=b"scan-", row_stop=b"scan.", batch_size=1000))
        if i >= 0:
            times.append((time.perf_counter() - t0) * 1e6)
        assert len(rows) == 1000
    print(f"scan_1000_rows_open_get_close_cpu_us={(time.process_time() - cpu0) * 1e6 / SCAN_ROUNDS:.1f}")
    report("scan_1000_rows_open_get_close", times)
    conn.close()


if __name__ == "__main__":
    main()
