/* protocol: hbpoold's JSON-RPC 2.0 wire format (see protocol.h): requests, parameters, lines. */
#include "protocol.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bytes of a client's value quoted in an error: enough to recognise it, never megabytes. */
#define PROTO_RENDER_MAX 40
/* Unknown parameters named in one error before the rest are only counted. */
#define PROTO_UNKNOWN_MAX 10
/* base64 results up to this size are built on the stack: most cells are small. */
#define PROTO_B64_STACK 1024

/* ---- errors --------------------------------------------------------------------------------- */

/* NULL for a value that is not one of the codes (a zeroed proto_error, say). */
static const char *code_name(proto_code code) {
  switch (code) {
  case PROTO_PARSE_ERROR: return "parse_error";
  case PROTO_INVALID_REQUEST: return "invalid_request";
  case PROTO_METHOD_NOT_FOUND: return "method_not_found";
  case PROTO_INVALID_PARAMS: return "invalid_params";
  case PROTO_INTERNAL_ERROR: return "internal_error";
  case PROTO_HBASE_IO_ERROR: return "hbase_io_error";
  case PROTO_HBASE_ILLEGAL_ARGUMENT: return "hbase_illegal_argument";
  case PROTO_HBASE_ALREADY_EXISTS: return "hbase_already_exists";
  case PROTO_GATEWAY_UNAVAILABLE: return "gateway_unavailable";
  case PROTO_NO_CONNECTION: return "no_connection_available";
  case PROTO_REQUEST_TIMEOUT: return "request_timeout";
  case PROTO_ENCODING_ERROR: return "encoding_error";
  case PROTO_REQUEST_TOO_LARGE: return "request_too_large";
  case PROTO_TOO_MANY_REQUESTS: return "too_many_requests";
  case PROTO_GATEWAY_ERROR: return "gateway_error";
  case PROTO_SHUTTING_DOWN: return "shutting_down";
  }
  return NULL;
}

const char *proto_code_name(proto_code code) {
  const char *name = code_name(code);
  return name != NULL ? name : "unknown_error";
}

/* Takes ownership of message (may be NULL: the code's name is reported instead). */
static int fail_take(proto_error *e, proto_code code, char *message) {
  if (e == NULL) {
    free(message);
    return -1;
  }
  free(e->message);
  json_decref(e->data);
  e->code = code;
  e->message = message;
  e->data = NULL;
  e->retryable = false;
  return -1;
}

/* Formats prefix + fmt; the prefix keeps messages of one kind recognisable ("invalid params: "). */
static int vfail(proto_error *e, proto_code code, const char *prefix, const char *fmt, va_list ap) {
  char *body = NULL, *msg = NULL;
  if (vasprintf(&body, fmt, ap) < 0)
    return fail_take(e, code, NULL);
  if (asprintf(&msg, "%s%s", prefix, body) < 0)
    msg = NULL;
  free(body);
  return fail_take(e, code, msg);
}

int proto_fail(proto_error *e, proto_code code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfail(e, code, "", fmt, ap);
  va_end(ap);
  return -1;
}

static int invalid_request(proto_error *e, const char *fmt, ...)
  __attribute__((format(printf, 2, 3)));
static int invalid_request(proto_error *e, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfail(e, PROTO_INVALID_REQUEST, "invalid request: ", fmt, ap);
  va_end(ap);
  return -1;
}

static int invalid_params(proto_error *e, const char *fmt, ...)
  __attribute__((format(printf, 2, 3)));
static int invalid_params(proto_error *e, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfail(e, PROTO_INVALID_PARAMS, "invalid params: ", fmt, ap);
  va_end(ap);
  return -1;
}

static int encoding_error(proto_error *e, const char *fmt, ...)
  __attribute__((format(printf, 2, 3)));
static int encoding_error(proto_error *e, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfail(e, PROTO_ENCODING_ERROR, "encoding error: ", fmt, ap);
  va_end(ap);
  return -1;
}

void proto_error_clear(proto_error *e) {
  free(e->message);
  json_decref(e->data);
  *e = (proto_error)PROTO_ERROR_INIT;
}

/* ---- UTF-8 ---------------------------------------------------------------------------------- */

static inline bool utf8_tail(uint8_t c) {
  return (c & 0xC0) == 0x80;
}

/* Length of the valid multi-byte sequence at s (Unicode 15, table 3-7: no overlongs, no
 * surrogates, nothing above U+10FFFF), or 0 when it is not valid. */
static inline size_t utf8_sequence(const uint8_t *s, size_t n) {
  uint8_t c = s[0];
  if (c >= 0xC2 && c <= 0xDF)
    return n >= 2 && utf8_tail(s[1]) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    uint8_t lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    return n >= 3 && s[1] >= lo && s[1] <= hi && utf8_tail(s[2]) ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    uint8_t lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    return n >= 4 && s[1] >= lo && s[1] <= hi && utf8_tail(s[2]) && utf8_tail(s[3]) ? 4 : 0;
  }
  return 0;
}

/* Offset of the first byte that is not valid UTF-8, or n when all of s is. */
static size_t utf8_check(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    /* Keys and text values are mostly ASCII: skip such runs 8 bytes at a time. */
    while (n - i >= 8) {
      uint64_t w;
      memcpy(&w, s + i, 8);
      if (w & UINT64_C(0x8080808080808080))
        break;
      i += 8;
    }
    if (i == n)
      break;
    if (s[i] < 0x80) {
      i++;
      continue;
    }
    size_t len = utf8_sequence(s + i, n - i);
    if (len == 0)
      return i;
    i += len;
  }
  return n;
}

/* The longest prefix of valid UTF-8 s no longer than max that does not split a character. */
static size_t utf8_cut(const char *s, size_t len, size_t max) {
  if (len <= max)
    return len;
  size_t n = max;
  while (n > 0 && utf8_tail((uint8_t)s[n]))
    n--;
  return n;
}

/* A copy of s with every byte that is not valid UTF-8 replaced by U+FFFD. */
static char *utf8_repair(const char *s) {
  size_t n = strlen(s);
  char *out = malloc(n * 3 + 1);
  if (out == NULL)
    abort();
  size_t o = 0;
  for (size_t i = 0; i < n;) {
    size_t ok = utf8_check((const uint8_t *)s + i, n - i);
    memcpy(out + o, s + i, ok);
    o += ok;
    i += ok;
    if (i < n) {
      memcpy(out + o, "\xEF\xBF\xBD", 3);
      o += 3;
      i++;
    }
  }
  out[o] = '\0';
  return out;
}

/* A JSON string of s; text from outside (Java messages, jansson's "near" quotes) may not be
 * UTF-8, and an error must still be reported rather than lost. */
static json_t *json_text(const char *s) {
  json_t *v = json_string(s);
  if (v != NULL)
    return v;
  char *fixed = utf8_repair(s);
  v = json_string(fixed);
  free(fixed);
  return v;
}

/* ---- short renderings of values, for messages ----------------------------------------------- */

typedef struct render_buf {
  char text[PROTO_RENDER_MAX + 1 + 3 + 1];  /* one byte past the limit shows a cut; "..."; NUL */
  size_t len;
} render_buf;

static int render_chunk(const char *chunk, size_t n, void *data) {
  render_buf *rb = data;
  size_t room = PROTO_RENDER_MAX + 1 - rb->len;
  size_t take = n < room ? n : room;
  memcpy(rb->text + rb->len, chunk, take);
  rb->len += take;
  return take < n || rb->len > PROTO_RENDER_MAX ? -1 : 0;  /* stop jansson early: bounded work */
}

/* v as compact JSON, cut to about PROTO_RENDER_MAX bytes; valid UTF-8 either way. */
static const char *render(const json_t *v, render_buf *rb) {
  rb->len = 0;
  if (v == NULL) {
    rb->len = strlen(strcpy(rb->text, "nothing"));
    return rb->text;
  }
  json_dump_callback(v, render_chunk, rb, JSON_COMPACT | JSON_ENCODE_ANY);
  if (rb->len > PROTO_RENDER_MAX) {
    rb->len = utf8_cut(rb->text, rb->len, PROTO_RENDER_MAX);
    memcpy(rb->text + rb->len, "...", 3);
    rb->len += 3;
  }
  rb->text[rb->len] = '\0';
  return rb->text;
}

/* A member or parameter name (valid UTF-8, no NUL: jansson refuses those in keys) as a JSON
 * string, cut like render(). */
static const char *render_name(const char *name, render_buf *rb) {
  size_t n = utf8_cut(name, strlen(name), 2 * PROTO_RENDER_MAX);
  json_t *s = json_stringn_nocheck(name, n);
  render(s, rb);
  json_decref(s);
  return rb->text;
}

/* ---- proto_mem ------------------------------------------------------------------------------ */

struct proto_mem {
  proto_mem *next;
  max_align_t data[];
};

void *proto_mem_alloc(proto_mem **mem, size_t n) {
  if (n > SIZE_MAX - sizeof(proto_mem))
    abort();
  proto_mem *block = malloc(sizeof *block + n);
  if (block == NULL)
    abort();  /* as GLib does: a request cannot be served half-decoded */
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

/* ---- base64 (RFC 4648 section 4, the standard alphabet) ------------------------------------- */

static const char b64_alphabet[65] =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Each character's value plus one; 0 marks a character outside the alphabet. */
static const uint8_t b64_values[256] = {
  ['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7, ['H'] = 8,
  ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16,
  ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
  ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
  ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
  ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
  ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
  ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
};

static size_t b64_encode(const uint8_t *src, size_t n, char *dst) {
  char *d = dst;
  size_t i = 0;
  for (; n - i >= 3; i += 3) {
    uint32_t v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8 | src[i + 2];
    d[0] = b64_alphabet[v >> 18];
    d[1] = b64_alphabet[v >> 12 & 63];
    d[2] = b64_alphabet[v >> 6 & 63];
    d[3] = b64_alphabet[v & 63];
    d += 4;
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)src[i] << 16;
    d[0] = b64_alphabet[v >> 18];
    d[1] = b64_alphabet[v >> 12 & 63];
    d[2] = d[3] = '=';
    d += 4;
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8;
    d[0] = b64_alphabet[v >> 18];
    d[1] = b64_alphabet[v >> 12 & 63];
    d[2] = b64_alphabet[v >> 6 & 63];
    d[3] = '=';
    d += 4;
  }
  return (size_t)(d - dst);
}

/* Where and why a string is not base64. */
typedef struct b64_fault {
  size_t offset;
  char why[64];
} b64_fault;

static int b64_bad_char(const char *s, size_t at, b64_fault *f) {
  uint8_t c = (uint8_t)s[at];
  f->offset = at;
  if (c == '=')
    snprintf(f->why, sizeof f->why, "padding '=' before the end");
  else if (c == '-' || c == '_')
    snprintf(f->why, sizeof f->why, "'%c' (URL-safe base64 is not accepted)", c);
  else if (c > 0x20 && c < 0x7F)
    snprintf(f->why, sizeof f->why, "invalid character '%c'", c);
  else
    snprintf(f->why, sizeof f->why, "invalid byte 0x%02x", c);
  return -1;
}

/* Padding: none, or '=' / '==' completing the last group of four. Sets *data to the length of
 * the characters before it. */
static int b64_padding(const char *s, size_t n, size_t *data, b64_fault *f) {
  size_t pad = 0;
  while (pad < n && s[n - 1 - pad] == '=')
    pad++;
  *data = n - pad;
  if (pad == 0)
    return 0;
  f->offset = n - pad;
  if (pad > 2 || n % 4 != 0) {
    snprintf(f->why, sizeof f->why, "wrong padding");
    return -1;
  }
  return 0;
}

/* Decodes n characters of s into dst (room for n / 4 * 3 + 2 bytes). Returns the decoded
 * length, or -1 with f set. Non-zero bits in the last character are refused: two strings must
 * never decode to the same bytes. */
static int b64_decode(const char *s, size_t n, uint8_t *dst, size_t *out_len, b64_fault *f) {
  size_t len;
  if (b64_padding(s, n, &len, f) < 0)
    return -1;
  const uint8_t *u = (const uint8_t *)s;
  uint8_t *d = dst;
  size_t i = 0;
  for (; len - i >= 4; i += 4) {
    uint32_t a = b64_values[u[i]], b = b64_values[u[i + 1]];
    uint32_t c = b64_values[u[i + 2]], e = b64_values[u[i + 3]];
    if (a == 0 || b == 0 || c == 0 || e == 0)
      return b64_bad_char(s, i + (a == 0 ? 0 : b == 0 ? 1 : c == 0 ? 2 : 3), f);
    uint32_t v = (a - 1) << 18 | (b - 1) << 12 | (c - 1) << 6 | (e - 1);
    d[0] = (uint8_t)(v >> 16);
    d[1] = (uint8_t)(v >> 8);
    d[2] = (uint8_t)v;
    d += 3;
  }
  uint32_t v = 0;
  size_t rest = len - i;
  for (size_t k = 0; k < rest; k++) {
    uint32_t x = b64_values[u[i + k]];
    if (x == 0)
      return b64_bad_char(s, i + k, f);
    v |= (x - 1) << (18 - 6 * k);
  }
  /* Checked after the characters: a stray "\n" is a better thing to report than a length. */
  if (rest == 1) {
    f->offset = len - 1;
    snprintf(f->why, sizeof f->why, "a lone final character");
    return -1;
  }
  if ((rest == 2 && (v & 0xFFFF) != 0) || (rest == 3 && (v & 0xFF) != 0)) {
    f->offset = len - 1;
    snprintf(f->why, sizeof f->why, "non-zero bits after the last byte");
    return -1;
  }
  if (rest >= 2)
    *d++ = (uint8_t)(v >> 16);
  if (rest == 3)
    *d++ = (uint8_t)(v >> 8);
  *out_len = (size_t)(d - dst);
  return 0;
}

/* ---- parsing lines -------------------------------------------------------------------------- */

bool proto_line_blank(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
      return false;
  return true;
}

static void parse_fail(proto_error *e, const char *line, size_t len, const json_error_t *jerr) {
  switch (json_error_code(jerr)) {
  case json_error_invalid_utf8: {
    /* Our own scan names the exact byte; jansson's text quotes the broken bytes themselves. */
    size_t at = utf8_check((const uint8_t *)line, len);
    if (at < len) {
      proto_fail(e, PROTO_PARSE_ERROR,
                 "parse error: the line is not valid UTF-8 JSON: byte 0x%02x at offset %zu is "
                 "not valid UTF-8", (uint8_t)line[at], at);
      return;
    }
    proto_fail(e, PROTO_PARSE_ERROR, "parse error: the line is not valid UTF-8 JSON (at offset %d)",
               jerr->position);
    return;
  }
  case json_error_stack_overflow:
    proto_fail(e, PROTO_PARSE_ERROR, "parse error: nested deeper than %d levels (at offset %d)",
               JSON_PARSER_MAX_DEPTH, jerr->position);
    return;
  default:
    proto_fail(e, PROTO_PARSE_ERROR, "parse error: %s (at offset %d)", jerr->text, jerr->position);
  }
}

json_t *proto_parse_line(const char *line, size_t len, proto_error *e) {
  if (proto_line_blank(line, len)) {
    proto_fail(e, PROTO_PARSE_ERROR, "parse error: the line is empty");
    return NULL;
  }
  /* Duplicate names would make a request ambiguous; \u0000 is legal JSON and HBase bytes may
   * hold it. */
  json_error_t jerr;
  json_t *v = json_loadb(line, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
                         &jerr);
  if (v == NULL) {
    parse_fail(e, line, len, &jerr);
    return NULL;
  }
  if (json_is_object(v) || (json_is_array(v) && json_array_size(v) > 0))
    return v;
  render_buf rb;
  if (json_is_array(v))
    invalid_request(e, "an empty batch: a batch array must hold at least one request");
  else
    invalid_request(e, "a line must hold a request object or a batch array of them, not %s",
                    render(v, &rb));
  json_decref(v);
  return NULL;
}

/* ---- requests ------------------------------------------------------------------------------- */

/* Compares a JSON string with a C string byte for byte: "2.0\u0000x" is not "2.0". */
static bool json_str_is(const json_t *v, const char *s) {
  size_t n = strlen(s);
  return json_is_string(v) && json_string_length(v) == n && memcmp(json_string_value(v), s, n) == 0;
}

/* Strings that reach C code as char * must not hide a NUL: "ping\u0000x" would read as "ping". */
static bool json_str_has_nul(const json_t *v) {
  return strlen(json_string_value(v)) != json_string_length(v);
}

static int read_id(proto_request *r, proto_error *e) {
  json_t *id = json_object_get(r->msg, "id");
  if (id == NULL)
    return 0;
  if (!json_is_string(id) && !json_is_integer(id) && !json_is_null(id)) {
    render_buf rb;
    return invalid_request(e, "\"id\" must be a string, an integer or null, not %s",
                           render(id, &rb));
  }
  r->id = json_incref(id);
  return 0;
}

static int check_version(const json_t *msg, proto_error *e) {
  json_t *v = json_object_get(msg, "jsonrpc");
  if (v == NULL)
    return invalid_request(e, "\"jsonrpc\": \"2.0\" is missing");
  if (!json_str_is(v, "2.0")) {
    render_buf rb;
    return invalid_request(e, "\"jsonrpc\" must be \"2.0\", not %s", render(v, &rb));
  }
  return 0;
}

static int read_method(proto_request *r, proto_error *e) {
  json_t *v = json_object_get(r->msg, "method");
  render_buf rb;
  if (v == NULL)
    return invalid_request(e, "\"method\" is missing");
  if (!json_is_string(v))
    return invalid_request(e, "\"method\" must be a string, not %s", render(v, &rb));
  if (json_string_length(v) == 0)
    return invalid_request(e, "\"method\" must not be empty");
  if (json_str_has_nul(v))
    return invalid_request(e, "\"method\" must not contain NUL characters");
  r->method = json_string_value(v);
  return 0;
}

static int check_members(const json_t *msg, proto_error *e) {
  static const char *const known[] = {"jsonrpc", "method", "params", "id"};
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)msg, key, v) {
    bool ok = false;
    for (size_t i = 0; i < sizeof known / sizeof known[0] && !ok; i++)
      ok = strcmp(key, known[i]) == 0;
    if (!ok) {
      render_buf rb;
      return invalid_request(e, "unknown member %s (a request has only \"jsonrpc\", \"method\", "
                             "\"params\" and \"id\")", render_name(key, &rb));
    }
  }
  return 0;
}

/* r->params holds its own reference, so that an absent params can be a fresh empty object
 * without changing the client's message. */
static int read_params(proto_request *r, proto_error *e) {
  json_t *v = json_object_get(r->msg, "params");
  if (json_is_object(v)) {
    r->params = json_incref(v);
    return 0;
  }
  if (v == NULL) {
    r->params = json_object();
    if (r->params == NULL)
      return proto_fail(e, PROTO_INTERNAL_ERROR, "internal error: out of memory");
    return 0;
  }
  if (json_is_array(v))
    return invalid_request(e, "\"params\" must be an object with named parameters, not an array "
                           "(parameters by position are not supported)");
  render_buf rb;
  return invalid_request(e, "\"params\" must be an object with named parameters, not %s",
                         render(v, &rb));
}

static int read_encoding(proto_request *r, proto_error *e) {
  json_t *v = json_object_get(r->params, "encoding");
  if (v == NULL || json_is_null(v) || json_str_is(v, "utf8"))
    return 0;
  if (json_str_is(v, "base64")) {
    r->encoding = PROTO_BASE64;
    return 0;
  }
  render_buf rb;
  return invalid_params(e, "\"encoding\" must be \"utf8\" or \"base64\", not %s", render(v, &rb));
}

int proto_request_init(proto_request *r, json_t *msg, proto_error *e) {
  /* The reference is taken even on failure: r->id points into msg and the error reply needs it. */
  *r = (proto_request){.encoding = PROTO_UTF8, .msg = json_incref(msg)};
  if (!json_is_object(msg)) {
    render_buf rb;
    return invalid_request(e, "a request must be a JSON object, not %s", render(msg, &rb));
  }
  if (read_id(r, e) < 0 || check_version(msg, e) < 0 || read_method(r, e) < 0 ||
      check_members(msg, e) < 0 || read_params(r, e) < 0)
    return -1;
  return read_encoding(r, e);
}

void proto_request_release(proto_request *r) {
  json_decref(r->params);
  json_decref(r->msg);
  r->params = r->msg = NULL;
  r->method = NULL;
}

void proto_request_clear(proto_request *r) {
  proto_request_release(r);
  json_decref(r->id);
  *r = (proto_request){.encoding = PROTO_UTF8};
}

/* ---- response lines ------------------------------------------------------------------------- */

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
    char *p = realloc(t->p, cap);
    if (p == NULL)
      abort();
    t->p = p;
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
    case '"': case '\\': break;
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

/* v as compact JSON + "\n", or NULL when jansson cannot write it. Insertion order is kept by
 * jansson (>= 2.8), which keeps "jsonrpc", "id", "result" first in that order. */
static char *dump_line(const json_t *v) {
  proto_text t = PROTO_TEXT_INIT;
  if (proto_text_json(&t, v) < 0) {
    proto_text_free(&t);
    return NULL;
  }
  proto_text_add(&t, "\n", 2);  /* and the NUL */
  return t.p;
}

/* {"jsonrpc": "2.0", "id": id}, to which the result or the error is added. */
static json_t *response(json_t *id) {
  json_t *resp = json_object();
  if (resp == NULL)
    return NULL;
  json_object_set_new_nocheck(resp, "jsonrpc", json_string_nocheck("2.0"));
  json_object_set_new_nocheck(resp, "id", id != NULL ? json_incref(id) : json_null());
  return resp;
}

char *proto_result_line(json_t *id, json_t *result) {
  json_t *resp = response(id);
  if (resp == NULL) {
    json_decref(result);
    return NULL;
  }
  json_object_set_new_nocheck(resp, "result", result != NULL ? result : json_null());
  char *line = dump_line(resp);
  json_decref(resp);
  if (line != NULL)
    return line;
  /* Only a string made without jansson's UTF-8 check can get here: report it, not nothing. */
  proto_error e = PROTO_ERROR_INIT;
  proto_fail(&e, PROTO_INTERNAL_ERROR, "internal error: the result could not be written as JSON");
  line = proto_error_line(id, &e);
  proto_error_clear(&e);
  return line;
}

/* {"error": name, "retryable": bool} followed by the caller's fields, which cannot override the
 * two. */
static json_t *error_data(proto_code code, const proto_error *e, bool with_extra) {
  json_t *data = json_object();
  if (data == NULL)
    return NULL;
  json_object_set_new_nocheck(data, "error", json_string_nocheck(proto_code_name(code)));
  json_object_set_new_nocheck(data, "retryable", json_boolean(e->retryable));
  if (!with_extra || !json_is_object(e->data))
    return data;
  const char *key;
  json_t *v;
  json_object_foreach(e->data, key, v) {
    if (strcmp(key, "error") != 0 && strcmp(key, "retryable") != 0)
      json_object_set_nocheck(data, key, v);
  }
  return data;
}

static char *error_line(json_t *id, const proto_error *e, bool with_extra) {
  /* A zeroed or foreign code still gets a documented one. */
  proto_code code = code_name(e->code) != NULL ? e->code : PROTO_INTERNAL_ERROR;
  const char *message = e->message != NULL ? e->message : proto_code_name(code);
  json_t *err = json_object();
  json_t *resp = response(id);
  if (err == NULL || resp == NULL) {
    json_decref(err);
    json_decref(resp);
    return NULL;
  }
  json_object_set_new_nocheck(err, "code", json_integer(code));
  json_object_set_new_nocheck(err, "message", json_text(message));
  json_object_set_new_nocheck(err, "data", error_data(code, e, with_extra));
  json_object_set_new_nocheck(resp, "error", err);
  char *line = dump_line(resp);
  json_decref(resp);
  return line;
}

char *proto_error_line(json_t *id, const proto_error *e) {
  char *line = error_line(id, e, true);
  /* A value in e->data that jansson cannot write must not cost the client its error. */
  return line != NULL ? line : error_line(id, e, false);
}

char *proto_batch_line(char *const *members, size_t n) {
  size_t total = 4;  /* "[", "]", "\n", NUL */
  for (size_t i = 0; i < n; i++)
    if (members[i] != NULL)
      total += strlen(members[i]) + 1;
  char *line = malloc(total);
  if (line == NULL)
    abort();
  size_t o = 0;
  line[o++] = '[';
  for (size_t i = 0; i < n; i++) {
    if (members[i] == NULL)
      continue;  /* a notification's slot: nothing to say */
    size_t len = strlen(members[i]);
    if (len > 0 && members[i][len - 1] == '\n')
      len--;
    if (o > 1)
      line[o++] = ',';
    memcpy(line + o, members[i], len);
    o += len;
  }
  memcpy(line + o, "]\n", 3);
  return line;
}

/* ---- HBase failures ------------------------------------------------------------------------- */

/* The Java exception's first line, trimmed: the message a person reads; the rest is data.detail. */
/* The first line of a Java exception's text, trimmed; what names the exception if it is blank. */
static char *first_line(const char *text, const char *what) {
  const char *start = text, *end = strchr(text, '\n');
  if (end == NULL)
    end = text + strlen(text);
  while (start < end && (*start == ' ' || *start == '\t' || *start == '\r'))
    start++;
  while (end > start && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
    end--;
  if (start == end) {
    char *s = NULL;
    return asprintf(&s, "%s (see data.detail)", what) < 0 ? NULL : s;
  }
  return strndup(start, (size_t)(end - start));
}

/* An HBase exception: its first line as the message, all of it in data.detail (always for
 * IOError, as documented; for the others only when there is more than that line). */
static void fail_java(proto_error *e, proto_code code, const char *what, const char *text,
                      bool always_detail) {
  fail_take(e, code, first_line(text, what));
  if (!always_detail && e->message != NULL && strcmp(e->message, text) == 0)
    return;
  e->data = json_object();
  if (e->data != NULL)
    json_object_set_new_nocheck(e->data, "detail", json_text(text));
}

int proto_fail_hb(proto_error *e, const hb_error *err, bool applied) {
  if (e == NULL)
    return -1;
  if (err == NULL || err->code == HB_OK)
    return proto_fail(e, PROTO_INTERNAL_ERROR, "internal error: a failure without a cause");
  const char *text = err->message != NULL ? err->message : hb_errcode_name(err->code);
  proto_code code = PROTO_INTERNAL_ERROR;
  bool retryable = false;
  switch (err->code) {
  case HB_OK: break;
  case HB_ERR_IO:
    fail_java(e, PROTO_HBASE_IO_ERROR, "HBase IOError", text, true);
    e->retryable = err->retryable && !applied; /* IOError.canRetry: HBase itself says */
    return -1;
  case HB_ERR_ILLEGAL_ARGUMENT:
    fail_java(e, PROTO_HBASE_ILLEGAL_ARGUMENT, "HBase IllegalArgument", text, false);
    return -1;
  case HB_ERR_ALREADY_EXISTS: code = PROTO_HBASE_ALREADY_EXISTS; break;
  case HB_ERR_INVALID:
    return invalid_params(e, "%s", text);
  /* Nothing was sent: any request may be sent again. */
  case HB_ERR_UNAVAILABLE: code = PROTO_GATEWAY_UNAVAILABLE; retryable = true; break;
  case HB_ERR_QUEUE_TIMEOUT: code = PROTO_NO_CONNECTION; retryable = true; break;
  case HB_ERR_OVERLOADED: code = PROTO_TOO_MANY_REQUESTS; retryable = true; break;
  /* The call may have reached HBase: a write (or an increment) may already have been applied. */
  case HB_ERR_TIMEOUT: code = PROTO_REQUEST_TIMEOUT; retryable = !applied; break;
  case HB_ERR_TRANSPORT: code = PROTO_GATEWAY_ERROR; retryable = !applied; break;
  /* The gateway could not process the call (a bad filter or table name): it will again. */
  case HB_ERR_APPLICATION: code = PROTO_GATEWAY_ERROR; break;
  }
  proto_fail(e, code, "%s", text);
  e->retryable = retryable;
  return -1;
}

/* ---- parameters ----------------------------------------------------------------------------- */

/* The parameter's value, or NULL when it is absent or null. */
static json_t *param_get(const proto_request *r, const char *name) {
  json_t *v = json_object_get(r->params, name);
  return json_is_null(v) ? NULL : v;
}

static int param_absent(const char *name, bool required, proto_error *e) {
  return required ? invalid_params(e, "\"%s\" is required", name) : 0;
}

int proto_param_string(const proto_request *r, const char *name, bool required, const char **out,
                       proto_error *e) {
  json_t *v = param_get(r, name);
  if (v == NULL)
    return param_absent(name, required, e);
  render_buf rb;
  if (!json_is_string(v))
    return invalid_params(e, "\"%s\" must be a string, not %s", name, render(v, &rb));
  if (json_str_has_nul(v))
    return invalid_params(e, "\"%s\" must not contain NUL characters", name);
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
  render_buf rb;
  describe_range(range, sizeof range, min, max);
  return invalid_params(e, "\"%s\" must be %s, not %s", name, range, render(v, &rb));
}

int proto_param_bool(const proto_request *r, const char *name, bool required, bool *out,
                     proto_error *e) {
  json_t *v = param_get(r, name);
  if (v == NULL)
    return param_absent(name, required, e);
  if (!json_is_boolean(v)) {
    render_buf rb;
    return invalid_params(e, "\"%s\" must be true or false, not %s", name, render(v, &rb));
  }
  *out = json_is_true(v);
  return 0;
}

/* In utf8 mode the bytes are the string's own, borrowed from the request for its lifetime: a
 * copy of every value of a large put would buy nothing. base64 is decoded into mem. On failure
 * f says why when v is a string (f->why is empty when it is not). */
static int to_bytes(const json_t *v, proto_encoding enc, proto_mem **mem, hbc_bytes *out,
                    b64_fault *f) {
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
  if (b64_decode(s, n, dst, &len, f) < 0)
    return -1;
  *out = (hbc_bytes){dst, len};
  return 0;
}

/* Reports a failure of to_bytes, naming the value what. */
static int bytes_fail(proto_error *e, const json_t *v, proto_encoding enc, const char *what,
                      const b64_fault *f) {
  render_buf rb;
  if (!json_is_string(v))
    return invalid_params(e, "%s must be a %sstring, not %s", what,
                          enc == PROTO_BASE64 ? "base64 " : "", render(v, &rb));
  return encoding_error(e, "%s is not valid base64: %s at offset %zu (the request's \"encoding\" "
                        "is \"base64\")", what, f->why, f->offset);
}

/* Like bytes_fail for a parameter: the name is quoted, with the index of a list's item. */
static int param_bytes_fail(proto_error *e, const json_t *v, proto_encoding enc, const char *name,
                            size_t index, bool indexed, const b64_fault *f) {
  char *what = NULL;
  int rc = indexed ? asprintf(&what, "\"%s\"[%zu]", name, index) : asprintf(&what, "\"%s\"", name);
  if (rc < 0)
    abort();
  bytes_fail(e, v, enc, what, f);
  free(what);
  return -1;
}

int proto_json_to_bytes(const json_t *v, proto_encoding enc, const char *what, proto_mem **mem,
                        hbc_bytes *out, proto_error *e) {
  b64_fault f;
  if (to_bytes(v, enc, mem, out, &f) == 0)
    return 0;
  return bytes_fail(e, v, enc, what != NULL ? what : "a value", &f);
}

int proto_param_bytes(const proto_request *r, const char *name, bool required, proto_mem **mem,
                      hbc_bytes *out, proto_error *e) {
  json_t *v = param_get(r, name);
  if (v == NULL)
    return param_absent(name, required, e);
  b64_fault f;
  if (to_bytes(v, r->encoding, mem, out, &f) == 0)
    return 0;
  return param_bytes_fail(e, v, r->encoding, name, 0, false, &f);
}

int proto_param_bytes_list(const proto_request *r, const char *name, bool required,
                           proto_mem **mem, hbc_bytes **out, size_t *n, proto_error *e) {
  json_t *v = param_get(r, name);
  if (v == NULL) {
    *out = NULL;
    *n = 0;
    return param_absent(name, required, e);
  }
  if (!json_is_array(v)) {
    render_buf rb;
    return invalid_params(e, "\"%s\" must be a list of strings, not %s", name, render(v, &rb));
  }
  size_t count = json_array_size(v);
  if (count > SIZE_MAX / sizeof(hbc_bytes))
    abort();
  hbc_bytes *items = proto_mem_alloc(mem, count * sizeof *items);
  for (size_t i = 0; i < count; i++) {
    json_t *item = json_array_get(v, i);
    b64_fault f;
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
  char *buf = n <= sizeof stack ? stack : malloc(n);
  if (buf == NULL)
    abort();
  b64_encode(b.data, b.len, buf);
  json_t *s = json_stringn_nocheck(buf, n);  /* the alphabet is ASCII: nothing to check */
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
    b.data = (const uint8_t *)"";  /* an empty value may come without storage */
  size_t bad = utf8_check(b.data, b.len);
  if (bad < b.len) {
    encoding_error(e, "%s is not valid UTF-8 (byte 0x%02x at offset %zu); use \"encoding\": "
                   "\"base64\" to read binary data", what != NULL ? what : "a value",
                   b.data[bad], bad);
    return NULL;
  }
  /* Checked above, strictly: jansson's own check would scan the bytes a second time. */
  json_t *s = json_stringn_nocheck((const char *)b.data, b.len);
  if (s == NULL)
    proto_fail(e, PROTO_INTERNAL_ERROR, "internal error: out of memory");
  return s;
}

int proto_text_bytes(proto_text *t, hbc_bytes b, proto_encoding enc, const char *what,
                     proto_error *e) {
  if (enc == PROTO_BASE64) {
    if (b.len > SIZE_MAX / 4 * 3 - 3)
      return proto_fail(e, PROTO_INTERNAL_ERROR,
                        "internal error: %zu bytes are too many to encode", b.len);
    char *at = text_room(t, (b.len + 2) / 3 * 4 + 2);
    at[0] = '"';
    size_t n = b64_encode(b.data, b.len, at + 1);
    at[n + 1] = '"';
    t->len += n + 2;
    return 0;
  }
  if (b.len == 0)
    b.data = (const uint8_t *)"";
  size_t bad = utf8_check(b.data, b.len);
  if (bad < b.len)
    return encoding_error(e, "%s is not valid UTF-8 (byte 0x%02x at offset %zu); use "
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
  proto_text_add(t, "}\n", 3);  /* and the NUL */
  char *line = t->p;
  *t = (proto_text)PROTO_TEXT_INIT;
  return line;
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
  render_buf rb;
  if (i >= PROTO_UNKNOWN_MAX)
    return;
  if (i > 0)
    proto_text_puts(sb, i + 1 == total ? " and " : ", ");
  render_name(key, &rb);
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
  invalid_params(e, "%s", sb.p);
  free(sb.p);
  return -1;
}
