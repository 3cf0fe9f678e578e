/* idmap: a map from 64-bit ids to pointers (chained, grown as it fills): the pool's clients and
 * order keys. */
#ifndef HBPOOL_IDMAP_H
#define HBPOOL_IDMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct idmap idmap;

idmap *idmap_new(void);
/* Frees the map, not the values. */
void idmap_free(idmap *m);
/* The value for id, or NULL. */
void *idmap_get(const idmap *m, uint64_t id);
/* Sets id's value (value not NULL), replacing any. */
void idmap_put(idmap *m, uint64_t id, void *value);
/* Removes id if present. */
void idmap_remove(idmap *m, uint64_t id);
size_t idmap_count(const idmap *m);

#endif
