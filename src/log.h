/* log: one line per event on stderr, with a level; safe from any thread. */
#ifndef HBPOOL_LOG_H
#define HBPOOL_LOG_H

typedef enum log_level { LOG_LVL_ERROR, LOG_LVL_WARNING, LOG_LVL_INFO, LOG_LVL_DEBUG } log_level;

void log_set_level(log_level level);
/* Parses "error", "warning", "info" or "debug"; returns -1 for anything else. */
int log_level_parse(const char *name, log_level *out);
void log_msg(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LVL_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
