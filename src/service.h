/* service: what hbpoold tells its service manager (systemd's sd_notify: ready, reloading,
 * stopping, a status line, watchdog keep-alives) and the sockets it hands over (socket
 * activation). Outside systemd every call is a no-op. */
#ifndef HBPOOL_SERVICE_H
#define HBPOOL_SERVICE_H

#include <stdbool.h>
#include <stdint.h>

/* Reads the environment once: NOTIFY_SOCKET, WATCHDOG_USEC, LISTEN_FDS. */
void service_init(void);

/* Sockets passed by the service manager (LISTEN_FDS), starting at fd 3; 0 when none. */
int service_listen_fds(void);

void service_ready(const char *status);
/* RELOADING=1 with MONOTONIC_USEC, as Type=notify-reload expects; service_ready ends it. */
void service_reloading(void);
void service_stopping(void);
void service_status(const char *status);

/* The watchdog interval in milliseconds (half of WATCHDOG_USEC), or 0 when there is none. */
int64_t service_watchdog_interval_ms(void);
void service_watchdog(void);

#endif
