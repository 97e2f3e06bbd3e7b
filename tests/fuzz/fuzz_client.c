/*
 * The whole engine (src/, plain http) against servers that answer with
 * the fuzzer's bytes: every request ends exactly once, with a result that
 * agrees with what was delivered, no secret in a result or a log line, no
 * socket left open or closed twice, and no hang (time here is the fake
 * clock below, which moves only by the timeouts llmc asks to wait).
 *
 * The network is in this file: a fake one in memory, so that time,
 * connection failures and the size of every read are the input's; the
 * rest of the port, the settings, the requests and the checks on them are
 * fuzz_engine.h's, shared with fuzz_tls. The integration tests run the
 * same engine over real sockets.
 *
 * Input: 8 bytes of settings (fuzz_engine.h), then one script per
 * connection the engine opens, in the order it opens them, separated by
 * "|||\n". A script's first byte says how the connection behaves, its
 * second how it delivers; the rest is what the server sends (after a head
 * from k_heads, or raw). When the scripts run out, connections are
 * refused, so every run ends.
 */
#define _GNU_SOURCE /* memmem */
#include "fuzz_engine.h"
#include <stdio.h>

/* ---- the fake network ---------------------------------------------------- */

typedef struct {
    const uint8_t *head; /* sent first (a canned head), then data */
    size_t head_len, head_off;
    const uint8_t *data;
    size_t len, off;
    uint8_t mode, piece;
    int open, connected, connecting, sent;
} fsock_t;

static fsock_t g_socks[MAX_SOCKS];
static int g_n_socks;
/* No server sends anything before this time: 0 (the fuzzer's), at once;
 * test_engine's scenarios set it for an answer that comes while the
 * application does not poll. */
static uint64_t g_answer_at;
/* M_END: 0, 4: close; 8: reset; 12: never ends (stall) */

/* The next script (mode, piece, then the data), or 0 when none is left. */
static int next_script(fsock_t *k)
{
    uint8_t hdr[2];
    if (!fuzz_script_next(hdr, sizeof(hdr), &k->data, &k->len))
        return 0;
    k->mode = hdr[0];
    k->piece = hdr[1];
    return 1;
}

static fsock_t *sock_of(llmc_sock_t s)
{
    FUZZ_ASSERT(s >= FIRST_SOCK && s < FIRST_SOCK + g_n_socks);
    FUZZ_ASSERT(g_socks[s - FIRST_SOCK].open); /* no use after close */
    return &g_socks[s - FIRST_SOCK];
}

int llmc_port_connect(const llmc_addr_t *addr, llmc_sock_t *sock)
{
    fsock_t *k;
    (void)addr;
    if (g_n_socks == MAX_SOCKS)
        return LLMC_PORT_ERROR;
    k = &g_socks[g_n_socks];
    memset(k, 0, sizeof(*k));
    if (!next_script(k) || (k->mode & M_REFUSE))
        return LLMC_PORT_REFUSED; /* no socket made */
    k->head = fuzz_head(k->mode, k->len, g_n_socks, &k->head_len);
    k->open = 1;
    *sock = FIRST_SOCK + g_n_socks++;
    if (k->mode & M_PENDING) {
        k->connecting = 1;
        return LLMC_PORT_WOULD_BLOCK;
    }
    k->connected = 1;
    return LLMC_PORT_OK;
}

int llmc_port_connect_result(llmc_sock_t s)
{
    fsock_t *k = sock_of(s);
    FUZZ_ASSERT(k->connecting);
    k->connecting = 0;
    if (k->mode & M_CONN_FAIL)
        return LLMC_PORT_UNREACHABLE;
    k->connected = 1;
    return LLMC_PORT_OK;
}

long llmc_port_send(llmc_sock_t s, const void *buf, size_t len)
{
    fsock_t *k = sock_of(s);
    size_t cap = (size_t)(k->piece >> 4) * 37u + 1u;
    FUZZ_ASSERT(k->connected && len > 0);
    (void)buf;
    k->sent = 1;
    return (long)(len < cap ? len : cap);
}

/* Bytes left to deliver, head included. */
static size_t left(const fsock_t *k)
{
    return (k->head_len - k->head_off) + (k->len - k->off);
}

long llmc_port_recv(llmc_sock_t s, void *buf, size_t len)
{
    fsock_t *k = sock_of(s);
    size_t n = (size_t)(k->piece & 15u) * 9u + 1u, got = 0;
    FUZZ_ASSERT(k->connected && len > 0);
    if (g_now < g_answer_at)
        return LLMC_PORT_WOULD_BLOCK;
    if (left(k) == 0) {
        if ((k->mode & M_END) == 12u)
            return LLMC_PORT_WOULD_BLOCK;
        return (k->mode & M_END) == 8u ? LLMC_PORT_RESET : LLMC_PORT_EOF;
    }
    if (n > len)
        n = len;
    while (got < n && k->head_off < k->head_len)
        ((uint8_t *)buf)[got++] = k->head[k->head_off++];
    while (got < n && k->off < k->len)
        ((uint8_t *)buf)[got++] = k->data[k->off++];
    return (long)got;
}

void llmc_port_close(llmc_sock_t s)
{
    if (s != LLMC_SOCK_INVALID) /* does nothing, as llmc_port.h says */
        sock_of(s)->open = 0; /* closing twice fails in sock_of */
}

int llmc_port_poll(llmc_pollfd_t *fds, size_t n, int timeout_ms)
{
    size_t i;
    int ready = 0;
    for (i = 0; i < n; i++) {
        fsock_t *k = sock_of(fds[i].sock);
        /* a connect ends, and a connection takes bytes, whenever asked */
        uint8_t r = fds[i].events & LLMC_POLL_OUT;
        /* a server answers once it has had some of the request */
        if (k->connected && k->sent && g_now >= g_answer_at &&
            (fds[i].events & LLMC_POLL_IN) &&
            (left(k) > 0 || (k->mode & M_END) != 12u))
            r |= LLMC_POLL_IN;
        fds[i].revents = r;
        ready += r != 0;
    }
    if (ready == 0) {
        FUZZ_ASSERT(timeout_ms >= 0); /* forever with requests running */
        g_now += (uint64_t)timeout_ms;
    }
    return ready;
}

/* The settings: fuzz_engine.h. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const urls[] = {"http://a.test/v1",
                                       "http://two.test:8443/v1",
                                       "http://nx.test/v1"};
    const uint8_t *set = data;
    int i;

    if (size < 8)
        return 0;
    g_scripts = data + 8;
    g_scripts_len = size - 8;
    g_n_socks = 0;
    if (fuzz_engine_init(set, urls, "http://iam.test/token", NULL, 0) != 0)
        return 0;
    fuzz_engine_submit(set);
    fuzz_engine_run(set);
    for (i = 0; i < g_n_socks; i++)
        FUZZ_ASSERT(!g_socks[i].open); /* every socket closed */
    return 0;
}
