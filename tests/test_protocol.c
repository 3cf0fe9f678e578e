/* Unit tests of protocol, hbpoold's JSON-RPC wire format: lines, requests, parameters, bytes,
 * base64, error mapping and response lines. `test_protocol --bench` measures bytes_to_json. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto_param.h"
#include "protocol.h"

#define assert_contains(hay, needle)                                                               \
  do {                                                                                             \
    const char *hay_ = (hay), *needle_ = (needle);                                                 \
    ck_assert_msg(hay_ != NULL && strstr(hay_, needle_) != NULL, "\"%s\" does not contain \"%s\"", \
                  hay_ != NULL ? hay_ : "(null)", needle_);                                        \
  } while (0)

#define assert_error(e, want_code, needle)                                                         \
  do {                                                                                             \
    ck_assert_msg((e)->code == (want_code), "code %d, wanted %d (%s)", (int)(e)->code,             \
                  (int)(want_code), (e)->message != NULL ? (e)->message : "(null)");               \
    assert_contains((e)->message, needle);                                                         \
  } while (0)

/* A fixed-seed generator: failures must reproduce. */
static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static uint64_t rng(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

static json_t *parse(const char *text, proto_error *e) {
  return proto_parse_line(text, strlen(text), e);
}

/* Parses text, which must be one JSON object, and initialises r from it. */
static int init_from(const char *text, proto_request *r, proto_error *e) {
  proto_error pe = PROTO_ERROR_INIT;
  json_t *msg = parse(text, &pe);
  ck_assert_msg(msg != NULL, "cannot parse %s: %s", text, pe.message);
  int rc = proto_request_init(r, msg, e);
  json_decref(msg);
  return rc;
}

/* A request to method "m" with id 1 and the given params object, which must be valid. */
static void with_params(const char *params, proto_request *r) {
  char *text = NULL;
  ck_assert_int_ge(asprintf(&text, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":%s}",
                            params),
                   0);
  proto_error e = PROTO_ERROR_INIT;
  ck_assert_msg(init_from(text, r, &e) == 0, "%s: %s", text, e.message);
  free(text);
}

/* Checks that line is exactly one line of JSON, parses it back and frees it. */
static json_t *line_json(char *line) {
  ck_assert_ptr_nonnull(line);
  size_t n = strlen(line);
  ck_assert_uint_gt(n, 1);
  ck_assert_int_eq(line[n - 1], '\n');
  ck_assert_ptr_null(memchr(line, '\n', n - 1));
  json_error_t je;
  json_t *v = json_loadb(line, n, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &je);
  ck_assert_msg(v != NULL, "response line is not JSON: %s: %s", je.text, line);
  free(line);
  return v;
}

/* ---- codes and errors ----------------------------------------------------------------------- */

START_TEST(test_code_names) {
  static const struct {
    proto_code code;
    const char *name;
  } names[] = {
    {PROTO_PARSE_ERROR, "parse_error"},
    {PROTO_INVALID_REQUEST, "invalid_request"},
    {PROTO_METHOD_NOT_FOUND, "method_not_found"},
    {PROTO_INVALID_PARAMS, "invalid_params"},
    {PROTO_INTERNAL_ERROR, "internal_error"},
    {PROTO_HBASE_IO_ERROR, "hbase_io_error"},
    {PROTO_HBASE_ILLEGAL_ARGUMENT, "hbase_illegal_argument"},
    {PROTO_HBASE_ALREADY_EXISTS, "hbase_already_exists"},
    {PROTO_GATEWAY_UNAVAILABLE, "gateway_unavailable"},
    {PROTO_NO_CONNECTION, "no_connection_available"},
    {PROTO_REQUEST_TIMEOUT, "request_timeout"},
    {PROTO_ENCODING_ERROR, "encoding_error"},
    {PROTO_REQUEST_TOO_LARGE, "request_too_large"},
    {PROTO_TOO_MANY_REQUESTS, "too_many_requests"},
    {PROTO_GATEWAY_ERROR, "gateway_error"},
    {PROTO_SHUTTING_DOWN, "shutting_down"},
  };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    ck_assert_str_eq(proto_code_name(names[i].code), names[i].name);
  ck_assert_str_eq(proto_code_name((proto_code)0), "unknown_error");
  ck_assert_int_eq(PROTO_PARSE_ERROR, -32700);
  ck_assert_int_eq(PROTO_GATEWAY_ERROR, -32010);
}
END_TEST

START_TEST(test_fail_replaces_earlier_error) {
  proto_error e = PROTO_ERROR_INIT;
  ck_assert_int_eq(proto_fail(&e, PROTO_INTERNAL_ERROR, "first %d", 1), -1);
  e.data = json_pack("{s:i}", "x", 1);
  e.retryable = true;
  ck_assert_int_eq(proto_fail(&e, PROTO_METHOD_NOT_FOUND, "method not found: %s", "nope"), -1);
  ck_assert_int_eq(e.code, PROTO_METHOD_NOT_FOUND);
  ck_assert_str_eq(e.message, "method not found: nope");
  ck_assert_ptr_null(e.data);
  ck_assert(!e.retryable);
  proto_error_clear(&e);
  ck_assert_ptr_null(e.message);
  ck_assert_int_eq(proto_fail(NULL, PROTO_INTERNAL_ERROR, "nobody listens"), -1);
}
END_TEST

START_TEST(test_mem) {
  proto_mem *mem = NULL;
  for (size_t n = 0; n < 200; n++) {
    uint8_t *p = proto_mem_alloc(&mem, n);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq((uintptr_t)p % _Alignof(max_align_t), 0);
    memset(p, 0xAB, n);
  }
  proto_mem_free(&mem);
  ck_assert_ptr_null(mem);
  proto_mem_free(&mem);
}
END_TEST

/* ---- lines ---------------------------------------------------------------------------------- */

START_TEST(test_parse_object_and_batch) {
  proto_error e = PROTO_ERROR_INIT;
  json_t *v = parse("{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":1}\n", &e);
  ck_assert(json_is_object(v));
  json_decref(v);
  v = parse(" [{\"jsonrpc\":\"2.0\",\"method\":\"ping\"}, 5]\r\n", &e);
  ck_assert(json_is_array(v));
  ck_assert_uint_eq(json_array_size(v), 2);
  json_decref(v);
  ck_assert_ptr_null(e.message);
}
END_TEST

static void expect_bad_line(const char *line, size_t len, proto_code code, const char *needle) {
  proto_error e = PROTO_ERROR_INIT;
  json_t *v = proto_parse_line(line, len, &e);
  ck_assert_ptr_null(v);
  assert_error(&e, code, needle);
  ck_assert(!e.retryable);
  /* Whatever the client sent, the error must make a valid response line. */
  json_decref(line_json(proto_error_line(NULL, &e)));
  proto_error_clear(&e);
}

START_TEST(test_parse_garbage) {
  static const char garbage[] = "\x01\x02 garbage \x7f{]";
  expect_bad_line(garbage, sizeof garbage - 1, PROTO_PARSE_ERROR, "parse error");
  expect_bad_line("{\"a\":1", 6, PROTO_PARSE_ERROR, "parse error");
  expect_bad_line("{} x", 4, PROTO_PARSE_ERROR, "offset");
  expect_bad_line("{\"a\":tru}", 9, PROTO_PARSE_ERROR, "parse error");
  uint8_t random_bytes[512];
  for (int round = 0; round < 200; round++) {
    for (size_t i = 0; i < sizeof random_bytes; i++)
      random_bytes[i] = (uint8_t)rng();
    random_bytes[0] = '{';
    expect_bad_line((const char *)random_bytes, sizeof random_bytes, PROTO_PARSE_ERROR, "parse");
  }
}
END_TEST

START_TEST(test_parse_invalid_utf8) {
  static const char bad[] = "{\"a\":\"\xff\"}";
  expect_bad_line(bad, sizeof bad - 1, PROTO_PARSE_ERROR, "not valid UTF-8 JSON");
  expect_bad_line(bad, sizeof bad - 1, PROTO_PARSE_ERROR, "byte 0xff at offset 6");
  static const char overlong[] = "{\"k\":\"\xc3\xa9\xe0\x80\x80\"}";
  expect_bad_line(overlong, sizeof overlong - 1, PROTO_PARSE_ERROR, "byte 0xe0 at offset 8");
  static const char surrogate[] = "{\"k\":\"\xed\xa0\x80\"}";
  expect_bad_line(surrogate, sizeof surrogate - 1, PROTO_PARSE_ERROR, "byte 0xed at offset 6");
  static const char bare[] = "\xfe\xff";
  expect_bad_line(bare, 2, PROTO_PARSE_ERROR, "offset 0");
}
END_TEST

START_TEST(test_parse_deep_nesting) {
  size_t n = 100000;
  char *deep = malloc(2 * n);
  memset(deep, '[', n);
  expect_bad_line(deep, n, PROTO_PARSE_ERROR, "nested deeper than");
  memset(deep + n, ']', n);
  expect_bad_line(deep, 2 * n, PROTO_PARSE_ERROR, "nested deeper than");
  for (size_t i = 0; i + 5 <= n; i += 5)
    memcpy(deep + i, "{\"a\":", 5);
  expect_bad_line(deep, n, PROTO_PARSE_ERROR, "nested deeper than");
  free(deep);
}
END_TEST

START_TEST(test_parse_empty_line) {
  expect_bad_line("", 0, PROTO_PARSE_ERROR, "empty");
  expect_bad_line(NULL, 0, PROTO_PARSE_ERROR, "empty");
  expect_bad_line("\n", 1, PROTO_PARSE_ERROR, "empty");
  expect_bad_line(" \t\r\n", 4, PROTO_PARSE_ERROR, "empty");
}
END_TEST

/* JSON-RPC 2.0: valid JSON that is not a request is an invalid request, not a parse error. */
START_TEST(test_parse_bare_values) {
  expect_bad_line("1", 1, PROTO_INVALID_REQUEST, "not 1");
  expect_bad_line("\"x\"", 3, PROTO_INVALID_REQUEST, "not \"x\"");
  expect_bad_line("null", 4, PROTO_INVALID_REQUEST, "not null");
  expect_bad_line("true\n", 5, PROTO_INVALID_REQUEST, "request object or a batch array");
}
END_TEST

START_TEST(test_parse_empty_batch) {
  expect_bad_line("[]", 2, PROTO_INVALID_REQUEST, "empty batch");
  expect_bad_line(" [ ]\n", 5, PROTO_INVALID_REQUEST, "empty batch");
}
END_TEST

START_TEST(test_parse_duplicates_nul_and_big_numbers) {
  expect_bad_line("{\"id\":1,\"id\":2}", 15, PROTO_PARSE_ERROR, "duplicate");
  static const char raw_nul[] = "{\"a\":\"x\0y\"}";
  expect_bad_line(raw_nul, sizeof raw_nul - 1, PROTO_PARSE_ERROR, "parse error");
  expect_bad_line("{\"a\\u0000b\":1}", 14, PROTO_PARSE_ERROR, "NUL");
  expect_bad_line("{\"id\":99999999999999999999}", 27, PROTO_PARSE_ERROR, "too big");
  proto_error e = PROTO_ERROR_INIT;
  json_t *v = parse("{\"a\":\"x\\u0000y\"}", &e);
  ck_assert_ptr_nonnull(v);
  ck_assert_uint_eq(json_string_length(json_object_get(v, "a")), 3);
  json_decref(v);
}
END_TEST

/* ---- requests ------------------------------------------------------------------------------- */

START_TEST(test_request_minimal) {
  proto_request r;
  proto_error e = PROTO_ERROR_INIT;
  ck_assert_int_eq(init_from("{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":\"a\"}", &r, &e), 0);
  ck_assert_str_eq(r.method, "ping");
  ck_assert_str_eq(json_string_value(r.id), "a");
  ck_assert(json_is_object(r.params));
  ck_assert_uint_eq(json_object_size(r.params), 0);
  ck_assert_int_eq(r.encoding, PROTO_UTF8);
  ck_assert_ptr_null(e.message);
  proto_request_clear(&r);
  ck_assert_ptr_null(r.msg);
}
END_TEST

START_TEST(test_notification) {
  proto_request r;
  proto_error e = PROTO_ERROR_INIT;
  const char *text = "{\"jsonrpc\":\"2.0\",\"method\":\"put\",\"params\":{\"table\":\"t\"}}";
  ck_assert_int_eq(init_from(text, &r, &e), 0);
  ck_assert_ptr_null(r.id);
  ck_assert_uint_eq(json_object_size(r.params), 1);
  proto_request_clear(&r);
}
END_TEST

/* Every accepted id comes back exactly as it was sent. */
START_TEST(test_id_echo) {
  static const char *const ids[] = {"\"abc\"", "\"\"", "\"a\\u0000b\"",    "42",
                                    "-7",      "0",    "9007199254740993", "-9223372036854775808",
                                    "null"};
  for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
    char *text = NULL, *want = NULL;
    ck_assert_int_ge(asprintf(&text, "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":%s}", ids[i]),
                     0);
    ck_assert_int_ge(asprintf(&want, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":true}\n", ids[i]),
                     0);
    proto_request r;
    proto_error e = PROTO_ERROR_INIT;
    ck_assert_int_eq(init_from(text, &r, &e), 0);
    ck_assert_ptr_nonnull(r.id);
    char *line = proto_result_line(r.id, json_true());
    ck_assert_str_eq(line, want);
    free(line);
    proto_request_clear(&r);
    free(text);
    free(want);
  }
}
END_TEST

static void expect_bad_request(const char *text, proto_code code, const char *needle,
                               const char *want_id) {
  proto_request r;
  proto_error e = PROTO_ERROR_INIT;
  ck_assert_int_eq(init_from(text, &r, &e), -1);
  assert_error(&e, code, needle);
  if (want_id == NULL) {
    ck_assert_ptr_null(r.id);
  } else {
    char *id = json_dumps(r.id, JSON_ENCODE_ANY | JSON_COMPACT);
    ck_assert_str_eq(id, want_id);
    free(id);
  }
  /* The error reply carries the id so that the client can match it. */
  json_t *resp = line_json(proto_error_line(r.id, &e));
  ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(resp, "error"), "code")),
                   code);
  json_decref(resp);
  proto_request_clear(&r);
  proto_error_clear(&e);
}

START_TEST(test_id_rules) {
  expect_bad_request("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":1.5}", PROTO_INVALID_REQUEST,
                     "\"id\" must be a string, an integer or null, not 1.5", NULL);
  expect_bad_request("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":true}", PROTO_INVALID_REQUEST,
                     "not true", NULL);
  expect_bad_request("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":[1]}", PROTO_INVALID_REQUEST,
                     "not [1]", NULL);
  expect_bad_request("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":{}}", PROTO_INVALID_REQUEST,
                     "not {}", NULL);
}
END_TEST

START_TEST(test_jsonrpc_rules) {
  expect_bad_request("{\"method\":\"m\",\"id\":7}", PROTO_INVALID_REQUEST,
                     "invalid request: \"jsonrpc\": \"2.0\" is missing", "7");
  expect_bad_request("{\"jsonrpc\":\"1.0\",\"method\":\"m\",\"id\":7}", PROTO_INVALID_REQUEST,
                     "\"jsonrpc\" must be \"2.0\", not \"1.0\"", "7");
  expect_bad_request("{\"jsonrpc\":2.0,\"method\":\"m\",\"id\":\"x\"}", PROTO_INVALID_REQUEST,
                     "not 2.0", "\"x\"");
  expect_bad_request("{\"jsonrpc\":\"2.0\\u0000\",\"method\":\"m\",\"id\":null}",
                     PROTO_INVALID_REQUEST, "\"jsonrpc\" must be \"2.0\"", "null");
  expect_bad_request("{\"jsonrpc\":\"2.0 \",\"method\":\"m\"}", PROTO_INVALID_REQUEST,
                     "\"jsonrpc\" must be \"2.0\"", NULL);
}
END_TEST

START_TEST(test_method_rules) {
  expect_bad_request("{\"jsonrpc\":\"2.0\",\"id\":3}", PROTO_INVALID_REQUEST,
                     "\"method\" is missing", "3");
  expect_bad_request("{\"jsonrpc\":\"2.0\",\"method\":5,\"id\":3}", PROTO_INVALID_REQUEST,
                     "\"method\" must be a string, not 5", "3");
  expect_bad_request("{\"jsonrpc\":\"2.0\",\"method\":null,\"id\":3}", PROTO_INVALID_REQUEST,
                     "\"method\" must be a string, not null", "3");
  expect_bad_request("{\"jsonrpc\":\"2.0\",\"method\":\"\",\"id\":3}", PROTO_INVALID_REQUEST,
                     "\"method\" must not be empty", "3");
  expect_bad_request("{\"jsonrpc\":\"2.0\",\"method\":\"ping\\u0000x\",\"id\":3}",
                     PROTO_INVALID_REQUEST, "NUL", "3");
}
END_TEST

START_TEST(test_params_rules) {
  expect_bad_request("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":4,\"params\":[1,2]}",
                     PROTO_INVALID_REQUEST, "\"params\" must be an object with named parameters",
                     "4");
  expect_bad_request("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":4,\"params\":\"t\"}",
                     PROTO_INVALID_REQUEST, "named parameters, not \"t\"", "4");
  expect_bad_request("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":4,\"params\":null}",
                     PROTO_INVALID_REQUEST, "named parameters, not null", "4");
  expect_bad_request("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":4,\"params\":0}",
                     PROTO_INVALID_REQUEST, "named parameters, not 0", "4");
}
END_TEST

START_TEST(test_unknown_member) {
  expect_bad_request("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":5,\"parms\":{}}",
                     PROTO_INVALID_REQUEST, "unknown member \"parms\"", "5");
  expect_bad_request("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":\"q\",\"result\":1}",
                     PROTO_INVALID_REQUEST, "unknown member \"result\"", "\"q\"");
}
END_TEST

START_TEST(test_not_an_object_in_a_batch) {
  proto_error e = PROTO_ERROR_INIT;
  json_t *batch = parse("[1, \"x\", [], {\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":9}]", &e);
  ck_assert_ptr_nonnull(batch);
  static const char *const why[] = {"not 1", "not \"x\"", "not []"};
  for (size_t i = 0; i < 3; i++) {
    proto_request r;
    ck_assert_int_eq(proto_request_init(&r, json_array_get(batch, i), &e), -1);
    assert_error(&e, PROTO_INVALID_REQUEST, why[i]);
    assert_contains(e.message, "a request must be a JSON object");
    ck_assert_ptr_null(r.id);
    proto_request_clear(&r);
  }
  proto_request r;
  proto_error_clear(&e);
  ck_assert_int_eq(proto_request_init(&r, json_array_get(batch, 3), &e), 0);
  ck_assert_int_eq(json_integer_value(r.id), 9);
  /* r holds its own reference: the batch may go first. */
  json_decref(batch);
  ck_assert_str_eq(r.method, "m");
  proto_request_clear(&r);
}
END_TEST

START_TEST(test_encoding_param) {
  proto_request r;
  with_params("{\"encoding\":\"base64\"}", &r);
  ck_assert_int_eq(r.encoding, PROTO_BASE64);
  proto_request_clear(&r);
  with_params("{\"encoding\":\"utf8\"}", &r);
  ck_assert_int_eq(r.encoding, PROTO_UTF8);
  proto_request_clear(&r);
  with_params("{\"encoding\":null}", &r);
  ck_assert_int_eq(r.encoding, PROTO_UTF8);
  proto_request_clear(&r);
  expect_bad_request("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":6,\"params\":{\"encoding\":"
                     "\"latin1\"}}",
                     PROTO_INVALID_PARAMS,
                     "invalid params: \"encoding\" must be \"utf8\" or \"base64\", not \"latin1\"",
                     "6");
  expect_bad_request("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":6,\"params\":{\"encoding\":"
                     "\"UTF8\"}}",
                     PROTO_INVALID_PARAMS, "not \"UTF8\"", "6");
  expect_bad_request("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":6,\"params\":{\"encoding\":"
                     "64}}",
                     PROTO_INVALID_PARAMS, "not 64", "6");
}
END_TEST

/* ---- response lines ------------------------------------------------------------------------- */

START_TEST(test_result_line_shape) {
  json_t *id = json_integer(1);
  char *line = proto_result_line(id, json_pack("{s:i,s:[s,b]}", "a", 1, "b", "x", 0));
  ck_assert_str_eq(line,
                   "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"a\":1,\"b\":[\"x\",false]}}\n");
  free(line);
  line = proto_result_line(NULL, json_string("pong"));
  ck_assert_str_eq(line, "{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":\"pong\"}\n");
  free(line);
  line = proto_result_line(id, NULL);
  ck_assert_str_eq(line, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":null}\n");
  free(line);
  json_decref(id);
}
END_TEST

START_TEST(test_result_line_keeps_nul_bytes) {
  static const uint8_t bytes[] = {'a', 0, 'b', 0xC3, 0xA9, 0};
  proto_error e = PROTO_ERROR_INIT;
  json_t *v = proto_bytes_to_json((hbc_bytes){bytes, sizeof bytes}, PROTO_UTF8, "the value", &e);
  ck_assert_ptr_nonnull(v);
  json_t *id = json_string("r");
  char *line = proto_result_line(id, v);
  assert_contains(line, "\"a\\u0000b\xc3\xa9\\u0000\"");
  json_t *back = line_json(line);
  json_t *s = json_object_get(back, "result");
  ck_assert_uint_eq(json_string_length(s), sizeof bytes);
  ck_assert_mem_eq(json_string_value(s), bytes, sizeof bytes);
  json_decref(back);
  json_decref(id);
}
END_TEST

/* A result string made without jansson's check must still produce a line, an error one. */
START_TEST(test_result_line_unwritable_result) {
  json_t *id = json_integer(2);
  json_t *resp = line_json(proto_result_line(id, json_stringn_nocheck("\xff", 1)));
  json_t *err = json_object_get(resp, "error");
  ck_assert_int_eq(json_integer_value(json_object_get(err, "code")), PROTO_INTERNAL_ERROR);
  ck_assert_int_eq(json_integer_value(json_object_get(resp, "id")), 2);
  json_decref(resp);
  json_decref(id);
}
END_TEST

START_TEST(test_error_line_shape) {
  proto_error e = PROTO_ERROR_INIT;
  proto_fail(&e, PROTO_NO_CONNECTION, "no connection became free within %d ms", 500);
  e.retryable = true;
  e.data = json_pack("{s:i,s:s,s:s}", "waited_ms", 500, "error", "spoofed", "retryable", "no");
  json_t *id = json_string("q1");
  char *line = proto_error_line(id, &e);
  ck_assert_str_eq(line,
                   "{\"jsonrpc\":\"2.0\",\"id\":\"q1\",\"error\":{\"code\":-32005,"
                   "\"message\":\"no connection became free within 500 ms\",\"data\":{"
                   "\"error\":\"no_connection_available\",\"retryable\":true,"
                   "\"waited_ms\":500}}}\n");
  json_t *resp = line_json(line);
  json_t *err = json_object_get(resp, "error");
  ck_assert_int_eq(json_integer_value(json_object_get(err, "code")), PROTO_NO_CONNECTION);
  ck_assert_str_eq(json_string_value(json_object_get(err, "message")),
                   "no connection became free within 500 ms");
  json_t *data = json_object_get(err, "data");
  ck_assert_str_eq(json_string_value(json_object_get(data, "error")), "no_connection_available");
  ck_assert(json_is_true(json_object_get(data, "retryable")));
  ck_assert_int_eq(json_integer_value(json_object_get(data, "waited_ms")), 500);
  json_decref(resp);
  json_decref(id);
  proto_error_clear(&e);
}
END_TEST

START_TEST(test_error_line_every_code) {
  static const proto_code codes[] = {PROTO_PARSE_ERROR,
                                     PROTO_INVALID_REQUEST,
                                     PROTO_METHOD_NOT_FOUND,
                                     PROTO_INVALID_PARAMS,
                                     PROTO_INTERNAL_ERROR,
                                     PROTO_HBASE_IO_ERROR,
                                     PROTO_HBASE_ILLEGAL_ARGUMENT,
                                     PROTO_HBASE_ALREADY_EXISTS,
                                     PROTO_GATEWAY_UNAVAILABLE,
                                     PROTO_NO_CONNECTION,
                                     PROTO_REQUEST_TIMEOUT,
                                     PROTO_ENCODING_ERROR,
                                     PROTO_REQUEST_TOO_LARGE,
                                     PROTO_TOO_MANY_REQUESTS,
                                     PROTO_GATEWAY_ERROR};
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
    proto_error e = PROTO_ERROR_INIT;
    proto_fail(&e, codes[i], "failure %zu", i);
    json_t *resp = line_json(proto_error_line(NULL, &e));
    ck_assert(json_is_null(json_object_get(resp, "id")));
    json_t *err = json_object_get(resp, "error");
    ck_assert_int_eq(json_integer_value(json_object_get(err, "code")), codes[i]);
    json_t *data = json_object_get(err, "data");
    ck_assert_str_eq(json_string_value(json_object_get(data, "error")), proto_code_name(codes[i]));
    ck_assert(json_is_false(json_object_get(data, "retryable")));
    json_decref(resp);
    proto_error_clear(&e);
  }
}
END_TEST

START_TEST(test_error_line_odd_errors) {
  proto_error e = PROTO_ERROR_INIT;
  json_t *resp = line_json(proto_error_line(NULL, &e)); /* never filled: still a valid error */
  json_t *err = json_object_get(resp, "error");
  ck_assert_int_eq(json_integer_value(json_object_get(err, "code")), PROTO_INTERNAL_ERROR);
  ck_assert_str_eq(json_string_value(json_object_get(err, "message")), "internal_error");
  json_decref(resp);

  proto_fail(&e, PROTO_HBASE_IO_ERROR, "java said \xff\xfe here"); /* not UTF-8 */
  resp = line_json(proto_error_line(NULL, &e));
  err = json_object_get(resp, "error");
  ck_assert_str_eq(json_string_value(json_object_get(err, "message")),
                   "java said \xef\xbf\xbd\xef\xbf\xbd here");
  json_decref(resp);

  e.data = json_pack("{s:o}", "bad", json_stringn_nocheck("\xff", 1)); /* unwritable data */
  resp = line_json(proto_error_line(NULL, &e));
  err = json_object_get(resp, "error");
  ck_assert_int_eq(json_integer_value(json_object_get(err, "code")), PROTO_HBASE_IO_ERROR);
  ck_assert_ptr_nonnull(json_object_get(json_object_get(err, "data"), "error"));
  json_decref(resp);
  proto_error_clear(&e);
}
END_TEST

START_TEST(test_batch_line) {
  char *none = proto_batch_line(NULL, 0);
  ck_assert_str_eq(none, "[]\n");
  free(none);
  json_t *id1 = json_integer(1), *id2 = json_string("b");
  proto_error e = PROTO_ERROR_INIT;
  proto_fail(&e, PROTO_METHOD_NOT_FOUND, "method not found: \"nope\"");
  char *members[4] = {proto_result_line(id1, json_true()), NULL, proto_error_line(id2, &e),
                      proto_result_line(NULL, json_integer(3))};
  char *line = proto_batch_line(members, 4);
  ck_assert_str_eq(line,
                   "[{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":true},{\"jsonrpc\":\"2.0\","
                   "\"id\":\"b\",\"error\":{\"code\":-32601,\"message\":\"method not found: "
                   "\\\"nope\\\"\",\"data\":{\"error\":\"method_not_found\",\"retryable\":"
                   "false}}},{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":3}]\n");
  json_t *back = line_json(line);
  ck_assert_uint_eq(json_array_size(back), 3);
  json_decref(back);
  char *one[1] = {members[0]};
  line = proto_batch_line(one, 1);
  ck_assert_str_eq(line, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":true}]\n");
  free(line);
  for (size_t i = 0; i < 4; i++)
    free(members[i]);
  json_decref(id1);
  json_decref(id2);
  proto_error_clear(&e);
}
END_TEST

/* ---- HBase failures ------------------------------------------------------------------------- */

START_TEST(test_fail_hb_table) {
  static const struct {
    hb_errcode from;
    proto_code to;
    bool retry_unapplied, retry_applied;
  } table[] = {
    {HB_ERR_IO, PROTO_HBASE_IO_ERROR, false, false}, /* canRetry false here; see below */
    {HB_ERR_ILLEGAL_ARGUMENT, PROTO_HBASE_ILLEGAL_ARGUMENT, false, false},
    {HB_ERR_ALREADY_EXISTS, PROTO_HBASE_ALREADY_EXISTS, false, false},
    {HB_ERR_APPLICATION, PROTO_GATEWAY_ERROR, false, false},
    {HB_ERR_TRANSPORT, PROTO_GATEWAY_ERROR, true, false},
    {HB_ERR_TIMEOUT, PROTO_REQUEST_TIMEOUT, true, false},
    {HB_ERR_INVALID, PROTO_INVALID_PARAMS, false, false},
    {HB_ERR_UNAVAILABLE, PROTO_GATEWAY_UNAVAILABLE, true, true},
    {HB_ERR_QUEUE_TIMEOUT, PROTO_NO_CONNECTION, true, true},
    {HB_ERR_OVERLOADED, PROTO_TOO_MANY_REQUESTS, true, true},
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    for (int applied = 0; applied <= 1; applied++) {
      hb_error err = HB_ERROR_INIT;
      hb_error_set(&err, table[i].from, "failure %zu", i);
      proto_error e = PROTO_ERROR_INIT;
      ck_assert_int_eq(proto_fail_hb(&e, &err, applied), -1);
      ck_assert_msg(e.code == table[i].to, "%s: code %d", hb_errcode_name(table[i].from), e.code);
      ck_assert_msg(e.retryable == (applied ? table[i].retry_applied : table[i].retry_unapplied),
                    "%s applied=%d: retryable %d", hb_errcode_name(table[i].from), applied,
                    e.retryable);
      assert_contains(e.message, "failure");
      proto_error_clear(&e);
      hb_error_clear(&err);
    }
  }
}
END_TEST

START_TEST(test_fail_hb_io) {
  const char *java = "  org.apache.hadoop.hbase.TableNotFoundException: t1 \r\n\tat org.apache.X"
                     "(X.java:1)\n\tat Y\n";
  for (int can_retry = 0; can_retry <= 1; can_retry++) {
    for (int applied = 0; applied <= 1; applied++) {
      hb_error err = HB_ERROR_INIT;
      hb_error_set(&err, HB_ERR_IO, "%s", java);
      err.retryable = can_retry;
      proto_error e = PROTO_ERROR_INIT;
      proto_fail_hb(&e, &err, applied);
      ck_assert_int_eq(e.code, PROTO_HBASE_IO_ERROR);
      ck_assert_str_eq(e.message, "org.apache.hadoop.hbase.TableNotFoundException: t1");
      /* A write that may have been applied is never retryable, whatever HBase says. */
      bool retryable = can_retry && !applied;
      ck_assert_int_eq(e.retryable, retryable);
      json_t *resp = line_json(proto_error_line(NULL, &e));
      json_t *data = json_object_get(json_object_get(resp, "error"), "data");
      ck_assert_str_eq(json_string_value(json_object_get(data, "detail")), java);
      ck_assert_str_eq(json_string_value(json_object_get(data, "error")), "hbase_io_error");
      ck_assert_int_eq(json_is_true(json_object_get(data, "retryable")), retryable);
      json_decref(resp);
      proto_error_clear(&e);
      hb_error_clear(&err);
    }
  }
}
END_TEST

/* IllegalArgument comes with a Java stack too (a cell over the size limit): the first line is the
 * message, the rest goes to data.detail; a one-line text needs no detail. */
START_TEST(test_fail_hb_illegal_argument) {
  hb_error err = HB_ERROR_INIT;
  hb_error_set(&err, HB_ERR_ILLEGAL_ARGUMENT,
               "java.lang.IllegalArgumentException: KeyValue size "
               "too large\n\tat org.apache.X(X.java:1)\n");
  proto_error e = PROTO_ERROR_INIT;
  proto_fail_hb(&e, &err, true);
  ck_assert_int_eq(e.code, PROTO_HBASE_ILLEGAL_ARGUMENT);
  ck_assert_str_eq(e.message, "java.lang.IllegalArgumentException: KeyValue size too large");
  ck_assert_str_eq(json_string_value(json_object_get(e.data, "detail")), err.message);
  hb_error_set(&err, HB_ERR_ILLEGAL_ARGUMENT, "scanner ID is invalid");
  proto_fail_hb(&e, &err, false);
  ck_assert_str_eq(e.message, "scanner ID is invalid");
  ck_assert_ptr_null(e.data);
  ck_assert(!e.retryable);
  proto_error_clear(&e);
  hb_error_clear(&err);
}
END_TEST

START_TEST(test_fail_hb_odd_messages) {
  hb_error err = HB_ERROR_INIT;
  proto_error e = PROTO_ERROR_INIT;
  hb_error_set(&err, HB_ERR_IO, "\n\tat somewhere");
  proto_fail_hb(&e, &err, false);
  ck_assert_str_eq(e.message, "HBase IOError (see data.detail)");
  hb_error_take(&err, HB_ERR_TRANSPORT, NULL);
  proto_fail_hb(&e, &err, false);
  ck_assert_int_eq(e.code, PROTO_GATEWAY_ERROR);
  ck_assert_str_eq(e.message, "transport_error");
  hb_error_take(&err, HB_ERR_INVALID, strdup("the row key is empty"));
  proto_fail_hb(&e, &err, false);
  ck_assert_str_eq(e.message, "invalid params: the row key is empty");
  hb_error_clear(&err);
  proto_fail_hb(&e, &err, false);
  ck_assert_int_eq(e.code, PROTO_INTERNAL_ERROR);
  proto_fail_hb(&e, NULL, true);
  ck_assert_int_eq(e.code, PROTO_INTERNAL_ERROR);
  ck_assert_int_eq(proto_fail_hb(NULL, &err, true), -1);
  proto_error_clear(&e);
}
END_TEST

/* ---- parameters ----------------------------------------------------------------------------- */

START_TEST(test_param_string) {
  proto_request r;
  proto_error e = PROTO_ERROR_INIT;
  with_params("{\"table\":\"t1\",\"n\":5,\"z\":null,\"nul\":\"a\\u0000b\",\"empty\":\"\"}", &r);
  const char *s = "default";
  ck_assert_int_eq(proto_param_string(&r, "table", true, &s, &e), 0);
  ck_assert_str_eq(s, "t1");
  ck_assert_int_eq(proto_param_string(&r, "empty", true, &s, &e), 0);
  ck_assert_str_eq(s, "");
  s = "default";
  ck_assert_int_eq(proto_param_string(&r, "missing", false, &s, &e), 0);
  ck_assert_int_eq(proto_param_string(&r, "z", false, &s, &e), 0);
  ck_assert_str_eq(s, "default");
  ck_assert_ptr_null(e.message);
  ck_assert_int_eq(proto_param_string(&r, "missing", true, &s, &e), -1);
  ck_assert_str_eq(e.message, "invalid params: \"missing\" is required");
  ck_assert_int_eq(proto_param_string(&r, "z", true, &s, &e), -1);
  ck_assert_str_eq(e.message, "invalid params: \"z\" is required");
  ck_assert_int_eq(proto_param_string(&r, "n", true, &s, &e), -1);
  ck_assert_str_eq(e.message, "invalid params: \"n\" must be a string, not 5");
  ck_assert_int_eq(proto_param_string(&r, "nul", true, &s, &e), -1);
  assert_error(&e, PROTO_INVALID_PARAMS, "\"nul\" must not contain NUL");
  ck_assert_str_eq(s, "default");
  proto_error_clear(&e);
  proto_request_clear(&r);
}
END_TEST

START_TEST(test_param_int) {
  proto_request r;
  proto_error e = PROTO_ERROR_INIT;
  with_params("{\"limit\":\"abc\",\"ok\":10,\"real\":1.5,\"whole_real\":2.0,\"flag\":true,"
              "\"zero\":0,\"big\":2147483648,\"neg\":-5,\"max\":9223372036854775807}",
              &r);
  int64_t v = -1;
  ck_assert_int_eq(proto_param_int(&r, "ok", true, 1, INT32_MAX, &v, &e), 0);
  ck_assert_int_eq(v, 10);
  ck_assert_int_eq(proto_param_int(&r, "max", true, INT64_MIN, INT64_MAX, &v, &e), 0);
  ck_assert_int_eq(v, INT64_MAX);
  ck_assert_int_eq(proto_param_int(&r, "neg", true, -5, -5, &v, &e), 0);
  ck_assert_int_eq(v, -5);
  v = 77;
  ck_assert_int_eq(proto_param_int(&r, "absent", false, 1, 10, &v, &e), 0);
  ck_assert_int_eq(v, 77);
  ck_assert_ptr_null(e.message);
  ck_assert_int_eq(proto_param_int(&r, "limit", true, 1, INT32_MAX, &v, &e), -1);
  ck_assert_str_eq(e.message,
                   "invalid params: \"limit\" must be an integer from 1 to 2147483647, "
                   "not \"abc\"");
  ck_assert_int_eq(e.code, PROTO_INVALID_PARAMS);
  ck_assert_int_eq(proto_param_int(&r, "real", true, 1, 10, &v, &e), -1);
  assert_error(&e, PROTO_INVALID_PARAMS, "\"real\" must be an integer from 1 to 10, not 1.5");
  ck_assert_int_eq(proto_param_int(&r, "whole_real", true, 1, 10, &v, &e), -1);
  assert_error(&e, PROTO_INVALID_PARAMS, "\"whole_real\" must be an integer");
  ck_assert_int_eq(proto_param_int(&r, "flag", true, 0, 1, &v, &e), -1);
  assert_error(&e, PROTO_INVALID_PARAMS, "\"flag\" must be an integer from 0 to 1, not true");
  ck_assert_int_eq(proto_param_int(&r, "zero", true, 1, INT32_MAX, &v, &e), -1);
  assert_error(&e, PROTO_INVALID_PARAMS, "not 0");
  ck_assert_int_eq(proto_param_int(&r, "big", true, 1, INT32_MAX, &v, &e), -1);
  assert_error(&e, PROTO_INVALID_PARAMS, "not 2147483648");
  ck_assert_int_eq(proto_param_int(&r, "neg", true, 0, INT64_MAX, &v, &e), -1);
  assert_error(&e, PROTO_INVALID_PARAMS, "\"neg\" must be an integer of at least 0, not -5");
  ck_assert_int_eq(proto_param_int(&r, "ok", true, INT64_MIN, 3, &v, &e), -1);
  assert_error(&e, PROTO_INVALID_PARAMS, "\"ok\" must be an integer of at most 3, not 10");
  ck_assert_int_eq(proto_param_int(&r, "flag", true, INT64_MIN, INT64_MAX, &v, &e), -1);
  assert_error(&e, PROTO_INVALID_PARAMS, "\"flag\" must be an integer, not true");
  ck_assert_int_eq(proto_param_int(&r, "absent", true, 1, 10, &v, &e), -1);
  assert_error(&e, PROTO_INVALID_PARAMS, "\"absent\" is required");
  ck_assert_int_eq(v, 77); /* failures leave *out alone */
  proto_error_clear(&e);
  proto_request_clear(&r);
}
END_TEST

START_TEST(test_param_bool) {
  proto_request r;
  proto_error e = PROTO_ERROR_INIT;
  with_params("{\"t\":true,\"f\":false,\"one\":1,\"s\":\"true\",\"n\":null}", &r);
  bool b = false;
  ck_assert_int_eq(proto_param_bool(&r, "t", true, &b, &e), 0);
  ck_assert(b);
  ck_assert_int_eq(proto_param_bool(&r, "f", true, &b, &e), 0);
  ck_assert(!b);
  b = true;
  ck_assert_int_eq(proto_param_bool(&r, "n", false, &b, &e), 0);
  ck_assert(b);
  ck_assert_int_eq(proto_param_bool(&r, "one", false, &b, &e), -1);
  ck_assert_str_eq(e.message, "invalid params: \"one\" must be true or false, not 1");
  ck_assert_int_eq(proto_param_bool(&r, "s", false, &b, &e), -1);
  assert_error(&e, PROTO_INVALID_PARAMS, "\"s\" must be true or false, not \"true\"");
  ck_assert_int_eq(proto_param_bool(&r, "wal", true, &b, &e), -1);
  assert_error(&e, PROTO_INVALID_PARAMS, "\"wal\" is required");
  proto_error_clear(&e);
  proto_request_clear(&r);
}
END_TEST

START_TEST(test_param_bytes_utf8) {
  proto_request r;
  proto_error e = PROTO_ERROR_INIT;
  proto_mem *mem = NULL;
  with_params("{\"row\":\"a\\u0000b\\u00e9\",\"empty\":\"\",\"num\":7,\"b64\":\"AAE=\"}", &r);
  hbc_bytes b = {NULL, 0};
  ck_assert_int_eq(proto_param_bytes(&r, "row", true, &mem, &b, &e), 0);
  ck_assert_uint_eq(b.len, 5);
  ck_assert_mem_eq(b.data, "a\0b\xc3\xa9", 5);
  ck_assert_int_eq(proto_param_bytes(&r, "empty", true, &mem, &b, &e), 0);
  ck_assert_uint_eq(b.len, 0);
  ck_assert_int_eq(proto_param_bytes(&r, "b64", true, &mem, &b, &e), 0); /* taken as text */
  ck_assert_uint_eq(b.len, 4);
  ck_assert_mem_eq(b.data, "AAE=", 4);
  hbc_bytes keep = {(const uint8_t *)"x", 1};
  b = keep;
  ck_assert_int_eq(proto_param_bytes(&r, "absent", false, &mem, &b, &e), 0);
  ck_assert_ptr_eq(b.data, keep.data);
  ck_assert_int_eq(proto_param_bytes(&r, "num", true, &mem, &b, &e), -1);
  ck_assert_str_eq(e.message, "invalid params: \"num\" must be a string, not 7");
  ck_assert_int_eq(proto_param_bytes(&r, "absent", true, &mem, &b, &e), -1);
  assert_error(&e, PROTO_INVALID_PARAMS, "\"absent\" is required");
  proto_mem_free(&mem);
  proto_error_clear(&e);
  proto_request_clear(&r);
}
END_TEST

START_TEST(test_param_bytes_base64) {
  proto_request r;
  proto_error e = PROTO_ERROR_INIT;
  proto_mem *mem = NULL;
  with_params("{\"encoding\":\"base64\",\"row\":\"AAE=\",\"bare\":\"AAE\",\"bad\":\"AA*E\","
              "\"num\":[1],\"empty\":\"\"}",
              &r);
  hbc_bytes b;
  ck_assert_int_eq(proto_param_bytes(&r, "row", true, &mem, &b, &e), 0);
  ck_assert_uint_eq(b.len, 2);
  ck_assert_mem_eq(b.data, "\x00\x01", 2);
  ck_assert_int_eq(proto_param_bytes(&r, "bare", true, &mem, &b, &e), 0);
  ck_assert_uint_eq(b.len, 2);
  ck_assert_mem_eq(b.data, "\x00\x01", 2);
  ck_assert_int_eq(proto_param_bytes(&r, "empty", true, &mem, &b, &e), 0);
  ck_assert_uint_eq(b.len, 0);
  ck_assert_int_eq(proto_param_bytes(&r, "bad", true, &mem, &b, &e), -1);
  ck_assert_str_eq(e.message,
                   "encoding error: \"bad\" is not valid base64: invalid character '*' "
                   "at offset 2 (the request's \"encoding\" is \"base64\")");
  ck_assert_int_eq(e.code, PROTO_ENCODING_ERROR);
  ck_assert_int_eq(proto_param_bytes(&r, "num", true, &mem, &b, &e), -1);
  ck_assert_str_eq(e.message, "invalid params: \"num\" must be a base64 string, not [1]");
  proto_mem_free(&mem);
  proto_error_clear(&e);
  proto_request_clear(&r);
}
END_TEST

START_TEST(test_param_bytes_list) {
  proto_request r;
  proto_error e = PROTO_ERROR_INIT;
  proto_mem *mem = NULL;
  with_params("{\"columns\":[\"cf:a\",\"cf:\\u0000\"],\"none\":[],\"str\":\"cf:a\","
              "\"mixed\":[\"a\",\"b\",7]}",
              &r);
  hbc_bytes *list = NULL;
  size_t n = 99;
  ck_assert_int_eq(proto_param_bytes_list(&r, "columns", true, &mem, &list, &n, &e), 0);
  ck_assert_uint_eq(n, 2);
  ck_assert_mem_eq(list[0].data, "cf:a", 4);
  ck_assert_uint_eq(list[1].len, 4);
  ck_assert_mem_eq(list[1].data, "cf:\0", 4);
  ck_assert_int_eq(proto_param_bytes_list(&r, "none", true, &mem, &list, &n, &e), 0);
  ck_assert_uint_eq(n, 0);
  n = 99;
  ck_assert_int_eq(proto_param_bytes_list(&r, "absent", false, &mem, &list, &n, &e), 0);
  ck_assert_uint_eq(n, 0);
  ck_assert_ptr_null(e.message);
  ck_assert_int_eq(proto_param_bytes_list(&r, "absent", true, &mem, &list, &n, &e), -1);
  ck_assert_str_eq(e.message, "invalid params: \"absent\" is required");
  ck_assert_int_eq(proto_param_bytes_list(&r, "str", true, &mem, &list, &n, &e), -1);
  ck_assert_str_eq(e.message, "invalid params: \"str\" must be a list of strings, not \"cf:a\"");
  ck_assert_int_eq(proto_param_bytes_list(&r, "mixed", true, &mem, &list, &n, &e), -1);
  ck_assert_str_eq(e.message, "invalid params: \"mixed\"[2] must be a string, not 7");
  proto_request_clear(&r);

  with_params("{\"encoding\":\"base64\",\"rows\":[\"cm93MQ==\",\"/w\",\"\"],\"bad\":[\"AA\","
              "\"A-A\"]}",
              &r);
  ck_assert_int_eq(proto_param_bytes_list(&r, "rows", true, &mem, &list, &n, &e), 0);
  ck_assert_uint_eq(n, 3);
  ck_assert_mem_eq(list[0].data, "row1", 4);
  ck_assert_uint_eq(list[1].len, 1);
  ck_assert_uint_eq(list[1].data[0], 0xFF);
  ck_assert_uint_eq(list[2].len, 0);
  ck_assert_int_eq(proto_param_bytes_list(&r, "bad", true, &mem, &list, &n, &e), -1);
  assert_error(&e, PROTO_ENCODING_ERROR, "\"bad\"[1] is not valid base64: '-' (URL-safe");
  proto_mem_free(&mem);
  proto_error_clear(&e);
  proto_request_clear(&r);
}
END_TEST

START_TEST(test_json_to_bytes_names_what) {
  proto_error e = PROTO_ERROR_INIT;
  proto_mem *mem = NULL;
  hbc_bytes b;
  json_t *v = json_integer(3);
  ck_assert_int_eq(proto_json_to_bytes(v, PROTO_UTF8, "data[\"cf:a\"]", &mem, &b, &e), -1);
  ck_assert_str_eq(e.message, "invalid params: data[\"cf:a\"] must be a string, not 3");
  json_decref(v);
  v = json_string("Zg=");
  ck_assert_int_eq(proto_json_to_bytes(v, PROTO_BASE64, "data[\"cf:a\"]", &mem, &b, &e), -1);
  assert_error(&e, PROTO_ENCODING_ERROR, "data[\"cf:a\"] is not valid base64: wrong padding");
  ck_assert_int_eq(proto_json_to_bytes(v, PROTO_UTF8, "data[\"cf:a\"]", &mem, &b, &e), 0);
  ck_assert_uint_eq(b.len, 3);
  json_decref(v);
  proto_mem_free(&mem);
  proto_error_clear(&e);
}
END_TEST

/* A megabyte of bad value must not become a megabyte of error message. */
START_TEST(test_bad_values_are_quoted_short) {
  size_t n = 1 << 20;
  char *big = malloc(n + 1);
  memset(big, 'x', n);
  big[n] = '\0';
  json_t *params = json_pack("{s:s,s:[i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i]}", "limit", big,
                             "list", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18,
                             19, 20);
  json_t *msg = json_pack("{s:s,s:s,s:i,s:o}", "jsonrpc", "2.0", "method", "m", "id", 1, "params",
                          params);
  proto_request r;
  proto_error e = PROTO_ERROR_INIT;
  ck_assert_int_eq(proto_request_init(&r, msg, &e), 0);
  json_decref(msg);
  int64_t v;
  ck_assert_int_eq(proto_param_int(&r, "limit", true, 1, 10, &v, &e), -1);
  ck_assert_uint_lt(strlen(e.message), 120);
  assert_contains(e.message, "not \"xxxxxxxxxx");
  ck_assert_str_eq(e.message + strlen(e.message) - 3, "...");
  ck_assert_int_eq(proto_param_int(&r, "list", true, 1, 10, &v, &e), -1);
  assert_contains(e.message, "not [1,2,3,4,5,6,7,8,9,10,11,12,13");
  ck_assert_uint_lt(strlen(e.message), 120);
  proto_request_clear(&r);
  proto_error_clear(&e);
  free(big);
}
END_TEST

/* Cutting a quoted value never splits a character, whatever its width and position. */
START_TEST(test_quoting_keeps_utf8) {
  static const char *const chars[] = {"\xc3\xa9", "\xe2\x9c\x93", "\xf0\x9f\x98\x80"};
  for (size_t c = 0; c < 3; c++) {
    for (size_t shift = 0; shift < 4; shift++) {
      char text[256] = "";
      for (size_t i = 0; i < shift; i++)
        strcat(text, "a");
      for (size_t i = 0; i < 30; i++)
        strcat(text, chars[c]);
      json_t *params = json_pack("{s:s}", "n", text);
      json_t *msg = json_pack("{s:s,s:s,s:o}", "jsonrpc", "2.0", "method", "m", "params", params);
      proto_request r;
      proto_error e = PROTO_ERROR_INIT;
      ck_assert_int_eq(proto_request_init(&r, msg, &e), 0);
      int64_t v;
      ck_assert_int_eq(proto_param_int(&r, "n", true, 0, 1, &v, &e), -1);
      json_t *s = json_string(e.message);
      ck_assert_msg(s != NULL, "message is not UTF-8: %s", e.message);
      json_decref(s);
      assert_contains(e.message, "...");
      proto_request_clear(&r);
      proto_error_clear(&e);
      json_decref(msg);
    }
  }
}
END_TEST

START_TEST(test_check_params) {
  static const char *const allowed[] = {"table", "row", "columns", NULL};
  proto_request r;
  proto_error e = PROTO_ERROR_INIT;
  with_params("{\"table\":\"t\",\"row\":\"r\",\"encoding\":\"utf8\"}", &r);
  ck_assert_int_eq(proto_check_params(&r, allowed, &e), 0);
  proto_request_clear(&r);
  with_params("{}", &r);
  ck_assert_int_eq(proto_check_params(&r, allowed, &e), 0);
  ck_assert_ptr_null(e.message);
  proto_request_clear(&r);

  with_params("{\"table\":\"t\",\"colums\":[]}", &r);
  ck_assert_int_eq(proto_check_params(&r, allowed, &e), -1);
  ck_assert_str_eq(e.message,
                   "invalid params: unknown parameter \"colums\"; this method takes "
                   "\"table\", \"row\", \"columns\", \"encoding\"");
  ck_assert_int_eq(e.code, PROTO_INVALID_PARAMS);
  proto_request_clear(&r);

  with_params("{\"tabel\":\"t\",\"row\":\"r\",\"wall\":true,\"x\":1}", &r);
  ck_assert_int_eq(proto_check_params(&r, allowed, &e), -1);
  assert_contains(e.message, "unknown parameters \"tabel\", \"wall\" and \"x\";");
  proto_request_clear(&r);

  static const char *const nothing[] = {NULL};
  with_params("{\"encoding\":\"base64\",\"table\":\"t\"}", &r);
  ck_assert_int_eq(proto_check_params(&r, nothing, &e), -1);
  ck_assert_str_eq(e.message,
                   "invalid params: unknown parameter \"table\"; this method takes "
                   "\"encoding\"");
  proto_request_clear(&r);
  proto_error_clear(&e);
}
END_TEST

START_TEST(test_check_params_many_unknown) {
  static const char *const allowed[] = {"table", NULL};
  json_t *params = json_object();
  for (int i = 0; i < 5000; i++) {
    char key[32];
    snprintf(key, sizeof key, "p%d", i);
    json_object_set_new(params, key, json_true());
  }
  json_t *msg = json_pack("{s:s,s:s,s:o}", "jsonrpc", "2.0", "method", "m", "params", params);
  proto_request r;
  proto_error e = PROTO_ERROR_INIT;
  ck_assert_int_eq(proto_request_init(&r, msg, &e), 0);
  ck_assert_int_eq(proto_check_params(&r, allowed, &e), -1);
  assert_contains(e.message, "\"p0\", \"p1\", ");
  assert_contains(e.message, "\"p9\" and 4990 more; this method takes \"table\", \"encoding\"");
  ck_assert_uint_lt(strlen(e.message), 200);
  proto_request_clear(&r);
  proto_error_clear(&e);
  json_decref(msg);
}
END_TEST

/* ---- results written as text ---------------------------------------------------------------- */

/* b written by proto_text_bytes must be the bytes jansson writes for proto_bytes_to_json's value:
 * clients see one format whichever way a result was rendered. */
static void expect_text_like_jansson(const char *bytes, size_t len, proto_encoding enc) {
  hbc_bytes b = {(const uint8_t *)bytes, len};
  proto_error e = PROTO_ERROR_INIT;
  json_t *v = proto_bytes_to_json(b, enc, "x", &e);
  ck_assert_msg(v != NULL, "%s", e.message);
  char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
  proto_text t = PROTO_TEXT_INIT;
  proto_text_add(&t, "x", 1); /* appended after what is there */
  ck_assert_int_eq(proto_text_bytes(&t, b, enc, "x", &e), 0);
  ck_assert_uint_eq(t.len, strlen(want) + 1);
  ck_assert_mem_eq(t.p + 1, want, t.len - 1);
  free(want);
  json_decref(v);
  proto_text_free(&t);
}

START_TEST(test_text_bytes_as_jansson_writes_them) {
  char every_ascii[128];
  for (int i = 0; i < 128; i++)
    every_ascii[i] = (char)i;
  expect_text_like_jansson(every_ascii, sizeof every_ascii, PROTO_UTF8);
  expect_text_like_jansson("", 0, PROTO_UTF8);
  expect_text_like_jansson("\"quoted\" \\ back\nslash\t", 22, PROTO_UTF8);
  expect_text_like_jansson("Gr\xc3\xbc\xc3\x9f"
                           "e, \xe4\xb8\x96 \xf0\x9f\x98\x80\x7f",
                           18, PROTO_UTF8);
  char every_byte[256];
  for (int i = 0; i < 256; i++)
    every_byte[i] = (char)i;
  for (size_t len = 0; len <= 5; len++) /* every padding */
    expect_text_like_jansson(every_byte + 250, len, PROTO_BASE64);
  expect_text_like_jansson(every_byte, sizeof every_byte, PROTO_BASE64);
}
END_TEST

START_TEST(test_text_bytes_refuses_invalid_utf8) {
  proto_text t = PROTO_TEXT_INIT;
  proto_error e = PROTO_ERROR_INIT;
  hbc_bytes b = {(const uint8_t *)"ok\xff", 3};
  ck_assert_int_eq(proto_text_bytes(&t, b, PROTO_UTF8, "the value of row 'r' column 'c'", &e), -1);
  assert_error(&e, PROTO_ENCODING_ERROR, "the value of row 'r' column 'c' is not valid UTF-8");
  assert_contains(e.message, "byte 0xff at offset 2");
  proto_error_clear(&e);
  ck_assert_int_eq(proto_text_bytes(&t, b, PROTO_BASE64, NULL, &e), 0);
  ck_assert_uint_eq(t.len, 6);
  ck_assert_mem_eq(t.p, "\"b2v/\"", 6);
  proto_text_free(&t);
}
END_TEST

/* A line written as text is the line proto_result_line writes for the same result and id. */
START_TEST(test_text_result_line_as_result_line) {
  json_t *ids[] = {json_integer(7), json_string("a \"quoted\" id"), NULL};
  for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
    proto_text t = PROTO_TEXT_INIT;
    proto_text_puts(&t, "left over from an earlier attempt");
    proto_text_result_begin(&t, ids[i]);
    proto_text_puts(&t, "[[\"r1\",{\"cf:a\":[\"v\",");
    proto_text_int(&t, -12345678901234);
    proto_text_puts(&t, "]}]]");
    char *line = proto_text_result_end(&t);
    ck_assert_ptr_null(t.p);
    json_t *result = json_pack("[[s{s[sI]}]]", "r1", "cf:a", "v", (json_int_t)-12345678901234);
    char *want = proto_result_line(ids[i], result);
    ck_assert_str_eq(line, want);
    free(line);
    free(want);
    json_decref(ids[i]);
  }
}
END_TEST

/* ---- result bytes: UTF-8 -------------------------------------------------------------------- */

static void expect_utf8(const char *bytes, size_t len, bool valid, size_t bad_offset) {
  proto_error e = PROTO_ERROR_INIT;
  json_t *v = proto_bytes_to_json((hbc_bytes){(const uint8_t *)bytes, len}, PROTO_UTF8,
                                  "the value of row 'r1' column 'cf:a'", &e);
  if (valid) {
    ck_assert_msg(v != NULL, "rejected valid UTF-8: %s", e.message);
    ck_assert_uint_eq(json_string_length(v), len);
    ck_assert_mem_eq(json_string_value(v), bytes, len);
    json_decref(v);
    return;
  }
  ck_assert_ptr_null(v);
  assert_error(&e, PROTO_ENCODING_ERROR, "the value of row 'r1' column 'cf:a' is not valid UTF-8");
  assert_contains(e.message, "use \"encoding\": \"base64\"");
  char where[64];
  snprintf(where, sizeof where, "byte 0x%02x at offset %zu", (uint8_t)bytes[bad_offset],
           bad_offset);
  assert_contains(e.message, where);
  proto_error_clear(&e);
}

START_TEST(test_utf8_valid) {
  static const struct {
    const char *s;
    size_t len;
  } ok[] = {
    {"", 0},
    {"\0", 1},
    {"\x7f", 1},
    {"\xc2\x80", 2},
    {"\xdf\xbf", 2},
    {"\xe0\xa0\x80", 3},
    {"\xed\x9f\xbf", 3},
    {"\xee\x80\x80", 3},
    {"\xef\xbf\xbf", 3},
    {"\xf0\x90\x80\x80", 4},
    {"\xf4\x8f\xbf\xbf", 4},
    {"plain ASCII text of some length, more than eight bytes", 54},
    {"Gr\xc3\xbc\xc3\x9f"
     "e, \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x98\x80",
     21},
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    expect_utf8(ok[i].s, ok[i].len, true, 0);
  proto_error e = PROTO_ERROR_INIT;
  json_t *v = proto_bytes_to_json((hbc_bytes){NULL, 0}, PROTO_UTF8, "x", &e);
  ck_assert_str_eq(json_string_value(v), "");
  json_decref(v);
}
END_TEST

START_TEST(test_utf8_invalid) {
  static const struct {
    const char *s;
    size_t len, at;
  } bad[] = {
    {"\x80", 1, 0}, /* lone continuation */
    {"\xbf", 1, 0},
    {"\xc0\x80", 2, 0},         /* overlong NUL */
    {"\xc1\xbf", 2, 0},         /* overlong */
    {"\xe0\x80\x80", 3, 0},     /* overlong */
    {"\xe0\x9f\xbf", 3, 0},     /* overlong */
    {"\xed\xa0\x80", 3, 0},     /* surrogate U+D800 */
    {"\xed\xbf\xbf", 3, 0},     /* surrogate U+DFFF */
    {"\xf0\x80\x80\x80", 4, 0}, /* overlong */
    {"\xf0\x8f\xbf\xbf", 4, 0}, /* overlong */
    {"\xf4\x90\x80\x80", 4, 0}, /* U+110000 */
    {"\xf5\x80\x80\x80", 4, 0},
    {"\xfe", 1, 0},
    {"\xff", 1, 0},
    {"ab\xe2\x82", 4, 2}, /* truncated at the end */
    {"\xe2\x82(", 3, 0},  /* truncated in the middle */
    {"\xc3\xa9\xc3", 3, 2},
    {"abcdefghijklm\xff", 14, 13},
    {"abcdefgh\xc3\xa9"
     "abcdefgh\xf0\x9f\x98",
     21, 18},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    expect_utf8(bad[i].s, bad[i].len, false, bad[i].at);
  /* The fast ASCII path must find a bad byte wherever it is. */
  char buf[64];
  for (size_t at = 0; at < sizeof buf; at++) {
    memset(buf, 'a', sizeof buf);
    buf[at] = (char)0x80;
    expect_utf8(buf, sizeof buf, false, at);
  }
}
END_TEST

/* jansson checks UTF-8 strictly too: both must agree on random near-UTF-8 bytes. */
START_TEST(test_utf8_agrees_with_jansson) {
  static const uint8_t pool[] = {0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0,
                                 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xed,
                                 0xee, 0xef, 0xf0, 0xf1, 0xf4, 0xf5, 0xf8, 0xff};
  uint8_t buf[12];
  for (int round = 0; round < 200000; round++) {
    size_t len = rng() % sizeof buf;
    for (size_t i = 0; i < len; i++)
      buf[i] = pool[rng() % sizeof pool];
    json_t *ref = json_stringn((const char *)buf, len);
    proto_error e = PROTO_ERROR_INIT;
    json_t *ours = proto_bytes_to_json((hbc_bytes){buf, len}, PROTO_UTF8, "v", &e);
    ck_assert_msg((ref != NULL) == (ours != NULL), "disagree on round %d (len %zu)", round, len);
    json_decref(ref);
    json_decref(ours);
    proto_error_clear(&e);
  }
}
END_TEST

/* ---- base64 --------------------------------------------------------------------------------- */

static char *encode(const void *data, size_t len) {
  proto_error e = PROTO_ERROR_INIT;
  json_t *v = proto_bytes_to_json((hbc_bytes){data, len}, PROTO_BASE64, "v", &e);
  ck_assert_ptr_nonnull(v);
  char *s = strdup(json_string_value(v));
  json_decref(v);
  return s;
}

/* Decodes text; returns -1 with e set when it is not base64. */
static int decode(const char *text, proto_mem **mem, hbc_bytes *out, proto_error *e) {
  json_t *v = json_string(text);
  int rc = proto_json_to_bytes(v, PROTO_BASE64, "\"value\"", mem, out, e);
  json_decref(v);
  return rc;
}

START_TEST(test_base64_rfc4648_vectors) {
  static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
  static const char *const coded[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                      "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  static const char *const bare[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
  proto_mem *mem = NULL;
  proto_error e = PROTO_ERROR_INIT;
  for (size_t i = 0; i < 7; i++) {
    char *s = encode(plain[i], strlen(plain[i]));
    ck_assert_str_eq(s, coded[i]);
    free(s);
    hbc_bytes b;
    ck_assert_int_eq(decode(coded[i], &mem, &b, &e), 0);
    ck_assert_uint_eq(b.len, strlen(plain[i]));
    ck_assert_mem_eq(b.data, plain[i], b.len);
    ck_assert_int_eq(decode(bare[i], &mem, &b, &e), 0);
    ck_assert_uint_eq(b.len, strlen(plain[i]));
    ck_assert_mem_eq(b.data, plain[i], b.len);
  }
  char *s = encode("\xfb\xff\xbf", 3); /* the last two characters of the alphabet */
  ck_assert_str_eq(s, "+/+/");
  free(s);
  proto_mem_free(&mem);
}
END_TEST

START_TEST(test_base64_round_trips) {
  uint8_t data[300];
  proto_mem *mem = NULL;
  proto_error e = PROTO_ERROR_INIT;
  for (size_t len = 0; len <= sizeof data; len++) {
    for (int round = 0; round < 4; round++) {
      for (size_t i = 0; i < len; i++)
        data[i] = (uint8_t)rng();
      char *s = encode(data, len);
      ck_assert_uint_eq(strlen(s), (len + 2) / 3 * 4);
      hbc_bytes b;
      ck_assert_msg(decode(s, &mem, &b, &e) == 0, "%s: %s", s, e.message);
      ck_assert_uint_eq(b.len, len);
      ck_assert_mem_eq(b.data, data, len);
      /* Without its padding too. */
      char *eq = strchr(s, '=');
      if (eq != NULL)
        *eq = '\0';
      ck_assert_int_eq(decode(s, &mem, &b, &e), 0);
      ck_assert_uint_eq(b.len, len);
      ck_assert_mem_eq(b.data, data, len);
      free(s);
    }
    proto_mem_free(&mem);
  }
  /* A large value goes through the heap rather than the stack buffer. */
  size_t big = 100000;
  uint8_t *blob = malloc(big);
  for (size_t i = 0; i < big; i++)
    blob[i] = (uint8_t)rng();
  char *s = encode(blob, big);
  hbc_bytes b;
  ck_assert_int_eq(decode(s, &mem, &b, &e), 0);
  ck_assert_uint_eq(b.len, big);
  ck_assert_mem_eq(b.data, blob, big);
  free(s);
  free(blob);
  proto_mem_free(&mem);
}
END_TEST

START_TEST(test_base64_rejects) {
  static const struct {
    const char *text, *why;
  } bad[] = {
    {"Z", "a lone final character at offset 0"},
    {"Zm9vY", "a lone final character at offset 4"},
    {"Zg=", "wrong padding at offset 2"},
    {"Zg===", "wrong padding at offset 2"},
    {"Z===", "wrong padding at offset 1"},
    {"====", "wrong padding at offset 0"},
    {"Zm9v=", "wrong padding at offset 4"},
    {"=Zg=", "padding '=' before the end at offset 0"},
    {"Zm=vYg==", "padding '=' before the end at offset 2"},
    {"Zh==", "non-zero bits after the last byte at offset 1"},
    {"Zm9=", "non-zero bits after the last byte at offset 2"},
    {"Zm9*", "invalid character '*' at offset 3"},
    {"Zm9v\n", "invalid byte 0x0a at offset 4"},
    {" Zm9v", "invalid byte 0x20 at offset 0"},
    {"Zm9 v", "invalid byte 0x20 at offset 3"},
    {"Zm9v_-==", "'_' (URL-safe base64 is not accepted) at offset 4"},
    {"Zm9v\xc3\xa9", "invalid byte 0xc3 at offset 4"},
  };
  proto_mem *mem = NULL;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    proto_error e = PROTO_ERROR_INIT;
    hbc_bytes b;
    ck_assert_int_eq(decode(bad[i].text, &mem, &b, &e), -1);
    assert_error(&e, PROTO_ENCODING_ERROR, "\"value\" is not valid base64: ");
    assert_contains(e.message, bad[i].why);
    proto_error_clear(&e);
  }
  proto_mem_free(&mem);
  /* A string with NUL inside is not base64 either. */
  json_t *v = json_stringn("Zm\0v", 4);
  proto_error e = PROTO_ERROR_INIT;
  hbc_bytes b;
  ck_assert_int_eq(proto_json_to_bytes(v, PROTO_BASE64, "x", &mem, &b, &e), -1);
  assert_error(&e, PROTO_ENCODING_ERROR, "invalid byte 0x00 at offset 2");
  json_decref(v);
  proto_error_clear(&e);
  proto_mem_free(&mem);
}
END_TEST

/* ---- suite ---------------------------------------------------------------------------------- */

static Suite *protocol_suite(void) {
  Suite *s = suite_create("protocol");
  TCase *tc = tcase_create("errors");
  tcase_add_test(tc, test_code_names);
  tcase_add_test(tc, test_fail_replaces_earlier_error);
  tcase_add_test(tc, test_mem);
  tcase_add_test(tc, test_fail_hb_table);
  tcase_add_test(tc, test_fail_hb_io);
  tcase_add_test(tc, test_fail_hb_illegal_argument);
  tcase_add_test(tc, test_fail_hb_odd_messages);
  suite_add_tcase(s, tc);

  tc = tcase_create("lines");
  tcase_add_test(tc, test_parse_object_and_batch);
  tcase_add_test(tc, test_parse_garbage);
  tcase_add_test(tc, test_parse_invalid_utf8);
  tcase_add_test(tc, test_parse_deep_nesting);
  tcase_add_test(tc, test_parse_empty_line);
  tcase_add_test(tc, test_parse_bare_values);
  tcase_add_test(tc, test_parse_empty_batch);
  tcase_add_test(tc, test_parse_duplicates_nul_and_big_numbers);
  tcase_add_test(tc, test_result_line_shape);
  tcase_add_test(tc, test_result_line_keeps_nul_bytes);
  tcase_add_test(tc, test_result_line_unwritable_result);
  tcase_add_test(tc, test_error_line_shape);
  tcase_add_test(tc, test_error_line_every_code);
  tcase_add_test(tc, test_error_line_odd_errors);
  tcase_add_test(tc, test_batch_line);
  suite_add_tcase(s, tc);

  tc = tcase_create("requests");
  tcase_add_test(tc, test_request_minimal);
  tcase_add_test(tc, test_notification);
  tcase_add_test(tc, test_id_echo);
  tcase_add_test(tc, test_id_rules);
  tcase_add_test(tc, test_jsonrpc_rules);
  tcase_add_test(tc, test_method_rules);
  tcase_add_test(tc, test_params_rules);
  tcase_add_test(tc, test_unknown_member);
  tcase_add_test(tc, test_not_an_object_in_a_batch);
  tcase_add_test(tc, test_encoding_param);
  suite_add_tcase(s, tc);

  tc = tcase_create("params");
  tcase_add_test(tc, test_param_string);
  tcase_add_test(tc, test_param_int);
  tcase_add_test(tc, test_param_bool);
  tcase_add_test(tc, test_param_bytes_utf8);
  tcase_add_test(tc, test_param_bytes_base64);
  tcase_add_test(tc, test_param_bytes_list);
  tcase_add_test(tc, test_json_to_bytes_names_what);
  tcase_add_test(tc, test_bad_values_are_quoted_short);
  tcase_add_test(tc, test_quoting_keeps_utf8);
  tcase_add_test(tc, test_check_params);
  tcase_add_test(tc, test_check_params_many_unknown);
  suite_add_tcase(s, tc);

  tc = tcase_create("bytes");
  /* Valgrind and the sanitizers slow the random rounds down a lot. */
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_text_bytes_as_jansson_writes_them);
  tcase_add_test(tc, test_text_bytes_refuses_invalid_utf8);
  tcase_add_test(tc, test_text_result_line_as_result_line);
  tcase_add_test(tc, test_utf8_valid);
  tcase_add_test(tc, test_utf8_invalid);
  tcase_add_test(tc, test_utf8_agrees_with_jansson);
  tcase_add_test(tc, test_base64_rfc4648_vectors);
  tcase_add_test(tc, test_base64_round_trips);
  tcase_add_test(tc, test_base64_rejects);
  suite_add_tcase(s, tc);
  return s;
}

/* ---- benchmark (not a test) ----------------------------------------------------------------- */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* MiB of input per second through proto_bytes_to_json, including the json_t's creation and
 * release, over at least one second. */
static double bench_one(const uint8_t *data, size_t len, proto_encoding enc) {
  proto_error e = PROTO_ERROR_INIT;
  size_t rounds = 0;
  double start = now_s(), elapsed;
  do {
    json_t *v = proto_bytes_to_json((hbc_bytes){data, len}, enc, "v", &e);
    if (v == NULL) {
      fprintf(stderr, "bench: %s\n", e.message);
      exit(1);
    }
    json_decref(v);
    rounds++;
    elapsed = now_s() - start;
  } while (elapsed < 1.0);
  return (double)rounds * (double)len / (1024.0 * 1024.0) / elapsed;
}

static int bench(void) {
  size_t len = 1 << 20;
  uint8_t *ascii = malloc(len), *mixed = malloc(len), *binary = malloc(len);
  static const char text[] = "Gr\xc3\xbc\xc3\x9f"
                             "e, \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x98\x80 ";
  for (size_t i = 0; i < len; i++) {
    ascii[i] = (uint8_t)(' ' + rng() % 95);
    binary[i] = (uint8_t)rng();
  }
  for (size_t i = 0; i < len; i++)
    mixed[i] = (uint8_t)text[i % (sizeof text - 1)];
  size_t cut = len - len % (sizeof text - 1); /* whole characters only */
  printf("proto_bytes_to_json, 1 MiB buffers:\n");
  printf("  utf8, ASCII text:           %8.0f MiB/s\n", bench_one(ascii, len, PROTO_UTF8));
  printf("  utf8, mixed 1-4 byte chars: %8.0f MiB/s\n", bench_one(mixed, cut, PROTO_UTF8));
  printf("  base64, random bytes:       %8.0f MiB/s (of input)\n",
         bench_one(binary, len, PROTO_BASE64));
  free(ascii);
  free(mixed);
  free(binary);
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--bench") == 0)
    return bench();
  SRunner *sr = srunner_create(protocol_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
