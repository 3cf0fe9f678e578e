/* print: hbpool's two output forms: JSON lines for programs, aligned text for people. */
#ifndef HBPOOL_CLI_PRINT_H
#define HBPOOL_CLI_PRINT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Columns of a cell table (ROW, COLUMN, VALUE; without ROW for one row). Widths only grow, so
 * that a long scan printed a chunk at a time stays aligned without holding every row. */
typedef struct print_cells {
  bool with_row;
  bool header_done;
  size_t width[2]; /* of the ROW and COLUMN columns */
} print_cells;

/* v as one compact JSON line on stdout; returns the bytes written, the newline included. */
size_t print_json_line(const json_t *v);
/* A string for a terminal: control bytes and DEL as \xNN, the rest as is. */
void print_text(FILE *f, const char *s, size_t len);
/* A scalar for a terminal: strings as print_text, null as "null", the rest as JSON. */
void print_scalar(FILE *f, const json_t *v);
/* Widens t for a row ({"column": value}) of row key key (ignored unless t->with_row). */
void print_cells_fit(print_cells *t, const char *key, size_t key_len, const json_t *row);
/* Prints the row's cells, one per line, with a header line before the first. */
void print_cells_row(print_cells *t, const char *key, size_t key_len, const json_t *row);
/* An object or array as "path<TAB>value" lines ("pool.size 8"), depth first. */
void print_flat(const json_t *v, const char *path);

#endif
