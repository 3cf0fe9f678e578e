/* log: one line per event on stderr, with a level; safe from any thread. Under systemd's
 * journal the lines carry sd-daemon priority prefixes ("<4>") instead of timestamps. */
#ifndef HBPOOL_LOG_H
#define HBPOOL_LOG_H

#include <stdbool.h>

typedef enum log_level { LOG_LVL_ERROR, LOG_LVL_WARNING, LOG_LVL_INFO, LOG_LVL_DEBUG } log_level;

/* Chooses the line format: journald's when stderr is the stream JOURNAL_STREAM names; and also
 * sends lines to syslog when asked. Call before threads start; calling it again (a reload)
 * only changes the syslog choice. */
void log_init(bool to_syslog);
void log_set_level(log_level level);
/* Parses "error", "warning", "info" or "debug"; returns -1 for anything else. */
int log_level_parse(const char *name, log_level *out);
void log_msg(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LVL_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
