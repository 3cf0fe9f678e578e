/* xmalloc: allocation that aborts, with a message, when memory runs out. */
#include "xmalloc.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Written without allocating: the log module may need memory that is not there. */
static void out_of_memory(size_t n) {
  char msg[96];
  int len = snprintf(msg, sizeof msg, "hbpoold: out of memory allocating %zu bytes\n", n);
  if (len > 0 && write(STDERR_FILENO, msg, (size_t)len) < 0)
    abort();
  abort();
}

void *xmalloc(size_t n) {
  void *p = malloc(n > 0 ? n : 1);
  if (p == NULL)
    out_of_memory(n);
  return p;
}

void *xcalloc(size_t n, size_t size) {
  void *p = calloc(n > 0 ? n : 1, size > 0 ? size : 1);
  if (p == NULL)
    out_of_memory(size != 0 && n > SIZE_MAX / size ? SIZE_MAX : n * size);
  return p;
}

void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n > 0 ? n : 1);
  if (q == NULL)
    out_of_memory(n);
  return q;
}

char *xstrdup(const char *s) {
  return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n) {
  size_t len = strnlen(s, n);
  char *p = xmalloc(len + 1);
  memcpy(p, s, len);
  p[len] = '\0';
  return p;
}

char *xvasprintf(const char *fmt, va_list ap) {
  char *s = NULL;
  if (vasprintf(&s, fmt, ap) < 0)
    out_of_memory(strlen(fmt));
  return s;
}

char *xasprintf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = xvasprintf(fmt, ap);
  va_end(ap);
  return s;
}

void xmalloc_init(void) {
  json_set_alloc_funcs(xmalloc, free);
}
