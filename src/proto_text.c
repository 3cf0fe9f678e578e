/* proto_text: JSON text written straight into a growing buffer: how rows and other large or
 * frequent results are rendered, without building a jansson tree of them first. Strings are
 * escaped exactly as jansson escapes them, so a client sees the same bytes either way. */
#include "proto_text.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "xmalloc.h"

/* A buffer grows by doubling; failing to grow aborts, as GLib does (the daemon bounds results
 * before they get here). */
static char *text_room(proto_text *t, size_t n) {
  if (t->cap - t->len < n) {
    size_t cap = t->cap ? t->cap : 256;
    while (cap - t->len < n) {
      if (cap > SIZE_MAX / 2)
        abort();
      cap *= 2;
    }
    t->p = xrealloc(t->p, cap);
    t->cap = cap;
  }
  return t->p + t->len;
}

void proto_text_add(proto_text *t, const char *s, size_t n) {
  if (n == 0)
    return;
  memcpy(text_room(t, n), s, n);
  t->len += n;
}

void proto_text_puts(proto_text *t, const char *s) {
  proto_text_add(t, s, strlen(s));
}

void proto_text_free(proto_text *t) {
  free(t->p);
  *t = (proto_text)PROTO_TEXT_INIT;
}

static int text_chunk(const char *chunk, size_t n, void *data) {
  proto_text_add(data, chunk, n);
  return 0;
}

int proto_text_json(proto_text *t, const json_t *v) {
  return json_dump_callback(v, text_chunk, t, JSON_COMPACT | JSON_ENCODE_ANY);
}

void proto_text_int(proto_text *t, int64_t v) {
  char digits[24];
  int n = snprintf(digits, sizeof digits, "%" PRId64, v);
  proto_text_add(t, digits, (size_t)n);
}

/* s, valid UTF-8, as a JSON string, escaped as jansson escapes: the same bytes either way. */
static void text_string(proto_text *t, const uint8_t *s, size_t n) {
  static const char hex[] = "0123456789ABCDEF";
  proto_text_add(t, "\"", 1);
  size_t run = 0;
  for (size_t i = 0; i < n; i++) {
    uint8_t c = s[i];
    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    proto_text_add(t, (const char *)s + run, i - run);
    run = i + 1;
    char esc[6] = {'\\', (char)c, 0, 0, 0, 0};
    size_t len = 2;
    switch (c) {
    case '"':
    case '\\': break;
    case '\b': esc[1] = 'b'; break;
    case '\f': esc[1] = 'f'; break;
    case '\n': esc[1] = 'n'; break;
    case '\r': esc[1] = 'r'; break;
    case '\t': esc[1] = 't'; break;
    default:
      memcpy(esc + 1, "u00", 3);
      esc[4] = hex[c >> 4];
      esc[5] = hex[c & 15];
      len = 6;
    }
    proto_text_add(t, esc, len);
  }
  proto_text_add(t, (const char *)s + run, n - run);
  proto_text_add(t, "\"", 1);
}

int proto_text_bytes(proto_text *t, hbc_bytes b, proto_encoding enc, const char *what,
                     proto_error *e) {
  if (enc == PROTO_BASE64) {
    if (b.len > SIZE_MAX / 4 * 3 - 3)
      return proto_fail(e, PROTO_INTERNAL_ERROR, "internal error: %zu bytes are too many to encode",
                        b.len);
    char *at = text_room(t, (b.len + 2) / 3 * 4 + 2);
    at[0] = '"';
    size_t n = codec_base64_encode(b.data, b.len, at + 1);
    at[n + 1] = '"';
    t->len += n + 2;
    return 0;
  }
  if (b.len == 0)
    b.data = (const uint8_t *)"";
  size_t bad = codec_utf8_check(b.data, b.len);
  if (bad < b.len)
    return proto_fail_encoding(e,
                               "%s is not valid UTF-8 (byte 0x%02x at offset %zu); use "
                               "\"encoding\": \"base64\" to read binary data",
                               what != NULL ? what : "a value", b.data[bad], bad);
  text_string(t, b.data, b.len);
  return 0;
}

void proto_text_result_begin(proto_text *t, json_t *id) {
  t->len = 0;
  proto_text_puts(t, "{\"jsonrpc\":\"2.0\",\"id\":");
  if (id == NULL || proto_text_json(t, id) < 0)
    proto_text_puts(t, "null");
  proto_text_puts(t, ",\"result\":");
}

char *proto_text_result_end(proto_text *t) {
  proto_text_add(t, "}\n", 3); /* and the NUL */
  char *line = t->p;
  *t = (proto_text)PROTO_TEXT_INIT;
  return line;
}
