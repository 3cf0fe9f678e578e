/* service: sd_notify messages and socket activation, through libsystemd, which makes each a
 * no-op when the daemon was not started by systemd (no NOTIFY_SOCKET, no LISTEN_FDS). */
#include "service.h"

#include <stdio.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "log.h"

static int listen_fds;
static uint64_t watchdog_usec;

void service_init(void) {
  /* Unset the variables: threads and children must not see (or answer for) them. */
  int n = sd_listen_fds(1);
  listen_fds = n > 0 ? n : 0;
  if (n < 0)
    log_warning("ignoring the sockets systemd passed: %s", "LISTEN_FDS is invalid");
  if (sd_watchdog_enabled(0, &watchdog_usec) <= 0)
    watchdog_usec = 0;
}

int service_listen_fds(void) {
  return listen_fds;
}

void service_ready(const char *status) {
  sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void service_reloading(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  unsigned long long usec = (unsigned long long)ts.tv_sec * 1000000ULL +
    (unsigned long long)ts.tv_nsec / 1000ULL;
  sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading the configuration", usec);
}

void service_stopping(void) {
  sd_notify(0, "STOPPING=1\nSTATUS=stopping: finishing the requests in flight");
}

void service_status(const char *status) {
  sd_notifyf(0, "STATUS=%s", status);
}

int64_t service_watchdog_interval_ms(void) {
  return (int64_t)(watchdog_usec / 2000);
}

void service_watchdog(void) {
  sd_notify(0, "WATCHDOG=1");
}
