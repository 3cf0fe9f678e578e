/* peer: a loopback TCP server for unit tests; each connection is served by a test's handler. */
#ifndef HBPOOL_TEST_PEER_H
#define HBPOOL_TEST_PEER_H

#include <stddef.h>
#include <stdint.h>

/* Serves one accepted connection; the peer closes fd after it returns. */
typedef void (*peer_handler)(int fd, void *arg);

typedef struct peer peer;

/* Listens on 127.0.0.1 (ephemeral port); every connection gets its own thread. */
peer *peer_start(peer_handler handler, void *arg);
int peer_port(const peer *p);
/* Stops accepting and waits for the connection threads to finish. */
void peer_stop(peer *p);

/* Helpers for handlers. Each returns 0 on success, -1 on EOF or error. */
int peer_read_exact(int fd, void *buf, size_t len);
int peer_write_all(int fd, const void *buf, size_t len);
/* Reads one framed message (4-byte big-endian length + payload) into a malloc'd buffer. */
int peer_read_frame(int fd, uint8_t **payload, size_t *len);
int peer_write_frame(int fd, const void *payload, size_t len);
/* Reads whatever arrives until the line is quiet for quiet_ms (for unframed requests). */
size_t peer_drain(int fd, int quiet_ms);

void sleep_ms(int ms);
int64_t mono_ms(void);

#endif
