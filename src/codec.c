/* codec: the byte codecs of the protocol: UTF-8 validation and base64 (RFC 4648 section 4, the
 * standard alphabet), strict both ways: two strings never decode to the same bytes. */
#include "codec.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

/* ---- UTF-8 ---------------------------------------------------------------------------------- */

static inline bool utf8_tail(uint8_t c) {
  return (c & 0xC0) == 0x80;
}

/* Length of the valid multi-byte sequence at s (Unicode 15, table 3-7: no overlongs, no
 * surrogates, nothing above U+10FFFF), or 0 when it is not valid. */
static inline size_t utf8_sequence(const uint8_t *s, size_t n) {
  uint8_t c = s[0];
  if (c >= 0xC2 && c <= 0xDF)
    return n >= 2 && utf8_tail(s[1]) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    uint8_t lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    return n >= 3 && s[1] >= lo && s[1] <= hi && utf8_tail(s[2]) ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    uint8_t lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    return n >= 4 && s[1] >= lo && s[1] <= hi && utf8_tail(s[2]) && utf8_tail(s[3]) ? 4 : 0;
  }
  return 0;
}

size_t codec_utf8_check(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    /* Keys and text values are mostly ASCII: skip such runs 8 bytes at a time. */
    while (n - i >= 8) {
      uint64_t w;
      memcpy(&w, s + i, 8);
      if (w & UINT64_C(0x8080808080808080))
        break;
      i += 8;
    }
    if (i == n)
      break;
    if (s[i] < 0x80) {
      i++;
      continue;
    }
    size_t len = utf8_sequence(s + i, n - i);
    if (len == 0)
      return i;
    i += len;
  }
  return n;
}

size_t codec_utf8_cut(const char *s, size_t len, size_t max) {
  if (len <= max)
    return len;
  size_t n = max;
  while (n > 0 && utf8_tail((uint8_t)s[n]))
    n--;
  return n;
}

char *codec_utf8_repair(const char *s) {
  size_t n = strlen(s);
  char *out = xmalloc(n * 3 + 1);
  size_t o = 0;
  for (size_t i = 0; i < n;) {
    size_t ok = codec_utf8_check((const uint8_t *)s + i, n - i);
    memcpy(out + o, s + i, ok);
    o += ok;
    i += ok;
    if (i < n) {
      memcpy(out + o, "\xEF\xBF\xBD", 3);
      o += 3;
      i++;
    }
  }
  out[o] = '\0';
  return out;
}

/* ---- base64 --------------------------------------------------------------------------------- */

static const char b64_alphabet[65] =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Each character's value plus one; 0 marks a character outside the alphabet. */
static const uint8_t b64_values[256] = {
  ['A'] = 1,  ['B'] = 2,  ['C'] = 3,  ['D'] = 4,  ['E'] = 5,  ['F'] = 6,  ['G'] = 7,  ['H'] = 8,
  ['I'] = 9,  ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16,
  ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
  ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
  ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
  ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
  ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
  ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
};

size_t codec_base64_encode(const uint8_t *src, size_t n, char *dst) {
  char *d = dst;
  size_t i = 0;
  for (; n - i >= 3; i += 3) {
    uint32_t v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8 | src[i + 2];
    d[0] = b64_alphabet[v >> 18];
    d[1] = b64_alphabet[v >> 12 & 63];
    d[2] = b64_alphabet[v >> 6 & 63];
    d[3] = b64_alphabet[v & 63];
    d += 4;
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)src[i] << 16;
    d[0] = b64_alphabet[v >> 18];
    d[1] = b64_alphabet[v >> 12 & 63];
    d[2] = d[3] = '=';
    d += 4;
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8;
    d[0] = b64_alphabet[v >> 18];
    d[1] = b64_alphabet[v >> 12 & 63];
    d[2] = b64_alphabet[v >> 6 & 63];
    d[3] = '=';
    d += 4;
  }
  return (size_t)(d - dst);
}

static int b64_bad_char(const char *s, size_t at, codec_fault *f) {
  uint8_t c = (uint8_t)s[at];
  f->offset = at;
  if (c == '=')
    snprintf(f->why, sizeof f->why, "padding '=' before the end");
  else if (c == '-' || c == '_')
    snprintf(f->why, sizeof f->why, "'%c' (URL-safe base64 is not accepted)", c);
  else if (c > 0x20 && c < 0x7F)
    snprintf(f->why, sizeof f->why, "invalid character '%c'", c);
  else
    snprintf(f->why, sizeof f->why, "invalid byte 0x%02x", c);
  return -1;
}

/* Padding: none, or '=' / '==' completing the last group of four. Sets *data to the length of
 * the characters before it. */
static int b64_padding(const char *s, size_t n, size_t *data, codec_fault *f) {
  size_t pad = 0;
  while (pad < n && s[n - 1 - pad] == '=')
    pad++;
  *data = n - pad;
  if (pad == 0)
    return 0;
  f->offset = n - pad;
  if (pad > 2 || n % 4 != 0) {
    snprintf(f->why, sizeof f->why, "wrong padding");
    return -1;
  }
  return 0;
}

int codec_base64_decode(const char *s, size_t n, uint8_t *dst, size_t *out_len, codec_fault *f) {
  size_t len;
  if (b64_padding(s, n, &len, f) < 0)
    return -1;
  const uint8_t *u = (const uint8_t *)s;
  uint8_t *d = dst;
  size_t i = 0;
  for (; len - i >= 4; i += 4) {
    uint32_t a = b64_values[u[i]], b = b64_values[u[i + 1]];
    uint32_t c = b64_values[u[i + 2]], e = b64_values[u[i + 3]];
    if (a == 0 || b == 0 || c == 0 || e == 0)
      return b64_bad_char(s, i + (a == 0 ? 0 : b == 0 ? 1 : c == 0 ? 2 : 3), f);
    uint32_t v = (a - 1) << 18 | (b - 1) << 12 | (c - 1) << 6 | (e - 1);
    d[0] = (uint8_t)(v >> 16);
    d[1] = (uint8_t)(v >> 8);
    d[2] = (uint8_t)v;
    d += 3;
  }
  uint32_t v = 0;
  size_t rest = len - i;
  for (size_t k = 0; k < rest; k++) {
    uint32_t x = b64_values[u[i + k]];
    if (x == 0)
      return b64_bad_char(s, i + k, f);
    v |= (x - 1) << (18 - 6 * k);
  }
  /* Checked after the characters: a stray "\n" is a better thing to report than a length. */
  if (rest == 1) {
    f->offset = len - 1;
    snprintf(f->why, sizeof f->why, "a lone final character");
    return -1;
  }
  if ((rest == 2 && (v & 0xFFFF) != 0) || (rest == 3 && (v & 0xFF) != 0)) {
    f->offset = len - 1;
    snprintf(f->why, sizeof f->why, "non-zero bits after the last byte");
    return -1;
  }
  if (rest >= 2)
    *d++ = (uint8_t)(v >> 16);
  if (rest == 3)
    *d++ = (uint8_t)(v >> 8);
  *out_len = (size_t)(d - dst);
  return 0;
}
