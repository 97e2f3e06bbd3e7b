/*
 * The whole engine (src/, plain http) against servers that answer with
 * the fuzzer's bytes: every request ends exactly once, with a result that
 * agrees with what was delivered, no secret in a result or a log line, no
 * socket left open or closed twice, and no hang (time here is the fake
 * clock below, which moves only by the timeouts llmc asks to wait).
 *
 * The port is in this file: a fake network in memory, so that time,
 * connection failures and the size of every read are the input's. The
 * integration tests run the same engine over real sockets.
 *
 * Input: 8 bytes of settings (at LLVMFuzzerTestOneInput), then one script per connection the
 * engine opens, in the order it opens them, separated by "|||\n". A
 * script's first byte says how the connection behaves, its second how it
 * delivers; the rest is what the server sends (after a head from
 * k_heads, or raw). When the scripts run out, connections are refused, so
 * every run ends.
 */
#define _GNU_SOURCE /* memmem */
#include "fuzz_common.h"
#include <stdio.h>
#include "llmc/llmc.h"
#include "llmc/llmc_client.h"
#include "llmc/llmc_port.h"

#define SEP "|||\n"
#define SEP_LEN 4
#define MAX_SOCKS 64
#define MAX_REQS 16
#define FIRST_SOCK 3

static const char *const k_secrets[] = {"sk-fuzz-SECRET-4242",
                                        "kid-fuzz-7777", "sec-fuzz-99990"};

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
static const uint8_t *g_scripts;
static size_t g_scripts_len;
static uint64_t g_now;
static uint32_t g_rand;

/* mode bits of a script */
#define M_HEAD 3u       /* 0 raw, 1 SSE head, 2 chunked head, 3 length head */
#define M_END 12u       /* 0, 4: close; 8: reset; 12: never ends (stall) */
#define M_REFUSE 16u    /* connect refused */
#define M_PENDING 32u   /* connect in progress first */
#define M_CONN_FAIL 64u /* ... and then fails */

static const char *const k_heads[] = {
    "",
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
    "Transfer-Encoding: chunked\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    "Content-Length: "};
static char g_len_heads[MAX_SOCKS][80];

/* The next script, or NULL when none is left. */
static int next_script(fsock_t *k)
{
    const uint8_t *end;
    size_t n;
    if (g_scripts_len == 0)
        return 0;
    end = memmem(g_scripts, g_scripts_len, SEP, SEP_LEN);
    n = end ? (size_t)(end - g_scripts) : g_scripts_len;
    k->mode = n > 0 ? g_scripts[0] : 0;
    k->piece = n > 1 ? g_scripts[1] : 0;
    k->data = g_scripts + (n > 2 ? 2 : n);
    k->len = n > 2 ? n - 2 : 0;
    g_scripts += end ? n + SEP_LEN : n;
    g_scripts_len -= end ? n + SEP_LEN : n;
    return 1;
}

static fsock_t *sock_of(llmc_sock_t s)
{
    FUZZ_ASSERT(s >= FIRST_SOCK && s < FIRST_SOCK + g_n_socks);
    FUZZ_ASSERT(g_socks[s - FIRST_SOCK].open); /* no use after close */
    return &g_socks[s - FIRST_SOCK];
}

int llmc_port_resolve(const char *host, uint16_t port, llmc_addr_t *out,
                      int max)
{
    if (strncmp(host, "nx", 2) == 0)
        return LLMC_PORT_NOT_FOUND;
    memset(out, 0, sizeof(*out));
    out->family = 4;
    out->port = port;
    out->addr[0] = 127;
    out->addr[3] = 1;
    if (max > 1 && strncmp(host, "two", 3) == 0) { /* a second address */
        out[1] = out[0];
        out[1].addr[3] = 2;
        return 2;
    }
    return 1;
}

int llmc_port_connect(const llmc_addr_t *addr, llmc_sock_t *sock)
{
    fsock_t *k;
    size_t i;
    (void)addr;
    if (g_n_socks == MAX_SOCKS)
        return LLMC_PORT_ERROR;
    k = &g_socks[g_n_socks];
    memset(k, 0, sizeof(*k));
    if (!next_script(k) || (k->mode & M_REFUSE))
        return LLMC_PORT_REFUSED; /* no socket made */
    i = k->mode & M_HEAD;
    k->head = (const uint8_t *)k_heads[i];
    if (i == 3) {
        char *h = g_len_heads[g_n_socks];
        snprintf(h, sizeof(g_len_heads[0]), "%s%zu\r\n\r\n", k_heads[3],
                 k->len);
        k->head = (const uint8_t *)h;
    }
    k->head_len = strlen((const char *)k->head);
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

int llmc_port_listen(llmc_addr_t *addr, int backlog, llmc_sock_t *sock)
{
    (void)addr, (void)backlog, (void)sock;
    return LLMC_PORT_ERROR;
}

int llmc_port_accept(llmc_sock_t listener, llmc_sock_t *sock)
{
    (void)listener, (void)sock;
    return LLMC_PORT_ERROR;
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
        if (k->connected && k->sent && (fds[i].events & LLMC_POLL_IN) &&
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

void llmc_port_wake(void) {}
uint64_t llmc_port_now_ms(void) { return g_now; }
void llmc_port_lock(void) {}
void llmc_port_unlock(void) {}

int llmc_port_random(void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len-- > 0) {
        g_rand = g_rand * 1103515245u + 12345u;
        *p++ = (uint8_t)(g_rand >> 16);
    }
    return 0;
}

static int holds_secret(const char *s, size_t len)
{
    size_t i;
    for (i = 0; i < sizeof(k_secrets) / sizeof(k_secrets[0]); i++) {
        size_t n = strlen(k_secrets[i]);
        if (memmem(s, len, k_secrets[i], n) != NULL)
            return 1;
    }
    return 0;
}

void llmc_port_log(int level, const char *msg, size_t len)
{
    FUZZ_ASSERT(level >= 1 && level <= 4);
    FUZZ_ASSERT(!holds_secret(msg, len));
}

/* ---- requests --------------------------------------------------------- */

typedef struct {
    llmc_handle_t h;
    int done, cancelled, attempts, bytes;
    int cancel_in_delta;
    uint64_t submitted;
} req_t;

static llmc_client_t g_client;
static req_t g_reqs[MAX_REQS];
static size_t g_n_reqs;

static void on_delta(void *user, const char *text, size_t len)
{
    req_t *r = user;
    FUZZ_ASSERT(!r->done && !r->cancelled && len > 0);
    (void)text;
    r->bytes += (int)len;
    if (r->cancel_in_delta) {
        FUZZ_ASSERT(llmc_cancel(&g_client, r->h) == LLMC_OK);
        r->cancelled = 1; /* nothing more may come */
    }
}

static void on_attempt(void *user, int provider, const char *name)
{
    req_t *r = user;
    FUZZ_ASSERT(!r->done && provider >= 0 && provider < 3 && name != NULL);
    /* no failover once content has reached the caller */
    FUZZ_ASSERT(r->bytes == 0);
    r->attempts++;
}

static void on_done(void *user, const llmc_result_t *res)
{
    req_t *r = user;
    size_t i, n;
    FUZZ_ASSERT(!r->done);
    r->done = 1;
    FUZZ_ASSERT(res->status <= 0 && res->status >= LLMC_ERR_STATE);
    FUZZ_ASSERT(res->content_bytes == (uint32_t)r->bytes);
    FUZZ_ASSERT(res->partial == (res->status != LLMC_OK && r->bytes > 0));
    FUZZ_ASSERT(res->status != LLMC_OK || r->bytes > 0);
    if (r->cancelled)
        FUZZ_ASSERT(res->status == LLMC_ERR_CANCELLED);
    FUZZ_ASSERT(res->n_attempts == (uint8_t)r->attempts);
    FUZZ_ASSERT(res->provider >= -1 && res->provider < 3);
    FUZZ_ASSERT(res->elapsed_ms <= g_now - r->submitted);
    FUZZ_ASSERT(memchr(res->message, 0, sizeof(res->message)) != NULL);
    FUZZ_ASSERT(memchr(res->finish_reason, 0, sizeof(res->finish_reason)));
    FUZZ_ASSERT(!holds_secret(res->message, strlen(res->message)));
    FUZZ_ASSERT(res->status == LLMC_OK || res->message[0] != '\0');
    n = res->n_attempts < LLMC_MAX_ATTEMPTS ? res->n_attempts
                                            : LLMC_MAX_ATTEMPTS;
    for (i = 0; i < n; i++) {
        const llmc_attempt_t *a = &res->attempts[i];
        FUZZ_ASSERT(a->provider < 3 && a->status <= 0);
        FUZZ_ASSERT(memchr(a->message, 0, sizeof(a->message)) != NULL);
        FUZZ_ASSERT(!holds_secret(a->message, strlen(a->message)));
    }
}

static const llmc_callbacks_t k_cb = {on_delta, on_attempt, on_done};

/* The settings, one byte each:
 *   0  providers (% 3 + 1); 4 shuffle, 8 single_provider_retry,
 *      16 cooldown after 1 failure; >> 5: 1 cancel from request 0's
 *      first on_delta, 2..5 cancel at poll set[6], 6..7 shutdown there
 *   1  & 3 max_retries; >> 2 & 15: requests - 1; 64 request 1 ignores p1
 *   2..4  per provider: & 3 auth (0 none, 1 and 3 bearer, 2 IAM),
 *      4 no_stream, 8 disabled (not the first), 16 model, 32 project id,
 *      >> 6 host (a.test, two.test with two addresses, nx.test unknown)
 *   5  & 15 connect, first-byte and idle timeouts; >> 4 deadline (s - 1)
 *   6  the poll of the cancel or shutdown, and the request cancelled
 *   7  random seed; 128: the clock starts just before its low 32 bits wrap
 */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const urls[] = {"http://a.test/v1",
                                       "http://two.test:8080/v1",
                                       "http://nx.test/v1"};
    static const char *const ignored[] = {"p1"};
    llmc_provider_t prov[3];
    llmc_config_t cfg;
    llmc_message_t msg = {"user", "hi", 0};
    llmc_request_t req;
    uint8_t set[8];
    size_t i, n_prov, n_iam = 0;
    int polls = 0, running = 1, cancel_at, shutdown_at;
    uint64_t limit;

    if (size < sizeof(set))
        return 0;
    memcpy(set, data, sizeof(set));
    g_scripts = data + sizeof(set);
    g_scripts_len = size - sizeof(set);
    g_n_socks = 0;
    /* or 4 s before the clock's low 32 bits wrap, which llmc's timers
     * (32-bit differences) must not notice */
    g_now = (set[7] & 0x80u) ? 0xFFFFF060ull : 1000u;
    g_rand = set[7];

    n_prov = set[0] % 3u + 1u;
    memset(prov, 0, sizeof(prov));
    for (i = 0; i < n_prov; i++) {
        uint8_t f = set[2 + i];
        static const char *const names[] = {"p0", "p1", "p2"};
        prov[i].name = names[i];
        prov[i].base_url = urls[(f >> 6) % 3u];
        prov[i].auth = (llmc_auth_t)((f & 3u) == 3u ? 1 : f & 3u);
        n_iam += prov[i].auth == LLMC_AUTH_EVOLUTION_IAM;
        prov[i].api_key = k_secrets[0];
        prov[i].key_id = k_secrets[1];
        prov[i].secret = k_secrets[2];
        prov[i].token_url = "http://iam.test/token";
        prov[i].no_stream = (f & 4u) != 0;
        prov[i].disabled = (f & 8u) != 0 && i > 0;
        prov[i].model = (f & 16u) ? "m-prov" : NULL;
        prov[i].project_id = (f & 32u) ? "proj" : NULL;
    }
    memset(&cfg, 0, sizeof(cfg));
    cfg.providers = prov;
    cfg.n_providers = n_prov;
    llmc_policy_default(&cfg.policy);
    cfg.policy.shuffle = (set[0] & 4u) != 0;
    cfg.policy.single_provider_retry = (set[0] & 8u) != 0;
    cfg.policy.cooldown_after = (set[0] & 16u) ? 1 : 0;
    cfg.policy.cooldown_ms = 500;
    cfg.policy.max_retries = set[1] & 3u;
    cfg.policy.backoff_base_ms = 10;
    cfg.policy.backoff_max_ms = 200;
    cfg.policy.connect_timeout_ms = (set[5] & 15u) * 100u + 50u;
    cfg.policy.first_byte_timeout_ms = (set[5] & 15u) * 100u + 50u;
    cfg.policy.idle_timeout_ms = (set[5] & 15u) * 50u + 50u;
    cfg.policy.deadline_ms = ((set[5] >> 4) + 1u) * 1000u;
    if (llmc_client_init(&g_client, &cfg) != LLMC_OK) {
        /* the one refusal these settings can meet */
        FUZZ_ASSERT(n_iam > LLMC_IAM_PROVIDERS);
        return 0;
    }

    g_n_reqs = ((set[1] >> 2) & 15u) + 1u;
    memset(g_reqs, 0, sizeof(g_reqs));
    llmc_request_init(&req);
    req.model = "m";
    req.messages = &msg;
    req.n_messages = 1;
    for (i = 0; i < g_n_reqs; i++) {
        req_t *r = &g_reqs[i];
        req.ignored = (set[1] & 64u) && i == 1 ? ignored : NULL;
        req.n_ignored = req.ignored != NULL;
        r->cancel_in_delta = (set[0] >> 5) == 1 && i == 0;
        r->submitted = g_now;
        r->h = llmc_submit(&g_client, &req, &k_cb, r);
        if (r->h < 0) { /* refused: no callback ever */
            FUZZ_ASSERT(r->h == LLMC_ERR_QUEUE_FULL && i >= LLMC_SLOTS);
            r->done = 2;
        }
    }
    cancel_at = (set[0] >> 5) >= 2 && (set[0] >> 5) < 6 ? set[6] : -1;
    shutdown_at = (set[0] >> 5) >= 6 ? set[6] : -1;

    /* every request has a deadline; the queued ones wait for a slot */
    limit = g_now + (uint64_t)(g_n_reqs + 1) * (cfg.policy.deadline_ms + 1000u);
    while (running > 0) {
        if (polls == cancel_at) {
            req_t *r = &g_reqs[set[6] % g_n_reqs];
            if (r->done == 0 && llmc_cancel(&g_client, r->h) == LLMC_OK)
                r->cancelled = 1;
        }
        if (polls == shutdown_at)
            break;
        running = llmc_poll(&g_client, 1000);
        FUZZ_ASSERT(running >= 0);
        FUZZ_ASSERT(++polls < 100000 && g_now <= limit); /* no hang */
    }
    llmc_client_shutdown(&g_client);
    for (i = 0; i < g_n_reqs; i++)
        FUZZ_ASSERT(g_reqs[i].done); /* each got its on_done */
    for (i = 0; i < (size_t)g_n_socks; i++)
        FUZZ_ASSERT(!g_socks[i].open); /* every socket closed */
    return 0;
}
