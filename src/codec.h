/* codec: the byte codecs of the protocol: UTF-8 validation and base64 (RFC 4648 section 4, the
 * standard alphabet), strict both ways. */
#ifndef HBPOOL_CODEC_H
#define HBPOOL_CODEC_H

#include <stddef.h>
#include <stdint.h>

/* Offset of the first byte that is not valid UTF-8 (Unicode 15, table 3-7: no overlongs, no
 * surrogates, nothing above U+10FFFF), or n when all of s is. */
size_t codec_utf8_check(const uint8_t *s, size_t n);
/* The longest prefix of valid UTF-8 s no longer than max that does not split a character. */
size_t codec_utf8_cut(const char *s, size_t len, size_t max);
/* A malloc'd copy of s with every byte that is not valid UTF-8 replaced by U+FFFD. */
char *codec_utf8_repair(const char *s);

/* Writes the base64 of n bytes to dst (room for (n + 2) / 3 * 4); returns its length. */
size_t codec_base64_encode(const uint8_t *src, size_t n, char *dst);

/* Where and why a string is not base64. */
typedef struct codec_fault {
  size_t offset;
  char why[64];
} codec_fault;

/* Decodes n characters of s into dst (room for n / 4 * 3 + 2 bytes) and sets *out_len. Returns
 * 0, or -1 with f set. The padding may be left out. Non-zero bits in the last character are
 * refused: two strings, padding aside, never decode to the same bytes. */
int codec_base64_decode(const char *s, size_t n, uint8_t *dst, size_t *out_len, codec_fault *f);

#endif
