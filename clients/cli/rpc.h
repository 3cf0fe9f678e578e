/* rpc: hbpool's side of the daemon's JSON-RPC: one Unix socket connection, requests one at a time
 * or pipelined, each reply awaited with a deadline. Needs nothing from the daemon's code but the
 * protocol. */
#ifndef HBPOOL_CLI_RPC_H
#define HBPOOL_CLI_RPC_H

#include <jansson.h>
#include <stddef.h>

typedef struct rpc_conn {
  int fd;
  int timeout_ms; /* the longest wait for one reply; 0: no limit */
  json_int_t next_id;
  char *buf; /* received bytes not yet taken as a line */
  size_t len, cap;
} rpc_conn;

/* Connects to the daemon's socket at path within timeout_ms: 0, or -1 with err filled. */
int rpc_connect(rpc_conn *c, const char *path, int timeout_ms, char *err, size_t errlen);
/* Sends a request (params stolen; NULL: none) and returns its reply (an object with "result" or
 * "error"), or NULL with err filled when the daemon could not be talked to: the connection failed
 * or closed, no reply came within the timeout, or the reply was not a JSON-RPC reply. */
json_t *rpc_call(rpc_conn *c, const char *method, json_t *params, char *err, size_t errlen);
/* rpc_call in two halves, to pipeline: rpc_send returns the request's id (-1 with err filled),
 * and rpc_receive the next reply to come, whichever request it answers (the daemon replies in
 * the order requests complete): NULL with err filled as rpc_call. */
json_int_t rpc_send(rpc_conn *c, const char *method, json_t *params, char *err, size_t errlen);
json_t *rpc_receive(rpc_conn *c, char *err, size_t errlen);
/* The id a reply answers; -1 for a null id (an error about no request in particular). */
json_int_t rpc_reply_id(const json_t *reply);
void rpc_close(rpc_conn *c);

#endif
