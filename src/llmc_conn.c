/*
 * Connections: a port socket, and for https an mbedTLS context driven over
 * the same non-blocking socket through its bio callbacks. Idle keep-alive
 * connections stay in the pool for their target until reused or evicted.
 */
#include <string.h>

#include "llmc_auth.h"
#include "llmc_internal.h"

#if LLMC_TLS
#include <mbedtls/net_sockets.h>
#include <mbedtls/x509.h>
#if MBEDTLS_VERSION_MAJOR >= 4 || defined(MBEDTLS_USE_PSA_CRYPTO)
#include <psa/crypto.h>
#endif
#endif

const char *llmc_port_errstr(int err)
{
    /* from LLMC_PORT_EOF (-2) down to LLMC_PORT_NO_MEMORY (-8) */
    static const char k_text[] = "connection closed by peer\0"
                                 "socket error\0"
                                 "connection refused\0"
                                 "connection reset by peer\0"
                                 "network unreachable\0"
                                 "host not found\0"
                                 "out of sockets or network buffers";
    unsigned i = (unsigned)LLMC_PORT_EOF - (unsigned)err;
    if (i > (unsigned)(LLMC_PORT_EOF - LLMC_PORT_NO_MEMORY))
        i = (unsigned)(LLMC_PORT_EOF - LLMC_PORT_ERROR); /* "socket error" */
    return llmc_text_at(k_text, i);
}

int llmc_conn_find_idle(llmc_client_t *c, uint8_t target)
{
    int i, best = -1;
    uint32_t t = 0; /* when best was last used */
    for (i = 0; i < LLMC_CONNS; i++) {
        const llmc_conn_t *k = &c->conns[i];
        if (k->state == CONN_IDLE && k->target == target &&
            (best < 0 || (int32_t)(k->last_used - t) > 0)) {
            best = i;
            t = k->last_used;
        }
    }
    return best;
}

/* A free connection, else the idle one unused longest, closed; or -1.
 * tls: only an idle one over TLS, to give back its buffers' heap. */
static int take(llmc_client_t *c, bool tls)
{
    int i, lru = -1;
    uint32_t t = 0; /* when lru was last used */
    for (i = 0; i < LLMC_CONNS; i++) {
        const llmc_conn_t *k = &c->conns[i];
        if (k->state == CONN_FREE && !tls)
            return i;
        if (k->state == CONN_IDLE && k->tls >= tls &&
            (lru < 0 || (int32_t)(k->last_used - t) < 0)) {
            lru = i;
            t = k->last_used;
        }
    }
    if (lru >= 0)
        llmc_conn_close(c, lru, true);
    return lru;
}

int llmc_conn_alloc(llmc_client_t *c)
{
    return take(c, false);
}

#if LLMC_TLS

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    llmc_conn_t *k = ctx;
    long n = llmc_port_send(k->sock, buf, len);
    if (n >= 0)
        return (int)n;
    if (n == LLMC_PORT_WOULD_BLOCK)
        return MBEDTLS_ERR_SSL_WANT_WRITE;
    k->port_err = (int8_t)n;
    return n == LLMC_PORT_RESET ? MBEDTLS_ERR_NET_CONN_RESET
                                : MBEDTLS_ERR_NET_SEND_FAILED;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    llmc_conn_t *k = ctx;
    long n = llmc_port_recv(k->sock, buf, len);
    if (n > 0)
        return (int)n;
    if (n == LLMC_PORT_WOULD_BLOCK)
        return MBEDTLS_ERR_SSL_WANT_READ;
    k->port_err = (int8_t)n;
    if (n == LLMC_PORT_EOF)
        return 0; /* mbedTLS reads 0 as EOF */
    return n == LLMC_PORT_RESET ? MBEDTLS_ERR_NET_CONN_RESET
                                : MBEDTLS_ERR_NET_RECV_FAILED;
}

#if MBEDTLS_VERSION_MAJOR < 4
static int entropy(void *ctx, unsigned char *buf, size_t len)
{
    (void)ctx;
    return llmc_port_random(buf, len) == 0
               ? 0
               : MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED;
}
#endif

int llmc_tls_init(llmc_client_t *c, const llmc_config_t *cfg)
{
    int rc;

    mbedtls_ssl_config_init(&c->conf);
    mbedtls_x509_crt_init(&c->ca);
    c->tls_ready = true;
#if MBEDTLS_VERSION_MAJOR >= 4 || defined(MBEDTLS_USE_PSA_CRYPTO)
    /* 4.x: TLS takes its random numbers from PSA, seeded by the platform's
     * entropy source (mbedTLS's configuration, ESP-IDF's port). 2.28 and
     * 3.x built with MBEDTLS_USE_PSA_CRYPTO: PSA must be up before
     * mbedtls_ssl_setup(). A second call (ESP-IDF makes one at start-up)
     * does nothing. */
    if (psa_crypto_init() != PSA_SUCCESS)
        return LLMC_ERR_TLS;
#endif
#if MBEDTLS_VERSION_MAJOR < 4
    /* a CTR-DRBG seeded from the port's random source */
    mbedtls_ctr_drbg_init(&c->drbg);
    if (mbedtls_ctr_drbg_seed(&c->drbg, entropy, NULL,
                              (const unsigned char *)"llmc", 4) != 0)
        return LLMC_ERR_TLS;
#endif
    if (mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_CLIENT,
                                    MBEDTLS_SSL_TRANSPORT_STREAM,
                                    MBEDTLS_SSL_PRESET_DEFAULT) != 0)
        return LLMC_ERR_TLS;
#if MBEDTLS_VERSION_MAJOR < 4
    mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &c->drbg);
#endif
#if MBEDTLS_VERSION_MAJOR < 3
    /* TLS 1.2 at least (RFC 8996): 2.28's defaults take 1.0 and 1.1 when
     * it is built with them, as Debian's is; 3.x and 4.x have neither. A
     * tls_setup hook may lower it for a server that has nothing newer. */
    mbedtls_ssl_conf_min_version(&c->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
#endif
    if (cfg->ca_pem != NULL) {
        rc = mbedtls_x509_crt_parse(&c->ca, (const unsigned char *)cfg->ca_pem,
                                    cfg->ca_pem_len);
        if (rc < 0)
            return LLMC_ERR_CONFIG;
    } else if (cfg->ca_file != NULL || cfg->tls_setup == NULL) {
#if defined(MBEDTLS_FS_IO)
        const char *f = cfg->ca_file ? cfg->ca_file : LLMC_DEFAULT_CA_FILE;
        rc = mbedtls_x509_crt_parse_file(&c->ca, f);
        /* > 0: some certificates of a bundle were unusable; fine if any
         * loaded. */
        if (rc < 0 || c->ca.raw.len == 0)
            return LLMC_ERR_CONFIG;
#else
        return LLMC_ERR_CONFIG;
#endif
    }
    if (c->ca.raw.len > 0)
        mbedtls_ssl_conf_ca_chain(&c->conf, &c->ca, NULL);
#if defined(MBEDTLS_SSL_PROTO_TLS1_3) && defined(MBEDTLS_SSL_SESSION_TICKETS) && \
    defined(MBEDTLS_SSL_TLS1_3_SIGNAL_NEW_SESSION_TICKETS_ENABLED)
    /* TLS 1.3 (mbedTLS 3.6.1 on): a session is a ticket, which comes after
     * the handshake; mbedtls_ssl_read() says so, and it is kept */
    mbedtls_ssl_conf_tls13_enable_signal_new_session_tickets(
        &c->conf, MBEDTLS_SSL_TLS1_3_SIGNAL_NEW_SESSION_TICKETS_ENABLED);
#endif
    if (cfg->tls_setup != NULL && cfg->tls_setup(&c->conf) != 0)
        return LLMC_ERR_CONFIG;
    /* Verification is never optional, whatever the hook set: it may add
     * trust (a CA chain, a bundle's verify callback), not remove the
     * check. */
    mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    return LLMC_OK;
}

void llmc_tls_free(llmc_client_t *c)
{
    if (!c->tls_ready)
        return;
    mbedtls_ssl_config_free(&c->conf);
    mbedtls_x509_crt_free(&c->ca);
#if MBEDTLS_VERSION_MAJOR < 4
    mbedtls_ctr_drbg_free(&c->drbg);
#endif
    c->tls_ready = false;
}

/* v as hex, the last digits of it: 0x7200 with digits 4 */
static void put_hex(llmc_buf_t *msg, uint32_t v, int digits)
{
    char h[8];
    int i;
    for (i = digits - 1; i >= 0; i--, v >>= 4)
        h[i] = "0123456789ABCDEF"[v & 15u];
    llmc_buf_put(msg, h, (size_t)digits);
}

/* "<what> failed (mbedTLS -0x7200)": the code as mbedTLS's error.h spells
 * it (mbedTLS's codes are -0x0001 to -0x7FFF). */
static void tls_failed(llmc_buf_t *msg, const char *what, int rc)
{
    llmc_buf_str(msg, what);
    llmc_buf_str(msg, " failed (mbedTLS -0x");
    put_hex(msg, 0u - (uint32_t)rc, 4);
    /* what a board short of heap sees first: the record buffers, some
     * 2 x 16 KB, are allocated as the connection's TLS is set up */
    llmc_buf_str(msg, rc == MBEDTLS_ERR_SSL_ALLOC_FAILED ? ", out of memory)"
                                                          : ")");
}

static int tls_begin(llmc_client_t *c, llmc_conn_t *k, const llmc_url_t *u,
                     llmc_buf_t *msg)
{
    int rc;
    mbedtls_ssl_init(&k->ssl);
    k->ssl_ready = true;
    /* c->conf is set up: llmc_conn_open() takes no https target
     * otherwise */
    rc = mbedtls_ssl_setup(&k->ssl, &c->conf);
    /* short of heap: an idle connection kept for reuse holds its record
     * buffers; close those, unused longest first, until this one fits */
    while (rc == MBEDTLS_ERR_SSL_ALLOC_FAILED && take(c, true) >= 0)
        rc = mbedtls_ssl_setup(&k->ssl, &c->conf);
    if (rc == 0)
        rc = mbedtls_ssl_set_hostname(&k->ssl, u->host);
    if (rc != 0) {
        tls_failed(msg, "TLS setup", rc);
        return LLMC_ERR_TLS;
    }
    mbedtls_ssl_set_bio(&k->ssl, k, bio_send, bio_recv, NULL);
    if (k->target < LLMC_MAX_PROVIDERS && c->prov[k->target].has_session)
        mbedtls_ssl_set_session(&k->ssl, &c->prov[k->target].session);
    k->state = CONN_HANDSHAKE;
    return LLMC_OK;
}

static void verify_message(uint32_t flags, llmc_buf_t *msg)
{
    if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH)
        llmc_buf_str(msg, "certificate does not match the host name");
    else if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED)
        llmc_buf_str(msg, "certificate not signed by a trusted CA");
    else if (flags & MBEDTLS_X509_BADCERT_EXPIRED)
        llmc_buf_str(msg, "certificate expired");
    else if (flags & MBEDTLS_X509_BADCERT_FUTURE)
        llmc_buf_str(msg, "certificate not yet valid");
    else if (flags & (MBEDTLS_X509_BADCERT_KEY_USAGE |
                      MBEDTLS_X509_BADCERT_EXT_KEY_USAGE))
        llmc_buf_str(msg, "certificate not for a TLS server (key usage)");
    else {
        /* the MBEDTLS_X509_BADCERT_* bits, as x509.h lists them */
        llmc_buf_str(msg, "certificate rejected (verify flags 0x");
        put_hex(msg, flags, 8);
        llmc_buf_str(msg, ")");
    }
}

static int tls_error(llmc_conn_t *k, int rc, llmc_buf_t *msg)
{
    uint32_t flags = mbedtls_ssl_get_verify_result(&k->ssl);
    if (rc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED ||
        (flags != 0 && flags != (uint32_t)-1)) {
        verify_message(flags, msg);
        return LLMC_ERR_TLS_VERIFY;
    }
    if (k->port_err != 0) {
        llmc_buf_str(msg, "TLS handshake: ");
        llmc_buf_str(msg, llmc_port_errstr(k->port_err));
    } else {
        tls_failed(msg, "TLS handshake", rc);
    }
    return LLMC_ERR_TLS;
}

/* Keep the connection's session for its provider's next connection to
 * resume: after the handshake, and (TLS 1.3) on each new ticket. */
static void keep_session(llmc_client_t *c, const llmc_conn_t *k)
{
    llmc_provider_state_t *ps;
    if (k->target >= LLMC_MAX_PROVIDERS)
        return; /* an IAM token endpoint: not kept */
    ps = &c->prov[k->target];
    if (ps->has_session)
        mbedtls_ssl_session_free(&ps->session);
    mbedtls_ssl_session_init(&ps->session);
    ps->has_session = mbedtls_ssl_get_session(&k->ssl, &ps->session) == 0;
}

static int tls_handshake(llmc_client_t *c, llmc_conn_t *k, llmc_buf_t *msg)
{
    int rc = mbedtls_ssl_handshake(&k->ssl);
    if (rc == 0) {
        k->state = CONN_BUSY;
        keep_session(c, k);
        return 1;
    }
    if (rc == MBEDTLS_ERR_SSL_WANT_READ) {
        k->want = LLMC_POLL_IN;
        return 0;
    }
    if (rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
        k->want = LLMC_POLL_OUT;
        return 0;
    }
    /* short of heap in the handshake, which in mbedTLS 4 allocates more
     * beyond the record buffers: as in tls_begin(), an idle connection
     * gives its heap back, and the caller connects again */
    if (rc == MBEDTLS_ERR_SSL_ALLOC_FAILED && take(c, true) >= 0)
        return LLMC_CONN_AGAIN;
    return tls_error(k, rc, msg);
}

#endif /* LLMC_TLS */

static int connect_addr(llmc_conn_t *k, const llmc_addr_t *a)
{
    int rc = llmc_port_connect(a, &k->sock);
    if (rc == LLMC_PORT_OK)
        return 1;
    if (rc == LLMC_PORT_WOULD_BLOCK) {
        k->want = LLMC_POLL_OUT;
        return 0;
    }
    k->sock = LLMC_SOCK_INVALID;
    return rc;
}

/* TCP is up: next the TLS handshake, or ready for plain http. Out of line
 * with TLS, whose part is long; without, a few stores at its two
 * callers. */
#if LLMC_TLS
LLMC_NOINLINE
#endif
static int tcp_ready(llmc_client_t *c, llmc_conn_t *k, llmc_target_t *t,
                     llmc_buf_t *msg)
{
    /* the addresses before this one failed: new connections start here
     * until the name is resolved again (after a connect fails), so that a
     * dead address costs one connect timeout, not one per connection. The
     * list stays as it is: connections begun before go on through it */
    t->first = k->addr_i;
#if LLMC_TLS
    if (k->tls) {
        int rc = tls_begin(c, k, &t->url, msg);
        return rc < 0 ? rc : tls_handshake(c, k, msg);
    }
#else
    (void)c;
    (void)msg;
#endif
    k->state = CONN_BUSY;
    return 1;
}

/* Try addresses from k->addr_i on until one connects or is in progress;
 * rc is the error to report if none is left. */
static int connect_from(llmc_client_t *c, llmc_conn_t *k, llmc_target_t *t,
                        llmc_buf_t *msg, int rc)
{
    for (; k->addr_i < t->n_addr; k->addr_i++) {
        rc = connect_addr(k, &t->addr[k->addr_i]);
        if (rc == 1)
            return tcp_ready(c, k, t, msg);
        if (rc == 0)
            return 0;
    }
    llmc_buf_str(msg, llmc_port_errstr(rc));
    t->n_addr = 0; /* resolve again next time */
    return LLMC_ERR_CONNECT;
}

int llmc_conn_open(llmc_client_t *c, int ci, uint8_t target,
                   llmc_target_t *t, llmc_buf_t *msg)
{
    llmc_conn_t *k = &c->conns[ci];
    const llmc_url_t *u = &t->url;
    int rc;

    /* before the connection is taken: it stays free */
#if LLMC_TLS
    if (u->tls && !c->tls_ready) {
#else
    if (u->tls) {
#endif
        llmc_buf_str(msg, "https needs TLS, which this client lacks");
        return LLMC_ERR_CONFIG;
    }
    memset(k, 0, sizeof(*k));
    k->sock = LLMC_SOCK_INVALID;
    k->target = target;
#if LLMC_TLS
    k->tls = u->tls; /* else false, as an https target went back above */
#endif
    k->state = CONN_CONNECTING;
    /* first is past the list's end when a connection through an older,
     * longer list connected after the name was resolved again */
    k->addr_i = t->first < t->n_addr ? t->first : 0;
    rc = connect_from(c, k, t, msg, LLMC_PORT_ERROR);
    if (rc < 0)
        llmc_conn_close(c, ci, false);
    return rc;
}

int llmc_conn_step(llmc_client_t *c, int ci, uint8_t revents,
                   llmc_buf_t *msg)
{
    llmc_conn_t *k = &c->conns[ci];
    int rc = LLMC_PORT_ERROR;

    if (k->state == CONN_CONNECTING) {
        llmc_target_t *t = llmc_auth_target(c, k->target);
        if (revents & LLMC_CONN_TIMED_OUT) {
            /* a host with another address: that one, within a connect
             * timeout of its own (a dead IPv6 route beside a working
             * IPv4) */
            if (k->addr_i + 1u >= t->n_addr) {
                t->n_addr = 0; /* none connected: resolve again */
                return LLMC_ERR_TIMEOUT; /* the caller says so */
            }
        } else {
            if (!(revents & (LLMC_POLL_OUT | LLMC_POLL_ERR)))
                return 0;
            rc = llmc_port_connect_result(k->sock);
            if (rc == LLMC_PORT_OK)
                return tcp_ready(c, k, t, msg);
        }
        llmc_port_close(k->sock);
        k->sock = LLMC_SOCK_INVALID;
        k->addr_i++;
        rc = connect_from(c, k, t, msg, rc);
        return rc == 0 ? 2 : rc; /* 2: in progress on the next address */
    }
    if (revents & LLMC_CONN_TIMED_OUT)
        return LLMC_ERR_TIMEOUT; /* in the TLS handshake */
#if LLMC_TLS
    if (k->state == CONN_HANDSHAKE)
        return tls_handshake(c, k, msg);
#endif
    return 1;
}

#if LLMC_TLS
/* A failed mbedtls_ssl_read() or _write(): the socket's error when it had
 * one (LLMC_PORT_EOF: closed without close_notify), else TLS's own (a
 * record that does not decrypt, an alert from the peer), kept for
 * llmc_conn_tls_failed(). */
static long tls_io_error(llmc_conn_t *k, int rc)
{
    if (k->port_err != 0)
        return k->port_err;
    k->tls_err = rc;
    return LLMC_CONN_TLS_FAILED;
}

void llmc_conn_tls_failed(const llmc_client_t *c, int ci, llmc_buf_t *msg)
{
    tls_failed(msg, "TLS connection", c->conns[ci].tls_err);
}

/* mbedtls_ssl_write() (out) or _read(), past TLS 1.3 session tickets,
 * each kept for resumption (mbedTLS 3.6.0 always signals them). A read
 * that meets a ticket returns WANT_READ and leaves the ticket to the next
 * call, which may be a write: the request sent on a pooled connection. */
static int tls_io(llmc_client_t *c, llmc_conn_t *k, char *p, size_t n,
                  bool out)
{
    int rc;
    (void)c; /* without TLS 1.3 tickets */
    for (;;) {
        rc = out ? mbedtls_ssl_write(&k->ssl, (const unsigned char *)p, n)
                 : mbedtls_ssl_read(&k->ssl, (unsigned char *)p, n);
#ifdef MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET
        if (rc == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET) {
            keep_session(c, k);
            continue;
        }
#endif
        return rc;
    }
}
#endif

long llmc_conn_send(llmc_client_t *c, int ci, const char *p, size_t n)
{
    llmc_conn_t *k = &c->conns[ci];
    long r;
    (void)c;
#if LLMC_TLS
    if (k->tls) {
        int rc = tls_io(c, k, (char *)p, n, true);
        if (rc >= 0)
            return rc;
        if (rc == MBEDTLS_ERR_SSL_WANT_WRITE || rc == MBEDTLS_ERR_SSL_WANT_READ) {
            k->want = rc == MBEDTLS_ERR_SSL_WANT_READ ? LLMC_POLL_IN
                                                      : LLMC_POLL_OUT;
            return LLMC_PORT_WOULD_BLOCK;
        }
        return tls_io_error(k, rc);
    }
#endif
    r = llmc_port_send(k->sock, p, n);
    if (r == LLMC_PORT_WOULD_BLOCK)
        k->want = LLMC_POLL_OUT;
    return r;
}

long llmc_conn_recv(llmc_client_t *c, int ci, char *p, size_t n)
{
    llmc_conn_t *k = &c->conns[ci];
    long r;
    (void)c;
#if LLMC_TLS
    if (k->tls) {
        int rc = tls_io(c, k, p, n, false);
        if (rc > 0)
            return rc;
        if (rc == 0 || rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
            return LLMC_PORT_EOF;
        if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
            k->want = rc == MBEDTLS_ERR_SSL_WANT_WRITE ? LLMC_POLL_OUT
                                                       : LLMC_POLL_IN;
            return LLMC_PORT_WOULD_BLOCK;
        }
        return tls_io_error(k, rc);
    }
#endif
    r = llmc_port_recv(k->sock, p, n);
    if (r == LLMC_PORT_WOULD_BLOCK)
        k->want = LLMC_POLL_IN;
    return r;
}

void llmc_conn_close(llmc_client_t *c, int ci, unsigned notify)
{
    llmc_conn_t *k = &c->conns[ci];
    (void)c;
    (void)notify;
    if (k->state == CONN_FREE)
        return;
#if LLMC_TLS
    if (k->ssl_ready) {
        if (notify && (k->state == CONN_BUSY || k->state == CONN_IDLE))
            (void)mbedtls_ssl_close_notify(&k->ssl); /* best effort */
        mbedtls_ssl_free(&k->ssl);
        k->ssl_ready = false;
    }
#endif
    llmc_port_close(k->sock);
    k->sock = LLMC_SOCK_INVALID;
    k->state = CONN_FREE;
}

bool llmc_conn_idle_ok(llmc_client_t *c, int ci)
{
    char b;
    /* a TLS 1.3 server sends its tickets after the handshake, so they
     * reach a connection pooled straight after it (its request waits for
     * an IAM token) while it is idle */
    if (llmc_conn_recv(c, ci, &b, 1) == LLMC_PORT_WOULD_BLOCK) {
#if LLMC_TLS
        /* TLS may want to write: an idle connection waits to read (a
         * plain one's recv has said so already) */
        c->conns[ci].want = LLMC_POLL_IN;
#endif
        return true;
    }
    llmc_conn_close(c, ci, false);
    return false;
}

void llmc_conn_release(llmc_client_t *c, int ci, unsigned how)
{
    llmc_conn_t *k = &c->conns[ci];
    if (how != LLMC_CONN_POOL || c->shutting_down) {
        llmc_conn_close(c, ci, how); /* BROKEN: 0, no close_notify */
        return;
    }
    k->state = CONN_IDLE;
    k->reused = true;
    k->want = LLMC_POLL_IN; /* a readable idle connection was closed */
    k->last_used = (uint32_t)c->now;
}
