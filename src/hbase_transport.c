/* hbase_transport: hbpool's ThriftTransport, a GObject over netio (replaces c_glib's socket,
 * buffered and framed transports, whose defects are listed in docs/thrift.md). */
#include "hbase_transport.h"

struct _HbTransport {
  ThriftTransport parent;
  netio *io;
  hb_error last; /* the netio error behind the latest GError */
};

G_DEFINE_TYPE(HbTransport, hb_transport, THRIFT_TYPE_TRANSPORT)

/* Turns a netio failure into the GError the Thrift code expects, keeping its class for us. */
static void fail(HbTransport *t, GError **error, ThriftTransportError code) {
  g_set_error(error, THRIFT_TRANSPORT_ERROR, code, "%s",
              t->last.message != NULL ? t->last.message : "transport failure");
}

static gboolean t_is_open(ThriftTransport *transport) {
  return HB_TRANSPORT(transport)->io != NULL;
}

static gboolean t_peek(ThriftTransport *transport, GError **error) {
  (void)error;
  return HB_TRANSPORT(transport)->io != NULL;
}

/* Connections are opened by the client module before the transport exists. */
static gboolean t_open(ThriftTransport *transport, GError **error) {
  HbTransport *t = HB_TRANSPORT(transport);
  if (t->io != NULL)
    return TRUE;
  g_set_error(error, THRIFT_TRANSPORT_ERROR, THRIFT_TRANSPORT_ERROR_CONNECT,
              "transport cannot be reopened");
  return FALSE;
}

static gboolean t_close(ThriftTransport *transport, GError **error) {
  (void)error;
  HbTransport *t = HB_TRANSPORT(transport);
  netio_close(t->io);
  t->io = NULL;
  return TRUE;
}

static gint32 t_read(ThriftTransport *transport, gpointer buf, guint32 len, GError **error) {
  HbTransport *t = HB_TRANSPORT(transport);
  if (t->io == NULL) {
    hb_error_set(&t->last, HB_ERR_TRANSPORT, "connection is closed");
    fail(t, error, THRIFT_TRANSPORT_ERROR_RECEIVE);
    return -1;
  }
  if (len > G_MAXINT32 || netio_read(t->io, buf, len, &t->last) < 0) {
    if (t->last.code == HB_OK)
      hb_error_set(&t->last, HB_ERR_TRANSPORT, "read of %u bytes is too large", len);
    fail(t, error, THRIFT_TRANSPORT_ERROR_RECEIVE);
    return -1;
  }
  return (gint32)len;
}

static gboolean t_read_end(ThriftTransport *transport, GError **error) {
  HbTransport *t = HB_TRANSPORT(transport);
  if (t->io == NULL || netio_read_end(t->io, &t->last) < 0) {
    if (t->last.code == HB_OK)
      hb_error_set(&t->last, HB_ERR_TRANSPORT, "connection is closed");
    fail(t, error, THRIFT_TRANSPORT_ERROR_RECEIVE);
    return FALSE;
  }
  return TRUE;
}

static gboolean t_write(ThriftTransport *transport, const gpointer buf, const guint32 len,
                        GError **error) {
  HbTransport *t = HB_TRANSPORT(transport);
  if (t->io == NULL || netio_write(t->io, buf, len, &t->last) < 0) {
    if (t->last.code == HB_OK)
      hb_error_set(&t->last, HB_ERR_TRANSPORT, "connection is closed");
    fail(t, error, THRIFT_TRANSPORT_ERROR_SEND);
    return FALSE;
  }
  return TRUE;
}

static gboolean t_write_end(ThriftTransport *transport, GError **error) {
  (void)transport;
  (void)error;
  return TRUE;
}

static gboolean t_flush(ThriftTransport *transport, GError **error) {
  HbTransport *t = HB_TRANSPORT(transport);
  if (t->io == NULL || netio_flush(t->io, &t->last) < 0) {
    if (t->last.code == HB_OK)
      hb_error_set(&t->last, HB_ERR_TRANSPORT, "connection is closed");
    fail(t, error, THRIFT_TRANSPORT_ERROR_SEND);
    return FALSE;
  }
  return TRUE;
}

/* The protocols ask before allocating a string or container whether that many bytes can still
 * arrive; answer from netio's per-reply budget so a garbage length fails instead of allocating. */
static gboolean t_check_read_bytes(ThriftTransport *transport, glong n, GError **error) {
  HbTransport *t = HB_TRANSPORT(transport);
  if (t->io == NULL)
    return TRUE;
  size_t used = netio_message_bytes(t->io), max = netio_max_message_size(t->io);
  if (n >= 0 && (size_t)n <= max - used)
    return TRUE;
  hb_error_set(&t->last, HB_ERR_TRANSPORT,
               "reply announces %ld more bytes, beyond the %zu-byte limit", n, max);
  g_set_error(error, THRIFT_TRANSPORT_ERROR, THRIFT_TRANSPORT_ERROR_MAX_MESSAGE_SIZE_REACHED, "%s",
              t->last.message);
  return FALSE;
}

/* netio accounts for message sizes itself. */
static gboolean t_size_noop(ThriftTransport *transport, glong size, GError **error) {
  (void)transport;
  (void)size;
  (void)error;
  return TRUE;
}

static void hb_transport_finalize(GObject *object) {
  HbTransport *t = HB_TRANSPORT(object);
  netio_close(t->io);
  t->io = NULL;
  hb_error_clear(&t->last);
  G_OBJECT_CLASS(hb_transport_parent_class)->finalize(object);
}

static void hb_transport_class_init(HbTransportClass *cls) {
  ThriftTransportClass *ttc = THRIFT_TRANSPORT_CLASS(cls);
  G_OBJECT_CLASS(cls)->finalize = hb_transport_finalize;
  ttc->is_open = t_is_open;
  ttc->peek = t_peek;
  ttc->open = t_open;
  ttc->close = t_close;
  ttc->read = t_read;
  ttc->read_all = t_read;
  ttc->read_end = t_read_end;
  ttc->write = t_write;
  ttc->write_end = t_write_end;
  ttc->flush = t_flush;
  ttc->checkReadBytesAvailable = t_check_read_bytes;
  ttc->updateKnownMessageSize = t_size_noop;
  ttc->resetConsumedMessageSize = t_size_noop;
  ttc->countConsumedMessageBytes = t_size_noop;
}

static void hb_transport_init(HbTransport *t) {
  t->io = NULL;
  t->last = (hb_error)HB_ERROR_INIT;
}

HbTransport *hb_transport_new(netio *io) {
  HbTransport *t = g_object_new(HB_TYPE_TRANSPORT, NULL);
  t->io = io;
  return t;
}

netio *hb_transport_netio(HbTransport *t) {
  return t->io;
}

hb_error *hb_transport_last_error(HbTransport *t) {
  return &t->last;
}

void hb_transport_clear_error(HbTransport *t) {
  hb_error_clear(&t->last);
}
