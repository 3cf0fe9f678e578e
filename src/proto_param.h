/* proto_param: a request's parameters checked and converted, each error naming the parameter
 * and why; HBase bytes to and from their JSON form (UTF-8 text or base64). */
#ifndef HBPOOL_PROTO_PARAM_H
#define HBPOOL_PROTO_PARAM_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hbase_client.h"
#include "proto_error.h"
#include "protocol.h"

/* Storage that lives as long as one request: decoded base64 and other argument bytes. */
typedef struct proto_mem proto_mem;
void *proto_mem_alloc(proto_mem **mem, size_t n);
void proto_mem_free(proto_mem **mem);

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
int proto_param_bytes_list(const proto_request *r, const char *name, bool required, proto_mem **mem,
                           hbc_bytes **out, size_t *n, proto_error *e);
/* The same conversion for a value found elsewhere (inside an object or list of params); what
 * names it in errors, e.g. "data[\"cf:a\"]". */
int proto_json_to_bytes(const json_t *v, proto_encoding enc, const char *what, proto_mem **mem,
                        hbc_bytes *out, proto_error *e);
/* Bytes for a result, as a jansson string, with proto_text_bytes's rules and errors. */
json_t *proto_bytes_to_json(hbc_bytes b, proto_encoding enc, const char *what, proto_error *e);

/* Fails with PROTO_INVALID_PARAMS naming every parameter of r that is not in allowed (a
 * NULL-terminated list; "encoding" is always allowed): typos must not be silently ignored. */
int proto_check_params(const proto_request *r, const char *const *allowed, proto_error *e);

#endif
