/* bench_util: what the benchmark programs share (bench_util.h). */
#include "bench_util.h"

#include <errno.h> /* program_invocation_short_name (GNU, as configure sets up) */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

double bench_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

void bench_sleep_s(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
  }
}

void bench_fatal(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", program_invocation_short_name);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(1);
}

int bench_compare_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double bench_percentile(const double *sorted, size_t n, int pct) {
  if (n == 0)
    return 0;
  size_t rank = (n * (size_t)pct + 99) / 100;
  return sorted[rank == 0 ? 0 : rank - 1];
}

long bench_status_kib(int pid, const char *field) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", pid);
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return -1;
  long kib = -1;
  size_t flen = strlen(field);
  while (fgets(line, sizeof line, f) != NULL)
    if (strncmp(line, field, flen) == 0 && line[flen] == ':')
      kib = atol(line + flen + 1);
  fclose(f);
  return kib;
}

double bench_machine_busy_us(void) {
  FILE *f = fopen("/proc/stat", "r");
  unsigned long long v[8] = {0};
  if (f == NULL ||
      fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
             &v[5], &v[6], &v[7]) != 8)
    bench_fatal("cannot read /proc/stat");
  fclose(f);
  /* user nice system idle iowait irq softirq steal: all but idle and iowait */
  unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
  return (double)busy * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

int bench_machine_cpus(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

double bench_cpu_us(int who) {
  struct rusage ru;
  getrusage(who, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

void bench_unix_round_trip(int n, double *wall_us, double *cpu_us) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    bench_fatal("socketpair: %s", strerror(errno));
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0)
    bench_fatal("fork: %s", strerror(errno));
  char byte = 'x';
  if (pid == 0) {
    close(sv[0]);
    while (read(sv[1], &byte, 1) == 1 && write(sv[1], &byte, 1) == 1) {
    }
    _exit(0);
  }
  close(sv[1]);
  double t0 = bench_now_us(), c0 = bench_cpu_us(RUSAGE_THREAD);
  for (int i = 0; i < n; i++)
    if (write(sv[0], &byte, 1) != 1 || read(sv[0], &byte, 1) != 1)
      bench_fatal("round trip %d: %s", i, strerror(errno));
  *wall_us = (bench_now_us() - t0) / n;
  *cpu_us = (bench_cpu_us(RUSAGE_THREAD) - c0) / n;
  close(sv[0]);
  waitpid(pid, NULL, 0);
}

static int env_int(const char *name, int dflt) {
  const char *v = getenv(name);
  return v != NULL && *v != '\0' ? atoi(v) : dflt;
}

void bench_gateway_options(hbc_options *o, int call_timeout_ms) {
  hbc_options_init(o);
  const char *host = getenv("HBPOOL_TEST_THRIFT_HOST");
  o->host = host != NULL ? host : "127.0.0.1";
  o->port = env_int("HBPOOL_TEST_THRIFT_PORT", 9090);
  o->framed = env_int("HBPOOL_TEST_THRIFT_FRAMED", 0) != 0;
  o->http = env_int("HBPOOL_TEST_THRIFT_HTTP", 0) != 0;
  o->protocol = env_int("HBPOOL_TEST_THRIFT_COMPACT", 0) ? HBC_PROTOCOL_COMPACT
                                                         : HBC_PROTOCOL_BINARY;
  o->call_timeout_ms = call_timeout_ms;
}
