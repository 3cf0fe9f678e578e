/* scanner: the scanner_open / scanner_next / scanner_close methods and the scanners they keep, and
 * the scanners scan pages keep open for the call that continues them. */
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
/* Closes scanners idle longer than idle_timeout_ms, and kept ones idle longer than keep_open_ms. */
void scanner_expire(scanner_set *set, int idle_timeout_ms, int keep_open_ms);
/* Closes every scanner on the gateway (the daemon is stopping). */
void scanner_close_all(scanner_set *set);
/* Open scanners: the clients' (kept false) or those kept by scan pages (kept true). */
int scanner_count(const scanner_set *set, bool kept);
/* Scanners reopened after the gateway had expired them. */
uint64_t scanner_reopens(const scanner_set *set);
/* Pages read ahead for scanner_next while the client read the one before. */
uint64_t scanner_read_aheads(const scanner_set *set);
/* Scan pages read from a kept scanner. */
uint64_t scanner_resumes(const scanner_set *set);

/* A method's wait hook: holds k back while its scanner (k->sc, if any) serves another call. */
bool scanner_wait(call *k);

/* Kept scanners, for the scan method. A page that stopped at scan_max_rows keeps its gateway
 * scanner (gateway_id, positioned after the row last) as k->sc, held by k until its after. */
void scanner_keep(call *k, int32_t gateway_id, hbc_bytes last);
/* The kept scanner found by key becomes k->sc, no longer found; false when none is. */
bool scanner_take_kept(call *k, const char *key);
/* Writes up to want rows of k->sc to t (rows read ahead first), counting them in *written, the
 * last of them in *last (in k->mem); *done when the scan is over. 0, or -1: herr or k->err. */
int scanner_page(hbc_conn *c, call *k, proto_text *t, size_t want, size_t *written, hbc_bytes *last,
                 bool *done, hb_error *herr);
/* A scan page is over: k->sc is kept under key (taken), with read_ahead_rows fetched meanwhile,
 * or closed when key is NULL or the call failed. */
void scanner_page_after(call *k, char *key, int32_t read_ahead_rows);

#endif
