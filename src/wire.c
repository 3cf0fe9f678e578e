/* wire: reads Thrift binary and compact encodings straight from a netio stream. */
#include "wire.h"

#include <assert.h>
#include <string.h>

const char *const wire_protocol_hint =
  " (check that the gateway's transport (framed or buffered) and protocol (binary or compact)"
  " match the configuration)";

/* Bytes that cannot be a reply: the stream is out of step, and the connection must go. */
static int bad_reply(wire_reader *r, const char *what) {
  return hb_error_set(&r->err, HB_ERR_TRANSPORT, "bad reply from the gateway: %s%s", what,
                      wire_protocol_hint);
}

void wire_reader_init(wire_reader *r, netio *io, bool compact) {
  assert(r != NULL && io != NULL);
  memset(r, 0, sizeof *r);
  r->io = io;
  r->compact = compact;
  r->bool_field = -1;
}

void wire_reader_clear(wire_reader *r) {
  hb_error_clear(&r->err);
}

int wire_raw(wire_reader *r, void *dst, size_t len) {
  return len == 0 ? 0 : netio_read(r->io, dst, len, &r->err);
}

static int read_u8(wire_reader *r, uint8_t *v) {
  return netio_read(r->io, v, 1, &r->err);
}

/* Big-endian, as the binary encoding sends integers. */
static int read_be(wire_reader *r, size_t n, uint64_t *v) {
  uint8_t b[8];
  if (netio_read(r->io, b, n, &r->err) < 0)
    return -1;
  *v = 0;
  for (size_t i = 0; i < n; i++)
    *v = *v << 8 | b[i];
  return 0;
}

/* The compact encoding's unsigned LEB128, at most bits wide. */
static int read_varint(wire_reader *r, int bits, uint64_t *v) {
  *v = 0;
  for (int shift = 0; shift < bits; shift += 7) {
    uint8_t b;
    if (read_u8(r, &b) < 0)
      return -1;
    *v |= (uint64_t)(b & 0x7f) << shift;
    if ((b & 0x80) == 0)
      return 0;
  }
  return bad_reply(r, "a variable-length integer is too long");
}

static int64_t unzigzag(uint64_t v) {
  return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* A size or length: a 32-bit signed integer that must not be negative. */
static int read_size(wire_reader *r, uint32_t *size) {
  uint64_t v;
  if (r->compact) {
    if (read_varint(r, 32, &v) < 0)
      return -1;
  } else {
    if (read_be(r, 4, &v) < 0)
      return -1;
  }
  if (v > INT32_MAX)
    return bad_reply(r, "a negative size");
  *size = (uint32_t)v;
  return 0;
}

/* The compact encoding's type nibbles, as Thrift type ids (0 for one that does not exist). */
static wire_type compact_type(uint8_t t) {
  static const wire_type types[16] = {
    [1] = WIRE_BOOL, [2] = WIRE_BOOL, [3] = WIRE_BYTE,   [4] = WIRE_I16,
    [5] = WIRE_I32,  [6] = WIRE_I64,  [7] = WIRE_DOUBLE, [8] = WIRE_STRING,
    [9] = WIRE_LIST, [10] = WIRE_SET, [11] = WIRE_MAP,   [12] = WIRE_STRUCT,
  };
  return types[t & 0x0f];
}

static bool known_type(uint8_t t) {
  return t == WIRE_BOOL || t == WIRE_BYTE || t == WIRE_DOUBLE || t == WIRE_I16 || t == WIRE_I32 ||
    t == WIRE_I64 || t == WIRE_STRING || t == WIRE_STRUCT || t == WIRE_MAP || t == WIRE_SET ||
    t == WIRE_LIST;
}

/* The method name of a header, compared with method without keeping it. */
static int read_name(wire_reader *r, const char *method, bool *matches) {
  uint32_t len;
  if (wire_string_begin(r, &len) < 0)
    return -1;
  char buf[64];
  *matches = len == strlen(method);
  while (len > 0) {
    size_t take = len < sizeof buf ? len : sizeof buf;
    if (wire_raw(r, buf, take) < 0)
      return -1;
    *matches = *matches && memcmp(buf, method, take) == 0;
    method += *matches ? take : 0;
    len -= (uint32_t)take;
  }
  return 0;
}

static int binary_message_begin(wire_reader *r, const char *method, int *type, bool *matches) {
  uint64_t v;
  if (read_be(r, 4, &v) < 0)
    return -1;
  uint32_t word = (uint32_t)v;
  if ((word & 0xffff0000u) != 0x80010000u)
    return bad_reply(r, "not a binary-protocol message header");
  *type = (int)(word & 0xff);
  if (read_name(r, method, matches) < 0)
    return -1;
  return read_be(r, 4, &v); /* the sequence id: one call at a time per connection */
}

static int compact_message_begin(wire_reader *r, const char *method, int *type, bool *matches) {
  uint8_t id, version_type;
  if (read_u8(r, &id) < 0 || read_u8(r, &version_type) < 0)
    return -1;
  if (id != 0x82 || (version_type & 0x1f) != 1)
    return bad_reply(r, "not a compact-protocol message header");
  *type = version_type >> 5;
  uint64_t seqid;
  if (read_varint(r, 32, &seqid) < 0)
    return -1;
  return read_name(r, method, matches);
}

int wire_message_begin(wire_reader *r, const char *method, int *type, bool *name_matches) {
  r->depth = 0;
  r->last_id[0] = 0;
  r->bool_field = -1;
  return r->compact ? compact_message_begin(r, method, type, name_matches)
                    : binary_message_begin(r, method, type, name_matches);
}

int wire_struct_begin(wire_reader *r) {
  if (r->depth == WIRE_MAX_DEPTH)
    return bad_reply(r, "values nested too deep");
  r->last_id[++r->depth] = 0;
  return 0;
}

int wire_struct_end(wire_reader *r) {
  if (r->depth > 0)
    r->depth--;
  return 0;
}

static int compact_field_begin(wire_reader *r, wire_type *type, int16_t *id) {
  uint8_t b;
  if (read_u8(r, &b) < 0)
    return -1;
  if (b == 0) {
    *type = WIRE_STOP;
    return 0;
  }
  *type = compact_type(b);
  if (*type == 0)
    return bad_reply(r, "a field of an unknown type");
  if ((b & 0xf0) != 0) {
    *id = (int16_t)(r->last_id[r->depth] + (b >> 4));
  } else {
    uint64_t v;
    if (read_varint(r, 16, &v) < 0)
      return -1;
    *id = (int16_t)unzigzag(v);
  }
  r->last_id[r->depth] = *id;
  /* A bool field's value is its type: 1 true, 2 false. */
  r->bool_field = *type == WIRE_BOOL ? (b & 0x0f) == 1 : -1;
  return 0;
}

int wire_field_begin(wire_reader *r, wire_type *type, int16_t *id) {
  if (r->compact)
    return compact_field_begin(r, type, id);
  uint8_t t;
  if (read_u8(r, &t) < 0)
    return -1;
  *type = t;
  if (t == WIRE_STOP)
    return 0;
  if (!known_type(t))
    return bad_reply(r, "a field of an unknown type");
  uint64_t v;
  if (read_be(r, 2, &v) < 0)
    return -1;
  *id = (int16_t)v;
  return 0;
}

int wire_list_begin(wire_reader *r, wire_type *elem, uint32_t *size) {
  uint8_t b;
  if (read_u8(r, &b) < 0)
    return -1;
  if (!r->compact) {
    if (!known_type(b))
      return bad_reply(r, "a list of an unknown type");
    *elem = b;
    return read_size(r, size);
  }
  *elem = compact_type(b);
  if (*elem == 0)
    return bad_reply(r, "a list of an unknown type");
  *size = b >> 4;
  return *size == 15 ? read_size(r, size) : 0;
}

int wire_map_begin(wire_reader *r, wire_type *key, wire_type *value, uint32_t *size) {
  uint8_t kv[2];
  if (r->compact) {
    if (read_size(r, size) < 0)
      return -1;
    *key = *value = WIRE_STRING; /* an empty map sends no types: any will do */
    if (*size == 0)
      return 0;
    if (read_u8(r, &kv[0]) < 0)
      return -1;
    *key = compact_type(kv[0] >> 4);
    *value = compact_type(kv[0]);
    return *key == 0 || *value == 0 ? bad_reply(r, "a map of an unknown type") : 0;
  }
  if (wire_raw(r, kv, 2) < 0)
    return -1;
  if (!known_type(kv[0]) || !known_type(kv[1]))
    return bad_reply(r, "a map of an unknown type");
  *key = kv[0];
  *value = kv[1];
  return read_size(r, size);
}

/* An integer of bits (32 or 64): a zigzag varint in compact, big-endian in binary. */
static int read_int(wire_reader *r, int bits, int64_t *v) {
  uint64_t u;
  if (r->compact) {
    if (read_varint(r, bits, &u) < 0)
      return -1;
    *v = unzigzag(u);
    return 0;
  }
  if (read_be(r, bits / 8, &u) < 0)
    return -1;
  *v = bits == 32 ? (int32_t)(uint32_t)u : (int64_t)u;
  return 0;
}

int wire_i64(wire_reader *r, int64_t *v) {
  return read_int(r, 64, v);
}

int wire_i32(wire_reader *r, int32_t *v) {
  int64_t wide;
  if (read_int(r, 32, &wide) < 0)
    return -1;
  *v = (int32_t)wide;
  return 0;
}

int wire_string_begin(wire_reader *r, uint32_t *len) {
  if (read_size(r, len) < 0)
    return -1;
  /* Checked before the caller allocates: a garbage length fails instead. */
  size_t used = netio_message_bytes(r->io), max = netio_max_message_size(r->io);
  if (*len > max - used)
    return hb_error_set(&r->err, HB_ERR_TRANSPORT, "reply exceeds the %zu-byte limit", max);
  return 0;
}

static int skip_bytes(wire_reader *r, size_t n) {
  uint8_t buf[256];
  while (n > 0) {
    size_t take = n < sizeof buf ? n : sizeof buf;
    if (wire_raw(r, buf, take) < 0)
      return -1;
    n -= take;
  }
  return 0;
}

int wire_struct(wire_reader *r, wire_field_fn read_field, void *ctx) {
  if (wire_struct_begin(r) < 0)
    return -1;
  for (;;) {
    wire_type type;
    int16_t id;
    if (wire_field_begin(r, &type, &id) < 0)
      return -1;
    if (type == WIRE_STOP)
      return wire_struct_end(r);
    int rc = read_field != NULL ? read_field(r, type, id, ctx) : 0;
    if (rc < 0 || (rc == 0 && wire_skip(r, type) < 0))
      return -1;
  }
}

/* n elements of each of the types (one for a list, two for a map). */
static int skip_elements(wire_reader *r, uint32_t n, const wire_type *types, int ntypes) {
  if (r->depth == WIRE_MAX_DEPTH)
    return bad_reply(r, "values nested too deep");
  r->depth++;
  int rc = 0;
  for (uint32_t i = 0; i < n && rc == 0; i++)
    for (int t = 0; t < ntypes && rc == 0; t++)
      rc = wire_skip(r, types[t]);
  r->depth--;
  return rc;
}

int wire_skip(wire_reader *r, wire_type type) {
  int pending_bool = r->bool_field;
  r->bool_field = -1;
  uint64_t v;
  uint32_t n;
  wire_type types[2];
  switch (type) {
  case WIRE_BOOL: return pending_bool >= 0 ? 0 : skip_bytes(r, 1);
  case WIRE_BYTE: return skip_bytes(r, 1);
  case WIRE_DOUBLE: return skip_bytes(r, 8);
  case WIRE_I16:
  case WIRE_I32:
  case WIRE_I64:
    if (r->compact)
      return read_varint(r, type == WIRE_I64 ? 64 : 32, &v);
    return skip_bytes(r, type == WIRE_I16 ? 2 : type == WIRE_I32 ? 4 : 8);
  case WIRE_STRING: return wire_string_begin(r, &n) < 0 ? -1 : skip_bytes(r, n);
  case WIRE_STRUCT: return wire_struct(r, NULL, NULL);
  case WIRE_MAP:
    if (wire_map_begin(r, &types[0], &types[1], &n) < 0)
      return -1;
    return skip_elements(r, n, types, 2);
  case WIRE_SET:
  case WIRE_LIST:
    if (wire_list_begin(r, &types[0], &n) < 0)
      return -1;
    return skip_elements(r, n, types, 1);
  default: return bad_reply(r, "a value of an unknown type");
  }
}
