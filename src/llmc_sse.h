/*
 * Server-sent events framer (WHATWG rules): one leading UTF-8 BOM skipped,
 * CR, LF or CRLF line ends, ':'
 * comment lines ignored, several data: lines joined with "\n", other fields
 * ignored, an event dispatched at a blank line. Beyond WHATWG, an error:
 * line (llama.cpp's server sends a streaming error so) is read as data
 * wrapped in {"error":...}. Resumable at any byte; the
 * event's data is gathered in a caller-given buffer, and an event bigger
 * than that buffer is an error (LLMC_ERR_TOO_LARGE), never a truncation.
 */
#ifndef LLMC_SSE_H
#define LLMC_SSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llmc/llmc_client.h"

/* Receives one event's data (writable: the decoder unescapes in place).
 * A non-zero return stops the framer and is returned by llmc_sse_feed. */
typedef int (*llmc_sse_cb)(void *ctx, char *data, size_t len);



void llmc_sse_init(llmc_sse_t *s, char *buf, size_t cap);
int llmc_sse_feed(llmc_sse_t *s, const char *p, size_t n, llmc_sse_cb cb,
                  void *ctx);

#endif /* LLMC_SSE_H */
