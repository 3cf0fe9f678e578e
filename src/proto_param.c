/* proto_param: a request's parameters checked and converted, each error naming the parameter
 * and why; HBase bytes to and from their JSON form (UTF-8 text or base64). */
#include "proto_param.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "proto_text.h"
#include "xmalloc.h"

/* Unknown parameters named in one error before the rest are only counted. */
#define PROTO_UNKNOWN_MAX 10
/* base64 results up to this size are built on the stack: most cells are small. */
#define PROTO_B64_STACK 1024

/* ---- proto_mem ------------------------------------------------------------------------------ */

struct proto_mem {
  proto_mem *next;
  max_align_t data[];
};

void *proto_mem_alloc(proto_mem **mem, size_t n) {
  if (n > SIZE_MAX - sizeof(proto_mem))
    abort();
  proto_mem *block = xmalloc(sizeof *block + n);
  block->next = *mem;
  *mem = block;
  return block->data;
}

void proto_mem_free(proto_mem **mem) {
  proto_mem *block = *mem;
  while (block != NULL) {
    proto_mem *next = block->next;
    free(block);
    block = next;
  }
  *mem = NULL;
}

/* ---- parameters ----------------------------------------------------------------------------- */

/* The parameter's value, or NULL when it is absent or null. */
static json_t *param_get(const proto_request *r, const char *name) {
  json_t *v = json_object_get(r->params, name);
  return json_is_null(v) ? NULL : v;
}

static int param_absent(const char *name, bool required, proto_error *e) {
  return required ? proto_fail_params(e, "\"%s\" is required", name) : 0;
}

int proto_param_string(const proto_request *r, const char *name, bool required, const char **out,
                       proto_error *e) {
  json_t *v = param_get(r, name);
  if (v == NULL)
    return param_absent(name, required, e);
  proto_render_buf rb;
  if (!json_is_string(v))
    return proto_fail_params(e, "\"%s\" must be a string, not %s", name, proto_render(v, &rb));
  if (proto_string_has_nul(v))
    return proto_fail_params(e, "\"%s\" must not contain NUL characters", name);
  *out = json_string_value(v);
  return 0;
}

static void describe_range(char *buf, size_t size, int64_t min, int64_t max) {
  if (min == INT64_MIN && max == INT64_MAX)
    snprintf(buf, size, "an integer");
  else if (max == INT64_MAX)
    snprintf(buf, size, "an integer of at least %" PRId64, min);
  else if (min == INT64_MIN)
    snprintf(buf, size, "an integer of at most %" PRId64, max);
  else
    snprintf(buf, size, "an integer from %" PRId64 " to %" PRId64, min, max);
}

int proto_param_int(const proto_request *r, const char *name, bool required, int64_t min,
                    int64_t max, int64_t *out, proto_error *e) {
  json_t *v = param_get(r, name);
  if (v == NULL)
    return param_absent(name, required, e);
  /* JSON integers only: 1.5 or true is a client bug to report, not a number to round. */
  if (json_is_integer(v) && json_integer_value(v) >= min && json_integer_value(v) <= max) {
    *out = json_integer_value(v);
    return 0;
  }
  char range[96];
  proto_render_buf rb;
  describe_range(range, sizeof range, min, max);
  return proto_fail_params(e, "\"%s\" must be %s, not %s", name, range, proto_render(v, &rb));
}

int proto_param_bool(const proto_request *r, const char *name, bool required, bool *out,
                     proto_error *e) {
  json_t *v = param_get(r, name);
  if (v == NULL)
    return param_absent(name, required, e);
  if (!json_is_boolean(v)) {
    proto_render_buf rb;
    return proto_fail_params(e, "\"%s\" must be true or false, not %s", name, proto_render(v, &rb));
  }
  *out = json_is_true(v);
  return 0;
}

/* In utf8 mode the bytes are the string's own, borrowed from the request for its lifetime: a
 * copy of every value of a large put would buy nothing. base64 is decoded into mem. On failure
 * f says why when v is a string (f->why is empty when it is not). */
static int to_bytes(const json_t *v, proto_encoding enc, proto_mem **mem, hbc_bytes *out,
                    codec_fault *f) {
  f->why[0] = '\0';
  if (!json_is_string(v))
    return -1;
  const char *s = json_string_value(v);
  size_t n = json_string_length(v);
  if (enc == PROTO_UTF8) {
    *out = (hbc_bytes){(const uint8_t *)s, n};
    return 0;
  }
  uint8_t *dst = proto_mem_alloc(mem, n / 4 * 3 + 2);
  size_t len = 0;
  if (codec_base64_decode(s, n, dst, &len, f) < 0)
    return -1;
  *out = (hbc_bytes){dst, len};
  return 0;
}

/* Reports a failure of to_bytes, naming the value what. */
static int bytes_fail(proto_error *e, const json_t *v, proto_encoding enc, const char *what,
                      const codec_fault *f) {
  proto_render_buf rb;
  if (!json_is_string(v))
    return proto_fail_params(e, "%s must be a %sstring, not %s", what,
                             enc == PROTO_BASE64 ? "base64 " : "", proto_render(v, &rb));
  return proto_fail_encoding(e,
                             "%s is not valid base64: %s at offset %zu (the request's "
                             "\"encoding\" is \"base64\")",
                             what, f->why, f->offset);
}

/* Like bytes_fail for a parameter: the name is quoted, with the index of a list's item. */
static int param_bytes_fail(proto_error *e, const json_t *v, proto_encoding enc, const char *name,
                            size_t index, bool indexed, const codec_fault *f) {
  char *what = indexed ? xasprintf("\"%s\"[%zu]", name, index) : xasprintf("\"%s\"", name);
  bytes_fail(e, v, enc, what, f);
  free(what);
  return -1;
}

int proto_json_to_bytes(const json_t *v, proto_encoding enc, const char *what, proto_mem **mem,
                        hbc_bytes *out, proto_error *e) {
  codec_fault f;
  if (to_bytes(v, enc, mem, out, &f) == 0)
    return 0;
  return bytes_fail(e, v, enc, what != NULL ? what : "a value", &f);
}

int proto_param_bytes(const proto_request *r, const char *name, bool required, proto_mem **mem,
                      hbc_bytes *out, proto_error *e) {
  json_t *v = param_get(r, name);
  if (v == NULL)
    return param_absent(name, required, e);
  codec_fault f;
  if (to_bytes(v, r->encoding, mem, out, &f) == 0)
    return 0;
  return param_bytes_fail(e, v, r->encoding, name, 0, false, &f);
}

int proto_param_bytes_list(const proto_request *r, const char *name, bool required, proto_mem **mem,
                           hbc_bytes **out, size_t *n, proto_error *e) {
  json_t *v = param_get(r, name);
  if (v == NULL) {
    *out = NULL;
    *n = 0;
    return param_absent(name, required, e);
  }
  if (!json_is_array(v)) {
    proto_render_buf rb;
    return proto_fail_params(e, "\"%s\" must be a list of strings, not %s", name,
                             proto_render(v, &rb));
  }
  size_t count = json_array_size(v);
  if (count > SIZE_MAX / sizeof(hbc_bytes))
    abort();
  hbc_bytes *items = proto_mem_alloc(mem, count * sizeof *items);
  for (size_t i = 0; i < count; i++) {
    json_t *item = json_array_get(v, i);
    codec_fault f;
    if (to_bytes(item, r->encoding, mem, &items[i], &f) < 0)
      return param_bytes_fail(e, item, r->encoding, name, i, true, &f);
  }
  *out = items;
  *n = count;
  return 0;
}

/* ---- result bytes --------------------------------------------------------------------------- */

static json_t *bytes_to_base64(hbc_bytes b, proto_error *e) {
  if (b.len > SIZE_MAX / 4 * 3 - 3) {
    proto_fail(e, PROTO_INTERNAL_ERROR, "internal error: %zu bytes are too many to encode", b.len);
    return NULL;
  }
  size_t n = (b.len + 2) / 3 * 4;
  char stack[PROTO_B64_STACK];
  char *buf = n <= sizeof stack ? stack : xmalloc(n);
  codec_base64_encode(b.data, b.len, buf);
  json_t *s = json_stringn_nocheck(buf, n); /* the alphabet is ASCII: nothing to check */
  if (buf != stack)
    free(buf);
  if (s == NULL)
    proto_fail(e, PROTO_INTERNAL_ERROR, "internal error: out of memory");
  return s;
}

json_t *proto_bytes_to_json(hbc_bytes b, proto_encoding enc, const char *what, proto_error *e) {
  if (enc == PROTO_BASE64)
    return bytes_to_base64(b, e);
  if (b.len == 0)
    b.data = (const uint8_t *)""; /* an empty value may come without storage */
  size_t bad = codec_utf8_check(b.data, b.len);
  if (bad < b.len) {
    proto_fail_encoding(e,
                        "%s is not valid UTF-8 (byte 0x%02x at offset %zu); use \"encoding\": "
                        "\"base64\" to read binary data",
                        what != NULL ? what : "a value", b.data[bad], bad);
    return NULL;
  }
  /* Checked above, strictly: jansson's own check would scan the bytes a second time. */
  json_t *s = json_stringn_nocheck((const char *)b.data, b.len);
  if (s == NULL)
    proto_fail(e, PROTO_INTERNAL_ERROR, "internal error: out of memory");
  return s;
}

/* ---- parameter names ------------------------------------------------------------------------ */

static bool name_allowed(const char *key, const char *const *allowed) {
  if (strcmp(key, "encoding") == 0)
    return true;
  for (size_t i = 0; allowed != NULL && allowed[i] != NULL; i++)
    if (strcmp(key, allowed[i]) == 0)
      return true;
  return false;
}

/* ", " between names and " and " before the last; the list is cut after PROTO_UNKNOWN_MAX so
 * that a client sending a million names gets a short message. */
static void add_unknown(proto_text *sb, const char *key, size_t i, size_t total) {
  proto_render_buf rb;
  if (i >= PROTO_UNKNOWN_MAX)
    return;
  if (i > 0)
    proto_text_puts(sb, i + 1 == total ? " and " : ", ");
  proto_render_name(key, &rb);
  proto_text_add(sb, rb.text, rb.len);
}

static void add_allowed(proto_text *sb, const char *const *allowed) {
  proto_text_puts(sb, "; this method takes ");
  for (size_t i = 0; allowed != NULL && allowed[i] != NULL; i++) {
    proto_text_puts(sb, "\"");
    proto_text_puts(sb, allowed[i]);
    proto_text_puts(sb, "\", ");
  }
  proto_text_puts(sb, "\"encoding\"");
}

int proto_check_params(const proto_request *r, const char *const *allowed, proto_error *e) {
  size_t total = 0, i = 0;
  const char *key;
  json_t *v;
  json_object_foreach(r->params, key, v) {
    if (!name_allowed(key, allowed))
      total++;
  }
  if (total == 0)
    return 0;
  proto_text sb = PROTO_TEXT_INIT;
  proto_text_puts(&sb, total == 1 ? "unknown parameter " : "unknown parameters ");
  json_object_foreach(r->params, key, v) {
    if (!name_allowed(key, allowed))
      add_unknown(&sb, key, i++, total);
  }
  if (total > PROTO_UNKNOWN_MAX) {
    char more[48];
    snprintf(more, sizeof more, " and %zu more", total - PROTO_UNKNOWN_MAX);
    proto_text_puts(&sb, more);
  }
  add_allowed(&sb, allowed);
  proto_text_add(&sb, "", 1);
  proto_fail_params(e, "%s", sb.p);
  free(sb.p);
  return -1;
}
