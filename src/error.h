/* error: the one error idiom of hbpool: functions return 0 or -1 and fill a caller's hb_error. */
#ifndef HBPOOL_ERROR_H
#define HBPOOL_ERROR_H

#include <stdbool.h>

typedef enum hb_errcode {
  HB_OK = 0,
  HB_ERR_IO,               /* HBase IOError: the call failed in HBase; the connection is fine */
  HB_ERR_ILLEGAL_ARGUMENT, /* HBase IllegalArgument; the connection is fine */
  HB_ERR_ALREADY_EXISTS,   /* HBase AlreadyExists (createTable); the connection is fine */
  HB_ERR_APPLICATION,      /* Thrift TApplicationException: replace the connection */
  HB_ERR_TRANSPORT,        /* connect/send/receive/protocol failure: replace the connection */
  HB_ERR_TIMEOUT,          /* a deadline passed mid-call: replace the connection */
  HB_ERR_INVALID,          /* the caller's arguments were refused before anything was sent */
  HB_ERR_UNAVAILABLE,      /* the gateway cannot be reached: the request was not sent */
  HB_ERR_QUEUE_TIMEOUT,    /* no connection became free in time: the request was not sent */
  HB_ERR_OVERLOADED,       /* too many requests already wait: the request was not sent */
  HB_ERR_CANCELLED,        /* its client left before it was sent: it was not */
} hb_errcode;

typedef struct hb_error {
  hb_errcode code;
  bool retryable; /* IOError.canRetry as the gateway reported it */
  char *message;  /* owned; NULL when code is HB_OK */
} hb_error;

#define HB_ERROR_INIT                                                                              \
  { HB_OK, false, NULL }

/* Sets *err (if err is not NULL), replacing any earlier error. Always returns -1. */
int hb_error_set(hb_error *err, hb_errcode code, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));
/* Takes ownership of message (may be NULL). Always returns -1. */
int hb_error_take(hb_error *err, hb_errcode code, char *message);
void hb_error_clear(hb_error *err);
const char *hb_errcode_name(hb_errcode code);
/* True for the errors after which the connection must be closed and replaced. */
bool hb_error_breaks_connection(hb_errcode code);

#endif
