/*
 * HTTP/1.1 response parser: status line, headers, then the body framed by
 * chunked encoding, Content-Length or connection close. Resumable at any
 * byte: feed whatever arrived, it keeps its place. Bounded: the head may not
 * exceed LLMC_HEAD_MAX bytes; only the headers llmc needs are kept (a few
 * dozen bytes), so no header buffer exists.
 */
#ifndef LLMC_HTTP_H
#define LLMC_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llmc/llmc_client.h"



void llmc_http_init(llmc_http_t *h);

/* Feed response-head bytes. Returns 0: need more (all consumed); 1: head
 * complete, *used bytes consumed (the rest is body); < 0: llmc_status_t. */
int llmc_http_head(llmc_http_t *h, const char *p, size_t n, size_t *used);

/* Receives decoded body bytes; a non-zero return stops the parser and is
 * returned by llmc_http_body(). */
typedef int (*llmc_http_body_cb)(void *ctx, const char *p, size_t n);

/* Feed body bytes. Returns 0: need more; 1: body complete (*used tells how
 * much was consumed); < 0: llmc_status_t or the callback's return. */
int llmc_http_body(llmc_http_t *h, const char *p, size_t n, size_t *used,
                   llmc_http_body_cb cb, void *ctx);

/* The parser's states that the functions below read: state once the
 * head is complete, cstate once the body is. */
#define LLMC_HTTP_IN_BODY 2
#define LLMC_HTTP_DONE 8

/* (Inline: each is a load and a test where it is called.) */

/* The peer closed. Returns 1 if that ends the body properly
 * (close-delimited), else LLMC_ERR_CLOSED. */
static inline int llmc_http_eof(const llmc_http_t *h)
{
    if (h->state != LLMC_HTTP_IN_BODY)
        return LLMC_ERR_CLOSED;
    /* close-delimited, or its framing complete */
    return !(h->flags & (LLMC_HTTP_F_CHUNKED | LLMC_HTTP_F_LENGTH)) ||
                   h->cstate == LLMC_HTTP_DONE
               ? 1
               : LLMC_ERR_CLOSED;
}

/* True once the head is complete. */
static inline bool llmc_http_in_body(const llmc_http_t *h)
{
    return h->state == LLMC_HTTP_IN_BODY;
}

/* True when the connection may carry another request after this one. */
static inline bool llmc_http_reusable(const llmc_http_t *h)
{
    /* cstate is LLMC_HTTP_DONE only in a body; there llmc_http_eof() is 1
     * at LLMC_HTTP_DONE or when close-delimited (and so
     * LLMC_HTTP_F_CLOSE) */
    return !(h->flags & LLMC_HTTP_F_CLOSE) && h->cstate == LLMC_HTTP_DONE;
}

#endif /* LLMC_HTTP_H */
