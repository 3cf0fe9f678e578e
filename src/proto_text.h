/* proto_text: JSON text written straight into a growing buffer: how rows and other large or
 * frequent results are rendered, without building a jansson tree of them first. */
#ifndef HBPOOL_PROTO_TEXT_H
#define HBPOOL_PROTO_TEXT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "hbase_client.h"
#include "proto_error.h"

/* How HBase bytes (rows, columns, values) are written in a request and its result. */
typedef enum proto_encoding { PROTO_UTF8, PROTO_BASE64 } proto_encoding;

typedef struct proto_text {
  char *p;
  size_t len, cap;
} proto_text;
#define PROTO_TEXT_INIT                                                                            \
  { NULL, 0, 0 }
/* Growing the buffer aborts when memory is exhausted, as GLib does: results are bounded before
 * they get here. */
void proto_text_add(proto_text *t, const char *s, size_t n);
void proto_text_puts(proto_text *t, const char *s);
void proto_text_int(proto_text *t, int64_t v);
/* v as compact JSON (any value); -1 when jansson cannot write it. */
int proto_text_json(proto_text *t, const json_t *v);
/* Bytes as a JSON string: base64, or in utf8 mode the bytes themselves, which must be valid
 * UTF-8 (else PROTO_ENCODING_ERROR naming what, e.g. "the value of row 'r1' column 'cf:a'", and
 * saying to use "encoding": "base64"). Never mangles bytes. */
int proto_text_bytes(proto_text *t, hbc_bytes b, proto_encoding enc, const char *what,
                     proto_error *e);
void proto_text_free(proto_text *t);
/* A reply line around a result written as text: begin empties t and writes what comes before
 * the result; end closes the line and hands it over (t is left empty). The same bytes as
 * proto_result_line. */
void proto_text_result_begin(proto_text *t, json_t *id);
char *proto_text_result_end(proto_text *t);

#endif
