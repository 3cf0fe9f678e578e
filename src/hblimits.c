/* hblimits: HBase's fixed limits on keys and names (hblimits.h). The rules are HBase 2.x's own:
 * Mutation.checkRow and Scan for row keys, ColumnFamilyDescriptorBuilder.isLegalColumnFamilyName
 * and the one-byte family length of a cell for families, TableName for table names. */
#include "hblimits.h"

#include <stdio.h>
#include <string.h>

/* At most this much of a name goes into an error message. */
#define HBLIMITS_QUOTE 40

static int check_length(size_t len, size_t min, size_t max, const char *what, const char *part,
                        proto_error *e) {
  if (len >= min && len <= max)
    return 0;
  if (len == 0)
    return proto_fail_params(e, "%s%s is empty; HBase takes %zu to %zu bytes", what, part, min,
                             max);
  return proto_fail_params(e, "%s%s is %zu bytes long; HBase takes %zu to %zu bytes", what, part,
                           len, min, max);
}

/* The longest row key of table that HBase serves: to find a row's region, its client scans
 * hbase:meta from the key "TABLE,ROW,99999999999999", which must itself fit in HBLIMITS_MAX_ROW;
 * a longer one fails in that lookup, which the gateway retries until the call times out. */
static size_t max_row(const char *table) {
  static const char default_ns[] = "default:"; /* HBase names such a table without it */
  size_t name = strlen(table);
  if (strncmp(table, default_ns, sizeof default_ns - 1) == 0)
    name -= sizeof default_ns - 1;
  size_t meta_key = name + 2 + 14; /* two ',' and HConstants.NINES */
  return meta_key < HBLIMITS_MAX_ROW ? HBLIMITS_MAX_ROW - meta_key : 0;
}

/* A row key or bound of min..max_row(table) bytes. */
static int check_row(hbc_bytes row, size_t min, const char *table, const char *what,
                     proto_error *e) {
  size_t max = max_row(table);
  if (row.len >= min && row.len <= max)
    return 0;
  if (row.len == 0)
    return proto_fail_params(e, "%s is empty; HBase takes 1 to %zu bytes", what, max);
  return proto_fail_params(e,
                           "%s is %zu bytes long; HBase takes %zu to %zu bytes in table "
                           "\"%.*s%s\" (32767 less the table name and 16: the key HBase finds "
                           "the row's region by must fit in 32767)",
                           what, row.len, min, max, HBLIMITS_QUOTE, table,
                           strlen(table) > HBLIMITS_QUOTE ? "..." : "");
}

int hblimits_row(hbc_bytes row, const char *table, const char *what, proto_error *e) {
  return check_row(row, 1, table, what, e);
}

int hblimits_bound(hbc_bytes row, const char *table, const char *what, proto_error *e) {
  return check_row(row, 0, table, what, e);
}

int hblimits_cell(size_t max, hbc_bytes row, hbc_bytes column, size_t value_len, const char *what,
                  proto_error *e) {
  /* column is "family:qualifier" or "family": the ':' is not stored */
  size_t names = column.len - (memchr(column.data, ':', column.len) != NULL);
  size_t size = HBLIMITS_CELL_OVERHEAD + row.len + names + value_len;
  if (max == 0 || size <= max)
    return 0;
  return proto_fail_params(e,
                           "%s: the cell is %zu bytes (row, column and value, and %d more as "
                           "HBase counts it); HBase's largest (hbase.server.keyvalue.maxsize, "
                           "hbpoold's max_cell_bytes) is %zu",
                           what, size, HBLIMITS_CELL_OVERHEAD, max);
}

int hblimits_family(hbc_bytes family, const char *what, proto_error *e) {
  if (check_length(family.len, 1, HBLIMITS_MAX_FAMILY, what, "'s family", e) < 0)
    return -1;
  if (family.data[0] == '.')
    return proto_fail_params(e, "%s: a family name may not start with '.'", what);
  for (size_t i = 0; i < family.len; i++) {
    uint8_t b = family.data[i];
    if (b < 0x20 || b == 0x7f || b == ':' || b == '/' || b == '\\')
      return proto_fail_params(e,
                               "%s: a family name may not hold byte 0x%02x (at %zu): HBase refuses "
                               "control characters, ':', '/' and '\\'",
                               what, b, i);
  }
  static const char reserved[] = "recovered.edits";
  if (family.len == sizeof reserved - 1 && memcmp(family.data, reserved, family.len) == 0)
    return proto_fail_params(e, "%s: \"%s\" is a name HBase keeps for itself", what, reserved);
  return 0;
}

int hblimits_column(hbc_bytes column, const char *what, proto_error *e) {
  return hblimits_family(hbc_column_family(column), what, e);
}

int hblimits_cell_column(hbc_bytes column, const char *what, proto_error *e) {
  if (hblimits_column(column, what, e) < 0)
    return -1;
  if (column.len == 0 || memchr(column.data, ':', column.len) == NULL)
    return proto_fail_params(e,
                             "%s: a cell's column is \"family:qualifier\" (the qualifier may be "
                             "empty, \"family:\"), not a family alone",
                             what);
  return 0;
}

int hblimits_columns(const hbc_bytes *columns, size_t n, const char *what, proto_error *e) {
  for (size_t i = 0; i < n; i++) {
    char at[96];
    snprintf(at, sizeof at, "%s[%zu]", what, i);
    if (hblimits_column(columns[i], at, e) < 0)
      return -1;
  }
  return 0;
}

/* TableName's rules for one part: a namespace takes letters, digits and '_'; a qualifier also
 * '-' and '.', but not first. Bytes of 0x80 and up (UTF-8 letters and digits of any script, which
 * HBase also takes) are left to HBase. */
static const char *part_fault(const char *s, size_t len, bool qualifier) {
  if (len == 0)
    return "is empty";
  if (qualifier && (s[0] == '.' || s[0] == '-'))
    return "starts with '.' or '-'";
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    bool ok = c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
      (c >= '0' && c <= '9') || c == '_' || (qualifier && (c == '-' || c == '.'));
    if (!ok)
      return qualifier ? "holds a character other than letters, digits, '_', '-' and '.'"
                       : "holds a character other than letters, digits and '_'";
  }
  if (len == 9 && memcmp(s, "zookeeper", 9) == 0)
    return "is \"zookeeper\", which HBase refuses";
  return NULL;
}

int hblimits_table(const char *table, const char *what, proto_error *e) {
  const char *colon = strchr(table, ':');
  const char *qualifier = colon != NULL ? colon + 1 : table;
  const char *fault = NULL, *part = "";
  if (colon != NULL && strchr(qualifier, ':') != NULL) {
    fault = "has more than one ':'";
  } else if (colon != NULL && (fault = part_fault(table, (size_t)(colon - table), false)) != NULL) {
    part = "'s namespace";
  } else if ((fault = part_fault(qualifier, strlen(qualifier), true)) != NULL) {
    part = colon != NULL ? "'s table qualifier" : "";
  }
  if (fault == NULL)
    return 0;
  return proto_fail_params(e,
                           "%s%s %s (\"%.*s\"%s); HBase table names are [namespace:]name, the "
                           "namespace of letters, digits and '_', the name also of '-' and '.' "
                           "(not first)",
                           what, part, fault, HBLIMITS_QUOTE, table,
                           strlen(table) > HBLIMITS_QUOTE ? "..." : "");
}
