/* print: JSON lines and aligned terminal text for hbpool's results. */
#include "print.h"

#include <string.h>

/* Padding stops here: one very long key must not push every later line off the screen. */
#define PRINT_MAX_PAD 40

static int print_counted(const char *buffer, size_t size, void *data) {
  *(size_t *)data += size;
  return fwrite(buffer, 1, size, stdout) == size ? 0 : -1;
}

size_t print_json_line(const json_t *v) {
  size_t n = 1;
  json_dump_callback(v, print_counted, &n, JSON_COMPACT | JSON_ENCODE_ANY);
  fputc('\n', stdout);
  return n;
}

static bool print_is_control(unsigned char b) {
  return b < 0x20 || b == 0x7f;
}

void print_text(FILE *f, const char *s, size_t len) {
  for (size_t i = 0; i < len; i++) {
    unsigned char b = (unsigned char)s[i];
    if (print_is_control(b))
      fprintf(f, "\\x%02x", b);
    else
      fputc(b, f);
  }
}

/* Columns print_text takes on a terminal: code points, an escape counting 4. */
static size_t print_width(const char *s, size_t len) {
  size_t w = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char b = (unsigned char)s[i];
    if (print_is_control(b))
      w += 4;
    else if ((b & 0xc0) != 0x80)
      w++;
  }
  return w;
}

static void print_padded(const char *s, size_t len, size_t width) {
  print_text(stdout, s, len);
  for (size_t w = print_width(s, len); w < width; w++)
    fputc(' ', stdout);
  fputs("  ", stdout);
}

void print_scalar(FILE *f, const json_t *v) {
  if (json_is_string(v)) {
    print_text(f, json_string_value(v), json_string_length(v));
    return;
  }
  json_dumpf(v, f, JSON_COMPACT | JSON_ENCODE_ANY);
}

static size_t print_capped(size_t w) {
  return w > PRINT_MAX_PAD ? PRINT_MAX_PAD : w;
}

void print_cells_fit(print_cells *t, const char *key, size_t key_len, const json_t *row) {
  if (t->width[0] == 0) {
    t->width[0] = strlen("ROW");
    t->width[1] = strlen("COLUMN");
  }
  if (t->with_row && print_capped(print_width(key, key_len)) > t->width[0])
    t->width[0] = print_capped(print_width(key, key_len));
  const char *column;
  const json_t *value;
  json_object_foreach((json_t *)row, column, value) {
    size_t w = print_capped(print_width(column, strlen(column)));
    if (w > t->width[1])
      t->width[1] = w;
  }
}

void print_cells_row(print_cells *t, const char *key, size_t key_len, const json_t *row) {
  if (!t->header_done) {
    if (t->with_row)
      print_padded("ROW", 3, t->width[0]);
    print_padded("COLUMN", 6, t->width[1]);
    fputs("VALUE\n", stdout);
    t->header_done = true;
  }
  const char *column;
  const json_t *value;
  json_object_foreach((json_t *)row, column, value) {
    if (t->with_row)
      print_padded(key, key_len, t->width[0]);
    print_padded(column, strlen(column), t->width[1]);
    print_scalar(stdout, value);
    fputc('\n', stdout);
  }
}

static void print_flat_child(const json_t *v, const char *path, const char *name) {
  size_t n = strlen(path) + strlen(name) + 2;
  char child[n];
  snprintf(child, n, "%s%s%s", path, *path ? "." : "", name);
  print_flat(v, child);
}

void print_flat(const json_t *v, const char *path) {
  if (json_is_object(v) && json_object_size(v) > 0) {
    const char *name;
    const json_t *member;
    json_object_foreach((json_t *)v, name, member) print_flat_child(member, path, name);
    return;
  }
  if (json_is_array(v) && json_array_size(v) > 0) {
    size_t i;
    const json_t *member;
    json_array_foreach(v, i, member) {
      char index[24];
      snprintf(index, sizeof index, "%zu", i);
      print_flat_child(member, path, index);
    }
    return;
  }
  if (*path) {
    print_text(stdout, path, strlen(path));
    fputc('\t', stdout);
  }
  print_scalar(stdout, v);
  fputc('\n', stdout);
}
