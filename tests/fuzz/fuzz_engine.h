/*
 * The engine's side of a fuzz_client or fuzz_tls run, over the fake
 * network each of them defines in its own file (which moves g_now, the
 * clock, by the waits llmc asks for): the 8 settings bytes made into
 * providers and a policy, the requests submitted and polled to their end,
 * and the checks on every callback and result. Also the port functions
 * the two networks do not differ in.
 *
 * The settings, one byte each:
 *   0  providers (% 3 + 1); 4 shuffle, 8 single_provider_retry,
 *      16 cooldown after 1 failure; >> 5: 1 cancel from request 0's
 *      first on_delta, 2..5 cancel at poll set[6], 6..7 shutdown there
 *   1  & 3 max_retries; >> 2 & 15: requests - 1; 64 request 1 ignores p1
 *   2..4  per provider: & 3 auth (0 none, 1 and 3 bearer, 2 IAM),
 *      4 no_stream, 8 disabled (not the first), 16 model, 32 project id,
 *      >> 6 the host: urls[0] (one address), urls[1] (two: its port
 *      is 8443), urls[2] (unknown: nx...)
 *   5  & 15 connect, first-byte and idle timeouts; >> 4 deadline (s - 1)
 *   6  the poll of the cancel or shutdown, and the request cancelled
 *   7  random seed; 128: the clock starts just before its low 32 bits
 *      wrap (fuzz_tls also reads bit 64)
 */
#ifndef FUZZ_ENGINE_H
#define FUZZ_ENGINE_H

#include "fuzz_common.h"
#include <stdio.h>

#include "llmc/llmc.h"
#include "llmc/llmc_client.h"
#include "llmc_json.h" /* llmc_utf8_check() */
#include "llmc/llmc_port.h"

#define MAX_REQS 16

/* ---- the fake network's scripts ------------------------------------------ *
 * After the settings, one script per connection the engine opens, in the
 * order it opens them, separated by SEP: a few bytes that say how the
 * connection behaves (the first is its mode, below), then what the server
 * sends after the head its mode picks. When the scripts run out,
 * connections are refused, so every run ends. */

#define SEP "|||\n"
#define SEP_LEN 4
#define MAX_SOCKS 64
#define FIRST_SOCK 3

/* mode bits of a script (M_END: each network says how it ends) */
#define M_HEAD 3u       /* 0 raw, 1 SSE head, 2 chunked head, 3 length head */
#define M_END 12u
#define M_REFUSE 16u    /* connect refused */
#define M_PENDING 32u   /* connect in progress first */
#define M_CONN_FAIL 64u /* ... and then fails */

static const uint8_t *g_scripts;
static size_t g_scripts_len;

static const char *const k_heads[] = {
    "",
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
    "Transfer-Encoding: chunked\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    "Content-Length: "};
static char g_len_heads[MAX_SOCKS][80];

/* Take the next script: its first hdr_len bytes into hdr[] (zeros where it
 * is shorter), the rest in *data, *len. Returns 0 when none is left. */
static int fuzz_script_next(uint8_t *hdr, size_t hdr_len,
                            const uint8_t **data, size_t *len)
{
    const uint8_t *end;
    size_t n, h;
    if (g_scripts_len == 0)
        return 0;
    end = memmem(g_scripts, g_scripts_len, SEP, SEP_LEN);
    n = end ? (size_t)(end - g_scripts) : g_scripts_len;
    h = n < hdr_len ? n : hdr_len;
    memset(hdr, 0, hdr_len);
    memcpy(hdr, g_scripts, h);
    *data = g_scripts + h;
    *len = n - h;
    g_scripts += end ? n + SEP_LEN : n;
    g_scripts_len -= end ? n + SEP_LEN : n;
    return 1;
}

/* The head that socket i's mode asks for, before its len bytes of body. */
static const uint8_t *fuzz_head(uint8_t mode, size_t len, int i,
                                size_t *head_len)
{
    const char *h = k_heads[mode & M_HEAD];
    if ((mode & M_HEAD) == 3u) {
        snprintf(g_len_heads[i], sizeof(g_len_heads[0]), "%s%zu\r\n\r\n",
                 k_heads[3], len);
        h = g_len_heads[i];
    }
    *head_len = strlen(h);
    return (const uint8_t *)h;
}

/* nx*: unknown; 192.0.2.1 (the IAM token endpoint in fuzz_tls): itself;
 * any other name 127.0.0.1, and on port 8443 127.0.0.2 as well. */
int llmc_port_resolve(const char *host, uint16_t port, llmc_addr_t *out,
                      int max)
{
    if (strncmp(host, "nx", 2) == 0)
        return LLMC_PORT_NOT_FOUND;
    memset(out, 0, sizeof(*out));
    out->family = 4;
    out->port = port;
    if (strcmp(host, "192.0.2.1") == 0) {
        out->addr[0] = 192;
        out->addr[2] = 2;
        out->addr[3] = 1;
        return 1;
    }
    out->addr[0] = 127;
    out->addr[3] = 1;
    if (max > 1 && port == 8443) {
        out[1] = out[0];
        out[1].addr[3] = 2;
        return 2;
    }
    return 1;
}

static const char *const k_secrets[] = {"sk-fuzz-SECRET-4242",
                                        "kid-fuzz-7777", "sec-fuzz-99990"};

static uint64_t g_now;
static uint32_t g_rand;

/* ---- the port, apart from the network ------------------------------------ */

void llmc_port_wake(void) {}
uint64_t llmc_port_now_ms(void) { return g_now; }
void llmc_port_lock(void) {}
void llmc_port_unlock(void) {}

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

/* ---- requests ------------------------------------------------------------ */

typedef struct {
    llmc_handle_t h;
    int done, cancelled, attempts, bytes, status;
    int cancel_in_delta;
    int ignores_p1; /* its request's ignored list names p1 */
    uint64_t submitted;
} req_t;

static llmc_client_t g_client;
static llmc_provider_t g_prov[3];
static req_t g_reqs[MAX_REQS];
static size_t g_n_reqs;
/* some request made more attempts than its result records */
static int g_attempts_lost;
/* called for each attempt a result records, when set */
static void (*g_attempt_check)(const llmc_attempt_t *a);

static void on_delta(void *user, const char *text, size_t len)
{
    req_t *r = user;
    size_t bad;
    FUZZ_ASSERT(!r->done && !r->cancelled && len > 0);
    /* whole UTF-8 characters, each call, whatever the provider sent */
    FUZZ_ASSERT(llmc_utf8_check(text, len, &bad) == len);
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
    /* never a provider that is not working, nor one the request ignores */
    FUZZ_ASSERT(!g_prov[provider].disabled);
    FUZZ_ASSERT(!(r->ignores_p1 && provider == 1));
    r->attempts++;
}

static void on_done(void *user, const llmc_result_t *res)
{
    req_t *r = user;
    size_t i, n;
    FUZZ_ASSERT(!r->done);
    r->done = 1;
    r->status = res->status;
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
    if (res->n_attempts > LLMC_MAX_ATTEMPTS)
        g_attempts_lost = 1;
    n = res->n_attempts < LLMC_MAX_ATTEMPTS ? res->n_attempts
                                            : LLMC_MAX_ATTEMPTS;
    for (i = 0; i < n; i++) {
        const llmc_attempt_t *a = &res->attempts[i];
        FUZZ_ASSERT(a->provider < 3 && a->status <= 0);
        FUZZ_ASSERT(memchr(a->message, 0, sizeof(a->message)) != NULL);
        FUZZ_ASSERT(!holds_secret(a->message, strlen(a->message)));
        if (g_attempt_check != NULL)
            g_attempt_check(a);
    }
}

static const llmc_callbacks_t k_cb = {on_delta, on_attempt, on_done};

/* ---- a run --------------------------------------------------------------- */

/* The client for settings set[0..8), its providers at urls[] with their IAM
 * token endpoint at token_url; ca_pem, when not NULL, is its trust anchor.
 * Returns 0 when the client is up, -1 when it was refused (the refusals
 * these settings can meet: more IAM providers, or more providers, than it
 * holds; the second only in test_engine's build at the smallest knobs). */
static int fuzz_engine_init(const uint8_t *set, const char *const urls[3],
                            const char *token_url, const char *ca_pem,
                            size_t ca_pem_len)
{
    llmc_provider_t *prov = g_prov;
    static const char *const names[] = {"p0", "p1", "p2"};
    llmc_config_t cfg;
    size_t i, n_prov, n_iam = 0;

    /* or 4 s before the clock's low 32 bits wrap, which llmc's timers
     * (32-bit differences) must not notice */
    g_now = (set[7] & 0x80u) ? 0xFFFFF060ull : 1000u;
    g_rand = set[7];
    g_attempts_lost = 0;
    n_prov = set[0] % 3u + 1u;
    memset(g_prov, 0, sizeof(g_prov));
    for (i = 0; i < n_prov; i++) {
        uint8_t f = set[2 + i];
        prov[i].name = names[i];
        prov[i].base_url = urls[(f >> 6) % 3u];
        prov[i].auth = (llmc_auth_t)((f & 3u) == 3u ? 1 : f & 3u);
        n_iam += prov[i].auth == LLMC_AUTH_EVOLUTION_IAM;
        prov[i].api_key = k_secrets[0];
        prov[i].key_id = k_secrets[1];
        prov[i].secret = k_secrets[2];
        prov[i].token_url = token_url;
        prov[i].no_stream = (f & 4u) != 0;
        prov[i].disabled = (f & 8u) != 0 && i > 0;
        prov[i].model = (f & 16u) ? "m-prov" : NULL;
        prov[i].project_id = (f & 32u) ? "proj" : NULL;
    }
    memset(&cfg, 0, sizeof(cfg));
    cfg.providers = prov;
    cfg.n_providers = n_prov;
    cfg.ca_pem = ca_pem;
    cfg.ca_pem_len = ca_pem_len;
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
        FUZZ_ASSERT(n_iam > LLMC_IAM_PROVIDERS || n_prov > LLMC_MAX_PROVIDERS);
        return -1;
    }
    return 0;
}

/* Submit the requests set[] asks for (before any connection is opened). */
static void fuzz_engine_submit(const uint8_t *set)
{
    static const char *const ignored[] = {"p1"};
    static llmc_message_t msg = {"user", "hi", 0};
    /* one each: a request is the caller's until its on_done, and llmc
     * reads it there (its ignored list among the rest) */
    static llmc_request_t reqs[MAX_REQS];
    size_t i;

    g_n_reqs = ((set[1] >> 2) & 15u) + 1u;
    memset(g_reqs, 0, sizeof(g_reqs));
    for (i = 0; i < g_n_reqs; i++) {
        req_t *r = &g_reqs[i];
        llmc_request_t *req = &reqs[i];
        llmc_request_init(req);
        req->model = "m";
        req->messages = &msg;
        req->n_messages = 1;
        req->ignored = (set[1] & 64u) && i == 1 ? ignored : NULL;
        req->n_ignored = req->ignored != NULL;
        r->ignores_p1 = req->ignored != NULL;
        r->cancel_in_delta = (set[0] >> 5) == 1 && i == 0;
        r->submitted = g_now;
        r->h = llmc_submit(&g_client, req, &k_cb, r);
        if (r->h < 0) { /* refused: no callback ever */
            FUZZ_ASSERT(r->h == LLMC_ERR_QUEUE_FULL && i >= LLMC_SLOTS);
            r->done = 2;
        }
    }
}

/* Poll until every request has ended (or the shutdown set[] asks for),
 * then shut the client down: each request got its on_done, and no run
 * hangs. */
static void fuzz_engine_run(const uint8_t *set)
{
    int polls = 0, running = 1, cancel_at, shutdown_at;
    const llmc_policy_t *p = &g_client.policy;
    uint64_t limit;
    size_t i;

    cancel_at = (set[0] >> 5) >= 2 && (set[0] >> 5) < 6 ? set[6] : -1;
    shutdown_at = (set[0] >> 5) >= 6 ? set[6] : -1;
    /* every request has a deadline; the queued ones wait for a slot */
    limit = g_now + (uint64_t)(g_n_reqs + 1) * (p->deadline_ms + 1000u);
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
}

#endif
