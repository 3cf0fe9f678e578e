/* protocol: hbpoold's wire format: JSON-RPC 2.0, one JSON value per line; requests in, response
 * lines out, error codes, and HBase bytes written as UTF-8 text or base64. */
#ifndef HBPOOL_PROTOCOL_H
#define HBPOOL_PROTOCOL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "hbase_client.h"

/* Error codes, stable and documented in docs/protocol.md. */
typedef enum proto_code {
  PROTO_PARSE_ERROR = -32700,       /* the line is not JSON */
  PROTO_INVALID_REQUEST = -32600,   /* JSON, but not a JSON-RPC 2.0 request */
  PROTO_METHOD_NOT_FOUND = -32601,
  PROTO_INVALID_PARAMS = -32602,    /* names the parameter and why */
  PROTO_INTERNAL_ERROR = -32603,
  PROTO_HBASE_IO_ERROR = -32001,    /* message: the Java exception's first line; data.detail: all */
  PROTO_HBASE_ILLEGAL_ARGUMENT = -32002,
  PROTO_HBASE_ALREADY_EXISTS = -32003,
  PROTO_GATEWAY_UNAVAILABLE = -32004,
  PROTO_NO_CONNECTION = -32005,     /* no pooled connection became free in time */
  PROTO_REQUEST_TIMEOUT = -32006,
  PROTO_ENCODING_ERROR = -32007,    /* bytes that are not UTF-8 in utf8 mode, bad base64 */
  PROTO_REQUEST_TOO_LARGE = -32008,
  PROTO_TOO_MANY_REQUESTS = -32009,
  PROTO_GATEWAY_ERROR = -32010,     /* the gateway connection failed mid-call */
  PROTO_SHUTTING_DOWN = -32011,     /* the daemon is stopping: the request was not run */
} proto_code;

/* The stable name of a code ("parse_error", "hbase_io_error", ...), used in error.data.error. */
const char *proto_code_name(proto_code code);

/* How HBase bytes (rows, columns, values) are written in a request and its result. */
typedef enum proto_encoding { PROTO_UTF8, PROTO_BASE64 } proto_encoding;

/* A failure to report to the client: a code, a message, and optional extra data fields. */
typedef struct proto_error {
  proto_code code;
  char *message;   /* owned */
  json_t *data;    /* owned, object or NULL; "error" (code name) and "retryable" are added */
  bool retryable;  /* safe to send the same request again */
} proto_error;

#define PROTO_ERROR_INIT { 0, NULL, NULL, false }
/* Fills e (replacing any earlier error); always returns -1. */
int proto_fail(proto_error *e, proto_code code, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));
/* Maps an hb_error from the pool or the client layer; applied says whether the request may have
 * changed something in HBase (a write that may have reached the gateway): then it is never
 * retryable, whatever HBase says. Always returns -1. */
int proto_fail_hb(proto_error *e, const hb_error *err, bool applied);
void proto_error_clear(proto_error *e);

/* Storage that lives as long as one request: decoded base64 and other argument bytes. */
typedef struct proto_mem proto_mem;
void *proto_mem_alloc(proto_mem **mem, size_t n);
void proto_mem_free(proto_mem **mem);

/* One request of a line. */
typedef struct proto_request {
  json_t *id;          /* owned; NULL for a notification (no reply is sent) */
  const char *method;  /* borrowed from msg */
  json_t *params;      /* owned; an object (an empty one when absent) */
  proto_encoding encoding; /* params.encoding: "utf8" (default) or "base64" */
  json_t *msg;         /* owned: the request object */
} proto_request;

/* Parses one line: a JSON object (one request) or a non-empty array of them (a batch). Returns
 * the parsed value (owned) or NULL with e set (PROTO_PARSE_ERROR or PROTO_INVALID_REQUEST for an
 * empty array or a value that is neither). */
json_t *proto_parse_line(const char *line, size_t len, proto_error *e);
/* Only blanks (spaces, tabs, CR, LF): a line that carries no request and gets no reply. */
bool proto_line_blank(const char *line, size_t len);
/* Checks one request object (of a single request or a batch) and fills r (taking a reference to
 * msg). Returns -1 with e set (PROTO_INVALID_REQUEST, or PROTO_INVALID_PARAMS for a bad
 * encoding); r->id is then the request's id if it could be read, else NULL (reply with null). */
int proto_request_init(proto_request *r, json_t *msg, proto_error *e);
/* Drops the request's JSON (msg, params, method) but keeps its id for the reply: a large
 * request is freed with its huge reply on the helper thread, not on the loop (call.c). */
void proto_request_release(proto_request *r);
void proto_request_clear(proto_request *r);

/* Response lines (each ends with '\n'; malloc'd, the caller frees). id may be NULL (then null).
 * proto_result_line steals result. */
char *proto_result_line(json_t *id, json_t *result);
char *proto_error_line(json_t *id, const proto_error *e);
/* The members of a batch response as one line: "[" + members joined with "," + "]\n". Each member
 * is a response line as made above (its trailing '\n' is dropped). */
char *proto_batch_line(char *const *members, size_t n);

/* Parameters. Each returns 0 and sets *out, or -1 with e set to PROTO_INVALID_PARAMS naming the
 * parameter and saying why. When the parameter is absent (or null): -1 if required, else 0 and
 * *out keeps the caller's default. */
int proto_param_string(const proto_request *r, const char *name, bool required, const char **out,
                       proto_error *e);
int proto_param_int(const proto_request *r, const char *name, bool required, int64_t min,
                    int64_t max, int64_t *out, proto_error *e);
int proto_param_bool(const proto_request *r, const char *name, bool required, bool *out,
                     proto_error *e);
/* HBase bytes in the request's encoding (PROTO_ENCODING_ERROR for bad base64). */
int proto_param_bytes(const proto_request *r, const char *name, bool required, proto_mem **mem,
                      hbc_bytes *out, proto_error *e);
/* A list of byte strings (e.g. columns, rows); absent: *n = 0 unless required. */
int proto_param_bytes_list(const proto_request *r, const char *name, bool required,
                           proto_mem **mem, hbc_bytes **out, size_t *n, proto_error *e);
/* The same conversion for a value found elsewhere (inside an object or list of params); what
 * names it in errors, e.g. "data[\"cf:a\"]". */
int proto_json_to_bytes(const json_t *v, proto_encoding enc, const char *what, proto_mem **mem,
                        hbc_bytes *out, proto_error *e);
/* Bytes for a result. In utf8 mode bytes that are not valid UTF-8 fail with
 * PROTO_ENCODING_ERROR, naming what (e.g. "the value of row 'r1' column 'cf:a'") and saying to
 * use "encoding": "base64". Never mangles bytes. */
json_t *proto_bytes_to_json(hbc_bytes b, proto_encoding enc, const char *what, proto_error *e);
/* JSON text written straight into a buffer: how large or frequent results (rows) are rendered,
 * without building a jansson tree of them first. */
typedef struct proto_text {
  char *p;
  size_t len, cap;
} proto_text;
#define PROTO_TEXT_INIT {NULL, 0, 0}
void proto_text_add(proto_text *t, const char *s, size_t n);
void proto_text_puts(proto_text *t, const char *s);
void proto_text_int(proto_text *t, int64_t v);
/* v as compact JSON (any value); -1 when jansson cannot write it. */
int proto_text_json(proto_text *t, const json_t *v);
/* Bytes as a JSON string, with proto_bytes_to_json's rules and errors. */
int proto_text_bytes(proto_text *t, hbc_bytes b, proto_encoding enc, const char *what,
                     proto_error *e);
void proto_text_free(proto_text *t);
/* A reply line around a result written as text: begin empties t and writes what comes before
 * the result; end closes the line and hands it over (t is left empty). The same bytes as
 * proto_result_line. */
void proto_text_result_begin(proto_text *t, json_t *id);
char *proto_text_result_end(proto_text *t);

/* Fails with PROTO_INVALID_PARAMS naming every parameter of r that is not in allowed (a
 * NULL-terminated list; "encoding" is always allowed): typos must not be silently ignored. */
int proto_check_params(const proto_request *r, const char *const *allowed, proto_error *e);

#endif
