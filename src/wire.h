/* wire: reads Thrift binary and compact encodings straight from a netio stream, for the replies
 * that carry rows. c_glib's reader makes a GObject call, a type check and often a g_malloc for
 * every field, which was most of the daemon's own time in a scan. */
#ifndef HBPOOL_WIRE_H
#define HBPOOL_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "netio.h"

/* Thrift's type ids, as both encodings name them once decoded. */
typedef enum wire_type {
  WIRE_STOP = 0,
  WIRE_BOOL = 2,
  WIRE_BYTE = 3,
  WIRE_DOUBLE = 4,
  WIRE_I16 = 6,
  WIRE_I32 = 8,
  WIRE_I64 = 10,
  WIRE_STRING = 11,
  WIRE_STRUCT = 12,
  WIRE_MAP = 13,
  WIRE_SET = 14,
  WIRE_LIST = 15,
} wire_type;

/* Message types of a reply's header. */
enum { WIRE_REPLY = 2, WIRE_EXCEPTION = 3 };

/* What a reply that does not parse most often means, said after the fault. */
extern const char *const wire_protocol_hint;

/* Nesting deeper than this is refused: a hostile reply cannot exhaust the stack. */
#define WIRE_MAX_DEPTH 64

typedef struct wire_reader {
  netio *io;
  bool compact;
  int depth;                           /* structs entered */
  int16_t last_id[WIRE_MAX_DEPTH + 1]; /* compact: field ids are deltas within a struct */
  int bool_field;                      /* compact: a bool field's value, from its header; -1 */
  hb_error err;                        /* why the last call failed */
} wire_reader;

void wire_reader_init(wire_reader *r, netio *io, bool compact);
/* Frees r->err. */
void wire_reader_clear(wire_reader *r);

/* Every function below returns 0, or -1 with r->err set: netio's error for the stream, or a
 * transport error "bad reply from the gateway: ..." for bytes that are not a valid reply. */

/* A message header: its type, and whether its name is method (the name is not kept). */
int wire_message_begin(wire_reader *r, const char *method, int *type, bool *name_matches);
int wire_struct_begin(wire_reader *r);
int wire_struct_end(wire_reader *r);
/* The next field's type and id; *type is WIRE_STOP at the struct's end. */
int wire_field_begin(wire_reader *r, wire_type *type, int16_t *id);
int wire_list_begin(wire_reader *r, wire_type *elem, uint32_t *size);
int wire_map_begin(wire_reader *r, wire_type *key, wire_type *value, uint32_t *size);
int wire_i64(wire_reader *r, int64_t *v);
int wire_i32(wire_reader *r, int32_t *v);
/* A string's length, checked against what the reply may still hold; wire_raw reads its bytes. */
int wire_string_begin(wire_reader *r, uint32_t *len);
int wire_raw(wire_reader *r, void *dst, size_t len);
/* Skips a value of the given type (a whole struct, list or map). */
int wire_skip(wire_reader *r, wire_type type);

/* Reads one field of a struct: 1 when it read the value, 0 to have it skipped, -1 on failure. */
typedef int (*wire_field_fn)(wire_reader *r, wire_type type, int16_t id, void *ctx);
/* Reads a whole struct, field by field, handing each to read_field. */
int wire_struct(wire_reader *r, wire_field_fn read_field, void *ctx);

#endif
