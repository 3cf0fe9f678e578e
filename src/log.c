/* log: one line per event on stderr, with a level; safe from any thread. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static log_level current = LOG_LVL_INFO;
static bool journal; /* stderr goes to journald: priorities, no timestamps */
static bool use_syslog;
static const char *const names[] = {"error", "warning", "info", "debug"};
static const int priorities[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

/* JOURNAL_STREAM is "device:inode" of the journal's stream; a child whose stderr was redirected
 * elsewhere inherits the variable, hence the comparison. */
static bool stderr_is_journal(void) {
  const char *v = getenv("JOURNAL_STREAM");
  unsigned long long dev = 0, ino = 0;
  struct stat st;
  if (v == NULL || sscanf(v, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
    return false;
  return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(bool to_syslog) {
  static bool done;
  if (!done)
    journal = stderr_is_journal();
  done = true;
  if (to_syslog && !use_syslog)
    openlog("hbpoold", LOG_PID | LOG_NDELAY, LOG_DAEMON);
  else if (!to_syslog && use_syslog)
    closelog();
  __atomic_store_n(&use_syslog, to_syslog, __ATOMIC_RELAXED);
}

void log_set_level(log_level level) {
  __atomic_store_n(&current, level, __ATOMIC_RELAXED);
}

int log_level_parse(const char *name, log_level *out) {
  for (int i = 0; i <= LOG_LVL_DEBUG; i++) {
    if (strcmp(name, names[i]) == 0) {
      *out = (log_level)i;
      return 0;
    }
  }
  return -1;
}

void log_msg(log_level level, const char *fmt, ...) {
  if (level > __atomic_load_n(&current, __ATOMIC_RELAXED))
    return;
  char line[2048];
  int n;
  if (journal) {
    n = snprintf(line, sizeof line, "<%d>%s: ", priorities[level], names[level]);
  } else {
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s: ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                 names[level]);
  }
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
  va_end(ap);
  if (__atomic_load_n(&use_syslog, __ATOMIC_RELAXED))
    syslog(priorities[level], "%s", line + n);
  size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
  if (len > sizeof line - 2)
    len = sizeof line - 2;
  line[len++] = '\n';
  /* One write per line, so that lines from several threads never interleave. */
  ssize_t rc = write(STDERR_FILENO, line, len);
  (void)rc;
}
