/* scan_spec: a scan's options from its params, shared by scan and scanner_open. */
#ifndef HBPOOL_SCAN_SPEC_H
#define HBPOOL_SCAN_SPEC_H

#include "call.h"

/* Checks a scan's params (range, prefix, columns, filter, timestamp, batch_size, scan_batching,
 * limit, sorted_columns, reverse) into k->scan, k->prefix and k->arg.scan.limit. */
int scan_spec_prepare(call *k, proto_error *e);
/* key starts with prefix: a reverse prefix scan ends at the first row that does not. */
bool scan_spec_has_prefix(hbc_bytes key, hbc_bytes prefix);

#endif
