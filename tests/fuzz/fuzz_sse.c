/* SSE framer: events from the whole input == events from it in pieces. */
#include "fuzz_common.h"
#include "llmc_sse.h"

typedef struct {
    uint8_t log[1 << 16];
    size_t len;
} events_t;

static int on_event(void *ctx, char *data, size_t len)
{
    events_t *e = ctx;
    uint32_t n = (uint32_t)len;
    FUZZ_ASSERT(len <= 256);
    if (e->len + 4 + len <= sizeof(e->log)) {
        memcpy(e->log + e->len, &n, 4);
        memcpy(e->log + e->len + 4, data, len);
        e->len += 4 + len;
    }
    return 0;
}

static int feed(const uint8_t *d, size_t size, const size_t *cuts,
                size_t n_cuts, events_t *ev)
{
    static char buf[256];
    llmc_sse_t s;
    size_t off = 0, i = 0;
    int rc = 0;
    llmc_sse_init(&s, buf, sizeof(buf));
    ev->len = 0;
    while (off < size && rc == 0) {
        size_t k = fuzz_piece(cuts, n_cuts, i++, size - off);
        rc = llmc_sse_feed(&s, (const char *)d + off, k, on_event, ev);
        off += k;
    }
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static events_t a, b;
    size_t cuts[4], n_cuts = fuzz_splits(&data, &size, cuts);
    int ra = feed(data, size, NULL, 0, &a);
    int rb = feed(data, size, cuts, n_cuts, &b);
    FUZZ_ASSERT(ra == rb);
    FUZZ_ASSERT(a.len == b.len && memcmp(a.log, b.log, a.len) == 0);
    return 0;
}
