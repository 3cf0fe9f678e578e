/* hblimits: HBase's fixed limits on row keys, column families and table names, checked before any
 * gateway call, so that a request HBase would refuse (or, for atomicIncrement with a family over
 * 127 bytes, never answer) gets invalid_params naming the parameter and the limit. */
#ifndef HBPOOL_HBLIMITS_H
#define HBPOOL_HBLIMITS_H

#include <stdbool.h>

#include "hbase_client.h"
#include "proto_error.h"

#define HBLIMITS_MAX_ROW 32767  /* a row key's length is a short in HBase's cells */
#define HBLIMITS_MAX_FAMILY 127 /* a family name's length is a byte */
/* What a region server counts in a cell's size besides its row, family, qualifier and value
 * (PrivateCellUtil.estimatedSerializedSizeOf): KeyValue's key and value lengths (4 + 4), row
 * length (2), family length (1), timestamp (8) and type (1), and a length before it all (4). */
#define HBLIMITS_CELL_OVERHEAD 24

/* A row key of table, 1 byte up to the longest HBase serves in it: HBLIMITS_MAX_ROW less the
 * table name and 16 (see hblimits.c); what names the parameter ("\"row\""). */
int hblimits_row(hbc_bytes row, const char *table, const char *what, proto_error *e);
/* A scan bound or prefix: the same, or empty (an open end). */
int hblimits_bound(hbc_bytes row, const char *table, const char *what, proto_error *e);
/* A column, "family" or "family:qualifier": the family as hblimits_family; any qualifier. */
int hblimits_column(hbc_bytes column, const char *what, proto_error *e);
/* A column a cell is written to: "family:qualifier" (the qualifier may be empty), not a family
 * alone, which the gateway's puts, appends and checkAndPut fail on with an internal error. */
int hblimits_cell_column(hbc_bytes column, const char *what, proto_error *e);
/* Each of n columns, named what[i]. */
int hblimits_columns(const hbc_bytes *columns, size_t n, const char *what, proto_error *e);
/* A family name: 1..HBLIMITS_MAX_FAMILY bytes, no control character, no ':', not starting with
 * '.'. */
int hblimits_family(hbc_bytes family, const char *what, proto_error *e);
/* A cell a write carries, against max (0: unchecked): its size as a region server counts it
 * against hbase.server.keyvalue.maxsize, row, family, qualifier and value and
 * HBLIMITS_CELL_OVERHEAD. (The gateway's own check, of hbase.client.keyvalue.maxsize, counts 4
 * bytes less.) */
int hblimits_cell(size_t max, hbc_bytes row, hbc_bytes column, size_t value_len, const char *what,
                  proto_error *e);
/* A table name as HBase takes it (the prefix applied): [namespace:]qualifier. */
int hblimits_table(const char *table, const char *what, proto_error *e);

#endif
