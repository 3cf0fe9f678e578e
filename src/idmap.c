/* idmap: a map from 64-bit ids to pointers (idmap.h). */
#include "idmap.h"

#include <stdlib.h>

#include "xmalloc.h"

typedef struct entry {
  uint64_t id;
  void *value;
  struct entry *next;
} entry;

struct idmap {
  entry **buckets;
  size_t nbuckets; /* a power of two */
  size_t count;
};

#define IDMAP_MIN_BUCKETS 16

/* Fibonacci hashing: consecutive ids (client ids are) spread over the buckets. */
static size_t slot(uint64_t id, size_t nbuckets) {
  return (size_t)((id * 11400714819323198485ULL) >> 32) & (nbuckets - 1);
}

idmap *idmap_new(void) {
  idmap *m = xcalloc(1, sizeof *m);
  m->nbuckets = IDMAP_MIN_BUCKETS;
  m->buckets = xcalloc(m->nbuckets, sizeof *m->buckets);
  return m;
}

void idmap_free(idmap *m) {
  if (m == NULL)
    return;
  for (size_t i = 0; i < m->nbuckets; i++) {
    entry *e = m->buckets[i], *next;
    for (; e != NULL; e = next) {
      next = e->next;
      free(e);
    }
  }
  free(m->buckets);
  free(m);
}

static entry **find(const idmap *m, uint64_t id) {
  entry **at = &m->buckets[slot(id, m->nbuckets)];
  while (*at != NULL && (*at)->id != id)
    at = &(*at)->next;
  return at;
}

void *idmap_get(const idmap *m, uint64_t id) {
  entry *e = *find(m, id);
  return e != NULL ? e->value : NULL;
}

static void grow(idmap *m) {
  size_t n = m->nbuckets * 2;
  entry **b = xcalloc(n, sizeof *b);
  for (size_t i = 0; i < m->nbuckets; i++) {
    entry *e = m->buckets[i], *next;
    for (; e != NULL; e = next) {
      next = e->next;
      size_t s = slot(e->id, n);
      e->next = b[s];
      b[s] = e;
    }
  }
  free(m->buckets);
  m->buckets = b;
  m->nbuckets = n;
}

void idmap_put(idmap *m, uint64_t id, void *value) {
  entry **at = find(m, id);
  if (*at != NULL) {
    (*at)->value = value;
    return;
  }
  entry *e = xmalloc(sizeof *e);
  *e = (entry){.id = id, .value = value};
  *at = e;
  if (++m->count > m->nbuckets)
    grow(m);
}

void idmap_remove(idmap *m, uint64_t id) {
  entry **at = find(m, id), *e = *at;
  if (e == NULL)
    return;
  *at = e->next;
  free(e);
  m->count--;
}

size_t idmap_count(const idmap *m) {
  return m->count;
}
