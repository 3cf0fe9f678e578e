/* scanner: the scanner_open / scanner_next / scanner_close methods and the scanners they keep. */
#ifndef HBPOOL_SCANNER_H
#define HBPOOL_SCANNER_H

#include <stdbool.h>
#include <stdint.h>

#include "call.h"

/* A call on a scanner in use waits for it: true when k was queued (it is submitted once the
 * scanner is free); false when k may go now (the scanner is then held for it). */
bool scanner_wait(call *k);
/* Closes, on the gateway, the scanners of a client connection that has gone. */
void scanner_session_closed(api *a, uint64_t session);
/* Closes scanners idle longer than scanner_idle_timeout_ms. */
void scanner_expire(api *a);
/* Closes every scanner on the gateway (the daemon is stopping). */
void scanner_close_all(api *a);
/* Forgets every scanner (the daemon is stopping; the pool is gone). */
void scanner_free_all(api *a);
int scanner_count(const api *a);

#endif
