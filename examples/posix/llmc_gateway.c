/*
 * llmc-gateway: an OpenAI-compatible HTTP/1.1 gateway in front of the
 * configured providers, with llmc's failover, on one thread:
 *
 *   llmc-gateway -c providers.json [--listen 127.0.0.1:8088]
 *
 *   POST /chat                  {"message": "...", "max_tokens": 100}
 *                               -> {"response": "..."}
 *   POST /v1/chat/completions   OpenAI chat completions, stream or not
 *   GET  /v1/models             the configured models
 *   GET  /health                per provider: working, cooling down, last
 *                               error, last latency
 *
 * The server is non-blocking and uses fixed memory: GW_CONNS connection
 * slots, each with a bounded request buffer (GW_REQ_MAX), a bounded answer
 * buffer (GW_ANSWER_MAX, for non-streamed answers), an output buffer
 * (GW_OUT_MAX) and the request's fields passed on as they are
 * (GW_EXTRA_MAX). Sockets go through the port layer only (llmc_port_listen,
 * accept, send, recv, close), and the clients' sockets are waited on in the
 * same llmc_poll_with() as llmc's own, so the same loop can run on a board.
 *
 * Streamed answers go out piece by piece as llmc's on_delta delivers them,
 * each as a chunk event of the gateway's own (Connection: close ends the
 * stream); non-streamed answers keep the
 * connection alive. Request JSON is parsed with jsmn; message contents are
 * unescaped in place in the connection's buffer and handed to llmc as
 * pointers, valid until the request's on_done.
 *
 * SIGINT/SIGTERM: stop accepting, let running requests finish for --grace
 * seconds, cancel the rest, shut the client down, exit 0.
 */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JSMN_STATIC
#define JSMN_STRICT
#include <jsmn.h>

#include "llmc/llmc_client.h"
#include "llmc_json.h"   /* llmc_json_valid, llmc_json_unescape */
#include "llmc_writer.h" /* llmc_json_escape */
#include "llmc_tool_config.h"

/* ---- sizes (each may be overridden with -D) ----------------------------- */

#ifndef GW_CONNS /* client connections; one poll entry more for the listener */
#define GW_CONNS (LLMC_POLL_EXTRA - 1 < 128 ? LLMC_POLL_EXTRA - 1 : 128)
#endif
/* Host sizes; a board build (few poll slots) gets small ones by default. */
#if LLMC_POLL_EXTRA >= 16
#define GW_SIZE_(host, board) (host)
#else
#define GW_SIZE_(host, board) (board)
#endif
#ifndef GW_REQ_MAX /* request head + body */
#define GW_REQ_MAX GW_SIZE_(16 * 1024, 4 * 1024)
#endif
#ifndef GW_ANSWER_MAX /* a non-streamed answer */
#define GW_ANSWER_MAX GW_SIZE_(64 * 1024, 8 * 1024)
#endif
#ifndef GW_OUT_MAX /* response bytes not yet sent */
#define GW_OUT_MAX GW_SIZE_(16 * 1024, 2 * 1024)
#endif
#ifndef GW_MESSAGES
#define GW_MESSAGES GW_SIZE_(64, 16)
#endif
#ifndef GW_TOKENS
#define GW_TOKENS GW_SIZE_(1024, 256)
#endif
#ifndef GW_SCRATCH /* /health and /v1/models bodies */
#define GW_SCRATCH GW_SIZE_(12 * 1024, 2 * 1024)
#endif
#define GW_MODEL_MAX 128
#ifndef GW_EXTRA_MAX /* the fields passed on as the request's extra_json */
#define GW_EXTRA_MAX GW_SIZE_(4 * 1024, 512)
#endif

#if GW_CONNS < 1 || GW_CONNS + 1 > LLMC_POLL_EXTRA
#error "GW_CONNS + 1 must fit in LLMC_POLL_EXTRA"
#endif

enum {
    C_FREE = 0,
    C_READ,  /* reading a request (or idle on keep-alive) */
    C_WAIT,  /* request submitted to llmc */
    C_WRITE, /* writing the rest of a response */
    C_ZOMBIE, /* socket closed, waiting for llmc's on_done */
    C_DRAIN  /* 413 sent: reading the rest of the body away, so that the
                close does not reset the connection under a client still
                sending it (and before it reads the 413) */
};

enum { EP_CHAT = 1, EP_COMPLETIONS };

typedef struct {
    llmc_sock_t sock;
    int state;
    uint64_t t_last;    /* last progress (bytes in or out) */
    uint64_t t_start;   /* the request's first byte */
    bool req_seen;      /* a byte of the request has come (a blank line
                           before it too): t_start bounds the wait */
    /* request */
    char in[GW_REQ_MAX + 1];
    size_t in_len;
    size_t req_len; /* head + body of the current request, once known */
    bool keep_alive;
    bool head_only; /* a HEAD request: its answer is the head alone */
    bool peer_eof; /* the client half-closed: nothing more will come */
    bool sent_continue;
    unsigned long long drain_left; /* 413: body bytes not yet received */
    /* llmc request */
    int endpoint;
    bool stream, include_usage;
    llmc_handle_t h;
    llmc_request_t req;
    llmc_message_t msgs[GW_MESSAGES];
    char model[GW_MODEL_MAX];
    char extra[GW_EXTRA_MAX]; /* {the other fields}, as the client wrote them */
    int provider;          /* last on_attempt */
    bool head_sent;        /* stream: 200 and headers written */
    bool too_large;        /* answer overflowed GW_ANSWER_MAX */
    bool slow;             /* stream: client could not keep up */
    unsigned long id;
    long created;
    char answer[GW_ANSWER_MAX];
    size_t answer_len;
    /* output: out[out_off..out_len) pending, then the escaped rest of
     * esc[esc_off..esc_len), then tail */
    char out[GW_OUT_MAX];
    size_t out_off, out_len;
    const char *esc;
    size_t esc_off, esc_len;
    bool esc_utf8; /* esc may hold bytes that are not UTF-8: U+FFFD them */
    char tail[512];
    size_t tail_len;
    bool close_after;
} conn_t;

typedef struct {
    char last_error[LLMC_MSG_LEN + 32];
    uint32_t last_latency_ms;
    bool has_latency;
    unsigned long attempts, failures; /* every attempt, a 400 too */
} health_t;

static llmc_client_t g_client;
static llmc_tool_config_t g_cfg;
static conn_t g_conns[GW_CONNS];
static health_t g_health[LLMC_MAX_PROVIDERS];
static jsmntok_t g_tok[GW_TOKENS];
static char g_scratch[GW_SCRATCH];
static llmc_pollfd_t g_fds[GW_CONNS + 1];
static int g_fd_conn[GW_CONNS + 1];
static llmc_sock_t g_listener = LLMC_SOCK_INVALID;
/* accept() failed for a reason other than "no client" (out of file
 * descriptors): the listener is left out of poll until then, as it would
 * be ready again at once, with the same client waiting */
static uint64_t g_accept_pause_until;
#define ACCEPT_PAUSE_MS 100
static volatile sig_atomic_t g_signal;
static const char *g_default_model = "default";
static unsigned g_max_inflight;
static unsigned g_queue_limit = LLMC_QUEUE_LEN;
static unsigned g_active; /* submitted, on_done not yet run */
static unsigned long g_next_id = 1;
static uint32_t g_client_timeout_ms = 10000;
static bool g_stopping;
static int g_verbose;

/* ---- small helpers ------------------------------------------------------- */

static void logf_(const char *fmt, ...)
{
    va_list ap;
    if (!g_verbose)
        return;
    va_start(ap, fmt);
    fputs("llmc-gateway: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static size_t out_room(conn_t *c)
{
    if (c->out_off > 0 && c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_off > 0 && GW_OUT_MAX - c->out_len < GW_OUT_MAX / 2) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    return GW_OUT_MAX - c->out_len;
}

/* Append printf-style text to the output; false when it does not fit. */
static bool out_printf(conn_t *c, const char *fmt, ...)
{
    va_list ap;
    size_t room = out_room(c);
    int n;
    va_start(ap, fmt);
    n = vsnprintf(c->out + c->out_len, room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= room)
        return false;
    c->out_len += (size_t)n;
    return true;
}

/* Append s[0..n) JSON-escaped (no quotes); false when it does not fit. */
static bool out_escaped(conn_t *c, const char *s, size_t n)
{
    size_t room = out_room(c), used; /* may move out's contents first */
    size_t k = llmc_json_escape(s, n, c->out + c->out_len, room, &used);
    if (used != n)
        return false; /* out_len unchanged: nothing was added */
    c->out_len += k;
    return true;
}

/* s[0..n) JSON-escaped into out[0..cap): llmc's escaping of an answer
 * (UTF-8 already), or with utf8 also each byte that is not part of a
 * well-formed character as U+FFFD (a provider's error text may hold such
 * bytes). Returns the bytes written, *used the bytes of s taken. */
static size_t escape(bool utf8, const char *s, size_t n, char *out, size_t cap,
                     size_t *used)
{
    return utf8 ? llmc_tool_json_escape(s, n, out, cap, used)
                : llmc_json_escape(s, n, out, cap, used);
}

/* Bytes the escaped form of s[0..n) takes: it is rendered and counted. */
static uint64_t escaped_len(bool utf8, const char *s, size_t n)
{
    char tmp[256];
    uint64_t total = 0;
    size_t used;
    while (n > 0) {
        total += escape(utf8, s, n, tmp, sizeof(tmp), &used);
        s += used;
        n -= used;
    }
    return total;
}

/* NUL-terminated s JSON-escaped (UTF-8 kept well formed) into buf, which
 * holds 6 bytes for each of s's and a NUL (for messages in bodies). */
static const char *esc_small(const char *s, char *buf, size_t cap)
{
    size_t used, n = llmc_tool_json_escape(s, strlen(s), buf, cap - 1, &used);
    buf[n] = '\0';
    return buf;
}

static void conn_close_socket(conn_t *c)
{
    if (c->sock != LLMC_SOCK_INVALID) {
        llmc_port_close(c->sock);
        c->sock = LLMC_SOCK_INVALID;
    }
}

static void conn_reset_request(conn_t *c)
{
    c->endpoint = 0;
    c->stream = c->include_usage = false;
    c->h = 0;
    c->provider = -1;
    c->head_sent = c->too_large = c->slow = false;
    c->answer_len = 0;
    c->esc = NULL;
    c->esc_off = c->esc_len = 0;
    c->esc_utf8 = false;
    c->tail_len = 0;
    c->close_after = false;
    c->sent_continue = false;
    c->head_only = false;
    c->drain_left = 0;
    c->req_len = 0;
}

static void conn_free(conn_t *c)
{
    conn_close_socket(c);
    c->state = C_FREE;
}

/* The client is gone (or must be dropped): close; keep the slot while llmc
 * still holds pointers into it. */
static void conn_drop(conn_t *c, const char *why)
{
    logf_("drop connection %d: %s", (int)(c - g_conns), why);
    conn_close_socket(c);
    if (c->state == C_WAIT && c->h > 0) {
        llmc_cancel(&g_client, c->h);
        c->state = C_ZOMBIE;
    } else if (c->state != C_ZOMBIE) {
        c->state = C_FREE;
    }
}

/* Send what is pending. Returns false when the connection was dropped. */
static bool conn_flush(conn_t *c, uint64_t now)
{
    for (;;) {
        long n;
        if (c->out_off == c->out_len) {
            size_t used, room;
            if (c->esc != NULL && c->esc_off < c->esc_len) {
                c->out_off = c->out_len = 0;
                room = GW_OUT_MAX;
                c->out_len = escape(c->esc_utf8, c->esc + c->esc_off,
                                    c->esc_len - c->esc_off, c->out, room,
                                    &used);
                c->esc_off += used;
                if (c->esc_off == c->esc_len && c->tail_len > 0 &&
                    GW_OUT_MAX - c->out_len >= c->tail_len) {
                    memcpy(c->out + c->out_len, c->tail, c->tail_len);
                    c->out_len += c->tail_len;
                    c->tail_len = 0;
                }
            } else if (c->tail_len > 0) {
                memcpy(c->out, c->tail, c->tail_len);
                c->out_off = 0;
                c->out_len = c->tail_len;
                c->tail_len = 0;
            } else {
                c->out_off = c->out_len = 0;
                return true;
            }
        }
        n = llmc_port_send(c->sock, c->out + c->out_off,
                           c->out_len - c->out_off);
        if (n == LLMC_PORT_WOULD_BLOCK)
            return true;
        if (n <= 0) {
            conn_drop(c, "send failed");
            return false;
        }
        c->out_off += (size_t)n;
        c->t_last = now;
    }
}

static bool conn_pending(const conn_t *c)
{
    return c->out_off < c->out_len ||
           (c->esc != NULL && c->esc_off < c->esc_len) || c->tail_len > 0;
}

static const char *reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Error";
    }
}

/* Start a response with a JSON body of body_len bytes. */
static bool head_json(conn_t *c, int status, uint64_t body_len,
                      const char *extra)
{
    if (g_stopping)
        c->close_after = true;
    if (!c->keep_alive || c->peer_eof)
        c->close_after = true;
    return out_printf(c,
                      "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                      "Content-Length: %llu\r\n%s%s\r\n",
                      status, reason(status), (unsigned long long)body_len,
                      c->close_after ? "Connection: close\r\n"
                                     : "Connection: keep-alive\r\n",
                      extra != NULL ? extra : "");
}

/* A whole small JSON response from a buffer. The answer to HEAD is the
 * head alone (RFC 9110 9.3.2), with the Content-Length GET would have: a
 * client reads no body after it, and would take one for the next
 * response on the connection. */
static void respond(conn_t *c, int status, const char *body, size_t n,
                    const char *extra)
{
    if (!head_json(c, status, n, extra) ||
        (!c->head_only && out_room(c) < n)) {
        conn_drop(c, "response does not fit");
        return;
    }
    if (!c->head_only) {
        memcpy(c->out + c->out_len, body, n);
        c->out_len += n;
    }
    c->state = C_WRITE;
}

/* An error with a short message of the gateway's own (a failed request's
 * message, which may be long, is sent from failure_message()). */
static void respond_error(conn_t *c, int status, const char *type,
                          const char *msg, const char *extra)
{
    char body[256 * 6 + 256], em[256 * 6 + 1];
    int n;
    if (status == 413 || status == 431 || status == 408 || status == 411)
        c->close_after = true; /* the rest of the request is not read */
    n = snprintf(body, sizeof(body),
                 "{\"error\":{\"message\":\"%s\",\"type\":\"%s\","
                 "\"code\":null}}",
                 esc_small(msg, em, sizeof(em)), type);
    if (n < 0 || (size_t)n >= sizeof(body))
        n = (int)strlen(body);
    respond(c, status, body, (size_t)n, extra);
}

/* ---- health --------------------------------------------------------------- */

static void health_record(const llmc_result_t *r)
{
    size_t i, n = r->n_attempts < LLMC_MAX_ATTEMPTS ? r->n_attempts
                                                    : LLMC_MAX_ATTEMPTS;
    for (i = 0; i < n; i++) {
        const llmc_attempt_t *a = &r->attempts[i];
        health_t *h;
        if (a->provider >= g_cfg.n_providers)
            continue;
        if (a->status == LLMC_ERR_CANCELLED)
            continue;
        h = &g_health[a->provider];
        h->attempts++;
        h->last_latency_ms = a->elapsed_ms;
        h->has_latency = true;
        if (a->status == LLMC_OK) {
            h->last_error[0] = '\0';
        } else {
            h->failures++;
            if (a->message[0] != '\0' &&
                strcmp(a->message, llmc_strerror(a->status)) != 0)
                snprintf(h->last_error, sizeof(h->last_error), "%s: %s",
                         llmc_strerror(a->status), a->message);
            else
                snprintf(h->last_error, sizeof(h->last_error), "%s",
                         llmc_strerror(a->status));
        }
    }
}

/* Cooldown as llmc itself decides it (a 400 neither counts nor resets
 * the run), read from the client's own state at the time of its last poll
 * round: the gateway keeps no count of its own that could disagree. */
static bool cooling_down(size_t i)
{
    return g_client.prov[i].cool_until > g_client.now;
}

/* ---- llmc callbacks -------------------------------------------------------- */

static const char *answer_model(const conn_t *c)
{
    if (c->provider >= 0 && (size_t)c->provider < g_cfg.n_providers &&
        g_cfg.providers[c->provider].model != NULL)
        return g_cfg.providers[c->provider].model;
    return c->model;
}

static bool stream_head(conn_t *c)
{
    c->head_sent = true;
    c->close_after = true;
    return out_printf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream"
                         "\r\nCache-Control: no-cache\r\nConnection: close"
                         "\r\n\r\n");
}

/* The model is written whole: a provider's (from the config) may be
 * longer than a request's. */
static bool chunk_open(conn_t *c)
{
    const char *m = answer_model(c);
    return out_printf(c,
                      "data: {\"id\":\"chatcmpl-gw%lu\",\"object\":"
                      "\"chat.completion.chunk\",\"created\":%ld,\"model\":"
                      "\"",
                      c->id, c->created) &&
           out_escaped(c, m, strlen(m)) && out_printf(c, "\",");
}

static void cb_delta(void *user, const char *text, size_t len)
{
    conn_t *c = user;
    if (c->state != C_WAIT)
        return;
    if (!c->stream) {
        if (c->answer_len + len > GW_ANSWER_MAX) {
            c->too_large = true;
            llmc_cancel(&g_client, c->h);
            return;
        }
        memcpy(c->answer + c->answer_len, text, len);
        c->answer_len += len;
        return;
    }
    if ((!c->head_sent && !stream_head(c)) || !chunk_open(c) ||
        !out_printf(c, "\"choices\":[{\"index\":0,\"delta\":{%s\"content\":\"",
                    c->answer_len == 0 ? "\"role\":\"assistant\"," : "") ||
        !out_escaped(c, text, len) ||
        !out_printf(c, "\"},\"finish_reason\":null}]}\n\n")) {
        /* the client does not read fast enough to hold the stream */
        c->slow = true;
        conn_drop(c, "client too slow for the stream");
        return;
    }
    c->answer_len += len; /* counts streamed bytes */
    conn_flush(c, llmc_port_now_ms());
}

static void cb_attempt(void *user, int provider, const char *name)
{
    conn_t *c = user;
    (void)name;
    c->provider = provider;
}

/* finish_reason, JSON-escaped ("stop" when the provider sent none). */
static const char *finish_of(const llmc_result_t *r, char *buf, size_t cap)
{
    return esc_small(r->finish_reason[0] ? r->finish_reason : "stop", buf,
                     cap);
}

/* The usage object as the provider counted it, or null when it sent none:
 * the gateway does not make up counts. */
static const char *usage_of(const llmc_result_t *r, char *buf, size_t cap)
{
    if (!r->usage.present)
        return "null";
    snprintf(buf, cap,
             "{\"prompt_tokens\":%ld,\"completion_tokens\":%ld,"
             "\"total_tokens\":%ld}",
             (long)r->usage.prompt_tokens, (long)r->usage.completion_tokens,
             (long)r->usage.total_tokens);
    return buf;
}

/* A failed request's message is the whole formatted result, every
 * attempt. It is written into the connection's answer buffer, which a
 * failed request no longer needs (main() made sure that the longest
 * result fits), and sent from there escaped, as an answer is: after
 * what out holds, and before the tail. Returns the bytes it takes
 * escaped. */
static uint64_t failure_message(conn_t *c, const llmc_result_t *r,
                                const char *tail)
{
    size_t n = llmc_result_format(r, g_cfg.providers, g_cfg.n_providers,
                                  c->answer, sizeof(c->answer));
    if (n >= sizeof(c->answer))
        n = strlen(c->answer); /* cut between characters; main() checked */
    c->esc = c->answer;
    c->esc_off = 0;
    c->esc_len = n;
    c->esc_utf8 = true;
    c->tail_len = strlen(tail);
    memcpy(c->tail, tail, c->tail_len);
    return escaped_len(true, c->answer, n);
}

#define FAILURE_OPEN "{\"error\":{\"message\":\""
#define FAILURE_CLOSE "\",\"type\":\"upstream_error\",\"code\":null}}"

/* The end of a stream; false when the client is too far behind. */
static bool finish_stream(conn_t *c, const llmc_result_t *r)
{
    char fr[sizeof(r->finish_reason) * 6];
    char us[128];
    bool ok = true;
    if (r->status == LLMC_OK) {
        ok = chunk_open(c) &&
             out_printf(c, "\"choices\":[{\"index\":0,\"delta\":{},"
                           "\"finish_reason\":\"%s\"}]}\n\n",
                        finish_of(r, fr, sizeof(fr)));
        if (ok && c->include_usage) {
            ok = chunk_open(c) &&
                 out_printf(c, "\"choices\":[],\"usage\":%s}\n\n",
                            usage_of(r, us, sizeof(us)));
        }
    } else {
        failure_message(c, r, FAILURE_CLOSE "\n\ndata: [DONE]\n\n");
        return out_printf(c, "data: " FAILURE_OPEN);
    }
    return ok && out_printf(c, "data: [DONE]\n\n");
}

static void cb_done(void *user, const llmc_result_t *r)
{
    conn_t *c = user;
    char msg[96];
    int n;

    if (g_active > 0)
        g_active--;
    health_record(r);
    logf_("request %lu done: %s (%u bytes)", c->id, llmc_strerror(r->status),
          (unsigned)r->content_bytes);
    if (c->state == C_ZOMBIE) {
        c->state = C_FREE;
        return;
    }
    if (c->state != C_WAIT)
        return;
    c->h = 0;
    c->provider = r->provider;
    c->state = C_WRITE;
    if (c->stream && c->head_sent) {
        if (!finish_stream(c, r))
            conn_drop(c, "client too slow for the end of the stream");
        return;
    }
    if (c->too_large) {
        snprintf(msg, sizeof(msg),
                 "the answer is larger than the gateway's %u-byte bound",
                 (unsigned)GW_ANSWER_MAX);
        respond_error(c, 502, "upstream_error", msg, NULL);
        return;
    }
    if (r->status != LLMC_OK) {
        uint64_t len = failure_message(c, r, FAILURE_CLOSE);
        if (!head_json(c, 502,
                       sizeof(FAILURE_OPEN) - 1 + len +
                           sizeof(FAILURE_CLOSE) - 1,
                       NULL) ||
            !out_printf(c, "%s", FAILURE_OPEN))
            conn_drop(c, "response head does not fit");
        return;
    }
    if (c->stream) { /* OK without any delta cannot happen; be safe */
        if (!stream_head(c) || !finish_stream(c, r))
            conn_drop(c, "client too slow for the end of the stream");
        return;
    }
    /* non-stream: prefix in out, the answer escaped from c->answer, tail */
    {
        static const char mid[] = "\",\"choices\":[{\"index\":0,"
                                  "\"message\":{\"role\":\"assistant\","
                                  "\"content\":\"";
        char pre[128];
        char fr[sizeof(r->finish_reason) * 6], us[128];
        const char *m = NULL; /* the model, written whole between pre
                                 and mid */
        uint64_t np;
        if (c->endpoint == EP_CHAT) {
            np = (uint64_t)snprintf(pre, sizeof(pre), "{\"response\":\"");
            n = snprintf(c->tail, sizeof(c->tail), "\"}");
        } else {
            m = answer_model(c);
            np = (uint64_t)snprintf(pre, sizeof(pre),
                                    "{\"id\":\"chatcmpl-gw%lu\",\"object\":"
                                    "\"chat.completion\",\"created\":%ld,"
                                    "\"model\":\"",
                                    c->id, c->created) +
                 escaped_len(false, m, strlen(m)) + sizeof(mid) - 1;
            n = snprintf(c->tail, sizeof(c->tail),
                         "\"},\"finish_reason\":\"%s\"}],\"usage\":%s}",
                         finish_of(r, fr, sizeof(fr)),
                         usage_of(r, us, sizeof(us)));
        }
        c->tail_len = (size_t)n;
        if (!head_json(c, 200,
                       np + escaped_len(false, c->answer, c->answer_len) +
                           (uint64_t)n,
                       NULL) ||
            !out_printf(c, "%s", pre) ||
            (m != NULL &&
             (!out_escaped(c, m, strlen(m)) || !out_printf(c, "%s", mid)))) {
            conn_drop(c, "response head does not fit");
            return;
        }
        c->esc = c->answer;
        c->esc_off = 0;
        c->esc_len = c->answer_len;
    }
}

static const llmc_callbacks_t g_cb = {cb_delta, cb_attempt, cb_done};

/* ---- JSON request bodies ------------------------------------------------------ */

typedef struct {
    char *text;
    int n;
} body_t;

static int skip_tok(int i, int n)
{
    int end = g_tok[i].end;
    i++;
    while (i < n && g_tok[i].start < end)
        i++;
    return i;
}

/* Whether key token k is name, escapes decoded ("mod\u0065l" is "model"),
 * as a JSON parser on the other side of the client reads it. */
static bool key_is(const body_t *b, int k, const char *name)
{
    /* the longest name, each byte written as \u00XX, fits */
    char tmp[6 * sizeof("max_completion_tokens")];
    const char *s = b->text + g_tok[k].start;
    size_t n = strlen(name), kn = (size_t)(g_tok[k].end - g_tok[k].start);
    if (g_tok[k].type != JSMN_STRING)
        return false;
    if (memchr(s, '\\', kn) != NULL) {
        if (kn > sizeof(tmp))
            return false;
        memcpy(tmp, s, kn); /* the body's own bytes stay as they are */
        if (llmc_json_unescape(tmp, kn, &kn, NULL) != LLMC_OK)
            return false;
        s = tmp;
    }
    return kn == n && memcmp(s, name, n) == 0;
}

static bool is_null(const body_t *b, int t)
{
    return g_tok[t].type == JSMN_PRIMITIVE && b->text[g_tok[t].start] == 'n';
}

/* Unescape string token t in place and NUL-terminate it. */
static const char *str_tok(body_t *b, int t, size_t *len)
{
    char *s = b->text + g_tok[t].start;
    size_t n = (size_t)(g_tok[t].end - g_tok[t].start), o;
    if (llmc_json_unescape(s, n, &o, NULL) != LLMC_OK)
        return NULL;
    s[o] = '\0'; /* the closing quote's place, or before it */
    if (len != NULL)
        *len = o;
    return s;
}

/* Token t is the string "text", as written (an escape in it is not). */
static bool text_tok(const body_t *b, int t)
{
    return g_tok[t].type == JSMN_STRING && g_tok[t].end - g_tok[t].start == 4 &&
           memcmp(b->text + g_tok[t].start, "text", 4) == 0;
}

/* Content as an array of parts (OpenAI's format, which many clients send
 * for text too): the "text" of each {"type": "text"} part, unescaped and
 * joined in place at the array's start, NUL-terminated; NULL with *why
 * set for a part llmc cannot send (an image, audio, a file) or one that
 * is not well formed. llmc sends a message's content as one string. */
static const char *parts_tok(body_t *b, int a, int n, size_t *len,
                             const char **why)
{
    char *out = b->text + g_tok[a].start;
    size_t total = 0;
    int e, end = skip_tok(a, n);

    for (e = a + 1; e < end; e = skip_tok(e, n)) {
        int f, fend = skip_tok(e, n), text = -1;
        bool is_text = false;
        size_t tl;
        const char *t;
        *why = "each content part must be an object with a \"type\"";
        if (g_tok[e].type != JSMN_OBJECT)
            return NULL;
        for (f = e + 1; f < fend; f = skip_tok(f + 1, n)) {
            if (key_is(b, f, "type")) {
                if (g_tok[f + 1].type != JSMN_STRING)
                    return NULL;
                is_text = text_tok(b, f + 1);
                if (!is_text) {
                    *why = "only text content parts are supported";
                    return NULL;
                }
            } else if (key_is(b, f, "text")) {
                text = f + 1;
            }
        }
        *why = "a text part needs a \"type\" and a \"text\" string";
        if (!is_text || text < 0 || g_tok[text].type != JSMN_STRING)
            return NULL;
        *why = "bad string escape in \"content\"";
        if ((t = str_tok(b, text, &tl)) == NULL)
            return NULL;
        memmove(out + total, t, tl);
        total += tl;
    }
    out[total] = '\0'; /* at most where the array's last byte was */
    *len = total;
    return out;
}

static int bool_tok(const body_t *b, int t, bool *out)
{
    char ch = b->text[g_tok[t].start];
    if (g_tok[t].type != JSMN_PRIMITIVE || (ch != 't' && ch != 'f'))
        return -1;
    *out = ch == 't';
    return 0;
}

static int num_tok(const body_t *b, int t, double *out)
{
    char tmp[40], *end;
    int n = g_tok[t].end - g_tok[t].start;
    char ch = b->text[g_tok[t].start];
    if (g_tok[t].type != JSMN_PRIMITIVE || n <= 0 || n >= (int)sizeof(tmp) ||
        !(ch == '-' || (ch >= '0' && ch <= '9')))
        return -1;
    memcpy(tmp, b->text + g_tok[t].start, (size_t)n);
    tmp[n] = '\0';
    *out = strtod(tmp, &end);
    return *end == '\0' ? 0 : -1;
}

static int int_tok(const body_t *b, int t, int32_t *out)
{
    double d;
    /* the range first: converting a double beyond it is undefined */
    if (num_tok(b, t, &d) != 0 ||
        !(d >= -2147483648.0 && d <= 2147483647.0) || d != (double)(int32_t)d)
        return -1;
    *out = (int32_t)d;
    return 0;
}

/* A token limit: null, or an integer of 1 or more. llmc sends none for 0
 * or less, so such a limit would give an answer without the one asked
 * for, where the provider would have refused it. */
static int max_tokens_tok(const body_t *b, int t, int32_t *out)
{
    return is_null(b, t) || (int_tok(b, t, out) == 0 && *out > 0) ? 0 : -1;
}

/* Parse; returns token count or -1 with *why set. */
static int parse_body(body_t *b, size_t len, const char **why)
{
    jsmn_parser p;
    int n;
    size_t i;
    /* jsmn alone accepts keys without values (whose value index would
     * then lie past the tokens it wrote), missing commas and words such
     * as "tx" */
    if (llmc_json_valid(b->text, len) != LLMC_OK) {
        *why = "the body is not valid JSON";
        return -1;
    }
    /* JSON text is UTF-8 (RFC 8259 8.1); providers refuse other bytes */
    if (llmc_tool_utf8_span(b->text, len) != len) {
        *why = "the body is not UTF-8";
        return -1;
    }
    jsmn_init(&p);
    n = jsmn_parse(&p, b->text, len, g_tok, GW_TOKENS);
    if (n == JSMN_ERROR_NOMEM) {
        *why = "the JSON body has too many values";
        return -1;
    }
    if (n <= 0 || g_tok[0].type != JSMN_OBJECT) {
        *why = "the body is not a JSON object";
        return -1;
    }
    for (i = (size_t)g_tok[0].end; i < len; i++)
        if (b->text[i] != ' ' && b->text[i] != '\n' && b->text[i] != '\r' &&
            b->text[i] != '\t') {
            *why = "the body is not a JSON object";
            return -1;
        }
    b->n = n;
    return n;
}

static int bad(conn_t *c, const char *msg)
{
    respond_error(c, 400, "invalid_request_error", msg, NULL);
    return -1;
}

/* Fields that ask for an answer llmc cannot give: tool calls, several
 * choices, log probabilities. Sent without them, the request would be
 * answered as another one, so they are refused; their "off" values pass
 * (null, [], "n": 1, "logprobs": false). The message, or NULL. */
static const char *unsupported(const body_t *b, int k, int v)
{
    int32_t one;
    bool on, empty = g_tok[v].type == JSMN_ARRAY && g_tok[v].size == 0;
    if (is_null(b, v))
        return NULL;
    if (key_is(b, k, "tools") || key_is(b, k, "functions"))
        return empty ? NULL
                     : "tools and functions are not supported: llmc "
                       "answers with text";
    if (key_is(b, k, "n"))
        return int_tok(b, v, &one) == 0 && one == 1
                   ? NULL
                   : "\"n\" must be 1: llmc gives one choice";
    if (key_is(b, k, "logprobs"))
        return bool_tok(b, v, &on) == 0 && !on
                   ? NULL
                   : "\"logprobs\" are not supported";
    return NULL;
}

/* A field passed on as it is (in c->extra): any but those of tool calls,
 * choices and log probabilities, whose "off" values add nothing and some
 * of which a provider refuses alone ("tool_choice" without "tools"), and
 * but a null, which leaves a field at its default. */
static bool passed_on(const body_t *b, int k, int v)
{
    static const char *const kept[] = {"tools", "functions", "tool_choice",
                                       "function_call", "parallel_tool_calls",
                                       "n", "logprobs", "top_logprobs"};
    size_t i;
    if (is_null(b, v))
        return false;
    for (i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
        if (key_is(b, k, kept[i]))
            return false;
    return true;
}

/* Append token t's text, a string with its quotes, to c->extra at *len;
 * false when it does not fit (with the closing brace and NUL). */
static bool extra_put(conn_t *c, const body_t *b, int t, size_t *len)
{
    int q = g_tok[t].type == JSMN_STRING;
    const char *s = b->text + g_tok[t].start - q;
    size_t n = (size_t)(g_tok[t].end - g_tok[t].start) + 2 * (size_t)q;
    if (n + 2 > sizeof(c->extra) - *len)
        return false;
    memcpy(c->extra + *len, s, n);
    *len += n;
    return true;
}

/* Fill c->req from an OpenAI chat completions body. */
static int parse_completions(conn_t *c, body_t *b)
{
    static const char extra_too_long[] =
        "the fields other than model, messages, stream and the token limit "
        "are too long for the gateway";
    int k, n = b->n;
    size_t nm = 0, xl = 0;
    bool have_messages = false;
    const char *model = g_default_model;

    for (k = 1; k < n; k = skip_tok(k + 1, n)) {
        int v = k + 1;
        if (key_is(b, k, "model")) {
            size_t ml;
            if (g_tok[v].type != JSMN_STRING)
                return bad(c, "\"model\" must be a string");
            model = str_tok(b, v, &ml);
            if (model == NULL)
                return bad(c, "bad string escape in \"model\"");
            /* cut short, it would name another model */
            if (ml >= GW_MODEL_MAX || memchr(model, '\0', ml) != NULL)
                return bad(c, "\"model\" is too long (or holds U+0000)");
        } else if (key_is(b, k, "messages")) {
            int e, end = skip_tok(v, n);
            if (g_tok[v].type != JSMN_ARRAY)
                return bad(c, "\"messages\" must be an array");
            have_messages = true;
            nm = 0; /* a second "messages" replaces the first */
            for (e = v + 1; e < end; e = skip_tok(e, n)) {
                int f, fend = skip_tok(e, n);
                llmc_message_t *m;
                if (g_tok[e].type != JSMN_OBJECT)
                    return bad(c, "each message must be an object");
                if (nm >= GW_MESSAGES)
                    return bad(c, "too many messages");
                m = &c->msgs[nm++];
                m->role = NULL;
                m->content = NULL;
                m->content_len = 0;
                for (f = e + 1; f < fend; f = skip_tok(f + 1, n)) {
                    int fv = f + 1;
                    if (key_is(b, f, "role")) {
                        size_t rl;
                        if (g_tok[fv].type != JSMN_STRING)
                            return bad(c, "\"role\" must be a string");
                        m->role = str_tok(b, fv, &rl);
                        /* llmc takes it NUL-terminated: cut short at a
                         * U+0000, it would name another role */
                        if (m->role != NULL && memchr(m->role, '\0', rl))
                            return bad(c, "\"role\" holds U+0000");
                    } else if (key_is(b, f, "content") &&
                               g_tok[fv].type == JSMN_ARRAY) {
                        const char *why;
                        m->content =
                            parts_tok(b, fv, n, &m->content_len, &why);
                        if (m->content == NULL)
                            return bad(c, why);
                    } else if (key_is(b, f, "content")) {
                        if (g_tok[fv].type != JSMN_STRING)
                            return bad(c, "\"content\" must be a string "
                                          "or an array of text parts");
                        m->content = str_tok(b, fv, &m->content_len);
                        if (m->content == NULL)
                            return bad(c, "bad string escape in \"content\"");
                    }
                }
                if (m->role == NULL || m->content == NULL)
                    return bad(c, "each message needs \"role\" and "
                                  "\"content\" strings");
                if (m->content_len == 0)
                    m->content = "";
            }
        } else if (key_is(b, k, "max_tokens") ||
                   key_is(b, k, "max_completion_tokens")) {
            if (max_tokens_tok(b, v, &c->req.max_tokens) != 0)
                return bad(c, "\"max_tokens\" must be a positive integer");
        } else if (key_is(b, k, "temperature")) {
            double d;
            if (!is_null(b, v)) {
                if (num_tok(b, v, &d) != 0 || d < 0 || d > 2)
                    return bad(c, "\"temperature\" must be a number "
                                  "from 0 to 2");
                c->req.temperature = (float)d;
            }
        } else if (key_is(b, k, "stream")) {
            if (!is_null(b, v) && bool_tok(b, v, &c->stream) != 0)
                return bad(c, "\"stream\" must be true or false");
        } else if (key_is(b, k, "stream_options")) {
            int f, fend = skip_tok(v, n);
            if (is_null(b, v))
                continue;
            if (g_tok[v].type != JSMN_OBJECT)
                return bad(c, "\"stream_options\" must be an object");
            for (f = v + 1; f < fend; f = skip_tok(f + 1, n))
                if (key_is(b, f, "include_usage") &&
                    bool_tok(b, f + 1, &c->include_usage) != 0)
                    return bad(c, "\"include_usage\" must be true or false");
        } else {
            const char *why = unsupported(b, k, v);
            if (why != NULL)
                return bad(c, why);
            if (!passed_on(b, k, v))
                continue;
            /* each put leaves room for one byte more and the NUL */
            c->extra[xl] = xl == 0 ? '{' : ',';
            xl++;
            if (!extra_put(c, b, k, &xl))
                return bad(c, extra_too_long);
            c->extra[xl++] = ':';
            if (!extra_put(c, b, v, &xl))
                return bad(c, extra_too_long);
        }
    }
    if (xl > 0) {
        c->extra[xl++] = '}';
        c->extra[xl] = '\0';
        c->req.extra_json = c->extra;
    }
    if (!have_messages || nm == 0)
        return bad(c, "\"messages\" must be a non-empty array");
    c->req.messages = c->msgs;
    c->req.n_messages = nm;
    snprintf(c->model, sizeof(c->model), "%s", model);
    c->req.model = c->model;
    return 0;
}

/* Fill c->req from the seed's {"message": "...", "max_tokens": N}. */
static int parse_chat(conn_t *c, body_t *b)
{
    int k, n = b->n;
    llmc_message_t *m = &c->msgs[0];
    m->role = "user";
    m->content = NULL;
    for (k = 1; k < n; k = skip_tok(k + 1, n)) {
        int v = k + 1;
        if (key_is(b, k, "message")) {
            if (g_tok[v].type != JSMN_STRING)
                return bad(c, "\"message\" must be a string");
            m->content = str_tok(b, v, &m->content_len);
            if (m->content == NULL)
                return bad(c, "bad string escape in \"message\"");
        } else if (key_is(b, k, "max_tokens")) {
            if (max_tokens_tok(b, v, &c->req.max_tokens) != 0)
                return bad(c, "\"max_tokens\" must be a positive integer");
        }
    }
    if (m->content == NULL)
        return bad(c, "\"message\" is required");
    if (m->content_len == 0)
        m->content = "";
    snprintf(c->model, sizeof(c->model), "%s", g_default_model);
    c->req.model = c->model;
    c->req.messages = c->msgs;
    c->req.n_messages = 1;
    return 0;
}

static void submit(conn_t *c, char *body, size_t len)
{
    body_t b;
    const char *why = NULL;
    llmc_handle_t h;

    b.text = body;
    b.n = 0;
    llmc_request_init(&c->req);
    if (parse_body(&b, len, &why) < 0) {
        bad(c, why);
        return;
    }
    if ((c->endpoint == EP_CHAT ? parse_chat(c, &b)
                                : parse_completions(c, &b)) != 0)
        return;
    if (c->endpoint == EP_CHAT)
        c->stream = false;
    if (c->peer_eof) { /* see conn_read() */
        conn_drop(c, "client closed before its answer");
        return;
    }
    if (g_active >= g_max_inflight + g_queue_limit) {
        respond_error(c, 503, "overloaded",
                      "too many requests in flight, retry later",
                      "Retry-After: 1\r\n");
        return;
    }
    c->id = g_next_id++;
    c->created = (long)time(NULL);
    c->state = C_WAIT;
    h = llmc_submit(&g_client, &c->req, &g_cb, c);
    if (h < 0) {
        c->state = C_READ;
        if (h == LLMC_ERR_QUEUE_FULL)
            respond_error(c, 503, "overloaded",
                          "too many requests in flight, retry later",
                          "Retry-After: 1\r\n");
        else
            respond_error(c, 500, "server_error", llmc_strerror(h), NULL);
        return;
    }
    c->h = h;
    g_active++;
    logf_("request %lu submitted (handle %ld)", c->id, (long)h);
}

/* ---- GET endpoints ------------------------------------------------------------ */

/* Append to buf[0..cap) at *o; false (and *o unchanged) if it does not fit. */
static bool app(char *buf, size_t cap, size_t *o, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (*o >= cap)
        return false;
    va_start(ap, fmt);
    n = vsnprintf(buf + *o, cap - *o, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap - *o)
        return false;
    *o += (size_t)n;
    return true;
}

/* Append s JSON-escaped, whole; false (and *o unchanged) if it does not
 * fit: a name is never cut short. */
static bool app_esc(char *buf, size_t cap, size_t *o, const char *s)
{
    size_t used, n = strlen(s), k;
    if (*o >= cap)
        return false;
    k = llmc_tool_json_escape(s, n, buf + *o, cap - *o - 1, &used);
    if (used < n)
        return false;
    *o += k;
    buf[*o] = '\0';
    return true;
}

static void get_models(conn_t *c)
{
    char *body = g_scratch;
    const size_t cap = sizeof(g_scratch);
    size_t i, j, o = 0;
    bool first = true, ok;
    ok = app(body, cap, &o, "{\"object\":\"list\",\"data\":[");
    for (i = 0; ok && i < g_cfg.n_providers; i++) {
        const char *m = g_cfg.providers[i].model;
        bool dup = false;
        if (m == NULL)
            m = g_default_model;
        for (j = 0; j < i; j++) {
            const char *m2 = g_cfg.providers[j].model;
            if (strcmp(m2 != NULL ? m2 : g_default_model, m) == 0)
                dup = true;
        }
        if (dup)
            continue;
        /* the id whole: a provider's model may be longer than a
         * request's */
        ok = app(body, cap, &o, "%s{\"id\":\"", first ? "" : ",") &&
             app_esc(body, cap, &o, m) &&
             app(body, cap, &o,
                 "\",\"object\":\"model\",\"created\":0,"
                 "\"owned_by\":\"") &&
             app_esc(body, cap, &o, g_cfg.providers[i].name) &&
             app(body, cap, &o, "\"}");
        first = false;
    }
    if (!ok || !app(body, cap, &o, "]}")) {
        respond_error(c, 500, "server_error", "model list too long", NULL);
        return;
    }
    respond(c, 200, body, o, NULL);
}

static void get_health(conn_t *c)
{
    char *body = g_scratch;
    char ee[sizeof(g_health[0].last_error) * 6 + 1];
    const size_t cap = sizeof(g_scratch);
    size_t i, o = 0;
    unsigned nconn = 0;
    bool ok;
    for (i = 0; i < GW_CONNS; i++)
        nconn += g_conns[i].state != C_FREE;
    ok = app(body, cap, &o,
             "{\"status\":\"%s\",\"in_flight\":%u,\"connections\":%u,"
             "\"providers\":[",
             g_stopping ? "stopping" : "ok", g_active, nconn);
    for (i = 0; ok && i < g_cfg.n_providers; i++) {
        const health_t *h = &g_health[i];
        char lat[32];
        if (h->has_latency)
            snprintf(lat, sizeof(lat), "%lu", (unsigned long)h->last_latency_ms);
        else
            snprintf(lat, sizeof(lat), "null");
        ok = app(body, cap, &o, "%s{\"name\":\"", i == 0 ? "" : ",") &&
             app_esc(body, cap, &o, g_cfg.providers[i].name) &&
             app(body, cap, &o,
                 "\",\"working\":%s,\"cooling_down\":%s,"
                 "\"consecutive_failures\":%u,"
                 "\"last_error\":%s%s%s,\"last_latency_ms\":%s,"
                 "\"attempts\":%lu,\"failures\":%lu}",
                 g_cfg.providers[i].disabled ? "false" : "true",
                 cooling_down(i) ? "true" : "false",
                 (unsigned)g_client.prov[i].fails,
                 h->last_error[0] ? "\"" : "null",
                 h->last_error[0] ? esc_small(h->last_error, ee, sizeof(ee))
                                  : "",
                 h->last_error[0] ? "\"" : "", lat, h->attempts,
                 h->failures);
    }
    if (!ok || !app(body, cap, &o, "]}")) {
        respond_error(c, 500, "server_error", "health report too long", NULL);
        return;
    }
    respond(c, 200, body, o, NULL);
}

/* ---- HTTP requests ------------------------------------------------------------- */

static bool name_is(const char *p, size_t n, const char *name)
{
    size_t i;
    if (n != strlen(name))
        return false;
    for (i = 0; i < n; i++) {
        char a = p[i], b = name[i];
        if (a >= 'A' && a <= 'Z')
            a = (char)(a - 'A' + 'a');
        if (a != b)
            return false;
    }
    return true;
}

/* A byte of a token (RFC 9110 5.6.2), what a field name is made of. */
static bool is_tchar(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
           (ch >= 'A' && ch <= 'Z') ||
           (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static bool value_has(const char *v, size_t n, const char *word)
{
    size_t w = strlen(word), i;
    for (i = 0; i + w <= n; i++)
        if (name_is(v + i, w, word))
            return true;
    return false;
}

/* Try to take one request from c->in. */
static void conn_parse(conn_t *c, uint64_t now)
{
    char *end, *p, *line_end, *method, *target, *version;
    size_t head_len, mlen, tlen, i;
    unsigned hosts = 0;
    long long content_length = -1;
    bool chunked = false, expect = false, http10;

    if (c->in_len == 0)
        return;
    c->in[c->in_len] = '\0';
    /* tolerate blank lines before a request (RFC 9112 2.2) */
    while (c->in_len >= 2 && c->in[0] == '\r' && c->in[1] == '\n') {
        memmove(c->in, c->in + 2, c->in_len - 2);
        c->in_len -= 2;
        c->in[c->in_len] = '\0';
    }
    /* the head: lines that end in CRLF, up to a blank one. A NUL, or an
     * LF without its CR, is a 400 at once, not a wait for an end that
     * would never be found */
    end = NULL;
    for (i = 0; i < c->in_len && end == NULL; i++) {
        char ch = c->in[i];
        if (ch == '\0' || (ch == '\n' && (i == 0 || c->in[i - 1] != '\r')))
            goto malformed;
        if (ch == '\n' && i >= 3 && c->in[i - 2] == '\n') /* \r\n\r\n */
            end = c->in + i - 3;
    }
    if (end == NULL) {
        if (c->in_len >= GW_REQ_MAX) {
            c->keep_alive = false;
            respond_error(c, 431, "invalid_request_error",
                          "request head too large", NULL);
        }
        return;
    }
    head_len = (size_t)(end - c->in) + 4;
    /* request line */
    line_end = strstr(c->in, "\r\n");
    method = c->in;
    p = memchr(method, ' ', (size_t)(line_end - method));
    if (p == NULL)
        goto malformed;
    mlen = (size_t)(p - method);
    target = p + 1;
    p = memchr(target, ' ', (size_t)(line_end - target));
    if (p == NULL)
        goto malformed;
    tlen = (size_t)(p - target);
    version = p + 1;
    /* HTTP/1.DIGIT: a later minor version is answered as 1.1 */
    if ((size_t)(line_end - version) != 8 ||
        memcmp(version, "HTTP/1.", 7) != 0 || version[7] < '0' ||
        version[7] > '9')
        goto malformed;
    http10 = version[7] == '0';
    c->keep_alive = !http10;
    /* from here on, every answer to HEAD (an error too) is a head alone */
    c->head_only = mlen == 4 && memcmp(method, "HEAD", 4) == 0;
    /* headers */
    p = line_end + 2;
    while (p < end + 2) {
        char *colon, *v, *le = strstr(p, "\r\n");
        size_t vn;
        if (le == NULL || le == p)
            break;
        colon = memchr(p, ':', (size_t)(le - p));
        if (colon == NULL || colon == p)
            goto malformed;
        /* the name is a token, up to the colon (RFC 9112 5.1): read
         * "Content-Length : 5" as some other field and its body would be
         * taken for the next request. A line that begins with SP or HTAB
         * (obs-fold, 5.2) is refused the same way. */
        for (v = p; v < colon; v++)
            if (!is_tchar(*v))
                goto malformed;
        v = colon + 1;
        while (v < le && (*v == ' ' || *v == '\t'))
            v++;
        vn = (size_t)(le - v);
        if (name_is(p, (size_t)(colon - p), "content-length")) {
            /* 1*DIGIT, then only whitespace: "5 6" or "+5" is no length */
            char *e = v;
            long long cl = 0;
            while (e < le && *e >= '0' && *e <= '9') /* saturating */
                cl = cl > (LLONG_MAX - 9) / 10 ? LLONG_MAX
                                               : cl * 10 + (*e - '0'), e++;
            if (e == v)
                goto malformed;
            while (e < le && (*e == ' ' || *e == '\t'))
                e++;
            if (e != le || (content_length >= 0 && cl != content_length))
                goto malformed;
            content_length = cl;
        } else if (name_is(p, (size_t)(colon - p), "transfer-encoding")) {
            chunked = true;
        } else if (name_is(p, (size_t)(colon - p), "connection")) {
            if (value_has(v, vn, "close"))
                c->keep_alive = false;
            else if (value_has(v, vn, "keep-alive"))
                c->keep_alive = true;
        } else if (name_is(p, (size_t)(colon - p), "expect")) {
            /* HTTP/1.0 has no 1xx: its client would take "100 Continue"
             * for the answer (RFC 9110 10.1.1: ignore the expectation) */
            expect = !http10 && value_has(v, vn, "100-continue");
        } else if (name_is(p, (size_t)(colon - p), "host")) {
            hosts++;
        }
        p = le + 2;
    }
    /* one Host, which only HTTP/1.0 may leave out (RFC 9112 3.2) */
    if (hosts > 1 || (hosts == 0 && !http10))
        goto malformed;
    if (chunked) {
        c->keep_alive = false;
        respond_error(c, 411, "invalid_request_error",
                      "send the body with a Content-Length", NULL);
        return;
    }
    if (content_length < 0)
        content_length = 0;
    if ((unsigned long long)content_length > GW_REQ_MAX - head_len) {
        char msg[96];
        c->keep_alive = false;
        snprintf(msg, sizeof(msg), "request body larger than %u bytes",
                 (unsigned)(GW_REQ_MAX - head_len));
        /* a client waiting for "100 Continue" does not send the body */
        c->drain_left = expect ? 0
                               : (unsigned long long)content_length -
                                     (c->in_len - head_len);
        respond_error(c, 413, "invalid_request_error", msg, NULL);
        return;
    }
    c->req_len = head_len + (size_t)content_length;
    if (c->in_len < c->req_len) {
        if (expect && !c->sent_continue) {
            c->sent_continue = true;
            out_printf(c, "HTTP/1.1 100 Continue\r\n\r\n");
            conn_flush(c, now);
        }
        return;
    }
    /* route */
    {
        bool post = mlen == 4 && memcmp(method, "POST", 4) == 0;
        /* HEAD: GET's answer without its body */
        bool get = (mlen == 3 && memcmp(method, "GET", 3) == 0) ||
                   c->head_only;
        char *q = memchr(target, '?', tlen);
        char *body = c->in + head_len;
        if (q != NULL)
            tlen = (size_t)(q - target);
        if ((tlen == 5 && memcmp(target, "/chat", 5) == 0) ||
            (tlen == 20 && memcmp(target, "/v1/chat/completions", 20) == 0)) {
            if (!post) {
                respond_error(c, 405, "invalid_request_error",
                              "method not allowed", "Allow: POST\r\n");
                return;
            }
            c->endpoint = tlen == 5 ? EP_CHAT : EP_COMPLETIONS;
            submit(c, body, (size_t)content_length);
            return;
        }
        if ((tlen == 10 && memcmp(target, "/v1/models", 10) == 0) ||
            (tlen == 7 && memcmp(target, "/health", 7) == 0)) {
            if (!get) {
                respond_error(c, 405, "invalid_request_error",
                              "method not allowed", "Allow: GET, HEAD\r\n");
                return;
            }
            if (tlen == 7)
                get_health(c);
            else
                get_models(c);
            return;
        }
        respond_error(c, 404, "invalid_request_error", "unknown path", NULL);
        return;
    }
malformed:
    c->keep_alive = false;
    respond_error(c, 400, "invalid_request_error", "malformed HTTP request",
                  NULL);
}

/* After a response went out: next request on the connection, or close. */
static void conn_next(conn_t *c, uint64_t now)
{
    size_t rest;
    if (c->drain_left > 0 && !g_stopping) {
        c->state = C_DRAIN;
        c->in_len = 0;
        c->t_start = c->t_last = now;
        return;
    }
    if (c->close_after || g_stopping) {
        conn_free(c);
        return;
    }
    rest = c->req_len <= c->in_len ? c->in_len - c->req_len : 0;
    if (c->req_len > 0 && rest > 0)
        memmove(c->in, c->in + c->req_len, rest);
    c->in_len = c->req_len > 0 ? rest : 0;
    conn_reset_request(c);
    c->state = C_READ;
    c->req_seen = c->in_len > 0; /* pipelined: the next one has begun */
    c->t_start = now;
    c->t_last = now;
    conn_parse(c, now);
}

/* C_DRAIN: discard the rest of a refused body, then close. */
static void conn_drain(conn_t *c)
{
    for (;;) {
        size_t want = c->drain_left < GW_REQ_MAX ? (size_t)c->drain_left
                                                 : GW_REQ_MAX;
        long n = llmc_port_recv(c->sock, c->in, want);
        if (n == LLMC_PORT_WOULD_BLOCK)
            return;
        if (n > 0)
            c->drain_left -= (unsigned long long)n;
        if (n <= 0 || c->drain_left == 0) {
            conn_free(c);
            return;
        }
    }
}

static void conn_read(conn_t *c, uint64_t now)
{
    for (;;) {
        long n;
        if (c->in_len >= GW_REQ_MAX) {
            if (c->state == C_READ)
                conn_parse(c, now);
            return;
        }
        n = llmc_port_recv(c->sock, c->in + c->in_len, GW_REQ_MAX - c->in_len);
        if (n == LLMC_PORT_WOULD_BLOCK)
            break;
        if (n == LLMC_PORT_EOF && c->state == C_READ && c->in_len > 0) {
            /* A half-close after the request (shutdown(SHUT_WR), `nc -N`):
             * what is answered at once (health, models, an error) still
             * goes out, then the connection closes. A valid chat request
             * is not started (submit()): a client that has closed is
             * taken as gone, as when the close comes while it waits. */
            c->peer_eof = true;
            conn_parse(c, now);
            if (c->state == C_READ)
                conn_drop(c, "client closed within its request");
            return;
        }
        if (n <= 0) {
            conn_drop(c, n == LLMC_PORT_EOF ? "client closed" : "recv failed");
            return;
        }
        /* the first byte of a request starts its bound; blank lines
         * before it, which conn_parse() strips, are such bytes too, so
         * that a client sending one now and then is not taken as idle */
        if (!c->req_seen && c->state == C_READ) {
            c->req_seen = true;
            c->t_start = now;
        }
        c->in_len += (size_t)n;
        c->t_last = now;
    }
    if (c->state == C_READ)
        conn_parse(c, now);
}

/* A connection slot for a new client, or NULL when all are taken. */
static conn_t *free_conn(void)
{
    size_t i;
    for (i = 0; i < GW_CONNS; i++)
        if (g_conns[i].state == C_FREE)
            return &g_conns[i];
    return NULL;
}

static void accept_all(uint64_t now)
{
    for (;;) {
        llmc_sock_t s;
        int rc;
        conn_t *c = free_conn();
        if (c == NULL)
            return; /* the backlog holds the rest */
        rc = llmc_port_accept(g_listener, &s);
        if (rc != LLMC_PORT_OK) {
            if (rc != LLMC_PORT_WOULD_BLOCK) {
                if (g_verbose)
                    fprintf(stderr, "llmc-gateway: accept failed (port "
                                    "error %d); pausing %d ms\n",
                            rc, ACCEPT_PAUSE_MS);
                g_accept_pause_until = now + ACCEPT_PAUSE_MS;
            }
            return;
        }
        c->sock = s;
        c->state = C_READ;
        c->in_len = 0;
        c->req_seen = false;
        c->peer_eof = false;
        c->out_off = c->out_len = 0;
        c->t_start = c->t_last = now;
        conn_reset_request(c);
    }
}

static void check_timeouts(uint64_t now)
{
    size_t i;
    for (i = 0; i < GW_CONNS; i++) {
        conn_t *c = &g_conns[i];
        if (c->state == C_READ && c->req_seen &&
            now - c->t_start > g_client_timeout_ms)
            conn_drop(c, "request not received in time");
        else if (c->state == C_READ && !c->req_seen &&
                 now - c->t_last > g_client_timeout_ms)
            conn_drop(c, "idle keep-alive connection");
        else if ((c->state == C_WRITE || c->state == C_WAIT) &&
                 conn_pending(c) && now - c->t_last > g_client_timeout_ms)
            conn_drop(c, "client does not read");
        else if (c->state == C_DRAIN && now - c->t_start > g_client_timeout_ms)
            conn_drop(c, "client still sending a refused body");
    }
}

/* ---- main ------------------------------------------------------------------------ */

/* LLMC_GATEWAY_FUZZ leaves main() out: tests/fuzz/fuzz_gateway.c includes
 * this file and drives the connections over a port of its own. */
#ifndef LLMC_GATEWAY_FUZZ

static void on_signal(int sig)
{
    g_signal = sig;
    llmc_port_wake();
}

static void usage(FILE *f)
{
    fprintf(f, "usage: llmc-gateway -c providers.json [--listen HOST:PORT]\n"
          "                    [--model NAME] [--max-inflight N] [--queue N]\n"
          "                    [--grace SECONDS] [--client-timeout SECONDS]\n"
          "                    [--port-file PATH] [-v]\n"
          "An OpenAI-compatible gateway with failover across the configured\n"
          "providers: POST /chat, POST /v1/chat/completions, GET /v1/models,\n"
          "GET /health. Defaults: --listen 127.0.0.1:8088 (IPv6: [::1]:8088),\n"
          "--max-inflight the config's max_inflight or %d (the most),\n"
          "--queue %d (the most), --grace 5, --client-timeout 10.\n",
          LLMC_SLOTS, LLMC_QUEUE_LEN);
}

/* The longest a failed request's formatted result can be (with its NUL):
 * the first line, every recorded attempt with the longest name, kind and
 * message, the line that counts attempts not recorded, and the request's
 * own last line (llmc_result_format()). */
static size_t failure_bound(void)
{
    size_t name = 1, kind = 0, i, k;
    int st;
    for (i = 0; i < g_cfg.n_providers; i++)
        if ((k = strlen(g_cfg.providers[i].name)) > name)
            name = k;
    for (st = INT8_MIN; st < LLMC_OK; st++) /* an attempt's int8_t */
        if ((k = strlen(llmc_strerror(st))) > kind)
            kind = k;
    return sizeof("failed after partial content:") - 1 +
           (size_t)LLMC_MAX_ATTEMPTS *
               (1 + name + 2 + kind + 2 + (LLMC_MSG_LEN - 1)) +
           sizeof("\n(255 more attempts not recorded)") - 1 +
           1 + kind + 2 + (LLMC_MSG_LEN - 1) + 1;
}

/* A number of seconds for an option: all of s a decimal number in
 * [lo, hi]; 0 and *ms set (rounded to the millisecond), else -1. */
static int arg_seconds(const char *s, double lo, double hi, uint32_t *ms)
{
    char *end;
    double v = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || !(v >= lo && v <= hi))
        return -1; /* NaN too */
    *ms = (uint32_t)(v * 1000.0 + 0.5);
    return 0;
}

static int parse_listen(const char *s, llmc_addr_t *a)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    long port;
    char *e;
    int n;
    size_t hl;
    if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
        return -1;
    /* an IPv6 address as in a URL, [::1]:8088, or bare, ::1:8088 */
    hl = (size_t)(colon - s);
    if (s[0] == '[' && hl >= 2 && s[hl - 1] == ']') {
        s++;
        hl -= 2;
    }
    memcpy(host, s, hl);
    host[hl] = '\0';
    port = strtol(colon + 1, &e, 10);
    if (*e != '\0' || port < 0 || port > 65535)
        return -1;
    n = llmc_port_resolve(host[0] ? host : "0.0.0.0", (uint16_t)port, a, 1);
    return n >= 1 ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *config = NULL, *listen_at = "127.0.0.1:8088";
    const char *port_file = NULL;
    uint32_t grace_ms = 5000;
    long max_inflight = -1, queue = -1;
    llmc_config_t lc;
    llmc_addr_t addr;
    struct sigaction sa;
    uint64_t stop_at = 0, last_tick = 0;
    bool cancelled_rest = false;
    int i, rc, exit_code = 0;

    llmc_tool_std_fds(); /* before any file or socket is opened */

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            return llmc_tool_version("llmc-gateway");
        } else if (strcmp(a, "-v") == 0) {
            g_verbose = 1;
            continue;
        }
        if (v == NULL) {
            usage(stderr);
            return 2;
        }
        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            config = v;
        } else if (strcmp(a, "--listen") == 0) {
            listen_at = v;
        } else if (strcmp(a, "--model") == 0) {
            /* as a request's model: whole (c->model holds it) and UTF-8 */
            if (strlen(v) >= GW_MODEL_MAX) {
                fprintf(stderr, "llmc-gateway: --model needs at most %d "
                                "bytes\n", GW_MODEL_MAX - 1);
                return 2;
            }
            if (!llmc_tool_utf8_ok("llmc-gateway", "--model", v, strlen(v)))
                return 2;
            g_default_model = v;
        } else if (strcmp(a, "--max-inflight") == 0) {
            if (llmc_tool_arg_num(v, 1, LLMC_SLOTS, &max_inflight) != 0) {
                fprintf(stderr, "llmc-gateway: --max-inflight needs 1..%d\n",
                        LLMC_SLOTS);
                return 2;
            }
        } else if (strcmp(a, "--queue") == 0) {
            if (llmc_tool_arg_num(v, 0, LLMC_QUEUE_LEN, &queue) != 0) {
                fprintf(stderr, "llmc-gateway: --queue needs 0..%d\n",
                        LLMC_QUEUE_LEN);
                return 2;
            }
        } else if (strcmp(a, "--grace") == 0) {
            if (arg_seconds(v, 0.0, 86400.0, &grace_ms) != 0) {
                fputs("llmc-gateway: --grace needs seconds from 0 to "
                      "86400\n", stderr);
                return 2;
            }
        } else if (strcmp(a, "--client-timeout") == 0) {
            if (arg_seconds(v, 0.001, 86400.0, &g_client_timeout_ms) != 0) {
                fputs("llmc-gateway: --client-timeout needs seconds from "
                      "0.001 to 86400\n", stderr);
                return 2;
            }
        } else if (strcmp(a, "--port-file") == 0) {
            port_file = v;
        } else {
            usage(stderr);
            return 2;
        }
        i++;
    }
    if (config == NULL) {
        usage(stderr);
        return 2;
    }
    if (llmc_tool_config_load(&g_cfg, config) != 0) {
        fprintf(stderr, "llmc-gateway: config: %s\n", g_cfg.err);
        return 2;
    }
    /* a provider's model goes whole into every chunk of a stream and the
     * head of an answer, which the output buffer holds with the rest */
    for (i = 0; i < (int)g_cfg.n_providers; i++) {
        const char *m = g_cfg.providers[i].model;
        if (m != NULL && escaped_len(false, m, strlen(m)) > GW_OUT_MAX / 4) {
            fprintf(stderr, "llmc-gateway: config: providers[%d].model is "
                            "too long for the gateway: at most %u bytes "
                            "as JSON (GW_OUT_MAX / 4)\n",
                    i, (unsigned)(GW_OUT_MAX / 4));
            return 2;
        }
    }
    /* a failed request's message is sent whole from an answer buffer */
    if (failure_bound() > GW_ANSWER_MAX) {
        fprintf(stderr, "llmc-gateway: config: provider names too long: a "
                        "failed request's message could take %zu bytes, "
                        "more than the gateway's %u (GW_ANSWER_MAX)\n",
                failure_bound(), (unsigned)GW_ANSWER_MAX);
        return 2;
    }
    if (max_inflight > 0)
        g_cfg.max_inflight = (unsigned)max_inflight;
    if (g_cfg.max_inflight == 0 || g_cfg.max_inflight > LLMC_SLOTS)
        g_cfg.max_inflight = LLMC_SLOTS;
    if (g_cfg.max_inflight > 255)
        g_cfg.max_inflight = 255;
    g_max_inflight = g_cfg.max_inflight;
    if (queue >= 0)
        g_queue_limit = (unsigned)queue;

    memset(&lc, 0, sizeof(lc));
    lc.providers = g_cfg.providers;
    lc.n_providers = g_cfg.n_providers;
    lc.policy = g_cfg.policy;
    lc.max_inflight = (uint8_t)g_cfg.max_inflight;
    lc.ca_file = g_cfg.ca_file;
    rc = llmc_client_init(&g_client, &lc);
    if (rc != LLMC_OK) {
        fprintf(stderr, "llmc-gateway: client: %s%s\n", llmc_strerror(rc),
                llmc_tool_init_hint(&lc, rc));
        return 2;
    }
    /* the library must have been built with room for our sockets */
    for (i = 0; i < GW_CONNS + 1; i++) {
        g_fds[i].sock = LLMC_SOCK_INVALID;
        g_fds[i].events = 0;
    }
    if (llmc_poll_with(&g_client, g_fds, GW_CONNS + 1, 0) == LLMC_ERR_ARG) {
        fprintf(stderr, "llmc-gateway: libllmc was built with LLMC_POLL_EXTRA "
                        "< %d (rebuild it with the same flags)\n",
                GW_CONNS + 1);
        llmc_client_shutdown(&g_client);
        return 2;
    }
    if (parse_listen(listen_at, &addr) != 0 ||
        llmc_port_listen(&addr, 128, &g_listener) != LLMC_PORT_OK) {
        fprintf(stderr, "llmc-gateway: cannot listen on %s\n", listen_at);
        llmc_client_shutdown(&g_client);
        return 2;
    }
    if (port_file != NULL) {
        char tmp[4096];
        FILE *f;
        snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
        f = fopen(tmp, "w");
        if (f != NULL) {
            fprintf(f, "%u\n", (unsigned)addr.port);
            fclose(f);
            rename(tmp, port_file);
        }
    }
    fprintf(stderr, "llmc-gateway: listening on port %u, %zu provider(s)\n",
            (unsigned)addr.port, g_cfg.n_providers);

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    for (;;) {
        size_t nfds = 0, k;
        uint64_t now = llmc_port_now_ms();
        unsigned busy = 0;

        if (g_signal && !g_stopping) {
            g_stopping = true;
            stop_at = now + grace_ms;
            fprintf(stderr, "llmc-gateway: stopping (%u request(s) in "
                            "flight)\n", g_active);
            if (g_listener != LLMC_SOCK_INVALID) {
                llmc_port_close(g_listener);
                g_listener = LLMC_SOCK_INVALID;
            }
            for (k = 0; k < GW_CONNS; k++)
                if (g_conns[k].state == C_READ || g_conns[k].state == C_DRAIN)
                    conn_free(&g_conns[k]); /* idle or half-read */
        }
        if (g_stopping) {
            for (k = 0; k < GW_CONNS; k++)
                busy += g_conns[k].state != C_FREE;
            if (busy == 0 && g_active == 0)
                break;
            if (now >= stop_at && !cancelled_rest) {
                cancelled_rest = true;
                for (k = 0; k < GW_CONNS; k++)
                    if (g_conns[k].state == C_WAIT && g_conns[k].h > 0)
                        llmc_cancel(&g_client, g_conns[k].h);
            }
            if (cancelled_rest && now >= stop_at + 2000)
                break; /* responses that cannot be delivered */
        }
        if (now - last_tick >= 250) {
            check_timeouts(now);
            last_tick = now;
        }
        /* with every slot taken, the backlog holds new clients: a listener
         * watched then would be ready at once, at every poll */
        if (g_listener != LLMC_SOCK_INVALID && free_conn() != NULL &&
            now >= g_accept_pause_until) {
            g_fds[nfds].sock = g_listener;
            g_fds[nfds].events = LLMC_POLL_IN;
            g_fds[nfds].revents = 0;
            g_fd_conn[nfds] = -1;
            nfds++;
        }
        for (k = 0; k < GW_CONNS; k++) {
            conn_t *c = &g_conns[k];
            uint8_t ev = 0;
            if (c->state == C_FREE || c->state == C_ZOMBIE ||
                c->sock == LLMC_SOCK_INVALID)
                continue;
            if (conn_pending(c))
                ev |= LLMC_POLL_OUT;
            /* read requests; while waiting, watch for the client leaving */
            if ((c->state == C_READ || c->state == C_WAIT) &&
                c->in_len < GW_REQ_MAX)
                ev |= LLMC_POLL_IN;
            if (c->state == C_DRAIN)
                ev |= LLMC_POLL_IN;
            g_fds[nfds].sock = c->sock;
            g_fds[nfds].events = ev;
            g_fds[nfds].revents = 0;
            g_fd_conn[nfds] = (int)k;
            nfds++;
        }
        rc = llmc_poll_with(&g_client, g_fds, nfds, 250);
        if (rc < 0) {
            fprintf(stderr, "llmc-gateway: poll: %s\n", llmc_strerror(rc));
            exit_code = 1;
            break;
        }
        now = llmc_port_now_ms();
        for (k = 0; k < nfds; k++) {
            conn_t *c;
            uint8_t re = g_fds[k].revents;
            if (re == 0)
                continue;
            if (g_fd_conn[k] < 0) {
                if (g_listener != LLMC_SOCK_INVALID)
                    accept_all(now);
                continue;
            }
            c = &g_conns[g_fd_conn[k]];
            if (c->sock != g_fds[k].sock || c->state == C_FREE ||
                c->state == C_ZOMBIE)
                continue;
            if (re & LLMC_POLL_OUT)
                if (!conn_flush(c, now))
                    continue;
            if (c->state == C_DRAIN) {
                conn_drain(c);
                continue;
            }
            if (re & (LLMC_POLL_IN | LLMC_POLL_ERR)) {
                /* a full buffer reads nothing more: an error or hang-up
                 * there is the client gone, and reported at every poll */
                if ((c->state == C_READ || c->state == C_WAIT) &&
                    !((re & LLMC_POLL_ERR) && c->in_len >= GW_REQ_MAX))
                    conn_read(c, now);
                else if (re & LLMC_POLL_ERR)
                    conn_drop(c, "socket error");
            }
        }
        /* write what callbacks and parsing produced; next requests */
        for (k = 0; k < GW_CONNS; k++) {
            conn_t *c = &g_conns[k];
            if (c->state != C_WRITE)
                continue;
            if (!conn_flush(c, now))
                continue;
            if (c->state == C_WRITE && !conn_pending(c))
                conn_next(c, now);
        }
    }
    for (i = 0; i < GW_CONNS; i++)
        conn_close_socket(&g_conns[i]);
    if (g_listener != LLMC_SOCK_INVALID)
        llmc_port_close(g_listener);
    llmc_client_shutdown(&g_client);
    fprintf(stderr, "llmc-gateway: stopped\n");
    return exit_code;
}

#endif /* LLMC_GATEWAY_FUZZ */
