#include "llmc_http.h"

#include <string.h>

#include "llmc/llmc.h"
#include "llmc_util.h"

enum { H_STATUS, H_NAME, H_VALUE, H_BODY };
/* C_DATA also carries Content-Length and close-delimited bodies; C_DONE
 * ends every framing (and is where a body-less response starts) */
enum { C_SIZE, C_EXT, C_DATA, C_DATA_END, C_TRAILER, C_TRAILER_LINE, C_DONE };
enum {
    HDR_NONE,
    HDR_CONTENT_LENGTH,
    HDR_TRANSFER_ENCODING,
    HDR_CONNECTION,
    HDR_CONTENT_TYPE,
    HDR_RETRY_AFTER,
    HDR_RETRY_AFTER_MS,
    HDR_SHOULD_RETRY
};
#define F_BAD_TE (1u << 14)
#define F_PRECISE_RETRY (1u << 15) /* retry-after-ms seen: it wins */

/* The names of HDR_CONTENT_LENGTH.., in order. */
static const char k_headers[] = "content-length\0transfer-encoding\0"
                                "connection\0content-type\0retry-after\0"
                                "retry-after-ms\0x-should-retry\0";


void llmc_http_init(llmc_http_t *h)
{
    memset(h, 0, sizeof(*h));
    h->state = H_STATUS;
    h->retry_after_ms = -1;
    h->should_retry = -1;
}

/* Index of the first word of list (NUL-separated, ending in an empty one)
 * that v[0..n) is (case-insensitive), or that it starts with if !exact;
 * -1: none. */
static int match(const char *v, size_t n, const char *list, bool exact)
{
    int i;
    for (i = 0; *list != '\0'; i++) {
        size_t k = strlen(list);
        if ((exact ? n == k : n >= k) && llmc_ieq(v, list, k))
            return i;
        list += k + 1;
    }
    return -1;
}

/* Decimal prefix of s; -1 when there is none or it is absurdly long. */
static int64_t parse_dec(const char *s, size_t n, size_t *end)
{
    int64_t v = 0;
    size_t i = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        if (i >= 18)
            return -1;
        v = v * 10 + (s[i] - '0');
        i++;
    }
    *end = i;
    return i > 0 ? v : -1;
}

/* tok (a one-word list) is one of the comma- or space-separated items of
 * v[0..n). */
static bool has_token(const char *v, size_t n, const char *tok)
{
    size_t i = 0, start;
    for (;;) {
        start = i;
        while (i < n && v[i] != ' ' && v[i] != ',')
            i++;
        if (match(v + start, i - start, tok, true) == 0)
            return true;
        if (i++ >= n)
            return false;
    }
}

static int apply_header(llmc_http_t *h)
{
    const char *v = h->val;
    size_t n = h->val_len, end = 0;
    int64_t x, lim;
    unsigned f = 0;
    bool ms;
    int i;

    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    x = parse_dec(v, n, &end);
    switch (h->header) {
    case HDR_CONTENT_LENGTH:
        if (h->val_long || x < 0 || end != n)
            return LLMC_ERR_PROTOCOL;
        if ((h->flags & LLMC_HTTP_F_LENGTH) && h->length != (uint64_t)x)
            return LLMC_ERR_PROTOCOL;
        f = LLMC_HTTP_F_LENGTH;
        h->length = (uint64_t)x;
        break;
    case HDR_TRANSFER_ENCODING:
        /* Only "chunked" alone is decodable: we never send Accept-Encoding,
         * so any other coding is a response we cannot read. */
        i = match(v, n, "chunked\0identity\0", true);
        f = i == 0 ? LLMC_HTTP_F_CHUNKED : i < 0 ? F_BAD_TE : 0;
        break;
    case HDR_CONNECTION:
        if (has_token(v, n, "close\0"))
            f = LLMC_HTTP_F_CLOSE;
        break;
    case HDR_CONTENT_TYPE:
        i = match(v, n, "text/event-stream\0application/json\0", false);
        if (i >= 0)
            f = (unsigned)LLMC_HTTP_F_SSE << i; /* or LLMC_HTTP_F_JSON */
        break;
    case HDR_RETRY_AFTER:
    case HDR_RETRY_AFTER_MS:
        /* Retry-After in seconds only: an HTTP-date needs a wall clock
         * boards lack. retry-after-ms may have a fraction. */
        ms = h->header == HDR_RETRY_AFTER_MS;
        if (x < 0 || (end != n && !(ms && v[end] == '.')) ||
            (!ms && (h->flags & F_PRECISE_RETRY)))
            break;
        lim = ms ? 86400000 : 86400;
        if (x > lim)
            x = lim;
        /* at most 86400000: a 32-bit product */
        h->retry_after_ms = (int64_t)((uint32_t)x * (ms ? 1u : 1000u));
        f = ms ? F_PRECISE_RETRY : 0;
        break;
    case HDR_SHOULD_RETRY:
        i = match(v, n, "false\0true\0", true);
        if (i >= 0)
            h->should_retry = (int8_t)i;
        break;
    default:
        break;
    }
    h->flags |= (uint16_t)f;
    return 0;
}

/* "HTTP/1.x NNN" is all we need of the status line: each byte between
 * its bounds in lo and hi. */
static int status_line_done(llmc_http_t *h)
{
    static const char lo[] = "HTTP/1.0 100", hi[] = "HTTP/1.9 599";
    const char *v = h->val;
    size_t i, end;
    if (h->val_len < 12 || (h->val_len > 12 && v[12] != ' '))
        return LLMC_ERR_PROTOCOL;
    for (i = 0; i < 12; i++)
        if (v[i] < lo[i] || v[i] > hi[i])
            return LLMC_ERR_PROTOCOL;
    h->status = (uint16_t)parse_dec(v + 9, 3, &end);
    if (v[7] == '0')
        h->flags |= LLMC_HTTP_F_CLOSE;
    return 0;
}

static int head_done(llmc_http_t *h)
{
    uint16_t f = h->flags;
    if (f & F_BAD_TE)
        return LLMC_ERR_PROTOCOL;
    if (h->status == 204 || h->status == 304)
        f |= LLMC_HTTP_F_NOBODY;
    h->cstate = C_DATA;
    if (f & LLMC_HTTP_F_CHUNKED) {
        f &= (uint16_t)~LLMC_HTTP_F_LENGTH;
        h->length = 0;
        h->cstate = C_SIZE;
        h->val_len = 0; /* C_SIZE's "a digit was seen" */
    } else if (!(f & (LLMC_HTTP_F_LENGTH | LLMC_HTTP_F_NOBODY))) {
        f |= LLMC_HTTP_F_CLOSE; /* body ends when the peer closes */
        h->length = UINT64_MAX;
    } else if (h->length == 0) {
        h->cstate = C_DONE;
    }
    if (f & LLMC_HTTP_F_NOBODY)
        h->cstate = C_DONE;
    h->flags = f;
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
        if (++h->head_bytes > LLMC_HEAD_MAX)
            return LLMC_ERR_TOO_LARGE;
        if (c == '\r')
            continue; /* lines end in LF; a CR before it is noise */
        if (h->state == H_BODY) {
            *used = i;
            return 1;
        }
        if (h->state == H_NAME) {
            if (c == '\n') {
                if (h->name_len != 0)
                    return LLMC_ERR_PROTOCOL;
                if (h->status >= 100 && h->status < 200) {
                    /* interim response: the real head follows */
                    uint32_t used_so_far = h->head_bytes;
                    llmc_http_init(h);
                    h->head_bytes = used_so_far;
                    continue;
                }
                *used = i + 1;
                return head_done(h);
            }
            if (c == ':' || c == ' ' || c == '\t') {
                h->header = HDR_NONE;
                if (c == ':') {
                    if (h->name_len < LLMC_HTTP_NAME_MAX)
                        h->header = (uint8_t)(match(h->name, h->name_len,
                                                    k_headers, true) + 1);
                } else if (h->name_len != 0) {
                    return LLMC_ERR_PROTOCOL;
                } /* else obsolete line folding: ignored */
                h->val_len = 0;
                h->val_long = false;
                h->state = H_VALUE;
            } else {
                if (h->name_len < LLMC_HTTP_NAME_MAX)
                    h->name[h->name_len] = c;
                if (h->name_len < 255)
                    h->name_len++;
            }
            continue;
        }
        /* H_STATUS or H_VALUE: a line kept in val */
        if (c == '\n') {
            if (h->state == H_STATUS) {
                if (h->val_len == 0)
                    continue; /* tolerate a blank line before the head */
                rc = status_line_done(h);
            } else {
                rc = apply_header(h);
            }
            if (rc < 0)
                return rc;
            h->state = H_NAME;
            h->name_len = 0;
        } else if (h->state == H_STATUS ||
                   (h->header != HDR_NONE &&
                    (h->val_len != 0 || (c != ' ' && c != '\t')))) {
            /* a header value without its leading blanks */
            if (h->val_len < LLMC_HTTP_VAL_MAX)
                h->val[h->val_len++] = c;
            else
                h->val_long = true;
        }
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
        switch (h->cstate) {
        case C_DATA: {
            size_t k = n - i;
            if ((uint64_t)k > h->length)
                k = (size_t)h->length;
            rc = cb(ctx, p + i, k);
            if (rc != 0)
                return rc;
            i += k;
            h->length -= k;
            if (h->length == 0)
                h->cstate = h->flags & LLMC_HTTP_F_CHUNKED ? C_DATA_END
                                                           : C_DONE;
            continue;
        }
        case C_SIZE:
            d = llmc_hexval(c);
            if (d >= 0) {
                if (h->length > (UINT64_MAX >> 8))
                    return LLMC_ERR_PROTOCOL;
                h->length = (h->length << 4) | (uint64_t)d;
                h->val_len = 1; /* a digit was seen */
            } else if (c == '\r') {
                /* the LF follows */
            } else if (c == '\n' || c == ';' || c == ' ' || c == '\t') {
                if (h->val_len == 0)
                    return LLMC_ERR_PROTOCOL;
                if (c == '\n')
                    h->cstate = h->length ? C_DATA : C_TRAILER;
                else
                    h->cstate = C_EXT;
            } else {
                return LLMC_ERR_PROTOCOL;
            }
            break;
        case C_EXT: /* extensions: bounded per size line */
            if (++h->trailer_bytes > LLMC_HEAD_MAX)
                return LLMC_ERR_TOO_LARGE;
            if (c == '\n') {
                h->trailer_bytes = 0;
                h->cstate = h->length ? C_DATA : C_TRAILER;
            }
            break;
        case C_DATA_END:
            if (c == '\n') {
                h->cstate = C_SIZE;
                h->val_len = 0;
            } else if (c != '\r') {
                return LLMC_ERR_PROTOCOL;
            }
            break;
        case C_TRAILER:
            if (c == '\n') {
                h->cstate = C_DONE;
                *used = i + 1;
                return 1;
            }
            if (c != '\r')
                h->cstate = C_TRAILER_LINE;
            break;
        case C_TRAILER_LINE:
            if (++h->trailer_bytes > LLMC_HEAD_MAX)
                return LLMC_ERR_TOO_LARGE;
            if (c == '\n')
                h->cstate = C_TRAILER;
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

int llmc_http_eof(const llmc_http_t *h)
{
    if (h->state != H_BODY)
        return LLMC_ERR_CLOSED;
    /* close-delimited, or its framing complete */
    return !(h->flags & (LLMC_HTTP_F_CHUNKED | LLMC_HTTP_F_LENGTH)) ||
                   h->cstate == C_DONE
               ? 1
               : LLMC_ERR_CLOSED;
}

bool llmc_http_reusable(const llmc_http_t *h)
{
    return !(h->flags & LLMC_HTTP_F_CLOSE) && llmc_http_eof(h) == 1;
}

bool llmc_http_in_body(const llmc_http_t *h)
{
    return h->state == H_BODY;
}
