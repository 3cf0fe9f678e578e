/* scanner: the scanner_open / scanner_next / scanner_close methods and the scanners they keep. */
#ifndef HBPOOL_SCANNER_H
#define HBPOOL_SCANNER_H

#include <stdbool.h>
#include <stdint.h>

#include "call.h"

/* The daemon's open scanners; env is the api's, for the calls the set makes itself. */
scanner_set *scanner_set_new(call_env *env);
/* Forgets every scanner (the daemon is stopping; the pool is gone). */
void scanner_set_free(scanner_set *set);
/* Closes, on the gateway, the scanners of a client connection that has gone. */
void scanner_client_closed(scanner_set *set, uint64_t client_id);
/* Closes scanners idle longer than idle_timeout_ms. */
void scanner_expire(scanner_set *set, int idle_timeout_ms);
/* Closes every scanner on the gateway (the daemon is stopping). */
void scanner_close_all(scanner_set *set);
int scanner_count(const scanner_set *set);
/* Scanners reopened after the gateway had expired them. */
uint64_t scanner_reopens(const scanner_set *set);
/* Pages read ahead for scanner_next while the client read the one before. */
uint64_t scanner_read_aheads(const scanner_set *set);

#endif
