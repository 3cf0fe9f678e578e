/* fuzz_reply: libFuzzer target for what a broken or hostile gateway can send: the reply to each
 * Thrift call hbpoold makes, read by the client layer (the generated code and wire.c) over
 * every transport and protocol. The first byte picks the call, the second the transport
 * (buffered, framed, http) and protocol (binary, compact); the rest is the gateway's reply,
 * ending in EOF. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "reply_calls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2)
    return 0;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
    abort();
  /* The reply is there before the request: the call reads it, then EOF. (Inputs are kept under
   * the socket's buffer by -max_len.) */
  ssize_t n = size > 2 ? write(sv[1], data + 2, size - 2) : 0;
  (void)n;
  shutdown(sv[1], SHUT_WR);
  hbc_options o;
  hbc_options_init(&o);
  o.host = "127.0.0.1";
  o.framed = (data[1] & 3) == 1;
  o.http = (data[1] & 3) == 2;
  o.protocol = data[1] & 4 ? HBC_PROTOCOL_COMPACT : HBC_PROTOCOL_BINARY;
  o.call_timeout_ms = 1000;
  o.max_message_size = 1 << 16; /* above -max_len; small, so that announced sizes stay small */
  hbc_conn *c = hbc_connect_fd(sv[0], &o);
  call(c, data[0] % NCALLS);
  hbc_close(c);
  close(sv[1]);
  return 0;
}
