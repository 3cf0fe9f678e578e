/* Unit tests of netio, the gateway socket layer, against a loopback peer: framing, HTTP requests
 * and replies, short reads, EOF, deadlines, EINTR and size limits. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "netio.h"
#include "peer.h"

/* What the peer does with each connection; tests set it before peer_start. */
typedef struct script {
  size_t expect;       /* request bytes to read first (0: none) */
  bool framed_request; /* read one frame instead */
  const uint8_t *reply;
  size_t reply_len;
  int chunk; /* send the reply in chunks of at most this many bytes (0: at once) */
  int chunk_pause_ms;
  int hold_ms;  /* keep the connection open this long before closing */
  uint8_t *got; /* request bytes received */
  size_t got_len;
} script;

static void serve(int fd, void *arg) {
  script *s = arg;
  if (s->framed_request) {
    peer_read_frame(fd, &s->got, &s->got_len);
  } else if (s->expect > 0) {
    s->got = malloc(s->expect);
    if (peer_read_exact(fd, s->got, s->expect) == 0)
      s->got_len = s->expect;
  }
  size_t off = 0;
  while (off < s->reply_len) {
    size_t n = s->chunk > 0 ? (size_t)s->chunk : s->reply_len;
    if (n > s->reply_len - off)
      n = s->reply_len - off;
    if (peer_write_all(fd, s->reply + off, n) < 0)
      break;
    off += n;
    if (s->chunk_pause_ms > 0)
      sleep_ms(s->chunk_pause_ms);
  }
  if (s->hold_ms > 0)
    sleep_ms(s->hold_ms);
}

static netio *connect_to(peer *p, bool framed, size_t max_message) {
  netio_options o = {.connect_timeout_ms = 2000, .framed = framed, .max_message_size = max_message};
  hb_error err = HB_ERROR_INIT;
  netio *io = netio_connect("127.0.0.1", peer_port(p), &o, &err);
  ck_assert_msg(io != NULL, "connect failed: %s", err.message);
  netio_set_deadline(io, 5000);
  return io;
}

static uint8_t *pattern(size_t n) {
  uint8_t *b = malloc(n);
  for (size_t i = 0; i < n; i++)
    b[i] = (uint8_t)(i * 7 + (i >> 8));
  return b;
}

START_TEST(test_buffered_write_arrives_whole) {
  script s = {.expect = 11};
  peer *p = peer_start(serve, &s);
  netio *io = connect_to(p, false, 1 << 20);
  hb_error err = HB_ERROR_INIT;
  ck_assert_int_eq(netio_write(io, "hello ", 6, &err), 0);
  ck_assert_int_eq(netio_write(io, "world", 5, &err), 0);
  ck_assert_int_eq(netio_flush(io, &err), 0);
  netio_close(io);
  peer_stop(p);
  ck_assert_uint_eq(s.got_len, 11);
  ck_assert_mem_eq(s.got, "hello world", 11);
  free(s.got);
}
END_TEST

START_TEST(test_framed_write_has_length_prefix) {
  script s = {.framed_request = true};
  peer *p = peer_start(serve, &s);
  netio *io = connect_to(p, true, 1 << 20);
  hb_error err = HB_ERROR_INIT;
  uint8_t *body = pattern(70000);
  ck_assert_int_eq(netio_write(io, body, 70000, &err), 0);
  ck_assert_int_eq(netio_flush(io, &err), 0);
  netio_close(io);
  peer_stop(p);
  ck_assert_uint_eq(s.got_len, 70000);
  ck_assert_mem_eq(s.got, body, 70000);
  free(s.got);
  free(body);
}
END_TEST

START_TEST(test_short_reads_are_reassembled) {
  size_t n = 20000;
  uint8_t *reply = pattern(n);
  script s = {.reply = reply, .reply_len = n, .chunk = 7, .chunk_pause_ms = 0};
  peer *p = peer_start(serve, &s);
  netio *io = connect_to(p, false, 1 << 20);
  hb_error err = HB_ERROR_INIT;
  uint8_t *got = malloc(n);
  /* Reads of uneven sizes, as a protocol decoder makes them. */
  size_t off = 0, step = 1;
  while (off < n) {
    size_t take = step < n - off ? step : n - off;
    ck_assert_int_eq(netio_read(io, got + off, take, &err), 0);
    off += take;
    step = step * 3 % 1031 + 1;
  }
  ck_assert_mem_eq(got, reply, n);
  ck_assert_int_eq(netio_read_end(io, &err), 0);
  netio_close(io);
  peer_stop(p);
  free(got);
  free(reply);
}
END_TEST

START_TEST(test_eof_mid_reply_is_an_error) {
  script s = {.reply = (const uint8_t *)"0123456789", .reply_len = 10};
  peer *p = peer_start(serve, &s);
  netio *io = connect_to(p, false, 1 << 20);
  hb_error err = HB_ERROR_INIT;
  uint8_t buf[100];
  ck_assert_int_eq(netio_read(io, buf, sizeof buf, &err), -1);
  ck_assert_int_eq(err.code, HB_ERR_TRANSPORT);
  ck_assert_ptr_nonnull(strstr(err.message, "closed"));
  hb_error_clear(&err);
  netio_close(io);
  peer_stop(p);
}
END_TEST

START_TEST(test_silent_peer_times_out) {
  script s = {.hold_ms = 1500};
  peer *p = peer_start(serve, &s);
  netio *io = connect_to(p, false, 1 << 20);
  netio_set_deadline(io, 200);
  hb_error err = HB_ERROR_INIT;
  uint8_t b;
  int64_t t0 = mono_ms();
  ck_assert_int_eq(netio_read(io, &b, 1, &err), -1);
  int64_t took = mono_ms() - t0;
  ck_assert_int_eq(err.code, HB_ERR_TIMEOUT);
  ck_assert_msg(took >= 190 && took < 1000, "timeout after %lld ms", (long long)took);
  hb_error_clear(&err);
  netio_close(io);
  peer_stop(p);
}
END_TEST

/* The deadline covers the whole reply, so a peer dripping bytes cannot hold a call forever. */
START_TEST(test_dripping_peer_hits_the_call_deadline) {
  uint8_t *reply = pattern(100);
  script s = {.reply = reply, .reply_len = 100, .chunk = 1, .chunk_pause_ms = 40};
  peer *p = peer_start(serve, &s);
  netio *io = connect_to(p, false, 1 << 20);
  netio_set_deadline(io, 300);
  hb_error err = HB_ERROR_INIT;
  uint8_t buf[100];
  int64_t t0 = mono_ms();
  ck_assert_int_eq(netio_read(io, buf, sizeof buf, &err), -1);
  ck_assert_int_eq(err.code, HB_ERR_TIMEOUT);
  ck_assert_int_lt(mono_ms() - t0, 1500);
  hb_error_clear(&err);
  netio_close(io);
  peer_stop(p);
  free(reply);
}
END_TEST

static uint8_t *frame(const uint8_t *payload, size_t n, uint32_t announced) {
  uint8_t *f = malloc(n + 4);
  f[0] = (uint8_t)(announced >> 24);
  f[1] = (uint8_t)(announced >> 16);
  f[2] = (uint8_t)(announced >> 8);
  f[3] = (uint8_t)announced;
  memcpy(f + 4, payload, n);
  return f;
}

START_TEST(test_framed_reply_is_unframed) {
  uint8_t *body = pattern(5000);
  uint8_t *f = frame(body, 5000, 5000);
  script s = {.reply = f, .reply_len = 5004, .chunk = 333};
  peer *p = peer_start(serve, &s);
  netio *io = connect_to(p, true, 1 << 20);
  hb_error err = HB_ERROR_INIT;
  uint8_t got[5000];
  ck_assert_int_eq(netio_read(io, got, 1, &err), 0);
  ck_assert_int_eq(netio_read(io, got + 1, 4999, &err), 0);
  ck_assert_mem_eq(got, body, 5000);
  ck_assert_int_eq(netio_read_end(io, &err), 0);
  netio_close(io);
  peer_stop(p);
  free(f);
  free(body);
}
END_TEST

START_TEST(test_reading_past_the_frame_fails) {
  uint8_t *body = pattern(64);
  uint8_t *f = frame(body, 64, 32);
  script s = {.reply = f, .reply_len = 68, .hold_ms = 200};
  peer *p = peer_start(serve, &s);
  netio *io = connect_to(p, true, 1 << 20);
  hb_error err = HB_ERROR_INIT;
  uint8_t got[64];
  ck_assert_int_eq(netio_read(io, got, 64, &err), -1);
  ck_assert_int_eq(err.code, HB_ERR_TRANSPORT);
  ck_assert_ptr_nonnull(strstr(err.message, "frame"));
  hb_error_clear(&err);
  netio_close(io);
  peer_stop(p);
  free(f);
  free(body);
}
END_TEST

START_TEST(test_bad_frame_sizes_fail) {
  uint32_t sizes[] = {0, 0x7fffffffu, 0x80000000u, 4096};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    uint8_t *f = frame((const uint8_t *)"x", 1, sizes[i]);
    script s = {.reply = f, .reply_len = 5, .hold_ms = 100};
    peer *p = peer_start(serve, &s);
    netio *io = connect_to(p, true, 1000); /* 4096 exceeds this limit */
    hb_error err = HB_ERROR_INIT;
    uint8_t b;
    ck_assert_int_eq(netio_read(io, &b, 1, &err), -1);
    ck_assert_int_eq(err.code, HB_ERR_TRANSPORT);
    hb_error_clear(&err);
    netio_close(io);
    peer_stop(p);
    free(f);
  }
}
END_TEST

START_TEST(test_leftover_bytes_fail_read_end) {
  uint8_t *reply = pattern(20);
  script s = {.reply = reply, .reply_len = 20, .hold_ms = 100};
  peer *p = peer_start(serve, &s);
  netio *io = connect_to(p, false, 1 << 20);
  hb_error err = HB_ERROR_INIT;
  uint8_t got[10];
  ck_assert_int_eq(netio_read(io, got, 10, &err), 0);
  sleep_ms(50); /* let the rest arrive: read-ahead will hold it */
  uint8_t one;
  ck_assert_int_eq(netio_read(io, &one, 1, &err), 0);
  ck_assert_int_eq(netio_read_end(io, &err), -1);
  ck_assert_int_eq(err.code, HB_ERR_TRANSPORT);
  ck_assert_ptr_nonnull(strstr(err.message, "unexpected bytes"));
  hb_error_clear(&err);
  netio_close(io);
  peer_stop(p);
  free(reply);
}
END_TEST

START_TEST(test_reply_over_the_limit_fails) {
  uint8_t *reply = pattern(300);
  script s = {.reply = reply, .reply_len = 300, .hold_ms = 100};
  peer *p = peer_start(serve, &s);
  netio *io = connect_to(p, false, 200);
  hb_error err = HB_ERROR_INIT;
  uint8_t got[300];
  ck_assert_int_eq(netio_read(io, got, 150, &err), 0);
  ck_assert_int_eq(netio_read(io, got + 150, 150, &err), -1);
  ck_assert_int_eq(err.code, HB_ERR_TRANSPORT);
  ck_assert_ptr_nonnull(strstr(err.message, "limit"));
  hb_error_clear(&err);
  netio_close(io);
  peer_stop(p);
  free(reply);
}
END_TEST

static int closed_port(void) {
  peer *p = peer_start(serve, &(script){0});
  int port = peer_port(p);
  peer_stop(p);
  return port;
}

START_TEST(test_refused_connection_fails_fast) {
  int port = closed_port();
  netio_options o = {.connect_timeout_ms = 3000, .max_message_size = 1 << 20};
  hb_error err = HB_ERROR_INIT;
  int64_t t0 = mono_ms();
  ck_assert_ptr_null(netio_connect("127.0.0.1", port, &o, &err));
  ck_assert_int_lt(mono_ms() - t0, 1000);
  ck_assert_int_eq(err.code, HB_ERR_TRANSPORT);
  ck_assert_ptr_nonnull(strstr(err.message, "127.0.0.1:"));
  ck_assert_ptr_nonnull(strstr(err.message, "refused"));
  hb_error_clear(&err);
}
END_TEST

/* A peer that never reads: the socket buffers fill and the send must give up at the deadline. */
START_TEST(test_blocked_send_times_out) {
  script s = {.hold_ms = 2000};
  peer *p = peer_start(serve, &s);
  netio *io = connect_to(p, false, 1 << 20);
  netio_set_deadline(io, 300);
  hb_error err = HB_ERROR_INIT;
  size_t n = 64u << 20;
  uint8_t *big = calloc(1, n);
  ck_assert_int_eq(netio_write(io, big, n, &err), 0);
  int64_t t0 = mono_ms();
  ck_assert_int_eq(netio_flush(io, &err), -1);
  ck_assert_int_eq(err.code, HB_ERR_TIMEOUT);
  ck_assert_int_lt(mono_ms() - t0, 1500);
  hb_error_clear(&err);
  netio_close(io);
  peer_stop(p);
  free(big);
}
END_TEST

/* Writing to a peer that has gone must fail with an error, not kill the process with SIGPIPE. */
START_TEST(test_send_to_closed_peer_fails_without_sigpipe) {
  signal(SIGPIPE, SIG_DFL);
  script s = {0};
  peer *p = peer_start(serve, &s);
  netio *io = connect_to(p, false, 1 << 20);
  sleep_ms(100); /* the peer has closed by now */
  hb_error err = HB_ERROR_INIT;
  uint8_t chunk[65536] = {0};
  int rc = 0;
  for (int i = 0; i < 200 && rc == 0; i++) {
    netio_write(io, chunk, sizeof chunk, &err);
    rc = netio_flush(io, &err);
  }
  ck_assert_int_eq(rc, -1);
  ck_assert_int_eq(err.code, HB_ERR_TRANSPORT);
  hb_error_clear(&err);
  netio_close(io);
  peer_stop(p);
}
END_TEST

static volatile sig_atomic_t alarms;
static void on_alarm(int sig) {
  (void)sig;
  alarms++;
}

/* Signals interrupting poll/recv are retried, not reported as failures. */
START_TEST(test_signals_do_not_break_reads) {
  struct sigaction sa = {.sa_handler = on_alarm}; /* no SA_RESTART */
  sigaction(SIGALRM, &sa, NULL);
  struct itimerval every = {.it_interval = {0, 5000}, .it_value = {0, 5000}};
  setitimer(ITIMER_REAL, &every, NULL);
  uint8_t *reply = pattern(64);
  script s = {.reply = reply, .reply_len = 64, .chunk = 8, .chunk_pause_ms = 30};
  peer *p = peer_start(serve, &s);
  netio *io = connect_to(p, false, 1 << 20);
  hb_error err = HB_ERROR_INIT;
  uint8_t got[64];
  int rc = netio_read(io, got, 64, &err);
  struct itimerval off = {0};
  setitimer(ITIMER_REAL, &off, NULL);
  ck_assert_msg(rc == 0, "read failed: %s", err.message);
  ck_assert_mem_eq(got, reply, 64);
  ck_assert_int_gt(alarms, 10);
  netio_close(io);
  peer_stop(p);
  free(reply);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * HTTP: each message a POST; the reply's body by Content-Length or in chunks. */

static netio *connect_http(peer *p, const char *path, size_t max_message) {
  netio_options o = {.connect_timeout_ms = 2000,
                     .http = true,
                     .http_path = path,
                     .max_message_size = max_message};
  hb_error err = HB_ERROR_INIT;
  netio *io = netio_connect("127.0.0.1", peer_port(p), &o, &err);
  ck_assert_msg(io != NULL, "connect failed: %s", err.message);
  netio_set_deadline(io, 5000);
  return io;
}

/* A 200 reply with head lines (each ending in CRLF) and then body. */
static uint8_t *http_reply(const char *head, const uint8_t *body, size_t n, size_t *len) {
  size_t h = strlen(head);
  uint8_t *out = malloc(h + n);
  memcpy(out, head, h);
  memcpy(out + h, body, n);
  *len = h + n;
  return out;
}

START_TEST(test_http_request_is_a_post) {
  script s = {0};
  peer *p = peer_start(serve, &s);
  char want[512];
  int n = snprintf(want, sizeof want,
                   "POST /hbase/thrift HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                   "Content-Type: application/x-thrift\r\nAccept: application/x-thrift\r\n"
                   "Content-Length: 11\r\n\r\nhello world",
                   peer_port(p));
  s.expect = (size_t)n;
  netio *io = connect_http(p, "/hbase/thrift", 1 << 20);
  hb_error err = HB_ERROR_INIT;
  ck_assert_int_eq(netio_write(io, "hello ", 6, &err), 0);
  ck_assert_int_eq(netio_write(io, "world", 5, &err), 0);
  ck_assert_int_eq(netio_flush(io, &err), 0);
  netio_close(io);
  peer_stop(p);
  ck_assert_uint_eq(s.got_len, (size_t)n);
  ck_assert_mem_eq(s.got, want, (size_t)n);
  free(s.got);
}
END_TEST

START_TEST(test_http_reply_by_length) {
  uint8_t *body = pattern(5000);
  size_t len;
  uint8_t *r = http_reply("HTTP/1.1 200 OK\r\nContent-Type: application/x-thrift\r\n"
                          "content-length: 5000\r\nServer: Jetty\r\n\r\n",
                          body, 5000, &len);
  script s = {.reply = r, .reply_len = len, .chunk = 333};
  peer *p = peer_start(serve, &s);
  netio *io = connect_http(p, NULL, 1 << 20);
  hb_error err = HB_ERROR_INIT;
  uint8_t got[5000];
  ck_assert_int_eq(netio_read(io, got, 1, &err), 0);
  ck_assert_int_eq(netio_read(io, got + 1, 4999, &err), 0);
  ck_assert_mem_eq(got, body, 5000);
  ck_assert_int_eq(netio_read_end(io, &err), 0);
  ck_assert_int_eq(netio_read(io, got, 1, &err), -1); /* nothing more came */
  hb_error_clear(&err);
  netio_close(io);
  peer_stop(p);
  free(r);
  free(body);
}
END_TEST

/* Chunks of 1000 and 4000 bytes, a trailer, sent 7 bytes at a time: the reader sees one body,
 * and read_end takes the last (empty) chunk. */
START_TEST(test_http_chunked_reply) {
  uint8_t *body = pattern(5000);
  size_t len = 0;
  uint8_t *r = malloc(6000);
  const char *head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n";
  memcpy(r, head, strlen(head));
  len = strlen(head);
  memcpy(r + len, body, 1000);
  len += 1000;
  memcpy(r + len, "\r\nFA0;x=y\r\n", 11);
  len += 11;
  memcpy(r + len, body + 1000, 4000);
  len += 4000;
  const char *tail = "\r\n0\r\nX-Trailer: 1\r\n\r\n";
  memcpy(r + len, tail, strlen(tail));
  len += strlen(tail);
  script s = {.reply = r, .reply_len = len, .chunk = 7};
  peer *p = peer_start(serve, &s);
  netio *io = connect_http(p, "/", 1 << 20);
  hb_error err = HB_ERROR_INIT;
  uint8_t got[5000];
  ck_assert_int_eq(netio_read(io, got, 999, &err), 0);
  ck_assert_int_eq(netio_read(io, got + 999, 4001, &err), 0);
  ck_assert_mem_eq(got, body, 5000);
  ck_assert_msg(netio_read_end(io, &err) == 0, "%s", err.message);
  netio_close(io);
  peer_stop(p);
  free(r);
  free(body);
}
END_TEST

/* What is not a 200 reply of the right length fails the call with a transport error that says
 * what came. */
START_TEST(test_http_bad_replies_fail) {
  static const struct {
    const char *reply;
    size_t read; /* bytes the reader asks for */
    const char *says;
  } cases[] = {
    {"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 1, "check the gateway's path"},
    {"HTTP/1.1 500 Server Error\r\nContent-Length: 3\r\n\r\nabc", 1, "500 Server Error"},
    {"\x80\x01\x00\x02\x00\x00\x00\x00garbage\r\n\r\n", 1, "not an HTTP reply"},
    {"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcdefgh", 8, "longer than its HTTP body"},
    {"HTTP/1.1 200 OK\r\n\r\nabcd", 1, "neither a Content-Length nor chunks"},
    {"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n", 1, "exceeds"},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 1, "bad chunk size"},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd\r\n", 4,
     "longer than it said"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    script s = {.reply = (const uint8_t *)cases[i].reply,
                .reply_len = strlen(cases[i].reply),
                .hold_ms = 200};
    if (i == 2)
      s.reply_len = 19; /* the NULs of a binary reply */
    peer *p = peer_start(serve, &s);
    netio *io = connect_http(p, "/", 1 << 20);
    hb_error err = HB_ERROR_INIT;
    uint8_t got[16];
    ck_assert_int_eq(netio_read(io, got, cases[i].read, &err), -1);
    ck_assert_int_eq(err.code, HB_ERR_TRANSPORT);
    ck_assert_msg(strstr(err.message, cases[i].says) != NULL, "case %zu: %s", i, err.message);
    hb_error_clear(&err);
    netio_close(io);
    peer_stop(p);
  }
}
END_TEST

static Suite *netio_suite(void) {
  Suite *s = suite_create("netio");
  TCase *tc = tcase_create("netio");
  tcase_set_timeout(tc, 20);
  tcase_add_test(tc, test_buffered_write_arrives_whole);
  tcase_add_test(tc, test_framed_write_has_length_prefix);
  tcase_add_test(tc, test_short_reads_are_reassembled);
  tcase_add_test(tc, test_eof_mid_reply_is_an_error);
  tcase_add_test(tc, test_silent_peer_times_out);
  tcase_add_test(tc, test_dripping_peer_hits_the_call_deadline);
  tcase_add_test(tc, test_framed_reply_is_unframed);
  tcase_add_test(tc, test_reading_past_the_frame_fails);
  tcase_add_test(tc, test_bad_frame_sizes_fail);
  tcase_add_test(tc, test_leftover_bytes_fail_read_end);
  tcase_add_test(tc, test_reply_over_the_limit_fails);
  tcase_add_test(tc, test_refused_connection_fails_fast);
  tcase_add_test(tc, test_blocked_send_times_out);
  tcase_add_test(tc, test_send_to_closed_peer_fails_without_sigpipe);
  tcase_add_test(tc, test_signals_do_not_break_reads);
  tcase_add_test(tc, test_http_request_is_a_post);
  tcase_add_test(tc, test_http_reply_by_length);
  tcase_add_test(tc, test_http_chunked_reply);
  tcase_add_test(tc, test_http_bad_replies_fail);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(netio_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
