/*
 * The whole engine (src/) over https: every connection it opens is served
 * by a real mbedTLS server in this process, over byte pipes in the fake
 * network below, so the TLS glue of src/llmc_conn.c (bio callbacks,
 * WANT_READ / WANT_WRITE, verification errors, session resumption,
 * close_notify) runs against handshakes, certificates, damaged records and
 * endings the input chooses. mbedTLS itself is not instrumented; the glue
 * and the engine are.
 *
 * Checked as in fuzz_client.c: every request ends exactly once, with a
 * result that agrees with what was delivered; no secret in a result or a
 * log line; every socket closed once and none used after its close; no
 * hang (a fake clock that moves only by the waits llmc asks for). And over
 * TLS:
 *  - what the server decrypts is a run of whole requests, each one
 *    "POST <the target's path> HTTP/1.1" with its Host, head and
 *    Content-Length body (a partial last one allowed);
 *  - a connection whose server sent a certificate for another host, or
 *    one from an unknown CA, and whose client received that certificate
 *    whole and undamaged, ends its attempt with LLMC_ERR_TLS_VERIFY and
 *    the message that says which (counted over the run: as many attempts
 *    with that message as such connections, at least);
 *  - no attempt ends with LLMC_ERR_TLS_VERIFY unless a connection's
 *    certificate (bad, or damaged) reached the client;
 *  - one request, one provider (no IAM, one address), whose first
 *    connection has a valid certificate, no damage and one of the
 *    well-formed answers below in full, ends LLMC_OK.
 *
 * Input: 8 bytes of settings (fuzz_engine.h), then one script
 * per connection the engine opens, in the order it opens them, separated
 * by "|||\n". A script is
 *   [mode] [piece] [tls] [off_lo] [off_hi] plaintext...
 * mode and piece as in fuzz_client.c (head, end, refused/pending connect;
 * read and write sizes), mode 128: send and recv say "would block" every
 * other call. tls: & 3 the certificate (0, 1 valid for the host; 2 another
 * host's; 3 signed by an unknown CA); >> 2 & 3 damage to the server's
 * ciphertext at offset off_lo | (off_hi & 31) << 8 (1: one byte flipped,
 * bit off_hi >> 5; 2: cut there, then the script's end; 0, 3: none);
 * >> 4 the server's record size (0: as large as mbedTLS makes them, else
 * n * 23 bytes). The server answers once it has decrypted a whole
 * request: the head (k_heads) and the plaintext, then ends as the mode
 * says: close_notify and EOF, EOF alone, reset (after which sends fail
 * too), or nothing more. When the scripts run out, connections are
 * refused, so every run ends. The servers of a run share one session
 * cache and one ticket key, so a provider's later connections resume the
 * session its client kept (with a session ID or a ticket; in TLS 1.3,
 * where mbedTLS 3.x has it, with the ticket the server sends after the
 * handshake).
 *
 * Built against Debian's mbedTLS 2.28 in make check (TLS 1.2); against
 * mbedTLS 3.x or 4.x (`make fuzz CFLAGS=-I... LIBS=...`) the settings
 * choose TLS 1.2 or 1.3 per run. mbedTLS 4 has no static ECDH (its TLS 1.2
 * servers use ECDHE) and takes its random numbers from PSA: a run
 * reproduces only with TF-PSA-Crypto built with
 * MBEDTLS_PSA_CRYPTO_EXTERNAL_RNG (and CFLAGS defining it too), where they
 * come from this file.
 *
 * The certificates (scripts/gen-test-certs.sh) are read from the
 * directory FUZZ_TLS_CERTS names (the build's, or the environment's).
 * With FUZZ_TLS_STATS set, the process prints at exit how many
 * handshakes were full and resumed and how many attempts failed
 * verification.
 */
#define _GNU_SOURCE /* memmem */
#include "fuzz_engine.h"
#include <stdio.h>

#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_cache.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/version.h>
#if MBEDTLS_VERSION_MAJOR < 4
#include <mbedtls/ctr_drbg.h>
#else
#include <psa/crypto.h>
#endif

/* the server's handshake state and the bytes of its records not yet
 * handed to the bio: private in mbedTLS 3 */
#if MBEDTLS_VERSION_MAJOR >= 3
#define HS_STATE(ssl) ((ssl)->MBEDTLS_PRIVATE(state))
#define HS_OVER(ssl) mbedtls_ssl_is_handshake_over(ssl)
#define OUT_LEFT(ssl) ((ssl)->MBEDTLS_PRIVATE(out_left))
#else
#define HS_STATE(ssl) ((ssl)->state)
#define HS_OVER(ssl) ((ssl)->state == MBEDTLS_SSL_HANDSHAKE_OVER)
#define OUT_LEFT(ssl) ((ssl)->out_left)
#endif

#ifndef FUZZ_TLS_CERTS
#define FUZZ_TLS_CERTS "build/fuzz/certs"
#endif

#define HDR_LEN 5 /* a script's bytes before its plaintext */

static const char k_msg_host[] = "certificate does not match the host name";
static const char k_msg_ca[] = "certificate not signed by a trusted CA";
static const char k_iam[] = "IAM token: ";

/* ---- byte pipes ---------------------------------------------------------- */

typedef struct {
    uint8_t *p;
    size_t len, off, cap;
} pipe_t;

static void pipe_put(pipe_t *q, const uint8_t *b, size_t n)
{
    if (q->off == q->len)
        q->off = q->len = 0;
    if (q->len + n > q->cap) {
        size_t cap = q->cap ? q->cap : 1024;
        while (cap < q->len + n)
            cap *= 2;
        q->p = realloc(q->p, cap);
        FUZZ_ASSERT(q->p != NULL);
        q->cap = cap;
    }
    memcpy(q->p + q->len, b, n);
    q->len += n;
}

static size_t pipe_take(pipe_t *q, uint8_t *b, size_t n)
{
    size_t left = q->len - q->off;
    if (n > left)
        n = left;
    if (n == 0)
        return 0;
    memcpy(b, q->p + q->off, n);
    q->off += n;
    return n;
}

static void pipe_free(pipe_t *q)
{
    free(q->p);
    memset(q, 0, sizeof(*q));
}

/* ---- the fake network ---------------------------------------------------- */

enum { SRV_HS, SRV_READ, SRV_WRITE, SRV_DONE, SRV_FAILED };

typedef struct {
    /* the script */
    const uint8_t *head, *data;
    size_t head_len, len;
    uint8_t mode, piece, tls;
    size_t dmg_off;
    uint8_t dmg_xor;
    /* the client's side */
    int open, connected, connecting, token;
    int sent_after_close; /* sends since the server closed its socket */
    unsigned calls;  /* send and recv calls, for mode 128 */
    size_t delivered; /* ciphertext bytes recv handed to the client */
    /* the server */
    mbedtls_ssl_context ssl;
    int ssl_ready, srv, rd_end, cut;
    size_t wr_off;       /* plaintext written */
    size_t out;          /* ciphertext the server made */
    pipe_t to_srv, to_cli, plain;
    /* where the server's Certificate message ended in what it sent */
    size_t cert_end; /* 0: none sent */
} fsock_t;

static fsock_t g_socks[MAX_SOCKS];
static int g_n_socks;
/* M_END: 0 close_notify, EOF; 4 EOF; 8 reset; 12 stall. And: */
#define M_BLOCKY 128u   /* send and recv would block every other call */

/* tls bits of a script */
#define T_CERT 3u      /* 0, 1 valid; 2 wrong host; 3 unknown CA */
#define T_DMG 12u      /* 4: flip a byte; 8: cut */
#define T_RECORD 240u  /* the server's record size / 23 (0: largest) */

/* Well-formed answers, by head: a script with one of these whole, on a
 * valid certificate without damage, must succeed (see expect_ok()). */
#define GOOD_SSE                                                           \
    "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n"          \
    "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n"           \
    "data: [DONE]\n\n"
static const char k_good_sse[] = GOOD_SSE;
static const char k_good_chunked[] =
    "31\r\ndata: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n\r\n"
    "1a\r\ndata: {\"choices\":[{\"delta\"\r\n"
    "16\r\n:{\"content\":\"lo\"}}]}\n\n\r\n"
    "e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n";
static const char k_good_json[] =
    "{\"choices\":[{\"message\":{\"content\":\"Hello there\"},"
    "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3,"
    "\"completion_tokens\":2,\"total_tokens\":5}}";

/* ---- the servers' TLS ---------------------------------------------------- */

static mbedtls_x509_crt g_crt[3];
static mbedtls_pk_context g_key[3];
static mbedtls_ssl_config g_srv_conf[3]; /* valid, wrong host, unknown CA */
#if MBEDTLS_VERSION_MAJOR < 4
static mbedtls_ctr_drbg_context g_srv_drbg;
#endif
static mbedtls_ssl_cache_context g_cache;
#if defined(MBEDTLS_SSL_TICKET_C) && defined(MBEDTLS_SSL_SESSION_TICKETS)
/* session tickets too: TLS 1.3 resumes only with them, TLS 1.2 with them
 * when the client offers one */
#define TICKETS 1
static mbedtls_ssl_ticket_context g_ticket;
#endif
static char *g_ca_pem;
static size_t g_ca_pem_len;

/* The servers' cipher suites: for TLS 1.2 static ECDH with the
 * certificate's key (no ServerKeyExchange; half the public-key work of
 * ECDHE, so twice the inputs per second), or ECDHE with a signed
 * ServerKeyExchange; and where mbedTLS has TLS 1.3 (3.x), one of its
 * suites, for the runs whose settings let the servers speak it (the
 * client offers both versions). */
#ifdef MBEDTLS_SSL_PROTO_TLS1_3
#define SUITE13 MBEDTLS_TLS1_3_AES_128_GCM_SHA256
#else
#define SUITE13 0
#endif
/* mbedTLS 4 has no static ECDH: ECDHE both ways */
#ifdef MBEDTLS_TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256
#define SUITE_ECDH MBEDTLS_TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256
#else
#define SUITE_ECDH MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
#endif
static const int k_suites[2][3] = {
    {SUITE_ECDH, SUITE13, 0},
    {MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, SUITE13, 0}};

/* counts over the process, printed at exit with FUZZ_TLS_STATS set */
static unsigned long g_st_full, g_st_resumed, g_st_verify, g_st_ok;
static unsigned long g_st_13[2]; /* full, resumed handshakes in TLS 1.3 */

static void stats(void)
{
    fprintf(stderr,
            "fuzz_tls: %lu full handshakes (%lu TLS 1.3), %lu resumed (%lu "
            "TLS 1.3), %lu attempts failed verification, %lu requests ok\n",
            g_st_full, g_st_13[0], g_st_resumed, g_st_13[1], g_st_verify,
            g_st_ok);
}

#if MBEDTLS_VERSION_MAJOR < 4
/* The entropy behind the servers' CTR-DRBG: constant, so that a run
 * reproduces; each run seeds it again with its settings as the
 * personalization string. */
static int fixed_entropy(void *ctx, unsigned char *b, size_t n)
{
    (void)ctx;
    memset(b, 0x5c, n);
    return 0;
}
#elif defined(MBEDTLS_PSA_CRYPTO_EXTERNAL_RNG)
/* mbedTLS 4 takes every random number, the servers' and llmc's, from
 * PSA. Built with MBEDTLS_PSA_CRYPTO_EXTERNAL_RNG, they come from here:
 * a xorshift stream started again from each run's settings, so that a
 * run reproduces (without it, from the system: runs do not). */
static uint64_t g_rng = 1;

psa_status_t mbedtls_psa_external_get_random(
    mbedtls_psa_external_random_context_t *ctx, uint8_t *out, size_t n,
    size_t *out_len)
{
    size_t i;
    (void)ctx;
    for (i = 0; i < n; i++) {
        g_rng ^= g_rng << 13;
        g_rng ^= g_rng >> 7;
        g_rng ^= g_rng << 17;
        out[i] = (uint8_t)(g_rng >> 24);
    }
    *out_len = n;
    return PSA_SUCCESS;
}
#endif

static int srv_send(void *ctx, const unsigned char *b, size_t n);
static int srv_recv(void *ctx, unsigned char *b, size_t n);

static char *read_file(const char *dir, const char *name, size_t *len)
{
    char path[512];
    FILE *f;
    long n;
    char *p;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "fuzz_tls: cannot read %s\n", path);
        exit(1);
    }
    p = malloc((size_t)n + 1);
    FUZZ_ASSERT(p != NULL);
    FUZZ_ASSERT(fread(p, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    p[n] = '\0';
    *len = (size_t)n + 1; /* PEM, as mbedTLS wants it: the NUL counted */
    return p;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char *const names[3] = {"server", "wrong-host",
                                         "unknown-ca-server"};
    /* x25519 for the key exchange: the client offers it, and it costs
     * less than P-256, which the certificates' keys are */
#if MBEDTLS_VERSION_MAJOR >= 3
    static const uint16_t groups[] = {MBEDTLS_SSL_IANA_TLS_GROUP_X25519,
                                      MBEDTLS_SSL_IANA_TLS_GROUP_SECP256R1,
                                      MBEDTLS_SSL_IANA_TLS_GROUP_NONE};
#else
    static const mbedtls_ecp_group_id curves[] = {MBEDTLS_ECP_DP_CURVE25519,
                                                  MBEDTLS_ECP_DP_SECP256R1,
                                                  MBEDTLS_ECP_DP_NONE};
#endif
    const char *dir = getenv("FUZZ_TLS_CERTS");
    int i;
    (void)argc, (void)argv;
    if (dir == NULL)
        dir = FUZZ_TLS_CERTS;
    g_ca_pem = read_file(dir, "ca.pem", &g_ca_pem_len);
#if MBEDTLS_VERSION_MAJOR < 4
    mbedtls_ctr_drbg_init(&g_srv_drbg);
    /* seeded again for each input; here for the key parser's use */
    FUZZ_ASSERT(mbedtls_ctr_drbg_seed(&g_srv_drbg, fixed_entropy, NULL, NULL,
                                      0) == 0);
#else
    FUZZ_ASSERT(psa_crypto_init() == PSA_SUCCESS);
#endif
    mbedtls_ssl_cache_init(&g_cache);
#ifdef TICKETS
    mbedtls_ssl_ticket_init(&g_ticket);
#if MBEDTLS_VERSION_MAJOR < 4
    FUZZ_ASSERT(mbedtls_ssl_ticket_setup(&g_ticket, mbedtls_ctr_drbg_random,
                                         &g_srv_drbg, MBEDTLS_CIPHER_AES_128_GCM,
                                         86400) == 0);
#else
    FUZZ_ASSERT(mbedtls_ssl_ticket_setup(&g_ticket, PSA_ALG_GCM,
                                         PSA_KEY_TYPE_AES, 128, 86400) == 0);
#endif
#endif
    for (i = 0; i < 3; i++) {
        char name[64];
        size_t n;
        char *pem;
        mbedtls_x509_crt_init(&g_crt[i]);
        mbedtls_pk_init(&g_key[i]);
        snprintf(name, sizeof(name), "%s.pem", names[i]);
        pem = read_file(dir, name, &n);
        FUZZ_ASSERT(mbedtls_x509_crt_parse(&g_crt[i],
                                           (const unsigned char *)pem, n) == 0);
        free(pem);
        snprintf(name, sizeof(name), "%s.key", names[i]);
        pem = read_file(dir, name, &n);
        FUZZ_ASSERT(mbedtls_pk_parse_key(&g_key[i], (const unsigned char *)pem,
                                         n, NULL, 0
#if MBEDTLS_VERSION_MAJOR == 3
                                         ,
                                         mbedtls_ctr_drbg_random, &g_srv_drbg
#endif
                                         ) == 0);
        free(pem);
        mbedtls_ssl_config_init(&g_srv_conf[i]);
        FUZZ_ASSERT(mbedtls_ssl_config_defaults(
                        &g_srv_conf[i], MBEDTLS_SSL_IS_SERVER,
                        MBEDTLS_SSL_TRANSPORT_STREAM,
                        MBEDTLS_SSL_PRESET_DEFAULT) == 0);
#if MBEDTLS_VERSION_MAJOR < 4
        mbedtls_ssl_conf_rng(&g_srv_conf[i], mbedtls_ctr_drbg_random,
                             &g_srv_drbg);
#endif
        FUZZ_ASSERT(mbedtls_ssl_conf_own_cert(&g_srv_conf[i], &g_crt[i],
                                              &g_key[i]) == 0);
#if MBEDTLS_VERSION_MAJOR >= 3
        mbedtls_ssl_conf_groups(&g_srv_conf[i], groups);
#else
        mbedtls_ssl_conf_curves(&g_srv_conf[i], curves);
#endif
        /* one cache for the three: a session made with one certificate
         * resumes under another, as on a server whose certificate changed */
        mbedtls_ssl_conf_session_cache(&g_srv_conf[i], &g_cache,
                                       mbedtls_ssl_cache_get,
                                       mbedtls_ssl_cache_set);
#ifdef TICKETS
        mbedtls_ssl_conf_session_tickets_cb(&g_srv_conf[i],
                                            mbedtls_ssl_ticket_write,
                                            mbedtls_ssl_ticket_parse,
                                            &g_ticket);
#endif
    }
    if (getenv("FUZZ_TLS_STATS") != NULL)
        atexit(stats);
    return 0;
}

static int srv_open(fsock_t *k)
{
    unsigned cert = k->tls & T_CERT;
    mbedtls_ssl_init(&k->ssl);
    k->ssl_ready = 1;
    if (mbedtls_ssl_setup(&k->ssl, &g_srv_conf[cert < 2 ? 0 : cert - 1]) != 0)
        return -1;
    mbedtls_ssl_set_bio(&k->ssl, k, srv_send, srv_recv, NULL);
    k->srv = SRV_HS;
    return 0;
}

/* The server's bio: what it sends reaches the client's pipe, damaged as
 * the script says. It never blocks. */
static int srv_send(void *ctx, const unsigned char *b, size_t n)
{
    fsock_t *k = ctx;
    size_t i;
    for (i = 0; i < n; i++) {
        size_t pos = k->out + i;
        uint8_t c = b[i];
        if ((k->tls & T_DMG) == 8u && pos >= k->dmg_off)
            k->cut = 1;
        if (k->cut)
            continue;
        if ((k->tls & T_DMG) == 4u && pos == k->dmg_off)
            c ^= k->dmg_xor;
        pipe_put(&k->to_cli, &c, 1);
    }
    k->out += n;
    return (int)n;
}

static int srv_recv(void *ctx, unsigned char *b, size_t n)
{
    fsock_t *k = ctx;
    size_t got = pipe_take(&k->to_srv, b, n);
    return got > 0 ? (int)got : MBEDTLS_ERR_SSL_WANT_READ;
}

/* The server's plaintext: the head, then the script's bytes. */
static size_t plain_len(const fsock_t *k) { return k->head_len + k->len; }

/* What the server decrypted: whole requests for this connection's target,
 * the last one perhaps partial. Returns how many are whole. */
static int check_requests(const fsock_t *k)
{
    const char *want = k->token ? "POST /token HTTP/1.1\r\nHost: 192.0.2.1\r\n"
                                : "POST /v1/chat/completions HTTP/1.1\r\n"
                                  "Host: localhost";
    size_t wn = strlen(want), at = 0;
    int whole = 0;
    while (at < k->plain.len) {
        const char *p = (const char *)k->plain.p + at, *end, *cl;
        size_t left = k->plain.len - at, head;
        unsigned long body;
        FUZZ_ASSERT(memcmp(p, want, left < wn ? left : wn) == 0);
        end = memmem(p, left, "\r\n\r\n", 4);
        if (end == NULL)
            break; /* a partial head */
        head = (size_t)(end - p) + 4;
        cl = memmem(p, head, "\r\nContent-Length: ", 18);
        FUZZ_ASSERT(cl != NULL);
        body = strtoul(cl + 18, NULL, 10);
        if (left - head < body)
            break; /* a partial body */
        at += head + body;
        whole++;
    }
    return whole;
}

/* Run the server as far as it goes. */
static void srv_step(fsock_t *k)
{
    unsigned char buf[1024];
    int rc;
    if (!k->ssl_ready || k->srv == SRV_FAILED || k->rd_end)
        return;
    if (k->srv == SRV_HS) {
        /* mbedtls_ssl_handshake() a step at a time: the step that starts
         * in MBEDTLS_SSL_SERVER_CERTIFICATE and makes a record makes the
         * Certificate message's (in TLS 1.3 encrypted, after
         * EncryptedExtensions); a resumed session has none. Its end is
         * what the server has sent then and what it holds back (mbedTLS 3
         * sends TLS 1.3's handshake records in a later flush; this bio
         * never blocks, so 2.28 holds none back) */
        rc = 0;
        while (rc == 0 && !HS_OVER(&k->ssl)) {
            int state = HS_STATE(&k->ssl);
            size_t made = k->out + OUT_LEFT(&k->ssl);
            rc = mbedtls_ssl_handshake_step(&k->ssl);
            if (state == MBEDTLS_SSL_SERVER_CERTIFICATE && k->cert_end == 0 &&
                k->out + OUT_LEFT(&k->ssl) > made)
                k->cert_end = k->out + OUT_LEFT(&k->ssl);
        }
        if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
            return;
        if (rc != 0) {
            k->srv = SRV_FAILED;
            return;
        }
        if (k->cert_end != 0)
            g_st_full++;
        else
            g_st_resumed++;
#ifdef MBEDTLS_SSL_PROTO_TLS1_3
        g_st_13[k->cert_end == 0] += mbedtls_ssl_get_version_number(
                                         &k->ssl) == MBEDTLS_SSL_VERSION_TLS1_3;
#endif
        k->srv = SRV_READ;
    }
    for (;;) {
        rc = mbedtls_ssl_read(&k->ssl, buf, sizeof(buf));
        if (rc > 0) {
            pipe_put(&k->plain, buf, (size_t)rc);
            continue;
        }
        if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
            break;
        /* the client's close_notify, or an error: the server is done
         * (after its answer, it reads no more, and ends as it meant to) */
        if (k->srv == SRV_DONE)
            k->rd_end = 1;
        else
            k->srv = SRV_FAILED;
        return;
    }
    /* the answer, once a whole request has come */
    if (k->srv == SRV_READ && check_requests(k) > 0)
        k->srv = SRV_WRITE;
    if (k->srv != SRV_WRITE)
        return;
    while (k->wr_off < plain_len(k)) {
        size_t rec = (size_t)((k->tls & T_RECORD) >> 4) * 23u, n;
        const uint8_t *p;
        if (k->wr_off < k->head_len) {
            p = k->head + k->wr_off;
            n = k->head_len - k->wr_off;
        } else {
            p = k->data + (k->wr_off - k->head_len);
            n = plain_len(k) - k->wr_off;
        }
        if (rec != 0 && n > rec)
            n = rec;
        rc = mbedtls_ssl_write(&k->ssl, p, n);
        if (rc <= 0) {
            k->srv = SRV_FAILED;
            return;
        }
        k->wr_off += (size_t)rc;
    }
    if ((k->mode & M_END) == 0)
        (void)mbedtls_ssl_close_notify(&k->ssl);
    k->srv = SRV_DONE;
}

/* What the client sees once the server's bytes are all read: 0 nothing
 * yet, else LLMC_PORT_EOF or LLMC_PORT_RESET (or 0 for a stall). */
static long end_of(const fsock_t *k)
{
    unsigned end = k->mode & M_END;
    if (k->srv == SRV_FAILED && !k->cut)
        return end == 8u ? LLMC_PORT_RESET : LLMC_PORT_EOF;
    if (k->srv != SRV_DONE && !k->cut)
        return 0;
    if (end == 12u)
        return 0;
    return end == 8u ? LLMC_PORT_RESET : LLMC_PORT_EOF;
}

/* The next script, or 0 when none is left. */
static int next_script(fsock_t *k)
{
    uint8_t hdr[HDR_LEN];
    if (!fuzz_script_next(hdr, sizeof(hdr), &k->data, &k->len))
        return 0;
    k->mode = hdr[0];
    k->piece = hdr[1];
    k->tls = hdr[2];
    k->dmg_off = (size_t)hdr[3] | (size_t)(hdr[4] & 31u) << 8;
    k->dmg_xor = (uint8_t)(1u << (hdr[4] >> 5));
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
    if (g_n_socks == MAX_SOCKS)
        return LLMC_PORT_ERROR;
    k = &g_socks[g_n_socks];
    memset(k, 0, sizeof(*k));
    if (!next_script(k) || (k->mode & M_REFUSE))
        return LLMC_PORT_REFUSED; /* no socket made */
    k->token = addr->addr[0] == 192;
    k->head = fuzz_head(k->mode, k->len, g_n_socks, &k->head_len);
    k->open = 1;
    FUZZ_ASSERT(srv_open(k) == 0);
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

static int blocks(fsock_t *k)
{
    return (k->mode & M_BLOCKY) && (k->calls++ & 1u) == 0;
}

long llmc_port_send(llmc_sock_t s, const void *buf, size_t len)
{
    fsock_t *k = sock_of(s);
    size_t cap = (size_t)(k->piece >> 4) * 37u + 1u;
    FUZZ_ASSERT(k->connected && len > 0);
    if (end_of(k) == LLMC_PORT_RESET)
        return LLMC_PORT_RESET; /* the server reset the connection */
    /* a server that closed its socket (EOF) answers what comes after with
     * a reset, as TCP does: a send still goes out, a later one fails.
     * (Without this, mbedTLS 3.6, whose fatal alert is written again
     * each time its send would block, could take every other send for
     * ever, with the clock of this network standing still.) */
    if (end_of(k) == LLMC_PORT_EOF && k->sent_after_close++ > 0)
        return LLMC_PORT_RESET;
    if (blocks(k))
        return LLMC_PORT_WOULD_BLOCK;
    if (len > cap)
        len = cap;
    pipe_put(&k->to_srv, buf, len);
    return (long)len;
}

long llmc_port_recv(llmc_sock_t s, void *buf, size_t len)
{
    fsock_t *k = sock_of(s);
    size_t n = (size_t)(k->piece & 15u) * 9u + 1u;
    FUZZ_ASSERT(k->connected && len > 0);
    srv_step(k);
    if (blocks(k))
        return LLMC_PORT_WOULD_BLOCK;
    n = pipe_take(&k->to_cli, buf, n < len ? n : len);
    if (n > 0) {
        k->delivered += n;
        return (long)n;
    }
    return end_of(k) != 0 ? end_of(k) : LLMC_PORT_WOULD_BLOCK;
}

void llmc_port_close(llmc_sock_t s)
{
    fsock_t *k;
    if (s == LLMC_SOCK_INVALID) /* does nothing, as llmc_port.h says */
        return;
    k = sock_of(s); /* closing twice fails in sock_of */
    /* what reached the server before the close, then the check */
    srv_step(k);
    (void)check_requests(k);
    k->open = 0;
    if (k->ssl_ready)
        mbedtls_ssl_free(&k->ssl);
    k->ssl_ready = 0;
    pipe_free(&k->to_srv);
    pipe_free(&k->to_cli);
    pipe_free(&k->plain);
}

int llmc_port_poll(llmc_pollfd_t *fds, size_t n, int timeout_ms)
{
    size_t i;
    int ready = 0;
    for (i = 0; i < n; i++) {
        fsock_t *k = sock_of(fds[i].sock);
        /* a connect ends, and a connection takes bytes, whenever asked */
        uint8_t r = fds[i].events & LLMC_POLL_OUT;
        if (k->connected)
            srv_step(k);
        if (k->connected && (fds[i].events & LLMC_POLL_IN) &&
            (k->to_cli.len > k->to_cli.off || end_of(k) != 0))
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

/* attempts that ended with LLMC_ERR_TLS_VERIFY, over the run: by message
 * (0 another host, 1 unknown CA; + 2 for the IAM token endpoint's), and
 * all of them not the token endpoint's; attempts_lost: some request made
 * more attempts than its result records */
static unsigned g_verify[4], g_verify_any;

/* An attempt's verification failure: which message, and is it one that
 * src/llmc_conn.c writes. */
static void count_verify(const llmc_attempt_t *a)
{
    static const char *const others[] = {
        "certificate expired", "certificate not yet valid",
        "certificate not for a TLS server (key usage)",
        "certificate rejected (verify flags 0x"};
    const char *m = a->message;
    size_t i;
    int iam;
    if (a->status != LLMC_ERR_TLS_VERIFY)
        return;
    iam = strncmp(m, k_iam, sizeof(k_iam) - 1) == 0;
    if (iam)
        m += sizeof(k_iam) - 1;
    else
        g_verify_any++;
    if (strcmp(m, k_msg_host) == 0)
        g_verify[iam * 2]++;
    else if (strcmp(m, k_msg_ca) == 0)
        g_verify[iam * 2 + 1]++;
    else {
        /* the last is followed by the flags */
        for (i = 0; i < 4 && strncmp(m, others[i], strlen(others[i]) +
                                                      (i < 3)) != 0;
             i++)
            ;
        FUZZ_ASSERT(i < 4);
    }
    g_st_verify++;
}

/* Does the first script guarantee success, with one request to one
 * provider (neither IAM nor two addresses) and nothing cancelled: a
 * connect that succeeds, a valid certificate, no damage, and a
 * well-formed answer for the provider's mode, whole? Whatever its end:
 * each answer ends by itself ([DONE], the last chunk, Content-Length). */
static int expect_ok(const uint8_t *s, size_t n, int no_stream)
{
    const uint8_t *end = memmem(s, n, SEP, SEP_LEN);
    const char *good;
    size_t len, dmg;
    if (end != NULL)
        n = (size_t)(end - s);
    if (n < HDR_LEN || (s[0] & M_REFUSE) ||
        ((s[0] & M_PENDING) && (s[0] & M_CONN_FAIL)) ||
        (s[2] & T_CERT) >= 2)
        return 0;
    dmg = s[2] & T_DMG;
    if (dmg == 4u || dmg == 8u)
        return 0;
    switch (s[0] & M_HEAD) {
    case 1: good = no_stream ? NULL : k_good_sse; break;
    case 2: good = no_stream ? NULL : k_good_chunked; break;
    case 3: good = no_stream ? k_good_json : NULL; break;
    default: good = NULL;
    }
    if (good == NULL)
        return 0;
    len = strlen(good);
    return n - HDR_LEN == len && memcmp(s + HDR_LEN, good, len) == 0;
}

/* The TLS checks over the run's connections and attempts. */
static void check_verify(int exact)
{
    unsigned need[4] = {0, 0, 0, 0}, possible = 0;
    int i;
    for (i = 0; i < g_n_socks; i++) {
        const fsock_t *k = &g_socks[i];
        unsigned cert = k->tls & T_CERT;
        int flipped = (k->tls & T_DMG) == 4u;
        /* the client had the whole Certificate record, as the server
         * made it (a cut comes after what was delivered) */
        int whole = k->cert_end != 0 && k->delivered >= k->cert_end &&
                    !(flipped && k->dmg_off < k->cert_end);
        if (whole && cert >= 2)
            need[k->token * 2 + (cert - 2)]++;
        /* where a verification may have failed: a bad certificate
         * delivered whole, or any byte flipped before the Certificate's
         * end (or with none sent) */
        if (!k->token &&
            ((whole && cert >= 2) ||
             (flipped && (k->cert_end == 0 || k->dmg_off < k->cert_end))))
            possible++;
    }
    FUZZ_ASSERT(g_verify_any <= possible);
    if (!exact)
        return;
    for (i = 0; i < 4; i++)
        FUZZ_ASSERT(g_verify[i] >= need[i]);
}

/* The settings: fuzz_engine.h; the hosts are urls[] below, set[7] & 64
 * has the servers use ECDHE, not static ECDH, in TLS 1.2, and set[7] & 32
 * lets them speak TLS 1.3 where mbedTLS has it (3.x). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const urls[] = {"https://localhost/v1",
                                       "https://localhost:8443/v1",
                                       "https://nx.test/v1"};
    const uint8_t *set = data;
    size_t i;
    int ok;

    if (size < 8)
        return 0;
    g_scripts = data + 8;
    g_scripts_len = size - 8;
    g_n_socks = 0;
    memset(g_verify, 0, sizeof(g_verify));
    g_verify_any = 0;
    g_attempt_check = count_verify;
    /* the servers: random numbers from the settings, no session yet */
#if MBEDTLS_VERSION_MAJOR < 4
    mbedtls_ctr_drbg_free(&g_srv_drbg);
    mbedtls_ctr_drbg_init(&g_srv_drbg);
    FUZZ_ASSERT(mbedtls_ctr_drbg_seed(&g_srv_drbg, fixed_entropy, NULL, set,
                                      8) == 0);
#elif defined(MBEDTLS_PSA_CRYPTO_EXTERNAL_RNG)
    memcpy(&g_rng, set, 8);
    g_rng |= 1; /* xorshift's state is never 0 */
#endif
    mbedtls_ssl_cache_free(&g_cache);
    mbedtls_ssl_cache_init(&g_cache);
    for (i = 0; i < 3; i++) {
        mbedtls_ssl_conf_ciphersuites(&g_srv_conf[i],
                                      k_suites[(set[7] & 0x40u) != 0]);
#ifdef MBEDTLS_SSL_PROTO_TLS1_3
        mbedtls_ssl_conf_max_tls_version(&g_srv_conf[i],
                                         (set[7] & 0x20u)
                                             ? MBEDTLS_SSL_VERSION_TLS1_3
                                             : MBEDTLS_SSL_VERSION_TLS1_2);
#endif
    }
    if (fuzz_engine_init(set, urls, "https://192.0.2.1/token", g_ca_pem,
                         g_ca_pem_len) != 0)
        return 0;
    fuzz_engine_submit(set);
    /* before any script is taken */
    ok = set[0] % 3u == 0 && g_n_reqs == 1 && (set[0] >> 5) == 0 &&
         (set[2] >> 6) % 3u == 0 && (set[2] & 3u) != 2u &&
         expect_ok(g_scripts, g_scripts_len, (set[2] & 4u) != 0);
    fuzz_engine_run(set);
    for (i = 0; i < (size_t)g_n_socks; i++)
        FUZZ_ASSERT(!g_socks[i].open); /* every socket closed */
    for (i = 0; i < g_n_reqs; i++)
        g_st_ok += g_reqs[i].status == LLMC_OK && g_reqs[i].done == 1;
    /* every attempt recorded, none cut short by a cancel or shutdown:
     * each bad certificate the client had whole is in one */
    check_verify((set[0] >> 5) == 0 && !g_attempts_lost);
    if (ok)
        FUZZ_ASSERT(g_reqs[0].status == LLMC_OK);
    return 0;
}
