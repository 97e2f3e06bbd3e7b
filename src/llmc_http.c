#include "llmc_http.h"

#include <string.h>

#include "llmc/llmc.h"
#include "llmc_util.h"

enum { H_STATUS, H_NAME, H_VALUE_LEAD, H_VALUE, H_SKIP, H_BODY };
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

static const struct {
    const char *name;
    uint8_t id;
} k_headers[] = {
    {"content-length", HDR_CONTENT_LENGTH},
    {"transfer-encoding", HDR_TRANSFER_ENCODING},
    {"connection", HDR_CONNECTION},
    {"content-type", HDR_CONTENT_TYPE},
    {"retry-after", HDR_RETRY_AFTER},
    {"retry-after-ms", HDR_RETRY_AFTER_MS},
    {"x-should-retry", HDR_SHOULD_RETRY},
};

void llmc_http_init(llmc_http_t *h)
{
    memset(h, 0, sizeof(*h));
    h->state = H_STATUS;
    h->retry_after_ms = -1;
    h->should_retry = -1;
}

static uint8_t header_id(const llmc_http_t *h)
{
    size_t i;
    for (i = 0; i < sizeof(k_headers) / sizeof(k_headers[0]); i++)
        if (strlen(k_headers[i].name) == h->name_len &&
            llmc_ieq(h->name, k_headers[i].name, h->name_len))
            return k_headers[i].id;
    return HDR_NONE;
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

static bool has_token(const char *v, size_t n, const char *tok)
{
    size_t t = strlen(tok), i;
    for (i = 0; i + t <= n; i++)
        if (llmc_ieq(v + i, tok, t) && (i == 0 || v[i - 1] == ' ' ||
                                        v[i - 1] == ',') &&
            (i + t == n || v[i + t] == ' ' || v[i + t] == ','))
            return true;
    return false;
}

static int apply_header(llmc_http_t *h)
{
    const char *v = h->val;
    size_t n = h->val_len, end;
    int64_t x;

    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    switch (h->header) {
    case HDR_CONTENT_LENGTH:
        x = parse_dec(v, n, &end);
        if (h->val_long || x < 0 || end != n)
            return LLMC_ERR_PROTOCOL;
        if ((h->flags & LLMC_HTTP_F_LENGTH) && h->length != (uint64_t)x)
            return LLMC_ERR_PROTOCOL;
        h->flags |= LLMC_HTTP_F_LENGTH;
        h->length = (uint64_t)x;
        break;
    case HDR_TRANSFER_ENCODING:
        /* Only "chunked" alone is decodable: we never send Accept-Encoding,
         * so any other coding is a response we cannot read. */
        if (n == 7 && llmc_ieq(v, "chunked", 7))
            h->flags |= LLMC_HTTP_F_CHUNKED;
        else if (!(n == 8 && llmc_ieq(v, "identity", 8)))
            h->flags |= F_BAD_TE;
        break;
    case HDR_CONNECTION:
        if (has_token(v, n, "close"))
            h->flags |= LLMC_HTTP_F_CLOSE;
        break;
    case HDR_CONTENT_TYPE:
        if (n >= 17 && llmc_ieq(v, "text/event-stream", 17))
            h->flags |= LLMC_HTTP_F_SSE;
        else if (n >= 16 && llmc_ieq(v, "application/json", 16))
            h->flags |= LLMC_HTTP_F_JSON;
        break;
    case HDR_RETRY_AFTER:
        /* Seconds only: an HTTP-date needs a wall clock boards lack. */
        x = parse_dec(v, n, &end);
        if (x >= 0 && end == n && !(h->flags & F_PRECISE_RETRY))
            h->retry_after_ms = x > 86400 ? 86400000 : x * 1000;
        break;
    case HDR_RETRY_AFTER_MS:
        x = parse_dec(v, n, &end);
        if (x >= 0 && (end == n || v[end] == '.')) {
            h->retry_after_ms = x > 86400000 ? 86400000 : x;
            h->flags |= F_PRECISE_RETRY;
        }
        break;
    case HDR_SHOULD_RETRY:
        if (n == 4 && llmc_ieq(v, "true", 4))
            h->should_retry = 1;
        else if (n == 5 && llmc_ieq(v, "false", 5))
            h->should_retry = 0;
        break;
    default:
        break;
    }
    return 0;
}

/* "HTTP/1.x NNN" is all we need of the status line. */
static int status_line_done(llmc_http_t *h)
{
    const char *v = h->val;
    if (h->val_len < 12 || memcmp(v, "HTTP/1.", 7) != 0 || v[7] < '0' ||
        v[7] > '9' || v[8] != ' ')
        return LLMC_ERR_PROTOCOL;
    if (v[9] < '1' || v[9] > '5' || v[10] < '0' || v[10] > '9' ||
        v[11] < '0' || v[11] > '9' || (h->val_len > 12 && v[12] != ' '))
        return LLMC_ERR_PROTOCOL;
    h->status = (uint16_t)((v[9] - '0') * 100 + (v[10] - '0') * 10 +
                           (v[11] - '0'));
    if (v[7] == '0')
        h->flags |= LLMC_HTTP_F_CLOSE;
    return 0;
}

static int head_done(llmc_http_t *h)
{
    if (h->flags & F_BAD_TE)
        return LLMC_ERR_PROTOCOL;
    if (h->status == 204 || h->status == 304)
        h->flags |= LLMC_HTTP_F_NOBODY;
    if (h->flags & LLMC_HTTP_F_CHUNKED) {
        h->flags &= (uint16_t)~LLMC_HTTP_F_LENGTH;
        h->length = 0;
        h->cstate = C_SIZE;
        h->val_len = 0; /* C_SIZE's "a digit was seen" */
    } else if (!(h->flags & (LLMC_HTTP_F_LENGTH | LLMC_HTTP_F_NOBODY))) {
        h->flags |= LLMC_HTTP_F_CLOSE; /* body ends when the peer closes */
    }
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
        switch (h->state) {
        case H_STATUS:
            if (c == '\n') {
                if (h->val_len == 0 && h->status == 0)
                    continue; /* tolerate a blank line before the head */
                rc = status_line_done(h);
                if (rc < 0)
                    return rc;
                h->state = H_NAME;
                h->name_len = 0;
            } else if (h->val_len < LLMC_HTTP_VAL_MAX) {
                h->val[h->val_len++] = c;
            }
            break;
        case H_NAME:
            if (c == '\n') {
                if (h->name_len != 0)
                    return LLMC_ERR_PROTOCOL;
                if (h->status >= 100 && h->status < 200) {
                    /* interim response: the real head follows */
                    uint32_t used_so_far = h->head_bytes;
                    llmc_http_init(h);
                    h->head_bytes = used_so_far;
                    break;
                }
                *used = i + 1;
                return head_done(h);
            }
            if (c == ':') {
                h->header = h->name_len < LLMC_HTTP_NAME_MAX ? header_id(h)
                                                             : HDR_NONE;
                h->val_len = 0;
                h->val_long = false;
                h->state = H_VALUE_LEAD;
            } else if (c == ' ' || c == '\t') {
                if (h->name_len != 0)
                    return LLMC_ERR_PROTOCOL;
                h->state = H_SKIP; /* obsolete line folding: ignored */
            } else {
                if (h->name_len < LLMC_HTTP_NAME_MAX)
                    h->name[h->name_len] = c;
                if (h->name_len < 255)
                    h->name_len++;
            }
            break;
        case H_VALUE_LEAD:
            if (c == ' ' || c == '\t')
                break;
            h->state = H_VALUE;
            /* fall through */
        case H_VALUE:
            if (c == '\n') {
                rc = apply_header(h);
                if (rc < 0)
                    return rc;
                h->state = H_NAME;
                h->name_len = 0;
            } else if (h->header != HDR_NONE) {
                if (h->val_len < LLMC_HTTP_VAL_MAX)
                    h->val[h->val_len++] = c;
                else
                    h->val_long = true;
            }
            break;
        case H_SKIP:
            if (c == '\n') {
                h->state = H_NAME;
                h->name_len = 0;
            }
            break;
        default:
            *used = i;
            return 1;
        }
    }
    *used = n;
    return 0;
}

static int chunked(llmc_http_t *h, const char *p, size_t n, size_t *used,
                   llmc_http_body_cb cb, void *ctx)
{
    size_t i = 0;
    int rc, d;

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
                h->cstate = C_DATA_END;
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

int llmc_http_body(llmc_http_t *h, const char *p, size_t n, size_t *used,
                   llmc_http_body_cb cb, void *ctx)
{
    int rc;

    *used = 0;
    if (h->flags & LLMC_HTTP_F_NOBODY)
        return 1;
    if (h->flags & LLMC_HTTP_F_CHUNKED)
        return chunked(h, p, n, used, cb, ctx);
    if (h->flags & LLMC_HTTP_F_LENGTH) {
        size_t k = n;
        if ((uint64_t)k > h->length)
            k = (size_t)h->length;
        if (k > 0) {
            rc = cb(ctx, p, k);
            if (rc != 0)
                return rc;
        }
        h->length -= k;
        *used = k;
        return h->length == 0 ? 1 : 0;
    }
    if (n > 0) {
        rc = cb(ctx, p, n);
        if (rc != 0)
            return rc;
    }
    *used = n;
    return 0;
}

int llmc_http_eof(const llmc_http_t *h)
{
    if (h->state != H_BODY)
        return LLMC_ERR_CLOSED;
    if (h->flags & LLMC_HTTP_F_NOBODY)
        return 1;
    if (h->flags & LLMC_HTTP_F_CHUNKED)
        return h->cstate == C_DONE ? 1 : LLMC_ERR_CLOSED;
    if (h->flags & LLMC_HTTP_F_LENGTH)
        return h->length == 0 ? 1 : LLMC_ERR_CLOSED;
    return 1;
}

bool llmc_http_reusable(const llmc_http_t *h)
{
    return !(h->flags & LLMC_HTTP_F_CLOSE) && llmc_http_eof(h) == 1;
}

bool llmc_http_in_body(const llmc_http_t *h)
{
    return h->state == H_BODY;
}
