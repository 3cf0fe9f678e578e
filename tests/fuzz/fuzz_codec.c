/* fuzz_codec: libFuzzer target for the byte codecs (codec.c): UTF-8 checking, cutting and
 * repair, and base64 both ways, each held to what its header promises. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken promise is a crash, which the fuzzer reports with the input. */
static void expect(int ok) {
  if (!ok)
    abort();
}

static void check_utf8(const uint8_t *data, size_t size) {
  size_t valid = codec_utf8_check(data, size);
  expect(valid <= size);
  expect(codec_utf8_check(data, valid) == valid);
  size_t max = size / 2;
  size_t cut = codec_utf8_cut((const char *)data, valid, max);
  expect(cut <= max && cut <= valid && codec_utf8_check(data, cut) == cut);
  char *s = malloc(size + 1);
  memcpy(s, data, size);
  s[size] = '\0';
  char *repaired = codec_utf8_repair(s);
  size_t n = strlen(repaired);
  expect(codec_utf8_check((const uint8_t *)repaired, n) == n);
  if (valid == size && memchr(data, '\0', size) == NULL) /* valid text comes back unchanged */
    expect(strcmp(repaired, s) == 0);
  free(repaired);
  free(s);
}

static void check_base64(const uint8_t *data, size_t size) {
  /* Any bytes: encoded, then decoded, are the same bytes. */
  char *text = malloc((size + 2) / 3 * 4 + 1);
  size_t n = codec_base64_encode(data, size, text);
  expect(n == (size + 2) / 3 * 4);
  uint8_t *back = malloc(n / 4 * 3 + 2);
  size_t len = 0;
  codec_fault f;
  expect(codec_base64_decode(text, n, back, &len, &f) == 0);
  expect(len == size && memcmp(back, data, size) == 0);
  free(back);
  free(text);
  /* Any text: if it decodes, it is the one encoding of what it decodes to, but for padding,
   * which may be left out. */
  uint8_t *bytes = malloc(size / 4 * 3 + 2);
  if (codec_base64_decode((const char *)data, size, bytes, &len, &f) == 0) {
    char *again = malloc((len + 2) / 3 * 4 + 1);
    size_t m = codec_base64_encode(bytes, len, again);
    expect(m >= size && m - size <= 2 && memcmp(again, data, size) == 0);
    for (size_t i = size; i < m; i++)
      expect(again[i] == '=');
    free(again);
  } else {
    expect(f.offset <= size && f.why[0] != '\0');
  }
  free(bytes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  check_utf8(data, size);
  check_base64(data, size);
  return 0;
}
