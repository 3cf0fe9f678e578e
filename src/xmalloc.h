/* xmalloc: hbpool's one policy for running out of memory: say so on stderr and abort, as GLib's
 * g_malloc does (and Redis's zmalloc). A daemon that cannot allocate cannot keep its promises (a
 * request half-decoded, a reply half-written); systemd restarts it. */
#ifndef HBPOOL_XMALLOC_H
#define HBPOOL_XMALLOC_H

#include <stdarg.h>
#include <stddef.h>

/* Never return NULL. xmalloc(0) and xcalloc(0, n) return a pointer that may be freed. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
/* Makes jansson allocate with xmalloc too, so that a NULL from it means bad input, never a
 * lack of memory. Called once, first thing in main. */
void xmalloc_init(void);

#endif
