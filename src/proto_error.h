/* proto_error: the errors hbpoold replies with: stable codes, messages that name the parameter
 * or value at fault, HBase failures mapped to codes, and short renderings of a client's values. */
#ifndef HBPOOL_PROTO_ERROR_H
#define HBPOOL_PROTO_ERROR_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* Error codes, stable and documented in docs/protocol.md. */
typedef enum proto_code {
  PROTO_PARSE_ERROR = -32700,     /* the line is not JSON */
  PROTO_INVALID_REQUEST = -32600, /* JSON, but not a JSON-RPC 2.0 request */
  PROTO_METHOD_NOT_FOUND = -32601,
  PROTO_INVALID_PARAMS = -32602, /* names the parameter and why */
  PROTO_INTERNAL_ERROR = -32603,
  PROTO_HBASE_IO_ERROR = -32001, /* message: the Java exception's first line; data.detail: all */
  PROTO_HBASE_ILLEGAL_ARGUMENT = -32002,
  PROTO_HBASE_ALREADY_EXISTS = -32003,
  PROTO_GATEWAY_UNAVAILABLE = -32004,
  PROTO_NO_CONNECTION = -32005, /* no pooled connection became free in time */
  PROTO_REQUEST_TIMEOUT = -32006,
  PROTO_ENCODING_ERROR = -32007, /* bytes that are not UTF-8 in utf8 mode, bad base64 */
  PROTO_REQUEST_TOO_LARGE = -32008,
  PROTO_TOO_MANY_REQUESTS = -32009,
  PROTO_GATEWAY_ERROR = -32010, /* the gateway connection failed mid-call */
  PROTO_SHUTTING_DOWN = -32011, /* the daemon is stopping: the request was not run */
  PROTO_FORBIDDEN = -32012,     /* the [access] rule of the client does not allow it */
  PROTO_CANCELLED = -32013,     /* a read dropped unsent because its client left: no one sees it */
} proto_code;

/* The stable name of a code ("parse_error", "hbase_io_error", ...), used in error.data.error. */
const char *proto_code_name(proto_code code);
/* False for a value that is none of the codes (a zeroed proto_error, say). */
bool proto_code_known(proto_code code);

/* A failure to report to the client: a code, a message, and optional extra data fields. */
typedef struct proto_error {
  proto_code code;
  char *message;  /* owned */
  json_t *data;   /* owned, object or NULL; "error" (code name) and "retryable" are added */
  bool retryable; /* safe to send the same request again */
} proto_error;

#define PROTO_ERROR_INIT                                                                           \
  { 0, NULL, NULL, false }
/* Fills e (replacing any earlier error); always returns -1. */
int proto_fail(proto_error *e, proto_code code, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));
/* The same with the code and the start of the message of one kind: "invalid request: ",
 * "invalid params: ", "encoding error: ". */
int proto_fail_request(proto_error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int proto_fail_params(proto_error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int proto_fail_encoding(proto_error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Maps an hb_error from the pool or the client layer; applied says whether the request may have
 * changed something in HBase (a write that may have reached the gateway): then it is never
 * retryable, whatever HBase says. Always returns -1. */
int proto_fail_hb(proto_error *e, const hb_error *err, bool applied);
void proto_error_clear(proto_error *e);

/* A JSON string of s; text from outside (Java messages, jansson's "near" quotes) may not be
 * UTF-8, and an error must still be reported rather than lost: bad bytes become U+FFFD. */
json_t *proto_json_text(const char *s);

/* Bytes of a client's value quoted in an error: enough to recognise it, never megabytes. */
#define PROTO_RENDER_MAX 40
typedef struct proto_render_buf {
  char text[PROTO_RENDER_MAX + 1 + 3 + 1]; /* one byte past the limit shows a cut; "..."; NUL */
  size_t len;
} proto_render_buf;
/* v as compact JSON, cut to about PROTO_RENDER_MAX bytes; valid UTF-8 either way ("nothing"
 * for NULL). Returns rb->text. */
const char *proto_render(const json_t *v, proto_render_buf *rb);
/* A member or parameter name (valid UTF-8, no NUL: jansson refuses those in keys) as a JSON
 * string, cut like proto_render. */
const char *proto_render_name(const char *name, proto_render_buf *rb);

#endif
