/* protocol: hbpoold's JSON-RPC 2.0 envelope, one JSON value per line: lines parsed into
 * requests, and result, error and batch lines written back. The parts of the wire format live
 * beside it: proto_error (codes and messages), proto_param (parameters and HBase bytes),
 * proto_text (JSON written as text) and codec (UTF-8 and base64). */
#ifndef HBPOOL_PROTOCOL_H
#define HBPOOL_PROTOCOL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "proto_error.h"
#include "proto_text.h"

/* One request of a line. */
typedef struct proto_request {
  json_t *id;              /* owned; NULL for a notification (no reply is sent) */
  const char *method;      /* borrowed from msg */
  json_t *params;          /* owned; an object (an empty one when absent) */
  proto_encoding encoding; /* params.encoding: "utf8" (default) or "base64" */
  json_t *msg;             /* owned: the request object */
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
/* Strings that reach C code as char * must not hide a NUL: "ping\u0000x" would read as "ping". */
bool proto_string_has_nul(const json_t *v);

/* Response lines (each ends with '\n'; malloc'd, the caller frees). id may be NULL (then null).
 * proto_result_line steals result. */
char *proto_result_line(json_t *id, json_t *result);
char *proto_error_line(json_t *id, const proto_error *e);
/* The members of a batch response as one line: "[" + members joined with "," + "]\n". Each member
 * is a response line as made above (its trailing '\n' is dropped). */
char *proto_batch_line(char *const *members, size_t n);

#endif
