#include "llmc_http.h"

#include <string.h>

#include "llmc/llmc.h"
#include "llmc_util.h"

/* The status line is read as the value of a pseudo-header, HDR_STATUS:
 * H_VALUE with header 0 is where a response starts. */
enum {
    H_VALUE,
    H_NAME,
    H_BODY,
    H_EOL /* a header line ended: done, unless the next one folds onto it */
};
/* C_DATA also carries Content-Length and close-delimited bodies; C_DONE
 * ends every framing (and is where a body-less response starts); the
 * states before C_DATA read the chunked framing's lines */
enum {
    C_SIZE,        /* a chunk's size line, no digit yet */
    C_SIZE_DIGITS, /* ... after a digit */
    C_SIZE_BWS,    /* ... after the size */
    C_EXT,
    C_DATA_END,
    C_TRAILER,
    C_TRAILER_LINE,
    C_DATA,
    C_DONE
};
typedef char llmc_http_states_check[H_BODY == LLMC_HTTP_IN_BODY &&
                                            C_DONE == LLMC_HTTP_DONE
                                        ? 1
                                        : -1];
enum {
    HDR_STATUS,
    HDR_NONE,
    HDR_CONTENT_LENGTH,
    HDR_TRANSFER_ENCODING,
    HDR_CONNECTION,
    HDR_CONTENT_TYPE,
    HDR_RETRY_AFTER,
    HDR_RETRY_AFTER_MS,
    HDR_SHOULD_RETRY,
    HDR_CONTENT_ENCODING
};
#define F_TE (1u << 13) /* a Transfer-Encoding line was read */
#define F_BAD_TE (1u << 14)
#define F_PRECISE_RETRY (1u << 15) /* retry-after-ms seen: it wins */

/* The names of HDR_CONTENT_LENGTH.., in order. */
static const char k_headers[] = "\016content-length\021transfer-encoding"
                                "\012connection\014content-type"
                                "\013retry-after\016retry-after-ms"
                                "\016x-should-retry\020content-encoding";

/* the codings llmc reads; none is as long as a value longer than the
 * bytes kept: LLMC_HTTP_VAL_MAX bytes, less at most one trailing space
 * (each run of blanks is kept as one) */
static const char k_codings[] = "\007chunked\010identity";
typedef char llmc_codings_check[LLMC_HTTP_VAL_MAX - 1 > 8 ? 1 : -1];


void llmc_http_init(llmc_http_t *h)
{
    memset(h, 0, sizeof(*h)); /* H_VALUE of HDR_STATUS */
    h->retry_after_ms = -1;
    h->should_retry = -1;
}

/* Index of the first word of list (each after its length in a byte, a 0
 * length ends it) that v[0..n) is (case-insensitive), or that it starts
 * with if !exact; -1: none. */
static int match(const char *v, size_t n, const char *list, bool exact)
{
    size_t k;
    int i;
    for (i = 0; (k = (unsigned char)*list++) != 0; i++, list += k)
        if ((exact ? n == k : n >= k) && llmc_ieq(v, list, k))
            return i;
    return -1;
}

/* tok (a one-word list) is one of the items of v[0..n), separated by
 * commas, blanks (tabs too) or control bytes. */
static bool has_token(const char *v, size_t n, const char *tok)
{
    size_t i = 0, start;
    for (;;) {
        start = i;
        while (i < n && (unsigned char)v[i] > ' ' && v[i] != ',')
            i++;
        if (match(v + start, i - start, tok, true) == 0)
            return true;
        if (i++ >= n)
            return false;
    }
}

/* The line in val ends: the status line or a header's value. */
static int line_done(llmc_http_t *h)
{
    /* "HTTP/1.x NNN" is all we need of the status line, then its end or
     * a blank: each byte between its bounds in k[0] and k[1] */
    static const char k[2][13] = {"HTTP/1.0 100 ", "HTTP/1.9 599 "};
    const char *v = h->val;
    size_t n = h->val_len, end, off = 0;
    uint64_t r;
    uint32_t x;
    unsigned f = 0;
    int i;

    if (h->header == HDR_STATUS) {
        if (n < 12)
            return LLMC_ERR_PROTOCOL;
        for (off = 0; off < 13 && off < n; off++)
            if (v[off] < k[0][off] || v[off] > k[1][off])
                return LLMC_ERR_PROTOCOL;
        off = 9; /* the code */
    }
    /* a header value's blanks are spaces by now; of the status line only
     * the code and the version are read */
    while (n > 0 && v[n - 1] == ' ')
        n--;
    /* end: where the digits end; none when they may go on past the bytes
     * kept */
    r = llmc_parse_dec(v + off, n - off);
    x = (uint32_t)r;
    end = h->val_long ? 0 : (size_t)(r >> 32);
    switch (h->header) {
    case HDR_STATUS:
        h->status = (uint16_t)x;
        if (v[7] == '0')
            f = LLMC_HTTP_F_CLOSE;
        break;
    case HDR_CONTENT_LENGTH:
        /* UINT32_MAX (4 GiB or more) marks a close-delimited body */
        if (end == 0 || end != n || x == UINT32_MAX ||
            ((h->flags & LLMC_HTTP_F_LENGTH) && h->length != x))
            return LLMC_ERR_PROTOCOL;
        f = LLMC_HTTP_F_LENGTH;
        h->length = x;
        break;
    case HDR_CONTENT_ENCODING:
    case HDR_TRANSFER_ENCODING:
        /* a value longer than the bytes kept is none of them (see
         * k_codings) */
        i = match(v, n, k_codings, true);
        if (h->header == HDR_CONTENT_ENCODING) {
            /* llmc asks for identity (Accept-Encoding) and decodes no
             * other content coding; an empty list is identity too */
            if (n != 0 && i != 1)
                f = LLMC_HTTP_F_CODED;
            break;
        }
        /* Only "chunked" alone is decodable: llmc sends no TE header, so
         * any other transfer coding is one it cannot read; nor is a
         * value longer than the bytes kept of it "chunked" alone. Field
         * lines are one list (RFC 9110 5.3): a second line makes the
         * list more than one coding, as "chunked, chunked" is. */
        f = i < 0 || (h->flags & F_TE) ? F_BAD_TE
            : i == 0                   ? LLMC_HTTP_F_CHUNKED | F_TE
                                       : F_TE;
        break;
    case HDR_CONNECTION: /* a close may be past the bytes kept */
        if (has_token(v, n, "\005close") || h->val_long)
            f = LLMC_HTTP_F_CLOSE;
        break;
    case HDR_CONTENT_TYPE:
        i = match(v, n, "\021text/event-stream\020application/json", false);
        if (i >= 0)
            f = (unsigned)LLMC_HTTP_F_SSE << i; /* or LLMC_HTTP_F_JSON */
        break;
    /* Retry-After in seconds only: an HTTP-date needs a wall clock boards
     * lack. retry-after-ms may have a fraction; it wins. Both at most a
     * day (retry-after-ms a day and its fraction). */
    case HDR_RETRY_AFTER:
    case HDR_RETRY_AFTER_MS:
        if (end == 0)
            break;
        if (h->header == HDR_RETRY_AFTER) {
            /* |, not ||: one test */
            if ((end != n) | ((h->flags & F_PRECISE_RETRY) != 0))
                break;
            if (x > 86400)
                x = 86400;
            x *= 1000u;
        } else {
            if (end != n && v[end] != '.')
                break;
            if (x > 86400000)
                x = 86400000;
            /* a fraction rounds up: 0.5 ms is a delay, 60000.5 ms over
             * 60 s */
            while (++end < n)
                if (v[end] > '0') {
                    x++;
                    break;
                }
            f = F_PRECISE_RETRY;
        }
        h->retry_after_ms = (int32_t)x;
        break;
    case HDR_SHOULD_RETRY:
        i = match(v, n, "\005false\004true", true);
        if (i >= 0)
            h->should_retry = (int8_t)i;
        break;
    default:
        break;
    }
    h->flags |= (uint16_t)f;
    return 0;
}

static int head_done(llmc_http_t *h)
{
    unsigned f = h->flags;
    /* a body whose framing llmc cannot read; or an answer (2xx) in a
     * coding it cannot read: an error's status still stands, its coded
     * body left out of the message */
    if ((f & F_BAD_TE) ||
        ((f & LLMC_HTTP_F_CODED) && h->status - 200u < 100u))
        return LLMC_ERR_PROTOCOL;
    if (h->status == 204 || h->status == 304)
        f |= LLMC_HTTP_F_NOBODY;
    if (f & F_TE) {
        /* Transfer-Encoding overrides Content-Length (RFC 9112 6.3): with
         * chunked, which wins, the connection is not used again (such
         * framing may be an attempt to split responses); a response
         * whose last coding is not chunked ("identity") ends at the
         * close */
        if ((f & LLMC_HTTP_F_CHUNKED) && (f & LLMC_HTTP_F_LENGTH))
            f |= LLMC_HTTP_F_CLOSE;
        f &= ~(unsigned)LLMC_HTTP_F_LENGTH;
        if (f & LLMC_HTTP_F_CHUNKED)
            h->length = 0;
    }
    if (!(f & (LLMC_HTTP_F_CHUNKED | LLMC_HTTP_F_LENGTH |
               LLMC_HTTP_F_NOBODY))) {
        f |= LLMC_HTTP_F_CLOSE; /* body ends when the peer closes */
        h->length = UINT32_MAX; /* not counted down */
    }
    h->cstate = (f & LLMC_HTTP_F_NOBODY)     ? C_DONE
                : (f & LLMC_HTTP_F_CHUNKED) ? C_SIZE
                : h->length != 0            ? C_DATA
                                            : C_DONE;
    h->flags = (uint16_t)f;
    h->state = H_BODY;
    return 1;
}

int llmc_http_head(llmc_http_t *h, const char *p, size_t n, size_t *used)
{
    size_t i;
    int rc;

    *used = 0;
    for (i = 0; i < n; i++) {
        char c = p[i];
        bool blank;
        if (++h->head_bytes > LLMC_HEAD_MAX)
            return LLMC_ERR_TOO_LARGE;
        if (h->state == H_BODY) {
            *used = i;
            return 1;
        }
        /* lines end in LF, or CRLF: a CR without its LF is an error
         * (cr > (c == LF), not &&, which would have gcc copy the paths
         * below for a known LF) */
        if (h->cr > (c == '\n'))
            return LLMC_ERR_PROTOCOL;
        if ((h->cr = c == '\r'))
            continue;
        blank = c == ' ' || c == '\t';
        if (h->state == H_EOL) {
            /* obsolete line folding: a line that starts with a blank
             * continues the header before it, joined by a space (RFC 9112
             * 5.2); any other byte starts a new line, so the one before
             * is done */
            h->state = H_VALUE;
            if (blank) {
                c = ' ';
            } else {
            line_end:
                rc = line_done(h);
                if (rc < 0)
                    return rc;
                h->state = H_NAME;
                h->val_len = 0;
                h->val_long = false;
                if (h->header == HDR_STATUS)
                    continue; /* the status line's end, at its LF */
            }
        }
        if (c == '\n') {
            if (h->state == H_NAME) {
                if (h->val_len != 0)
                    return LLMC_ERR_PROTOCOL;
                if (h->status < 200) { /* a status line was read: >= 100 */
                    /* interim response: the real head follows */
                    uint32_t used_so_far = h->head_bytes;
                    llmc_http_init(h);
                    h->head_bytes = used_so_far;
                    continue;
                }
                *used = i + 1;
                return head_done(h);
            }
            if (h->header != HDR_STATUS) {
                h->state = H_EOL;
                continue;
            }
            /* the status line is checked at once; a blank line before it
             * is tolerated; a blank-led line after it starts a header
             * name with a blank, which is refused */
            if (h->val_len != 0)
                goto line_end;
            continue;
        }
        if ((h->state == H_NAME) & (c == ':' || blank)) { /* &: as below */
            /* the name, kept in val, ends; it has no blank */
            if (blank)
                return LLMC_ERR_PROTOCOL;
            h->header =
                (uint8_t)(match(h->val, h->val_len, k_headers, true) + 2);
            h->state = H_VALUE;
            h->val_len = 0;
            h->val_long = false;
            continue;
        }
        /* a header value without its leading blanks, and each run of
         * blanks (tabs too) as one space; the status line and names as
         * they are (&, not &&: one test, no branch for gcc to copy
         * paths after) */
        if (blank & (h->header != HDR_STATUS)) {
            if (h->val_len == 0 || h->val[h->val_len - 1] == ' ')
                continue;
            c = ' ';
        }
        if (h->val_len < LLMC_HTTP_VAL_MAX)
            h->val[h->val_len++] = c;
        else
            h->val_long = true;
    }
    *used = n;
    return 0;
}
int llmc_http_body(llmc_http_t *h, const char *p, size_t n, size_t *used,
                   llmc_http_body_cb cb, void *ctx)
{
    size_t i = 0;
    int rc, d;

    *used = 0;
    while (i < n) {
        char c = p[i];
        /* a framing line's CR must be followed by its LF (data has none:
         * a line's LF, not a CR, starts it); & here and below, not &&, as
         * in llmc_http_head() */
        if (h->cr & (c != '\n'))
            return LLMC_ERR_PROTOCOL;
        if ((h->cr = (h->cstate < C_DATA) & (c == '\r'))) {
            i++;
            continue;
        }
        switch (h->cstate) {
        case C_DATA: {
            size_t k = n - i;
            if (k > h->length)
                k = h->length;
            rc = cb(ctx, p + i, k);
            if (rc != 0)
                return rc;
            i += k;
            if (h->length != UINT32_MAX)
                h->length -= (uint32_t)k;
            if (h->length == 0)
                h->cstate = h->flags & LLMC_HTTP_F_CHUNKED ? C_DATA_END
                                                           : C_DONE;
            continue;
        }
        case C_SIZE:
        case C_SIZE_DIGITS:
            d = llmc_hexval(c);
            if (d >= 0) {
                if (h->length > (UINT32_MAX >> 8)) /* chunks < 256 MiB */
                    return LLMC_ERR_PROTOCOL;
                h->length = (h->length << 4) | (uint32_t)d;
                h->cstate = C_SIZE_DIGITS;
                break;
            }
            if (h->cstate == C_SIZE)
                return LLMC_ERR_PROTOCOL;
            h->cstate = C_SIZE_BWS;
            /* fall through */
        case C_SIZE_BWS: /* then blanks, then extensions or the line end */
            if (c == ';')
                h->cstate = C_EXT;
            else if (c != ' ' && c != '\t' && c != '\n')
                return LLMC_ERR_PROTOCOL;
            /* fall through */
        case C_EXT: /* the rest of the size line: bounded per line */
        case C_TRAILER_LINE: /* trailers: bounded all together */
            if (++h->trailer_bytes > LLMC_HEAD_MAX)
                return LLMC_ERR_TOO_LARGE;
            if (c != '\n')
                break;
            if (h->cstate != C_TRAILER_LINE)
                h->trailer_bytes = 0;
            /* the end of the size line, or of a trailer (length is 0) */
            h->cstate = h->length ? C_DATA : C_TRAILER;
            break;
        case C_DATA_END:
            if (c != '\n')
                return LLMC_ERR_PROTOCOL;
            h->cstate = C_SIZE;
            break;
        case C_TRAILER:
            /* LF: the end, C_DONE stops at the next byte */
            h->cstate = c == '\n' ? C_DONE : C_TRAILER_LINE;
            break;
        default: /* C_DONE */
            *used = i;
            return 1;
        }
        i++;
    }
    *used = n;
    return h->cstate == C_DONE ? 1 : 0;
}
