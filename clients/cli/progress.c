/* progress: rows, bytes, rate and elapsed time of a long command, redrawn in place on stderr. */
#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define PROGRESS_REDRAW_MS 250

static long long progress_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void progress_start(progress *p, const char *what, long long total_bytes) {
  *p = (progress){.on = isatty(STDERR_FILENO) == 1, .what = what, .total_bytes = total_bytes};
  p->start_ms = p->drawn_ms = progress_now_ms();
}

/* "\r" and "\033[K" (erase to the end of the line): each drawing replaces the last. */
static void progress_draw(progress *p, long long now) {
  double secs = (double)(now - p->start_ms) / 1000.0;
  double rate = secs > 0 ? (double)p->rows / secs : 0;
  fprintf(stderr, "\r%s: %llu rows, %.1f MB, %.0f rows/s, %.1f s", p->what, p->rows,
          (double)p->bytes / 1e6, rate, secs);
  if (p->total_bytes > 0)
    fprintf(stderr, ", %.0f%%", 100.0 * (double)p->bytes / (double)p->total_bytes);
  fputs("\033[K", stderr);
  fflush(stderr);
  p->drawn_ms = now;
}

void progress_add(progress *p, unsigned long long rows, unsigned long long bytes) {
  p->rows += rows;
  p->bytes += bytes;
  if (!p->on)
    return;
  long long now = progress_now_ms();
  if (now - p->drawn_ms >= PROGRESS_REDRAW_MS)
    progress_draw(p, now);
}

void progress_end(progress *p) {
  if (!p->on)
    return;
  progress_draw(p, progress_now_ms());
  fputc('\n', stderr);
}
