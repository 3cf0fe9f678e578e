/* bench_util: what the benchmark programs share: a clock, sleeping, failing, percentiles and a
 * process's memory. */
#ifndef HBPOOL_BENCH_UTIL_H
#define HBPOOL_BENCH_UTIL_H

#include <stddef.h>

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

#endif
