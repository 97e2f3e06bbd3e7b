/* HTTP response parser: head fields and body bytes agree whole or split;
 * the body never exceeds what came in. */
#include "fuzz_common.h"
#include "llmc_http.h"

typedef struct {
    uint8_t body[1 << 16];
    size_t len;
} body_t;

static int on_body(void *ctx, const char *p, size_t n)
{
    body_t *b = ctx;
    if (b->len + n <= sizeof(b->body))
        memcpy(b->body + b->len, p, n);
    b->len += n;
    return 0;
}

typedef struct {
    int head_rc, body_rc;
    uint16_t status, flags;
    int64_t retry;
    int8_t should;
} result_t;

static void run(const uint8_t *d, size_t size, const size_t *cuts,
                size_t n_cuts, body_t *body, result_t *r)
{
    llmc_http_t h;
    size_t off = 0, i = 0, used;
    int rc = 0;
    bool in_body = false;
    llmc_http_init(&h);
    body->len = 0;
    memset(r, 0, sizeof(*r));
    while (off < size) {
        size_t k = fuzz_piece(cuts, n_cuts, i++, size - off);
        const char *p = (const char *)d + off;
        size_t left = k;
        while (left > 0) {
            if (!in_body) {
                rc = llmc_http_head(&h, p, left, &used);
                if (rc < 0) {
                    r->head_rc = rc;
                    return;
                }
                FUZZ_ASSERT(used <= left);
                p += used;
                left -= used;
                if (rc == 0)
                    break;
                in_body = true;
                r->status = h.status;
                r->flags = h.flags;
                r->retry = h.retry_after_ms;
                r->should = h.should_retry;
                continue;
            }
            rc = llmc_http_body(&h, p, left, &used, on_body, body);
            FUZZ_ASSERT(used <= left);
            if (rc != 0) {
                r->body_rc = rc;
                return;
            }
            p += used;
            left -= used;
        }
        off += k;
    }
    r->body_rc = in_body ? llmc_http_eof(&h) : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static body_t a, b;
    result_t ra, rb;
    size_t cuts[4], n_cuts = fuzz_splits(&data, &size, cuts);
    run(data, size, NULL, 0, &a, &ra);
    run(data, size, cuts, n_cuts, &b, &rb);
    FUZZ_ASSERT(memcmp(&ra, &rb, sizeof(ra)) == 0);
    FUZZ_ASSERT(a.len == b.len);
    FUZZ_ASSERT(a.len <= size);
    FUZZ_ASSERT(memcmp(a.body, b.body, a.len < sizeof(a.body) ? a.len : sizeof(a.body)) == 0);
    return 0;
}
