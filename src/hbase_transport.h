/* hbase_transport: hbpool's ThriftTransport, a GObject over netio. Private to the client
 * layer. */
#ifndef HBPOOL_HBASE_TRANSPORT_H
#define HBPOOL_HBASE_TRANSPORT_H

#include <glib-object.h>
#include <thrift/c_glib/transport/thrift_transport.h>

#include "netio.h"

/* G_DECLARE_FINAL_TYPE needs the parent's autoptr cleanup, which c_glib does not declare. */
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ThriftTransport, g_object_unref)

#define HB_TYPE_TRANSPORT (hb_transport_get_type())
G_DECLARE_FINAL_TYPE(HbTransport, hb_transport, HB, TRANSPORT, ThriftTransport)

/* Wraps an open netio; the transport owns it from now on and closes it when finalized. */
HbTransport *hb_transport_new(netio *io);
netio *hb_transport_netio(HbTransport *t);
/* The error netio reported last (its class tells a timeout from a broken stream); cleared by
 * hb_transport_clear_error. */
hb_error *hb_transport_last_error(HbTransport *t);
void hb_transport_clear_error(HbTransport *t);

#endif
