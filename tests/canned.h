/* canned: Thrift1 replies encoded by hand for unit tests, and a peer that serves them in order. */
#ifndef HBPOOL_TEST_CANNED_H
#define HBPOOL_TEST_CANNED_H

#include <stdbool.h>
#include <stdint.h>

#include "tbinary.h"

/* The column name canned rows use for column i: "cf:" followed by i as 4 big-endian bytes, so
 * names are binary (0x00 bytes), equally long and share a prefix. */
void canned_column(int i, uint8_t out[7]);

/* Reply of a call returning list<TRowResult>: nrows rows "row-N" of ncols cells each, value
 * "v-ROW-COL", timestamp 1000 + COL. sorted: use TRowResult.sortedColumns in reverse column order
 * (to show the gateway's order is kept) instead of the columns map. */
void canned_rows(tbuf *b, const char *method, int nrows, int ncols, bool sorted);
/* Reply of getColumnDescriptors with families "a:" and "b:" (maxVersions 1 and 2). */
void canned_descriptors(tbuf *b);
/* Reply carrying the declared exception in result field id (1 IOError, 2 IllegalArgument,
 * 3 AlreadyExists). can_retry applies to IOError only. */
void canned_declared(tbuf *b, const char *method, int16_t id, const char *message, bool can_retry);
/* A TApplicationException instead of a reply. */
void canned_app_exception(tbuf *b, const char *method, const char *message);
/* Reply of a void call. */
void canned_void(tbuf *b, const char *method);

typedef struct canned_script {
  const tbuf *replies; /* served one per request frame, in order */
  int nreplies;
  int hold_ms;  /* after the last reply, keep the connection this long */
  int requests; /* frames received (written by the peer) */
} canned_script;

/* peer_handler: reads framed requests and answers each with the next canned reply (framed). */
void canned_serve(int fd, void *arg);

#endif
