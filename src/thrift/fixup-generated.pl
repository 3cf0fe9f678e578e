#!/usr/bin/perl
# Repairs defects of Thrift 0.17's c_glib generator in the files it wrote (edited in place).
#
# Usage: perl fixup-generated.pl FILE.c...
# Each repair must apply at least once across the files given, or the script fails: a generator
# that changed its output must not slip through unrepaired. See docs/thrift.md.
use strict;
use warnings;

my %applied;

sub count { my ($name, $n) = @_; $applied{$name} += $n; }

# 1. Maps with binary keys hash the GByteArray struct as a C string, so distinct keys collide and
#    entries are dropped. Binary-keyed maps are exactly those whose key destructor is
#    thrift_string_free; give them content hashing and equality.
my $bytes_helpers = <<'C';

/* hbpool fixup: content hash and equality for GByteArray map keys. */
static guint
hbpool_bytes_hash (gconstpointer key)
{
  const GByteArray *b = key;
  guint h = 5381;
  for (guint i = 0; i < b->len; i++)
    h = (h * 33) ^ b->data[i];
  return h;
}

static gboolean
hbpool_bytes_equal (gconstpointer a, gconstpointer b)
{
  const GByteArray *x = a, *y = b;
  return x->len == y->len && (x->len == 0 || memcmp (x->data, y->data, x->len) == 0);
}
C

sub fix_map_hash {
  my ($src) = @_;
  my $n = ($src =~ s/g_hash_table_new_full \(g_str_hash, g_str_equal, thrift_string_free,/g_hash_table_new_full (hbpool_bytes_hash, hbpool_bytes_equal, thrift_string_free,/g);
  if ($n) {
    $src =~ s/(#include <thrift\/c_glib\/thrift.h>\n)/$1#include <string.h>\n$bytes_helpers/ or die "no include line to anchor the map-hash helpers\n";
  }
  count('map-hash', $n);
  return $src;
}

# 2. Generated finalize functions never chain up to ThriftStruct's, so every freed struct leaks.
sub fix_finalize {
  my ($src) = @_;
  my $n = ($src =~ s{^(\w+)_finalize \(GObject \*object\)\n\{\n(.*?)\n\}\n}
    {$1_finalize (GObject *object)\n{\n$2\n  G_OBJECT_CLASS (g_type_class_peek_parent (g_type_class_peek ($1_get_type ())))->finalize (object);\n}\n}gms);
  count('finalize', $n);
  return $src;
}

# 3. Hand-written *_get_type() functions register their type without locking: threads that
#    use a type for the first time together fail with "cannot register existing type".
sub fix_get_type {
  my ($src) = @_;
  my $n = ($src =~ s{^(\w+_get_type) \(void\)\n\{\n(.*?)\n\}\n}{
    my ($fn, $body) = ($1, $2);
    if ($body =~ /static GType type = 0;/) {
      $body =~ s/static GType type = 0;/static gsize type_once = 0;/;
      $body =~ s/if \(type == 0\)\s*\n/if (g_once_init_enter (&type_once))\n/;
      $body =~ s/type = (g_type_register_static \(.*?\));/g_once_init_leave (&type_once, $1);/s;
      $body =~ s/return type;/return (GType) type_once;/;
    }
    "$fn (void)\n{\n$body\n}\n";
  }gmse);
  my $done = () = $src =~ /g_once_init_leave \(&type_once/g;
  die "get_type: found $n functions but rewrote none\n" if $n && !$done;
  count('get-type', $done);
  return $src;
}

# 4. Binary fields and keys read twice (a duplicate field on the wire) are released with g_free,
#    which leaks the GByteArray's data; release them as the finalizer does.
sub fix_binary_free {
  my ($src) = @_;
  my $n = ($src =~ s{g_free\s*\((\S+?)\);(\n\s+\1 = NULL;\n\s+\}\n\n\s+if \(\(ret = thrift_protocol_read_binary)}
    {thrift_string_free ($1);$2}g);
  count('binary-free', $n);
  return $src;
}

# 5. A map whose value fails to decode leaks the key just decoded.
sub fix_map_key_leak {
  my ($src) = @_;
  my $n = ($src =~ s{(\n(\s+)(key\d+) = g_byte_array_new\(\);\n(?:.*?\n)*?\s+if \(\(ret = thrift_struct_read \(THRIFT_STRUCT \(val\d+\), protocol, error\)\) < 0\)\n\s+\{\n\s+g_object_unref \(val\d+\);\n)}
    {$1$2  thrift_string_free ($3);\n}g);
  count('map-key-leak', $n);
  return $src;
}

# 6. Reading what a broken or hostile gateway sends (both found by fuzzing: tests/fuzz/fuzz_reply):
#    - thrift_protocol_read_binary takes a negative size on the wire for success, with no data
#      and a length of up to 4 GiB, which the generated code then appends from NULL;
#    - thrift_protocol_skip frees a string whose read failed and had freed it already (a double
#      free when a reply ends inside a field being skipped), and recurses without a limit.
#    Every generated binary read and skip goes through a safe version.
my $safe_reads = <<'C';
#include <thrift/c_glib/protocol/thrift_protocol.h>

/* hbpool fixup: a negative binary size is an error, not a 4 GiB string without data. */
static gint32
hbpool_read_binary (ThriftProtocol *protocol, gpointer *buf, guint32 *len, GError **error)
{
  gint32 ret = thrift_protocol_read_binary (protocol, buf, len, error);
  if (ret >= 0 && *buf == NULL && *len != 0)
  {
    g_set_error (error, THRIFT_PROTOCOL_ERROR, THRIFT_PROTOCOL_ERROR_NEGATIVE_SIZE,
                 "negative binary size %d", (gint32) *len);
    return -1;
  }
  return ret;
}

/* hbpool fixup: skips a value; frees only what was read, nests at most 64 deep. */
static gint32
hbpool_skip_nested (ThriftProtocol *protocol, ThriftType type, int depth, GError **error)
{
  gint32 ret, xfer = 0;
  if (depth > 64)
  {
    g_set_error (error, THRIFT_PROTOCOL_ERROR, THRIFT_PROTOCOL_ERROR_DEPTH_LIMIT,
                 "a value nested deeper than 64");
    return -1;
  }
  switch (type)
  {
    case T_BOOL: { gboolean v; return thrift_protocol_read_bool (protocol, &v, error); }
    case T_BYTE: { gint8 v; return thrift_protocol_read_byte (protocol, &v, error); }
    case T_I16: { gint16 v; return thrift_protocol_read_i16 (protocol, &v, error); }
    case T_I32: { gint32 v; return thrift_protocol_read_i32 (protocol, &v, error); }
    case T_I64: { gint64 v; return thrift_protocol_read_i64 (protocol, &v, error); }
    case T_DOUBLE: { gdouble v; return thrift_protocol_read_double (protocol, &v, error); }
    case T_STRING:
    {
      gpointer data = NULL;
      guint32 len = 0;
      ret = hbpool_read_binary (protocol, &data, &len, error);
      if (ret >= 0)
        g_free (data);
      return ret;
    }
    case T_STRUCT:
    {
      gchar *name = NULL;
      if ((ret = thrift_protocol_read_struct_begin (protocol, &name, error)) < 0)
        return -1;
      g_free (name);
      xfer += ret;
      for (;;)
      {
        ThriftType ftype = T_STOP;
        gint16 fid = 0;
        gchar *fname = NULL;
        if ((ret = thrift_protocol_read_field_begin (protocol, &fname, &ftype, &fid, error)) < 0)
          return -1;
        g_free (fname);
        xfer += ret;
        if (ftype == T_STOP)
          break;
        if ((ret = hbpool_skip_nested (protocol, ftype, depth + 1, error)) < 0)
          return -1;
        xfer += ret;
        if ((ret = thrift_protocol_read_field_end (protocol, error)) < 0)
          return -1;
        xfer += ret;
      }
      if ((ret = thrift_protocol_read_struct_end (protocol, error)) < 0)
        return -1;
      return xfer + ret;
    }
    case T_MAP:
    {
      ThriftType key_type = T_STOP, value_type = T_STOP;
      guint32 n = 0;
      if ((ret = thrift_protocol_read_map_begin (protocol, &key_type, &value_type, &n, error)) < 0)
        return -1;
      xfer += ret;
      for (guint32 i = 0; i < n; i++)
      {
        if ((ret = hbpool_skip_nested (protocol, key_type, depth + 1, error)) < 0)
          return -1;
        xfer += ret;
        if ((ret = hbpool_skip_nested (protocol, value_type, depth + 1, error)) < 0)
          return -1;
        xfer += ret;
      }
      if ((ret = thrift_protocol_read_map_end (protocol, error)) < 0)
        return -1;
      return xfer + ret;
    }
    case T_SET:
    case T_LIST:
    {
      ThriftType element_type = T_STOP;
      guint32 n = 0;
      ret = type == T_SET ? thrift_protocol_read_set_begin (protocol, &element_type, &n, error)
                          : thrift_protocol_read_list_begin (protocol, &element_type, &n, error);
      if (ret < 0)
        return -1;
      xfer += ret;
      for (guint32 i = 0; i < n; i++)
      {
        if ((ret = hbpool_skip_nested (protocol, element_type, depth + 1, error)) < 0)
          return -1;
        xfer += ret;
      }
      ret = type == T_SET ? thrift_protocol_read_set_end (protocol, error)
                          : thrift_protocol_read_list_end (protocol, error);
      if (ret < 0)
        return -1;
      return xfer + ret;
    }
    default:
      g_set_error (error, THRIFT_PROTOCOL_ERROR, THRIFT_PROTOCOL_ERROR_INVALID_DATA,
                   "a value of unknown type %d", (int) type);
      return -1;
  }
}

static gint32
hbpool_skip (ThriftProtocol *protocol, ThriftType type, GError **error)
{
  return hbpool_skip_nested (protocol, type, 0, error);
}
C

sub fix_safe_reads {
  my ($src) = @_;
  my $n = ($src =~ s/\(ret = thrift_protocol_read_binary \(protocol, &data, &len, error\)\) < 0\)/(ret = hbpool_read_binary (protocol, &data, &len, error)) < 0)/g);
  my $m = ($src =~ s/\bthrift_protocol_skip \(protocol, /hbpool_skip (protocol, /g);
  if ($n || $m) {
    $src =~ s/(#include <thrift\/c_glib\/thrift.h>\n)/$1$safe_reads/ or die "no include line to anchor the safe reads\n";
  }
  count('negative-binary', $n);
  count('safe-skip', $m);
  return $src;
}

my @files = @ARGV or die "usage: $0 FILE.c...\n";
for my $file (@files) {
  open(my $in, '<', $file) or die "$file: $!\n";
  my $src = do { local $/; <$in> };
  close $in;
  $src = fix_map_hash($src);
  $src = fix_finalize($src);
  $src = fix_get_type($src);
  $src = fix_binary_free($src);
  $src = fix_map_key_leak($src);
  $src = fix_safe_reads($src);
  open(my $out, '>', "$file.tmp") or die "$file.tmp: $!\n";
  print $out $src;
  close $out or die "$file.tmp: $!\n";
  rename("$file.tmp", $file) or die "$file: $!\n";
}
for my $fix (qw(map-hash finalize get-type binary-free map-key-leak negative-binary safe-skip)) {
  die "fixup '$fix' matched nothing: the generator's output changed, review the fixups\n"
    unless $applied{$fix};
}
