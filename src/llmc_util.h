/*
 * Small string helpers for src/: no stdio, no heap. A bounded text builder
 * (llmc_buf_t) replaces snprintf for messages, and a few comparisons that
 * the parsers share.
 */
#ifndef LLMC_UTIL_H
#define LLMC_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Appends never overflow: text beyond cap-1 is dropped; always NUL-ended
 * (cap must be >= 1). `need` counts what the full text would take. */
typedef struct {
    char *p;
    size_t cap, len, need;
} llmc_buf_t;

void llmc_buf_init(llmc_buf_t *b, char *p, size_t cap);
void llmc_buf_put(llmc_buf_t *b, const char *s, size_t n);
void llmc_buf_str(llmc_buf_t *b, const char *s);
void llmc_buf_uint(llmc_buf_t *b, size_t v);
/* Text from a peer: control bytes become spaces, so a message is one line. */
void llmc_buf_text(llmc_buf_t *b, const char *s, size_t n);

/* Decimal digits of v into out (>= 20 bytes); returns the length. */
size_t llmc_uint_to_dec(size_t v, char *out);

/* The decimal prefix of s[0..n) (shorter than 4 GiB): its value,
 * UINT32_MAX from there up, in the low 32 bits, and its length above them
 * (one value, returned in registers: no length in the caller's memory). */
uint64_t llmc_parse_dec(const char *s, size_t n);

/* Value of a hex digit, or -1. */
int llmc_hexval(char c);

/* Case-insensitive ASCII compare of n bytes. */
bool llmc_ieq(const char *a, const char *b, size_t n);

/* True when s[0..n) contains a byte < 0x20 or 0x7f: unfit for a header. */
bool llmc_has_ctl(const char *s, size_t n);

size_t llmc_strlen(const char *s);

/* The text after the first k of the NUL-ended texts laid end to end. */
const char *llmc_text_at(const char *texts, unsigned k);

#endif /* LLMC_UTIL_H */
