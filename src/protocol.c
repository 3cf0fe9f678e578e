/* protocol: hbpoold's JSON-RPC 2.0 envelope (see protocol.h): lines parsed into requests, and
 * result, error and batch lines written back. */
#include "protocol.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "xmalloc.h"

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
    size_t at = codec_utf8_check((const uint8_t *)line, len);
    if (at < len) {
      proto_fail(e, PROTO_PARSE_ERROR,
                 "parse error: the line is not valid UTF-8 JSON: byte 0x%02x at offset %zu is "
                 "not valid UTF-8",
                 (uint8_t)line[at], at);
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
  assert(line != NULL || len == 0);
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
  proto_render_buf rb;
  if (json_is_array(v))
    proto_fail_request(e, "an empty batch: a batch array must hold at least one request");
  else
    proto_fail_request(e, "a line must hold a request object or a batch array of them, not %s",
                       proto_render(v, &rb));
  json_decref(v);
  return NULL;
}

/* ---- requests ------------------------------------------------------------------------------- */

/* Compares a JSON string with a C string byte for byte: "2.0\u0000x" is not "2.0". */
static bool json_str_is(const json_t *v, const char *s) {
  size_t n = strlen(s);
  return json_is_string(v) && json_string_length(v) == n && memcmp(json_string_value(v), s, n) == 0;
}

bool proto_string_has_nul(const json_t *v) {
  return strlen(json_string_value(v)) != json_string_length(v);
}

static int read_id(proto_request *r, proto_error *e) {
  json_t *id = json_object_get(r->msg, "id");
  if (id == NULL)
    return 0;
  if (!json_is_string(id) && !json_is_integer(id) && !json_is_null(id)) {
    proto_render_buf rb;
    return proto_fail_request(e, "\"id\" must be a string, an integer or null, not %s",
                              proto_render(id, &rb));
  }
  r->id = json_incref(id);
  return 0;
}

static int check_version(const json_t *msg, proto_error *e) {
  json_t *v = json_object_get(msg, "jsonrpc");
  if (v == NULL)
    return proto_fail_request(e, "\"jsonrpc\": \"2.0\" is missing");
  if (!json_str_is(v, "2.0")) {
    proto_render_buf rb;
    return proto_fail_request(e, "\"jsonrpc\" must be \"2.0\", not %s", proto_render(v, &rb));
  }
  return 0;
}

static int read_method(proto_request *r, proto_error *e) {
  json_t *v = json_object_get(r->msg, "method");
  proto_render_buf rb;
  if (v == NULL)
    return proto_fail_request(e, "\"method\" is missing");
  if (!json_is_string(v))
    return proto_fail_request(e, "\"method\" must be a string, not %s", proto_render(v, &rb));
  if (json_string_length(v) == 0)
    return proto_fail_request(e, "\"method\" must not be empty");
  if (proto_string_has_nul(v))
    return proto_fail_request(e, "\"method\" must not contain NUL characters");
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
      proto_render_buf rb;
      return proto_fail_request(e,
                                "unknown member %s (a request has only \"jsonrpc\", \"method\", "
                                "\"params\" and \"id\")",
                                proto_render_name(key, &rb));
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
    return proto_fail_request(e,
                              "\"params\" must be an object with named parameters, not an array "
                              "(parameters by position are not supported)");
  proto_render_buf rb;
  return proto_fail_request(e, "\"params\" must be an object with named parameters, not %s",
                            proto_render(v, &rb));
}

static int read_encoding(proto_request *r, proto_error *e) {
  json_t *v = json_object_get(r->params, "encoding");
  if (v == NULL || json_is_null(v) || json_str_is(v, "utf8"))
    return 0;
  if (json_str_is(v, "base64")) {
    r->encoding = PROTO_BASE64;
    return 0;
  }
  proto_render_buf rb;
  return proto_fail_params(e, "\"encoding\" must be \"utf8\" or \"base64\", not %s",
                           proto_render(v, &rb));
}

int proto_request_init(proto_request *r, json_t *msg, proto_error *e) {
  /* The reference is taken even on failure: r->id points into msg and the error reply needs it. */
  *r = (proto_request){.encoding = PROTO_UTF8, .msg = json_incref(msg)};
  if (!json_is_object(msg)) {
    proto_render_buf rb;
    return proto_fail_request(e, "a request must be a JSON object, not %s", proto_render(msg, &rb));
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

/* v as compact JSON + "\n", or NULL when jansson cannot write it. Insertion order is kept by
 * jansson (>= 2.8), which keeps "jsonrpc", "id", "result" first in that order. */
static char *dump_line(const json_t *v) {
  proto_text t = PROTO_TEXT_INIT;
  if (proto_text_json(&t, v) < 0) {
    proto_text_free(&t);
    return NULL;
  }
  proto_text_add(&t, "\n", 2); /* and the NUL */
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
  proto_code code = proto_code_known(e->code) ? e->code : PROTO_INTERNAL_ERROR;
  const char *message = e->message != NULL ? e->message : proto_code_name(code);
  json_t *err = json_object();
  json_t *resp = response(id);
  if (err == NULL || resp == NULL) {
    json_decref(err);
    json_decref(resp);
    return NULL;
  }
  json_object_set_new_nocheck(err, "code", json_integer(code));
  json_object_set_new_nocheck(err, "message", proto_json_text(message));
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
  size_t total = 4; /* "[", "]", "\n", NUL */
  for (size_t i = 0; i < n; i++)
    if (members[i] != NULL)
      total += strlen(members[i]) + 1;
  char *line = xmalloc(total);
  size_t o = 0;
  line[o++] = '[';
  for (size_t i = 0; i < n; i++) {
    if (members[i] == NULL)
      continue; /* a notification's slot: nothing to say */
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
