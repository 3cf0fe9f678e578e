/* hbase_call: what the files of the client layer share (hbase_client.c: connections and the
 * classification of failures; hbase_admin.c: table administration; hbase_data.c: reads, writes
 * and scanners). Private to them: the rest of hbpool includes hbase_client.h only, and never
 * sees a GObject. */
#ifndef HBPOOL_HBASE_CALL_H
#define HBPOOL_HBASE_CALL_H

#include <thrift/c_glib/protocol/thrift_protocol.h>

#include "hb_thrift_hbase.h"
#include "hbase_client.h"
#include "hbase_transport.h"

struct hbc_conn {
  HbTransport *transport;
  ThriftProtocol *protocol;
  HbThriftHbaseIf *client;
  GHashTable *attributes; /* always empty: hbpool sends no per-call attributes */
  int call_timeout_ms;
  bool compact; /* the compact protocol, else binary (wire.h reads rows itself) */
  bool usable;
};

typedef struct hbc_call {
  hbc_conn *conn;
  GError *gerror;
  HbThriftIOError *io;
  HbThriftIllegalArgument *ia;
  HbThriftAlreadyExists *exists;
} hbc_call;

typedef struct hbc_views {
  GByteArray *items; /* one view per element */
  GPtrArray *list;   /* pointers to items, no free function */
} hbc_views;

/* ---- results: one arena per hbc_result (g_malloc aborts when memory is exhausted) ---------- */

void *hbc_arena_alloc(hbc_result *r, size_t n);
/* A copy of b's bytes (an empty value for NULL). */
hbc_bytes hbc_arena_bytes(hbc_result *r, const GByteArray *b);
const char *hbc_arena_str(hbc_result *r, const char *s);

/* ---- arguments: GByteArray views of caller memory, so that nothing is copied before sending;
 * the generated writers only read ->data and ->len, and views are never freed by GLib ------- */

GByteArray hbc_view(hbc_bytes b);
void hbc_views_init(hbc_views *v, const hbc_bytes *items, size_t n);
void hbc_views_clear(hbc_views *v);
/* Arrays owned by a generated struct are swapped for view lists and back before it is freed. */
GPtrArray *hbc_swap_array(GPtrArray **field, GPtrArray *replacement);

/* ---- calls: one deadline per call, one classification of every failure -------------------- */

/* Starts a call on c: -1 (and nothing sent) when c is broken. */
int hbc_call_begin(hbc_call *k, hbc_conn *c, hb_error *err);
/* Ends a call: 0 if it succeeded, else -1 with err set and the connection marked as needed. */
int hbc_call_end(hbc_call *k, gboolean ok, hb_error *err);
#define CLIENT(k) ((k)->conn->client)
#define ATTRS(k) ((k)->conn->attributes)

/* A hash table keyed by GByteArray contents (not by pointer, nor as C strings: c_glib's own maps
 * with binary keys lose entries, docs/thrift.md defect 1); keys are unref'd, values freed with
 * value_free. */
GHashTable *hbc_bytes_table_new(GDestroyNotify value_free);

/* Byte order, shorter first on a tie: HBase's order of keys and names. */
int hbc_compare_bytes(hbc_bytes a, hbc_bytes b);

#endif
