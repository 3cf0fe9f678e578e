/* scan: the scan method, and the scan options that scanner_open shares with it. */
#ifndef HBPOOL_SCAN_H
#define HBPOOL_SCAN_H

#include "call.h"

/* Checks a scan's params (range, prefix, columns, filter, timestamp, batch_size, scan_batching,
 * limit, sorted_columns, reverse) into k->scan, k->prefix and k->arg.scan.limit. */
int scan_prepare(call *k, proto_error *e);
/* key starts with prefix: a reverse prefix scan ends at the first row that does not. */
bool scan_has_prefix(hbc_bytes key, hbc_bytes prefix);

#endif
