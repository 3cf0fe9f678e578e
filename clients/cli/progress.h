/* progress: the one-line progress report of hbpool's long commands (export, import) on a terminal;
 * silent when stderr is not one. */
#ifndef HBPOOL_CLI_PROGRESS_H
#define HBPOOL_CLI_PROGRESS_H

#include <stdbool.h>

typedef struct progress {
  bool on; /* stderr is a terminal */
  const char *what;
  long long start_ms, drawn_ms;
  unsigned long long rows, bytes;
  long long total_bytes; /* of the input, for a percentage; -1: unknown */
} progress;

/* Starts the clock; total_bytes < 0 when the input's size is unknown (a pipe). */
void progress_start(progress *p, const char *what, long long total_bytes);
/* Counts rows and bytes done; redraws the line at most four times a second. */
void progress_add(progress *p, unsigned long long rows, unsigned long long bytes);
/* Draws the final figures and ends the line. */
void progress_end(progress *p);

#endif
