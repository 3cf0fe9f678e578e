/* bench_util: what the benchmark programs share: a clock, sleeping, failing, percentiles, a
 * process's memory and the gateway under test. */
#ifndef HBPOOL_BENCH_UTIL_H
#define HBPOOL_BENCH_UTIL_H

#include <stddef.h>

#include "hbase_client.h"

/* CLOCK_MONOTONIC in microseconds. */
double bench_now_us(void);
/* Sleeps s seconds (fractions too), through interruptions. */
void bench_sleep_s(double s);
/* Prints "PROGRAM: message" on stderr and exits with 1. */
void bench_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* For qsort of doubles, ascending. */
int bench_compare_double(const void *a, const void *b);
/* Nearest-rank percentile of sorted samples: a latency that some request really had; 0 if none. */
double bench_percentile(const double *sorted, size_t n, int pct);
/* A field of /proc/PID/status in KiB ("VmRSS", "VmHWM"), or -1 if the process is gone. */
long bench_status_kib(int pid, const char *field);

/* CPU time (user + system) in microseconds of this process (RUSAGE_SELF) or thread
 * (RUSAGE_THREAD). */
double bench_cpu_us(int who);
/* CPU time the whole machine has spent busy (every state but idle and iowait), summed over its
 * CPUs, in microseconds, from /proc/stat: with HBase on the same host, a request's full cost. */
double bench_machine_busy_us(void);
/* The CPUs the machine has online. */
int bench_machine_cpus(void);

/* The cost of a bare Unix socket round trip to another process on this machine: n one-byte
 * ping-pongs with a forked echo child; *wall_us per round trip, *cpu_us this thread's CPU per
 * round trip (a send, a receive and a wake-up of each side: what every hop of a proxy adds). */
void bench_unix_round_trip(int n, double *wall_us, double *cpu_us);

/* The gateway the scripts name in $HBPOOL_TEST_THRIFT_HOST/PORT/FRAMED/COMPACT/HTTP
 * (127.0.0.1:9090, buffered binary, when unset), with call_timeout_ms. */
void bench_gateway_options(hbc_options *o, int call_timeout_ms);

#endif
