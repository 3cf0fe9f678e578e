/* proto_error: the errors hbpoold replies with: stable codes, messages that name the parameter
 * or value at fault, HBase failures mapped to codes, and short renderings of a client's values. */
#include "proto_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "xmalloc.h"

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
  case PROTO_FORBIDDEN: return "forbidden";
  case PROTO_CANCELLED: return "cancelled";
  }
  return NULL;
}

bool proto_code_known(proto_code code) {
  return code_name(code) != NULL;
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
  char *body = xvasprintf(fmt, ap);
  char *msg = xasprintf("%s%s", prefix, body);
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

int proto_fail_request(proto_error *e, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfail(e, PROTO_INVALID_REQUEST, "invalid request: ", fmt, ap);
  va_end(ap);
  return -1;
}

int proto_fail_params(proto_error *e, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfail(e, PROTO_INVALID_PARAMS, "invalid params: ", fmt, ap);
  va_end(ap);
  return -1;
}

int proto_fail_encoding(proto_error *e, const char *fmt, ...) {
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

json_t *proto_json_text(const char *s) {
  json_t *v = json_string(s);
  if (v != NULL)
    return v;
  char *fixed = codec_utf8_repair(s);
  v = json_string(fixed);
  free(fixed);
  return v;
}

static int render_chunk(const char *chunk, size_t n, void *data) {
  proto_render_buf *rb = data;
  size_t room = PROTO_RENDER_MAX + 1 - rb->len;
  size_t take = n < room ? n : room;
  memcpy(rb->text + rb->len, chunk, take);
  rb->len += take;
  return take < n || rb->len > PROTO_RENDER_MAX ? -1 : 0; /* stop jansson early: bounded work */
}

const char *proto_render(const json_t *v, proto_render_buf *rb) {
  rb->len = 0;
  if (v == NULL) {
    rb->len = strlen(strcpy(rb->text, "nothing"));
    return rb->text;
  }
  json_dump_callback(v, render_chunk, rb, JSON_COMPACT | JSON_ENCODE_ANY);
  if (rb->len > PROTO_RENDER_MAX) {
    rb->len = codec_utf8_cut(rb->text, rb->len, PROTO_RENDER_MAX);
    memcpy(rb->text + rb->len, "...", 3);
    rb->len += 3;
  }
  rb->text[rb->len] = '\0';
  return rb->text;
}

const char *proto_render_name(const char *name, proto_render_buf *rb) {
  size_t n = codec_utf8_cut(name, strlen(name), 2 * PROTO_RENDER_MAX);
  json_t *s = json_stringn_nocheck(name, n);
  proto_render(s, rb);
  json_decref(s);
  return rb->text;
}

/* ---- HBase failures ------------------------------------------------------------------------- */

/* The first line of a Java exception's text, trimmed; what names the exception if it is blank. */
static char *first_line(const char *text, const char *what) {
  const char *start = text, *end = strchr(text, '\n');
  if (end == NULL)
    end = text + strlen(text);
  while (start < end && (*start == ' ' || *start == '\t' || *start == '\r'))
    start++;
  while (end > start && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
    end--;
  if (start == end)
    return xasprintf("%s (see data.detail)", what);
  return xstrndup(start, (size_t)(end - start));
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
    json_object_set_new_nocheck(e->data, "detail", proto_json_text(text));
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
  case HB_ERR_INVALID: return proto_fail_params(e, "%s", text);
  /* Nothing was sent: any request may be sent again. */
  case HB_ERR_UNAVAILABLE:
    code = PROTO_GATEWAY_UNAVAILABLE;
    retryable = true;
    break;
  case HB_ERR_QUEUE_TIMEOUT:
    code = PROTO_NO_CONNECTION;
    retryable = true;
    break;
  case HB_ERR_OVERLOADED:
    code = PROTO_TOO_MANY_REQUESTS;
    retryable = true;
    break;
  case HB_ERR_CANCELLED:
    code = PROTO_CANCELLED;
    retryable = true;
    break;
  /* The call may have reached HBase: a write (or an increment) may already have been applied. */
  case HB_ERR_TIMEOUT:
    code = PROTO_REQUEST_TIMEOUT;
    retryable = !applied;
    break;
  case HB_ERR_TRANSPORT:
    code = PROTO_GATEWAY_ERROR;
    retryable = !applied;
    break;
  /* The gateway could not process the call (a bad filter or table name): it will again. */
  case HB_ERR_APPLICATION: code = PROTO_GATEWAY_ERROR; break;
  }
  proto_fail(e, code, "%s", text);
  e->retryable = retryable;
  return -1;
}
