/* netio: socket I/O to a Thrift gateway with deadlines, read-ahead and optional framing (Thrift's
 * frames, or HTTP POSTs). Its waits yield to the event loop when called in a task (task.h), and
 * poll otherwise. */
#ifndef HBPOOL_NETIO_H
#define HBPOOL_NETIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct netio_options {
  int connect_timeout_ms; /* deadline for name lookup + TCP connect */
  bool framed;            /* 4-byte big-endian length before each message (TFramedTransport) */
  /* Each message an HTTP/1.1 POST to http_path (THttpClient; a gateway in HTTP mode), on a
   * kept-alive connection; the reply's body by Content-Length or in chunks. */
  bool http;
  const char *http_path;   /* "/" when NULL */
  size_t max_message_size; /* largest reply accepted; larger ones fail the call */
} netio_options;

typedef struct netio netio;

/* Connects to host:port (IPv4 or IPv6). Returns NULL and fills err on failure. */
netio *netio_connect(const char *host, int port, const netio_options *opts, hb_error *err);
/* The same over fd, a connected non-blocking socket it now owns (tests, fuzzing); host and port
 * only name the gateway in HTTP requests. */
netio *netio_adopt(int fd, const char *host, int port, const netio_options *opts);
void netio_close(netio *io);

/* Every send and receive until the next call must finish within timeout_ms from now. */
void netio_set_deadline(netio *io, int timeout_ms);

/* Buffers bytes of the outgoing message; netio_flush sends it (as one frame when framed, as one
 * POST with http). */
int netio_write(netio *io, const void *buf, size_t len, hb_error *err);
int netio_flush(netio *io, hb_error *err);

/* Reads exactly len bytes of the incoming message; EOF, timeout or an oversized reply fail. */
int netio_read(netio *io, void *buf, size_t len, hb_error *err);
/* Ends the incoming message: it must have been read to its end, with nothing left over. */
int netio_read_end(netio *io, hb_error *err);

/* Between calls: true when the gateway has closed (or reset) the connection, or sent bytes
 * nobody asked for. Never blocks. */
bool netio_peer_closed(netio *io);

/* Bytes of the current incoming message consumed so far. */
size_t netio_message_bytes(const netio *io);
size_t netio_max_message_size(const netio *io);
/* Payload bytes of every complete reply read on this connection. */
uint64_t netio_reply_bytes(const netio *io);

#endif
