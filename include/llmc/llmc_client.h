/*
 * The storage of an llmc client, so that firmware can place it statically:
 *   #include <llmc/llmc_client.h>
 *   static llmc_client_t client;
 * Every field is private to llmc; read results through the API. The size
 * follows the Kconfig knobs (README, "Memory"); llmc_client_size() gives it.
 */
#ifndef LLMC_CLIENT_H
#define LLMC_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llmc.h"
#include "llmc_port.h"

#if LLMC_TLS
#include <mbedtls/ssl.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>
#if MBEDTLS_VERSION_MAJOR < 4
#include <mbedtls/ctr_drbg.h> /* 4.x: TLS takes its random numbers from PSA */
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- parser and writer state (see src/llmc_http.h, llmc_sse.h, ...) --- */

#define LLMC_HTTP_VAL_MAX 48  /* kept bytes of an interesting value */

enum {
    LLMC_HTTP_F_CHUNKED = 1u << 0,
    LLMC_HTTP_F_LENGTH = 1u << 1,
    LLMC_HTTP_F_CLOSE = 1u << 2, /* Connection: close, or HTTP/1.0 */
    LLMC_HTTP_F_SSE = 1u << 3,   /* Content-Type: text/event-stream */
    LLMC_HTTP_F_JSON = 1u << 4,  /* Content-Type: application/json */
    LLMC_HTTP_F_NOBODY = 1u << 5, /* 204 / 304 */
    LLMC_HTTP_F_CODED = 1u << 6   /* Content-Encoding other than identity */
};

typedef struct {
    uint32_t length;    /* Content-Length / chunk bytes left */
    uint32_t head_bytes;
    uint32_t trailer_bytes;
    int32_t retry_after_ms; /* -1: none */
    uint16_t status;
    uint16_t flags;
    uint8_t state;
    uint8_t cstate; /* chunked sub-state */
    uint8_t val_len;
    bool val_long;  /* value longer than LLMC_HTTP_VAL_MAX */
    uint8_t header; /* which interesting header is being read */
    int8_t should_retry;    /* -1: none, 0: false, 1: true */
    bool cr;        /* the last byte of a line's framing was a CR */
    char val[LLMC_HTTP_VAL_MAX]; /* a header's name, then its value */
} llmc_http_t;

typedef struct {
    char *buf;
    size_t cap, len;
    uint8_t state;
    uint8_t field_len;
    uint8_t has_data; /* bit 0: a data line; bit 1: an error line */
    bool after_cr;
} llmc_sse_t;

#define LLMC_W_NO_USAGE 1u
#define LLMC_W_MCT 2u
typedef struct {
    /* what to send (pointers are the caller's) */
    const llmc_request_t *req;
    /* the flags first: offsets in reach of 16-bit Thumb byte loads */
    bool stream;
    /* LLMC_W_NO_USAGE: streamed without stream_options.include_usage;
     * LLMC_W_MCT: max_tokens sent as max_completion_tokens */
    uint8_t opts;
    uint16_t cond; /* bit n: template condition n holds (set by start) */
    const char *model;
    const char *path; /* base_url's path, e.g. "/v1" */
    size_t path_len;
    const char *host;
    const char *bearer; /* NULL: no Authorization header */
    size_t bearer_len;
    /* the request's and the provider's extra_json; start() makes each the
     * members inside its braces (extra_len: their length). Up to here,
     * what the engine sets: offsets in reach of 16-bit Thumb word stores
     * through a slot's pointer */
    const char *extra[2];
    const char *project_id; /* NULL: no x-project-id */
    /* set: an IAM token request {"keyId":...,"secret":...} to path */
    const char *key_id;
    const char *secret;
    uint16_t port;    /* 0: default for the scheme, not printed */
    size_t extra_len[2];
    /* progress */
    uint32_t idx;
    size_t off;
    size_t content_length;
    /* the length of the NUL-terminated content len_of (content_len 0),
     * taken once, not at each fill */
    const char *len_of;
    size_t len;
    char num[20]; /* a number's digits (size_t: at most 20) */
} llmc_writer_t;

typedef struct {
    bool tls;
    uint16_t port;         /* effective port */
    bool default_port;     /* not written in Host */
    char host[LLMC_HOST_MAX]; /* without [] for IPv6 literals */
    const char *path;      /* "" or "/v1" (no trailing '/') */
    size_t path_len;
} llmc_url_t;

/* The previous event around its content string (src/llmc_json.c). */
typedef struct {
    uint16_t pre_len; /* bytes up to the content's opening quote; 0: none */
    uint16_t suf_len; /* from its closing quote to the end of "choices" */
#if LLMC_JSON_SHAPE_SIZE > 0
    char bytes[LLMC_JSON_SHAPE_SIZE];
#endif
} llmc_json_shape_t;

/* ---- engine state ----------------------------------------------------- */

#define LLMC_NONE 0xFFu

/* Where a connection goes: a provider's base_url or an IAM token_url, and
 * its resolved addresses (n_addr 0: resolve again). */
typedef struct {
    /* first: read through a target's pointer with 16-bit Thumb byte
     * loads, which reach offsets up to 31 */
    uint8_t n_addr;
    uint8_t first; /* where a new connection starts: the address that
                      connected last (those before it failed) */
    llmc_url_t url;
    llmc_addr_t addr[2];
} llmc_target_t;

typedef struct {
    llmc_target_t t;
    uint8_t fails;   /* failed attempts in a row */
    uint8_t iam;     /* IAM providers: index in llmc_client.iam */
    uint64_t cool_until;
#if LLMC_TLS
    bool has_session;
    mbedtls_ssl_session session; /* for resumption */
#endif
} llmc_provider_state_t;

typedef struct {
    llmc_sock_t sock;
    uint8_t state;    /* free, connecting, handshake, busy, idle */
    uint8_t target;   /* provider index, or LLMC_MAX_PROVIDERS + iam index */
    uint8_t want;     /* LLMC_POLL_* the connection waits for */
    uint8_t addr_i;   /* address being tried */
    bool tls;
    bool reused;      /* carried a request before */
    int8_t port_err;  /* last LLMC_PORT_* error seen on the socket */
    uint32_t last_used; /* ms, low 32 bits: compared by difference */
#if LLMC_TLS
    bool ssl_ready;
    int tls_err;      /* mbedTLS's code for LLMC_CONN_TLS_FAILED */
    mbedtls_ssl_context ssl;
#endif
} llmc_conn_t;

typedef struct {
    bool cancelled;   /* first: read often, at a small offset in a slot */
    llmc_handle_t handle;
    const llmc_request_t *req;
    llmc_callbacks_t cb;
    void *user;
} llmc_job_t;

typedef struct {
    uint8_t state;     /* free, waiting (backoff), active, done */
    uint8_t phase;     /* connect, tls, send, recv */
    uint8_t conn;      /* index, or LLMC_NONE */
    uint8_t provider;  /* current provider index */
    uint8_t target;    /* the attempt's connection target (llmc_conn_t) */
    uint8_t body;      /* sse, json, error */
    uint8_t order[LLMC_MAX_PROVIDERS];
    /* what is cleared together side by side, on 2- and 4-byte boundaries
     * with the default LLMC_MAX_PROVIDERS, so that one store clears it:
     * pos and tries, the next four flags as a request starts, got_bytes
     * and done_seen, stale_retry and more */
    uint8_t pos, tries;
    bool token_retry;  /* IAM: refreshed once after 401/403 on this
                          provider */
    bool fetching_token; /* the attempt is the IAM token request */
    bool delivered;    /* content reached the caller: no failover */
    bool token_fresh;  /* IAM: a token was fetched for this request on
                          this provider, good for all of its attempts
                          there (a request tries a provider once) */
    bool got_bytes;    /* any response byte on this attempt */
    bool done_seen;    /* [DONE] */
    bool stale_retry;  /* a reused connection failed: retried fresh once */
    bool more;         /* stopped reading with data left: run again */
    uint8_t n_order;
    bool body_cut;     /* error body larger than the buffer */
    uint8_t sent_gen;  /* IAM: the generation of the token sent */
    llmc_job_t job;    /* right after the flags: its cancelled flag, at
                          offset 28 with the default LLMC_MAX_PROVIDERS,
                          is in reach of 16-bit Thumb byte loads */
    uint16_t held_hi;  /* a high surrogate that ended the last content,
                          kept for a low one that may begin the next */
    /* ms, low 32 bits of llmc_port_now_ms(), compared by difference. The
     * timer fires timer_ms after t_timer: the phase's timeout while active,
     * the wake-up for the next attempt while waiting. */
    uint32_t t_start, t_attempt, t_timer, timer_ms;
    /* before the writer: offsets in reach of 16-bit Thumb word loads */
    size_t tx_len, tx_off, body_len;
    llmc_writer_t w;
    llmc_http_t http;
    llmc_sse_t sse;
    llmc_json_shape_t shape;
    llmc_result_t result;
#if LLMC_IAM_PROVIDERS > 0
    /* the start of the bearer the attempt sent, as much as a message can
     * hold: masked in its messages also after the stored token changed */
    char sent_token[LLMC_MSG_LEN];
#endif
    char buf[LLMC_EVENT_BUF_SIZE];
} llmc_slot_t;

#if LLMC_IAM_PROVIDERS > 0
typedef struct {
    /* first: read through an entry's pointer with 16-bit Thumb loads */
    bool fetching;      /* a request fetches a token now: the one slot
                           whose fetching_token is set for this entry */
    uint8_t gen;        /* counts the tokens stored (mod 256) */
    uint16_t len;       /* 0: no token (none yet, or it was refused) */
    llmc_target_t t;    /* token_url */
    uint64_t expires;   /* monotonic ms */
    char token[LLMC_TOKEN_MAX];
} llmc_iam_t;
#endif

struct llmc_client {
    bool ready;
    bool shutting_down;
    /* callbacks may run: 1 inside llmc_poll() or llmc_client_shutdown(),
     * 2 when a callback asked for the shutdown, which that call ends */
    uint8_t busy;
    uint8_t n_providers;
    uint8_t max_inflight;
    uint8_t q_len, active; /* queued requests, slots in use */
    uint8_t n_iam;         /* entries of iam given to providers */
    const llmc_provider_t *providers;
    llmc_policy_t policy;
    int32_t last_handle; /* the latest handle given (random at init), 0
                            after a wrap */
    uint32_t rng;
    uint64_t now; /* llmc_port_now_ms() of the poll round at hand */
    llmc_conn_t conns[LLMC_CONNS]; /* first: small offsets, short code */
    /* waiting requests, oldest first; LLMC_SLOTS more entries than the
     * queue so that requests submitted before a poll can fill the free
     * slots too */
    llmc_job_t queue[LLMC_QUEUE_LEN + LLMC_SLOTS];
    llmc_provider_state_t prov[LLMC_MAX_PROVIDERS];
#if LLMC_IAM_PROVIDERS > 0
    llmc_iam_t iam[LLMC_IAM_PROVIDERS];
#endif
    llmc_slot_t slots[LLMC_SLOTS];
    /* the receive buffer, whose bytes are consumed whole within each
     * read; between reads, the result of a request that ends before it
     * had a slot (cancelled while queued), not on the polling task's
     * stack */
    union {
        char rx[LLMC_RECV_BUF_SIZE];
        llmc_result_t unstarted;
    } io;
#if LLMC_TLS
    bool tls_ready;
    mbedtls_ssl_config conf;
    mbedtls_x509_crt ca;
#if MBEDTLS_VERSION_MAJOR < 4
    mbedtls_ctr_drbg_context drbg;
#endif
#endif
};

/* The storage's size as this program sees it, checked by the library
 * against its own (llmc.h). */
#define llmc_client_init(c, config) \
    llmc_client_init_sized((c), (config), sizeof(llmc_client_t))

#ifdef __cplusplus
}
#endif

#endif /* LLMC_CLIENT_H */
