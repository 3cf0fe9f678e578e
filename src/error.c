/* error: the one error idiom of hbpool (see error.h). */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "xmalloc.h"

int hb_error_take(hb_error *err, hb_errcode code, char *message) {
  if (err == NULL) {
    free(message);
    return -1;
  }
  free(err->message);
  err->code = code;
  err->retryable = false;
  err->message = message;
  return -1;
}

int hb_error_set(hb_error *err, hb_errcode code, const char *fmt, ...) {
  if (err == NULL)
    return -1;
  va_list ap;
  va_start(ap, fmt);
  char *msg = xvasprintf(fmt, ap);
  va_end(ap);
  return hb_error_take(err, code, msg);
}

void hb_error_clear(hb_error *err) {
  free(err->message);
  err->code = HB_OK;
  err->retryable = false;
  err->message = NULL;
}

const char *hb_errcode_name(hb_errcode code) {
  switch (code) {
  case HB_OK: return "ok";
  case HB_ERR_IO: return "hbase_io_error";
  case HB_ERR_ILLEGAL_ARGUMENT: return "hbase_illegal_argument";
  case HB_ERR_ALREADY_EXISTS: return "hbase_already_exists";
  case HB_ERR_APPLICATION: return "thrift_application_error";
  case HB_ERR_TRANSPORT: return "transport_error";
  case HB_ERR_TIMEOUT: return "timeout";
  case HB_ERR_INVALID: return "invalid_argument";
  case HB_ERR_UNAVAILABLE: return "gateway_unavailable";
  case HB_ERR_QUEUE_TIMEOUT: return "no_connection_available";
  case HB_ERR_OVERLOADED: return "too_many_requests";
  case HB_ERR_CANCELLED: return "cancelled";
  }
  return "unknown";
}

bool hb_error_breaks_connection(hb_errcode code) {
  return code == HB_ERR_APPLICATION || code == HB_ERR_TRANSPORT || code == HB_ERR_TIMEOUT;
}
