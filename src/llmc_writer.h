/*
 * HTTP request writer for a chat completion. The request is a fixed list of
 * pieces (literals, caller strings, JSON-escaped caller strings); a sizing
 * pass gives Content-Length, then llmc_writer_fill() renders the next bytes
 * into whatever buffer room the caller has, resuming where it stopped. No
 * copy of the body ever exists, so a long conversation costs no RAM.
 */
#ifndef LLMC_WRITER_H
#define LLMC_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llmc/llmc_client.h"

#include "llmc/llmc.h"



/* A writer position holds a template offset in its low
 * LLMC_WRITER_POS_BITS bits and the message number above them (32 bits in
 * all): a request has at most LLMC_WRITER_MAX_MESSAGES messages. */
#define LLMC_WRITER_POS_BITS 9u
#define LLMC_WRITER_MAX_MESSAGES ((size_t)1 << (32u - LLMC_WRITER_POS_BITS))

/* Validate header values and size the body. Returns LLMC_OK or
 * LLMC_ERR_HEADER (CR, LF or another control byte in a header value). */
int llmc_writer_start(llmc_writer_t *w);

/* Render the next bytes into buf; returns how many (0: all written).
 * cap is at least 6, the longest escape (\u001f): a smaller buffer could
 * get 0 before the end. llmc fills a slot's whole event buffer.
 * The bearer (bearer_len bytes, read as its piece is rendered) is never
 * split between two fills when it fits in cap: a fill that has bytes
 * already ends before it. So a bearer no longer than the buffer is read
 * in one go, and bytes written to the buffer are the caller's copy. */
size_t llmc_writer_fill(llmc_writer_t *w, char *buf, size_t cap);

/* No byte of the bearer has been rendered yet: bearer and bearer_len may
 * still be changed, to send another. */
bool llmc_writer_bearer_ahead(const llmc_writer_t *w);

/* JSON-escape s[0..n) into out[0..cap) without splitting an escape;
 * *consumed tells how much of s was used. Returns bytes written. */
size_t llmc_json_escape(const char *s, size_t n, char *out, size_t cap,
                        size_t *consumed);

#endif /* LLMC_WRITER_H */
