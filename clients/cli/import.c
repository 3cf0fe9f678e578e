/* import: hbpool import: the JSON lines export writes, back into a table in batch calls, several
 * in flight, each row's writes in the order of its lines. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

/* Batch calls in flight: enough to keep the daemon's pool busy while the next one is built. */
#define IMPORT_DEPTH 4
/* A batch's request line stays well under the daemon's max_line_bytes (16 MiB by default); a
 * larger single row still goes, alone. */
#define IMPORT_BATCH_BYTES (4 << 20)

typedef struct import_batch {
  json_int_t id;    /* while in flight */
  json_t *ops;      /* the batch call's operations */
  json_t *rows;     /* its row keys: a later line of one of them waits for this batch */
  long long *lines; /* the input line of each operation */
  size_t nops, cap;
  unsigned long long bytes; /* of its lines */
} import_batch;

typedef struct importer {
  cli *c;
  const char *table;
  import_batch flight[IMPORT_DEPTH];
  int nflight;
  import_batch next; /* being filled */
  unsigned long long written, skipped;
  int rc; /* the first failure's exit status; CLI_EXIT_OK while none */
  progress progress;
} importer;

static void batch_init(import_batch *b) {
  *b = (import_batch){.ops = json_array(), .rows = json_object()};
}

static void batch_free(import_batch *b) {
  json_decref(b->ops);
  json_decref(b->rows);
  free(b->lines);
  *b = (import_batch){0};
}

/* ---------------------------------------------------------------------------------------------
 * Lines. */

static bool import_is_base64(const char *s, size_t len) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (len % 4 != 0)
    return false;
  size_t pad = len >= 1 && s[len - 1] == '=' ? (len >= 2 && s[len - 2] == '=' ? 2 : 1) : 0;
  for (size_t i = 0; i < len - pad; i++) {
    if (s[i] == '\0' || strchr(alphabet, s[i]) == NULL)
      return false;
  }
  return true;
}

/* Whether v is a byte string in the import's encoding. */
static bool import_is_bytes(const cli *c, const json_t *v) {
  return json_is_string(v) &&
    (!c->base64 || import_is_base64(json_string_value(v), json_string_length(v)));
}

/* The put operation for one line, or NULL with why filled. */
static json_t *import_parse(const cli *c, const char *text, size_t len, char *why, size_t n) {
  json_error_t jerr;
  json_t *v = json_loadb(text, len, JSON_ALLOW_NUL, &jerr);
  if (v == NULL) {
    snprintf(why, n, "not JSON: %s (at column %d)", jerr.text, jerr.column);
    return NULL;
  }
  const char *key, *what = c->base64 ? "base64" : "a string";
  json_t *member, *row = json_object_get(v, "row"), *columns = json_object_get(v, "columns");
  if (!json_is_object(v)) {
    snprintf(why, n, "not an object {\"row\": ..., \"columns\": {...}}");
  } else if (!import_is_bytes(c, row) || json_string_length(row) == 0) {
    snprintf(why, n, "\"row\" must be a non-empty string, in %s", c->base64 ? "base64" : "text");
  } else if (!json_is_object(columns) || json_object_size(columns) == 0) {
    snprintf(why, n, "\"columns\" must be a non-empty object {\"family:qualifier\": value}");
  } else {
    why[0] = '\0';
    json_object_foreach(v, key, member) {
      if (strcmp(key, "row") != 0 && strcmp(key, "columns") != 0) {
        snprintf(why, n, "unknown member \"%.40s\"", key);
        break;
      }
    }
    json_object_foreach(columns, key, member) {
      if (why[0] != '\0')
        break;
      if (c->base64 && !import_is_base64(key, strlen(key)))
        snprintf(why, n, "column \"%.40s\" is not base64", key);
      else if (!import_is_bytes(c, member))
        snprintf(why, n, "the value of \"%.40s\" must be %s", key, what);
    }
  }
  json_t *op = why[0] == '\0' ? json_pack("{s:s,s:O,s:O}", "op", "put", "row", row, "data", columns)
                              : NULL;
  json_decref(v);
  return op;
}

/* ---------------------------------------------------------------------------------------------
 * Batches in flight. */

/* The line a failed batch's error names ("operations"[i] in its message), else its first. */
static long long import_failed_line(const import_batch *b, const char *message) {
  const char *at = message != NULL ? strstr(message, "\"operations\"[") : NULL;
  size_t i;
  if (at != NULL && sscanf(at, "\"operations\"[%zu]", &i) == 1 && i < b->nops)
    return b->lines[i];
  return b->lines[0];
}

/* Reports an error reply (b: the batch it failed, NULL: no batch in particular) and keeps the
 * first failure's exit status. */
static void import_report(importer *im, const import_batch *b, const json_t *error) {
  const char *message = json_string_value(json_object_get(error, "message"));
  const char *name = json_string_value(json_object_get(json_object_get(error, "data"), "error"));
  if (message == NULL)
    message = "(no message)";
  if (name == NULL)
    name = "no error name";
  if (b == NULL)
    fprintf(stderr, "hbpool: import: %s (%s)\n", message, name);
  else if (b->nops == 1)
    fprintf(stderr, "hbpool: import: line %lld was not written: %s (%s)\n", b->lines[0], message,
            name);
  else
    fprintf(stderr, "hbpool: import: lines %lld-%lld were not all written: line %lld: %s (%s)\n",
            b->lines[0], b->lines[b->nops - 1], import_failed_line(b, message), message, name);
  if (im->rc == CLI_EXIT_OK)
    im->rc = cli_error_status(error);
}

/* Waits for the next reply and retires its batch: 0, or -1 when the daemon could not be talked
 * to (reported). */
static int import_receive(importer *im) {
  char err[512];
  json_t *reply = rpc_receive(&im->c->conn, err, sizeof err);
  if (reply == NULL) {
    fprintf(stderr, "hbpool: import: %s\n", err);
    im->rc = CLI_EXIT_UNREACHABLE;
    return -1;
  }
  json_int_t id = rpc_reply_id(reply);
  int i = 0;
  while (i < im->nflight && im->flight[i].id != id)
    i++;
  json_t *error = json_object_get(reply, "error");
  if (i == im->nflight) { /* a null id: about no request in particular, and the end of the link */
    if (error != NULL)
      import_report(im, NULL, error);
    else
      fprintf(stderr, "hbpool: import: the daemon replied to a request not sent (%lld)\n",
              (long long)id);
    im->rc = im->rc != CLI_EXIT_OK ? im->rc : CLI_EXIT_UNREACHABLE;
    json_decref(reply);
    return -1;
  }
  import_batch *b = &im->flight[i];
  if (error != NULL) {
    import_report(im, b, error);
  } else {
    im->written += b->nops;
    progress_add(&im->progress, b->nops, b->bytes);
  }
  json_decref(reply);
  batch_free(b);
  *b = im->flight[--im->nflight];
  im->flight[im->nflight] = (import_batch){0};
  return 0;
}

/* Sends the batch being filled (waiting for a free slot first): 0, or -1 (reported). */
static int import_send(importer *im) {
  if (im->next.nops == 0)
    return 0;
  while (im->nflight == IMPORT_DEPTH) {
    if (import_receive(im) < 0)
      return -1;
  }
  json_t *p = cli_params(im->c, im->table);
  json_object_set_new(p, "operations", im->next.ops);
  im->next.ops = NULL; /* sent: only its rows and lines are kept */
  char err[512];
  json_int_t id = rpc_send(&im->c->conn, "batch", p, err, sizeof err);
  if (id < 0) {
    fprintf(stderr, "hbpool: import: %s\n", err);
    im->rc = CLI_EXIT_UNREACHABLE;
    return -1;
  }
  im->next.id = id;
  im->flight[im->nflight++] = im->next;
  batch_init(&im->next);
  return 0;
}

/* Waits until no batch in flight holds row: its lines are written in their order. */
static int import_wait_for_row(importer *im, const json_t *row) {
  const char *key = json_string_value(row);
  size_t len = json_string_length(row);
  for (int i = 0; i < im->nflight; i++) {
    if (json_object_getn(im->flight[i].rows, key, len) == NULL)
      continue;
    json_int_t id = im->flight[i].id;
    while (im->rc == CLI_EXIT_OK) {
      bool gone = true;
      for (int j = 0; j < im->nflight; j++)
        gone &= im->flight[j].id != id;
      if (gone)
        break;
      if (import_receive(im) < 0)
        return -1;
    }
    return 0; /* a row is in one batch in flight at most */
  }
  return 0;
}

/* Adds a line's operation (stolen) to the batch being filled, sending that first when full. */
static int import_add(importer *im, json_t *op, long long line, size_t bytes) {
  const json_t *row = json_object_get(op, "row");
  bool full = im->next.nops == (size_t)im->c->batch_size ||
    (im->next.nops > 0 && im->next.bytes + bytes > IMPORT_BATCH_BYTES);
  if ((full && import_send(im) < 0) || import_wait_for_row(im, row) < 0 || im->rc != CLI_EXIT_OK) {
    json_decref(op);
    return -1;
  }
  import_batch *b = &im->next;
  if (b->nops == b->cap) {
    b->cap = b->cap ? b->cap * 2 : 64;
    b->lines = realloc(b->lines, b->cap * sizeof *b->lines);
    if (b->lines == NULL) {
      fputs("hbpool: import: out of memory\n", stderr);
      exit(CLI_EXIT_FAILED);
    }
  }
  json_object_setn(b->rows, json_string_value(row), json_string_length(row), json_true());
  json_array_append_new(b->ops, op);
  b->lines[b->nops++] = line;
  b->bytes += bytes;
  return 0;
}

/* Sends what is left and waits for every reply. */
static void import_finish(importer *im) {
  if (im->rc == CLI_EXIT_OK)
    import_send(im);
  while (im->nflight > 0 && import_receive(im) == 0) {
  }
}

/* ---------------------------------------------------------------------------------------------
 * The command. */

static bool import_is_blank(const char *s, size_t len) {
  return strspn(s, " \t\r\n") >= len;
}

/* Reads the lines and imports them; returns the exit status. */
static int import_lines(importer *im, FILE *in) {
  char *text = NULL, why[256];
  size_t cap = 0;
  ssize_t len;
  long long line = 0;
  while (im->rc == CLI_EXIT_OK && (len = getline(&text, &cap, in)) >= 0) {
    line++;
    if (import_is_blank(text, (size_t)len)) {
      progress_add(&im->progress, 0, (unsigned long long)len);
      continue;
    }
    json_t *op = import_parse(im->c, text, (size_t)len, why, sizeof why);
    if (op != NULL) {
      if (import_add(im, op, line, (size_t)len) < 0)
        break;
      continue;
    }
    fprintf(stderr, "hbpool: import: line %lld: %s%s\n", line, why,
            im->c->skip_bad ? " (skipped)" : "");
    if (!im->c->skip_bad) {
      import_finish(im);
      fprintf(stderr,
              "hbpool: import: stopped at line %lld: rows written before it: %llu; nothing after "
              "it was (--skip-bad skips such lines)\n",
              line, im->written);
      free(text);
      return im->rc != CLI_EXIT_OK ? im->rc : CLI_EXIT_FAILED;
    }
    im->skipped++;
    progress_add(&im->progress, 0, (unsigned long long)len);
  }
  free(text);
  if (ferror(in)) {
    fprintf(stderr, "hbpool: import: cannot read the input: %s\n", strerror(errno));
    import_finish(im);
    return im->rc != CLI_EXIT_OK ? im->rc : CLI_EXIT_FAILED;
  }
  import_finish(im);
  if (im->skipped > 0)
    fprintf(stderr, "hbpool: import: rows written: %llu; malformed lines skipped: %llu\n",
            im->written, im->skipped);
  if (im->rc != CLI_EXIT_OK)
    fprintf(stderr, "hbpool: import: rows written (acknowledged): %llu\n", im->written);
  return im->rc;
}

int cli_import(cli *c, int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "-";
  FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
  if (in == NULL) {
    fprintf(stderr, "hbpool: import: cannot open %s: %s\n", path, strerror(errno));
    return CLI_EXIT_USAGE;
  }
  struct stat st;
  long long total = fstat(fileno(in), &st) == 0 && S_ISREG(st.st_mode) ? (long long)st.st_size : -1;
  importer im = {.c = c, .table = argv[0]};
  batch_init(&im.next);
  progress_start(&im.progress, "import", total);
  int rc = cli_ensure_connected(c) < 0 ? CLI_EXIT_UNREACHABLE : import_lines(&im, in);
  progress_end(&im.progress);
  batch_free(&im.next);
  for (int i = 0; i < im.nflight; i++) /* left by a lost link */
    batch_free(&im.flight[i]);
  if (in != stdin)
    fclose(in);
  return rc;
}
