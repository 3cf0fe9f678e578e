/* decoder: parses large request lines on a thread of its own, so that a client sending megabytes
 * of JSON does not stall every other client on the loop thread. */
#ifndef HBPOOL_DECODER_H
#define HBPOOL_DECODER_H

#include <jansson.h>
#include <stddef.h>

#include "error.h"
#include "protocol.h"

struct event_base;
struct evbuffer;

/* Lines shorter than this are parsed on the loop: a thread hop costs more than parsing them. */
#define DECODER_MIN_BYTES (64 * 1024)

typedef struct decoder decoder;

/* Runs on the loop thread with the parsed value (owned by the callee), or NULL and e set as
 * proto_parse_line sets it; or NULL and e->code 0 for a line of blanks only, which carries no
 * request and gets no reply. */
typedef void (*decoder_done_fn)(void *owner, json_t *value, proto_error *e);

/* Needs evthread_use_pthreads() to have been called before base was created. */
decoder *decoder_new(struct event_base *base, hb_error *err);
/* Stops the thread after the line it is parsing; lines still queued are dropped unparsed, their
 * done never runs (the daemon is stopping and their clients are gone). */
void decoder_free(decoder *d);
/* Parses line (a buffer of its own, without its newline; the decoder frees it) off the loop, a
 * '\r' at its end ignored; done runs later on the loop. */
void decoder_parse(decoder *d, struct evbuffer *line, decoder_done_fn done, void *owner);

#endif
