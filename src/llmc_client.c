/*
 * The request engine. A request lives in a slot; each try on a provider is
 * an attempt that goes connect -> (TLS) -> send -> receive head -> receive
 * body, advanced only from llmc_poll(). Failures go through the failover
 * policy; results and callbacks come out of here.
 */
#include <string.h>

#include "llmc_auth.h"
#include "llmc_failover.h"
#include "llmc_http.h"
#include "llmc_internal.h"
#include "llmc_json.h"
#include "llmc_sse.h"
#include "llmc_url.h"
#include "llmc_writer.h"

enum { SLOT_FREE, SLOT_WAIT, SLOT_ACTIVE };
/* PH_TOKEN: waiting, with no connection, for another request's fetch of
 * the IAM token this one needs (token_shared() ends the wait) */
enum { PH_CONNECT, PH_SEND, PH_RECV, PH_TOKEN };
enum { BODY_SSE, BODY_JSON, BODY_ERROR };

/* Reads per slot per poll round, so one fast stream cannot starve others. */
#define READS_PER_ROUND 8

/* After [DONE], how long to wait for the body's end (the last chunk) so
 * that the connection can be reused; past it the answer stands and the
 * connection is closed. */
#define DONE_GRACE_MS 1000u

#if LLMC_LOG_LEVEL >= 1
void llmc_log_(int level, const char *a, const char *b, const char *z)
{
    char line[192];
    llmc_buf_t m;
    llmc_buf_init(&m, line, sizeof(line));
    llmc_buf_str(&m, a);
    if (b != NULL && b[0] != '\0') {
        llmc_buf_str(&m, ": ");
        llmc_buf_str(&m, b);
    }
    if (z != NULL && z[0] != '\0') {
        llmc_buf_str(&m, ": ");
        llmc_buf_str(&m, z);
    }
    llmc_port_log(level, line, m.len);
}
#endif

const char *llmc_strerror(int status)
{
    /* the texts of LLMC_OK, LLMC_ERR_ARG (-1), ... LLMC_ERR_STATE (-21) */
    static const char texts[] =
        "ok\0invalid argument\0bad url\0dns error\0connect error\0"
        "tls error\0certificate verification failed\0i/o error\0"
        "connection closed\0timeout\0http error\0malformed response\0"
        "response too large\0api error\0empty response\0cancelled\0"
        "no provider\0queue full\0invalid header value\0auth error\0"
        "config error\0invalid state\0unknown error";
    unsigned k = 0u - (unsigned)status;
    if (k > 0u - (unsigned)LLMC_ERR_STATE)
        k = 1u - (unsigned)LLMC_ERR_STATE; /* unknown */
    return llmc_text_at(texts, k);
}

void llmc_policy_default(llmc_policy_t *p)
{
    static const llmc_policy_t def = {
        .max_retries = LLMC_DEFAULT_MAX_RETRIES,
        .backoff_base_ms = LLMC_DEFAULT_BACKOFF_BASE_MS,
        .backoff_max_ms = LLMC_DEFAULT_BACKOFF_MAX_MS,
        .connect_timeout_ms = LLMC_DEFAULT_CONNECT_TIMEOUT_MS,
        .first_byte_timeout_ms = LLMC_DEFAULT_FIRST_BYTE_TIMEOUT_MS,
        .idle_timeout_ms = LLMC_DEFAULT_IDLE_TIMEOUT_MS,
        .deadline_ms = LLMC_DEFAULT_DEADLINE_MS,
        .cooldown_after = LLMC_DEFAULT_COOLDOWN_AFTER,
        .cooldown_ms = LLMC_DEFAULT_COOLDOWN_MS,
    };
    *p = def;
}

void llmc_request_init(llmc_request_t *req)
{
    if (req == NULL)
        return;
    memset(req, 0, sizeof(*req));
    req->temperature = -1.0f;
}

size_t llmc_client_size(void)
{
    return sizeof(llmc_client_t);
}

/* ---- results ----------------------------------------------------------- */

static void str2(llmc_buf_t *b, const char *x, const char *y)
{
    llmc_buf_str(b, x);
    llmc_buf_str(b, y);
}

/* *b writes the result's message from its start. */
static LLMC_NOINLINE void msg_buf(llmc_buf_t *b, llmc_slot_t *s)
{
    llmc_buf_init(b, s->result.message, sizeof(s->result.message));
}

/* The message: a, then when z is not NULL the number n and z. */
static void say(llmc_slot_t *s, const char *a, uint32_t n, const char *z)
{
    llmc_buf_t b;
    msg_buf(&b, s);
    llmc_buf_str(&b, a);
    if (z != NULL) {
        llmc_buf_uint(&b, n);
        llmc_buf_str(&b, z);
    }
}

static LLMC_NOINLINE void set_msg(llmc_slot_t *s, const char *text)
{
    say(s, text, 0, NULL);
}

/* Milliseconds since t (the clock's low 32 bits). */
static uint32_t since(const llmc_client_t *c, uint32_t t)
{
    return (uint32_t)c->now - t;
}

/* How many bytes at o[0..left) stand for the secret's byte c, as it is or
 * as JSON writes it in a body shown as raw text: \c (2: \" \\ \/), \u00XX
 * (6, either case: how .NET writes "+"); one cut by the message's end
 * counts for what is left. 0: none. */
static size_t as_json(const char *o, size_t left, char c)
{
    static const char hex[] = "0123456789abcdef";
    char u[6];
    size_t i;
    if (o[0] != '\\')
        return o[0] == c;
    if (left == 1)
        return 1;
    if (o[1] == c && c != 'u')
        return 2;
    memcpy(u, "\\u00", 4);
    u[4] = hex[(unsigned char)c >> 4];
    u[5] = hex[c & 15];
    for (i = 0; i < 6 && i < left; i++)
        /* the hex digits (i 4, 5) in either case */
        if ((o[i] | (int)(i & 4) << 3) != u[i])
            return c == '\\'; /* a backslash as it is */
    return i;
}

/* Mask secret in m[0..len), also where the message was cut in the middle
 * of it (a tail of 4 or more bytes that starts the secret). o is the
 * message before any masking, so that secrets that overlap (a token that
 * holds the key id, a secret that starts another) are each found whole. */
static void mask(char *m, const char *o, size_t len, const char *secret)
{
    const char *end = o + len, *q, *p;
    size_t i, w = 0, n = llmc_strlen(secret);
    for (q = o; n > 0 && q < end; q++) {
        for (i = 0, p = q; i < n && p < end; i++, p += w)
            if ((w = as_json(p, (size_t)(end - p), secret[i])) == 0)
                break;
        /* w 0: a byte that does not stand for the secret's; else the
         * whole secret, or as much as the message's end left (p == end) */
        if (w != 0 && (i == n || end - q >= 4))
            memset(m + (q - o), '*', (size_t)(p - q));
    }
}

static const char *provider_name(const llmc_client_t *c, int i);

/* The attempt at hand ends: note it in the record, its message redacted.
 * Every attempt begun ends here, which fills all of its entry. */
static void record_attempt(const llmc_client_t *c, llmc_slot_t *s, int status)
{
    const llmc_provider_t *p = &c->providers[s->provider];
    llmc_result_t *r = &s->result;
    llmc_attempt_t *a;
    /* the bearer is the API key or an IAM token, which has no NUL */
    const char *secrets[4];
    char *m = r->message, o[sizeof(r->message)];
    size_t len = strlen(m), i;

    /* Providers sometimes quote the credentials they were given
     * ("Incorrect API key provided: sk-..."): no configured secret
     * reaches a result. */
    memcpy(o, m, len);
    secrets[0] = p->api_key;
    secrets[1] = p->secret;
    secrets[2] = p->key_id;
#if LLMC_IAM
    /* a message holds no more of it than this copy; the stored token may
     * be another by now */
    secrets[3] = s->sent_token;
#else
    secrets[3] = s->w.bearer;
#endif
    for (i = 0; i < 4; i++)
        mask(m, o, len, secrets[i]);
    r->http_status = s->http.status;
    if (status != LLMC_OK)
        LLMC_LOGW(provider_name(c, s->provider), llmc_strerror(status),
                  r->message);
    else
        LLMC_LOGI(provider_name(c, s->provider), "ok", NULL);
    if (r->n_attempts - 1u >= LLMC_MAX_ATTEMPTS) /* 0, or past the record */
        return;
    a = &r->attempts[r->n_attempts - 1];
    a->provider = s->provider;
    a->status = (int8_t)status;
    a->http_status = s->http.status;
    a->elapsed_ms = since(c, s->t_attempt);
    memcpy(a->message, r->message, sizeof(a->message));
}

/* The name of providers[i], or "?". */
static LLMC_NOINLINE const char *name_in(const llmc_provider_t *p, size_t n,
                                         int i)
{
    const char *name = p != NULL && (size_t)i < n ? p[i].name : NULL;
    return name != NULL ? name : "?";
}

/* Provider i's name: i is one of the client's, whose names
 * llmc_client_init() checked are set. */
static const char *provider_name(const llmc_client_t *c, int i)
{
    return c->providers[i].name;
}

/* s lets go of its connection, if it has one (llmc_conn_release()) */
static LLMC_NOINLINE void slot_drop_conn(llmc_client_t *c, llmc_slot_t *s,
                                          unsigned how)
{
    if (s->conn != LLMC_NONE) {
        llmc_conn_release(c, s->conn, how);
        s->conn = LLMC_NONE;
    }
}

static void attempt_fail(llmc_client_t *c, llmc_slot_t *s, int status,
                         const char *text);
static void attempt_request(llmc_client_t *c, llmc_slot_t *s);

#if LLMC_IAM
/* s is cancelled (the shutdown cancels every slot's request) or past its
 * deadline: service() ends it in this poll, so it starts nothing more (no
 * connection, no request a server could bill) */
static bool ends_now(const llmc_client_t *c, const llmc_slot_t *s)
{
    return LLMC_CANCELLED(&s->job) ||
           since(c, s->t_start) >= c->policy.deadline_ms;
}

/* s's IAM token fetch ended: status LLMC_OK, the token is stored; < 0, it
 * failed as s's message says; 1, s stopped (cancel, deadline). The
 * requests waiting for that fetch go on: with the token, with the same
 * failure (each as its own attempt's), or the first of them with a fetch
 * of its own, which the others wait for in turn. */
static void token_shared(llmc_client_t *c, llmc_slot_t *s, int status)
{
    llmc_iam_t *iam;
    llmc_slot_t *w;

    /* s's flag and the entry's are set and cleared together: a fetch is
     * shared once */
    if (!s->fetching_token)
        return;
    s->fetching_token = false;
    iam = llmc_auth_iam(c, s);
    iam->fetching = false;
    for (w = c->slots; w < c->slots + LLMC_SLOTS; w++) {
        /* PH_TOKEN: an IAM provider's attempt, whose entry may be s's */
        if (w->state != SLOT_ACTIVE || w->phase != PH_TOKEN ||
            llmc_auth_iam(c, w) != iam)
            continue;
        if (status < 0) {
            /* the token endpoint's answer too (status, Retry-After,
             * X-Should-Retry): the failover decision and the record of
             * w's attempt are those of s's */
            w->http = s->http;
            attempt_fail(c, w, status, s->result.message);
            continue;
        }
        if (ends_now(c, w))
            continue; /* also: no fetch of its own past its deadline */
        if (status == LLMC_OK)
            w->token_fresh = true; /* fetched for it too */
        attempt_request(c, w);
    }
}
#endif

/* The request ends: the attempt at hand (if any) ends with status, the
 * result goes to on_done and the slot is freed. */
static LLMC_NOINLINE const char *why_cancelled(const llmc_client_t *c);

static void finish(llmc_client_t *c, llmc_slot_t *s, int status)
{
    llmc_result_t *r = &s->result;
    bool cancelled;

    if (s->state == SLOT_ACTIVE)
        record_attempt(c, s, status);
    slot_drop_conn(c, s, LLMC_CONN_DONE);
#if LLMC_IAM
    token_shared(c, s, 1); /* a fetch cut short: a waiting request takes
                              it over */
#endif
    /* The request has ended before its on_done runs: a submit from there
     * finds its room, and a cancel of it finds nothing. Until the handle
     * goes, a cancel counts, from another task or from a callback that
     * ran since the ending was decided (another request's on_done): one
     * that returned LLMC_OK ends the request as cancelled. The slot is
     * reused only by dispatch(), which on_done cannot reach. */
    llmc_port_lock();
    s->job.handle = 0; /* llmc_cancel() finds it no more */
    cancelled = s->job.cancelled;
    c->active--;
    llmc_port_unlock();
    if (cancelled && status != LLMC_ERR_CANCELLED) {
        status = LLMC_ERR_CANCELLED;
        set_msg(s, why_cancelled(c));
    }
    r->status = status;
    r->elapsed_ms = since(c, s->t_start);
    r->provider_name = r->provider >= 0 ? provider_name(c, r->provider)
                                        : NULL;
    if (status == LLMC_OK) {
        r->message[0] = '\0'; /* partial: false since the result began */
    } else {
        r->partial = s->delivered;
        if (status == LLMC_ERR_CANCELLED)
            LLMC_LOGI("request cancelled", NULL, NULL);
        else
            LLMC_LOGE("request failed", llmc_strerror(status), r->message);
    }
    s->state = SLOT_FREE;
    if (s->job.cb.on_done != NULL)
        s->job.cb.on_done(s->job.user, r);
}

/* ---- attempts ---------------------------------------------------------- */

static void attempt_begin(llmc_client_t *c, llmc_slot_t *s);
static void step_send(llmc_client_t *c, llmc_slot_t *s);

static void deliver(llmc_slot_t *s, const char *text, size_t len)
{
    /* cancelled from an on_delta for an earlier piece of this event:
     * nothing more of the answer (llmc.h) */
    if (len == 0 || LLMC_CANCELLED(&s->job))
        return;
    s->delivered = true;
    s->result.content_bytes += (uint32_t)len;
    if (s->job.cb.on_delta != NULL)
        s->job.cb.on_delta(s->job.user, text, len);
}

/* U+FFFD, the replacement character */
static LLMC_NOINLINE void deliver_fffd(llmc_slot_t *s)
{
    static const char fffd[3] = "\xEF\xBF\xBD"; /* in UTF-8 */
    deliver(s, fffd, 3);
}

/* Content, as UTF-8: an ill-formed sequence in it is delivered as U+FFFD,
 * as a lone surrogate is (the WHATWG decoder's reading; llmc.h promises
 * on_delta UTF-8). */
static void deliver_text(llmc_slot_t *s, const char *t, size_t n)
{
    size_t at, bad;
    for (;;) {
        at = llmc_utf8_check(t, n, &bad);
        deliver(s, t, at);
        if (at == n)
            return;
        deliver_fffd(s);
        t += at + bad;
        n -= at + bad;
    }
}

/* Decode one event or JSON body and apply it: content to the caller,
 * finish_reason and usage to the result. Returns 0 or a status. */
static int decode(llmc_slot_t *s, char *data, size_t len,
                  llmc_json_shape_t *shape)
{
    llmc_result_t *r = &s->result;
    llmc_chat_msg_t m;
    int rc = llmc_json_chat(data, len, shape, &m);

    if (rc != 0) {
        set_msg(s, "malformed JSON from the provider");
        return rc;
    }
    if (m.has_error) {
        llmc_buf_t b;
        msg_buf(&b, s);
        if (m.error_len > 0)
            llmc_buf_text(&b, m.error_msg, m.error_len);
        else
            llmc_buf_str(&b, "error event without a message");
        return LLMC_ERR_API;
    }
    if (m.has_content) {
        const char *t = m.content;
        size_t n = m.content_len;
        char pair[4];
        /* a surrogate pair split between two contents (a server that cuts
         * UTF-16 text into chunks) is joined: its halves' U+FFFD at the
         * edges make way for the one code point */
        if (s->held_hi != 0 && n > 0) {
            if (m.lone[0] != 0) {
                llmc_json_pair(pair, s->held_hi, m.lone[0]);
                deliver(s, pair, 4);
                t += 3;
                n -= 3;
            } else {
                deliver_fffd(s);
            }
            s->held_hi = 0;
        }
        if (m.lone[1] != 0) {
            s->held_hi = m.lone[1];
            n -= 3;
        }
        deliver_text(s, t, n);
    }
    if (m.finish_reason != NULL) {
        llmc_buf_t b;
        llmc_buf_init(&b, r->finish_reason, sizeof(r->finish_reason));
        llmc_buf_put(&b, m.finish_reason, m.finish_len);
    }
    if (m.usage.present)
        r->usage = m.usage;
    return 0;
}

static int on_event(void *ctx, char *data, size_t len)
{
    llmc_slot_t *s = ctx;

    if (s->done_seen)
        return 0; /* nothing counts after [DONE] */
    if (LLMC_CANCELLED(&s->job))
        return LLMC_ERR_CANCELLED; /* e.g. from on_delta: nothing more */
    /* data that starts with [DONE], blanks after it too, as the openai
     * SDKs read it */
    if (len >= 6 && memcmp(data, "[DONE]", 6) == 0) {
        s->done_seen = true;
        return 0;
    }
    return decode(s, data, len, &s->shape);
}

/* "<what> larger than N bytes (LLMC_EVENT_BUF_SIZE)" */
static int too_large(llmc_slot_t *s, const char *what_larger_than)
{
    say(s, what_larger_than, sizeof(s->buf), " bytes (LLMC_EVENT_BUF_SIZE)");
    return LLMC_ERR_TOO_LARGE;
}

static int on_body(void *ctx, const char *p, size_t n)
{
    llmc_slot_t *s = ctx;
    size_t room = sizeof(s->buf) - s->body_len;
    const char *what = "response body larger than ";
    int rc;

    if (s->body == BODY_SSE) {
        if (s->done_seen)
            return 0; /* nothing after [DONE] counts, not even its size */
        rc = llmc_sse_feed(&s->sse, p, n, on_event, ctx);
        if (rc != LLMC_ERR_TOO_LARGE || s->result.message[0] != '\0')
            return rc;
        what = "event larger than ";
#if LLMC_IAM
    } else if (s->fetching_token && s->body == BODY_JSON) {
        if (llmc_auth_body(s, p, n))
            return 0;
#endif
    } else if (n <= room || s->body == BODY_ERROR) {
        if (n > room) { /* the message is in the first bytes */
            s->body_cut = true;
            n = room;
        }
        memcpy(s->buf + s->body_len, p, n);
        s->body_len += n;
        return 0;
    }
    return too_large(s, what);
}

static void on_head(llmc_slot_t *s)
{
    const llmc_http_t *h = &s->http;
    s->body_len = 0;
    s->body_cut = false;
    if (h->status - 200u > 99u) /* not 2xx */
        s->body = BODY_ERROR;
    /* a token answer is read as one whatever its Content-Type: a stream
     * from the token endpoint is no chat answer to deliver */
    else if ((h->flags & LLMC_HTTP_F_SSE) && !LLMC_FETCHING_TOKEN(s))
        s->body = BODY_SSE;
    else if (h->flags & LLMC_HTTP_F_JSON)
        s->body = BODY_JSON;
    else
        s->body = s->w.stream ? BODY_SSE : BODY_JSON;
    llmc_sse_init(&s->sse, s->buf, sizeof(s->buf));
    s->shape.pre_len = 0; /* a new stream */
}

/* The error body's message: {"error":{"message":...}}, else its text.
 * The object is read from its first '{' to its last '}': Google's APIs
 * (Gemini's OpenAI compatibility too) send it in an array. */
static void error_message(llmc_slot_t *s)
{
    llmc_chat_msg_t m;
    llmc_buf_t b;
    size_t n = s->body_len;
    char *o;

    msg_buf(&b, s);
    llmc_buf_str(&b, "status ");
    llmc_buf_uint(&b, s->http.status);
    /* a compressed body is bytes without meaning */
    if (n == 0 || (s->http.flags & LLMC_HTTP_F_CODED))
        return;
    llmc_buf_str(&b, ": ");
    while (n > 0 && s->buf[n - 1] != '}')
        n--;
    o = memchr(s->buf, '{', n);
    if (!s->body_cut && o != NULL &&
        llmc_json_chat(o, n - (size_t)(o - s->buf), NULL, &m) == 0 &&
        m.has_error && m.error_len > 0) {
        llmc_buf_text(&b, m.error_msg, m.error_len);
        return;
    }
    llmc_buf_text(&b, s->buf, s->body_len);
}

/* The body ended properly; reusable says the connection may be pooled. */
static void body_end(llmc_client_t *c, llmc_slot_t *s, bool reusable)
{
    int rc;

    slot_drop_conn(c, s, reusable ? LLMC_CONN_POOL : LLMC_CONN_DONE);
    if (s->body == BODY_ERROR) {
        error_message(s);
        attempt_fail(c, s, LLMC_ERR_HTTP, NULL);
        return;
    }
#if LLMC_IAM
    if (s->fetching_token) {
        rc = llmc_auth_store(c, s);
        if (rc < 0) {
            attempt_fail(c, s, rc, NULL);
            return;
        }
        token_shared(c, s, LLMC_OK);
        if (!ends_now(c, s))
            attempt_request(c, s); /* now the chat request itself */
        return;
    }
#endif
    if (s->body == BODY_JSON) {
        rc = decode(s, s->buf, s->body_len, NULL);
        if (rc != 0) {
            attempt_fail(c, s, rc, NULL);
            return;
        }
    }
    /* a high surrogate no low one followed: U+FFFD, as a lone one is */
    if (s->held_hi != 0)
        deliver_fffd(s);
    /* a request cancelled meanwhile (in a callback of this read) ends as
     * cancelled: attempt_fail() sees to it */
    if (LLMC_CANCELLED(&s->job) || !s->delivered) {
        attempt_fail(c, s, LLMC_ERR_EMPTY, "the response ended without content");
        return;
    }
    llmc_fo_record(c, s->provider, true);
    finish(c, s, LLMC_OK);
}

/* After [DONE] the answer is complete: a body whose end never comes, or
 * comes broken (a close, a reset, bad framing), closes the connection but
 * does not undo the answer. */
static void done_end(llmc_client_t *c, llmc_slot_t *s)
{
    s->result.message[0] = '\0';
    body_end(c, s, false);
}

/* Bytes arrived: returns true when the attempt ended (slot moved on). */
static bool feed(llmc_client_t *c, llmc_slot_t *s, const char *p, size_t n)
{
    size_t used;
    int rc;

    /* every way the attempt can end below returns at once */
    while (n > 0) {
        if (!llmc_http_in_body(&s->http)) {
            s->got_bytes = true;
            rc = llmc_http_head(&s->http, p, n, &used);
            if (rc < 0) {
                attempt_fail(c, s, rc,
                             rc == LLMC_ERR_TOO_LARGE
                                 ? "response head too large (LLMC_HEAD_MAX)"
                             : s->http.flags & LLMC_HTTP_F_CODED
                                 ? "compressed body (Content-Encoding)"
                                 : "malformed HTTP response head");
                return true;
            }
            p += used;
            n -= used;
            if (rc == 0)
                return false;
            on_head(s);
        }
        rc = llmc_http_body(&s->http, p, n, &used, on_body, s);
        if (rc < 0) {
            if (s->done_seen)
                done_end(c, s);
            else
                attempt_fail(c, s, rc, NULL);
            return true;
        }
        if (rc == 1) {
            body_end(c, s, llmc_http_reusable(&s->http) && used == n);
            return true;
        }
        p += used;
        n -= used;
    }
    return false;
}

/* The connection is ready: send the request. */
static LLMC_NOINLINE void start_send(llmc_client_t *c, llmc_slot_t *s)
{
    s->phase = PH_SEND;
    s->tx_len = s->tx_off = 0;
    step_send(c, s);
}

static void open_conn(llmc_client_t *c, llmc_slot_t *s);

#if LLMC_TLS
/* The TLS handshake found no heap, and an idle connection gave its heap
 * back: connect again, in the same attempt. */
static void conn_again(llmc_client_t *c, llmc_slot_t *s)
{
    slot_drop_conn(c, s, LLMC_CONN_BROKEN);
    open_conn(c, s);
}
#endif

/* Get a connection: a pooled one, or a new one. */
static void open_conn(llmc_client_t *c, llmc_slot_t *s)
{
    uint8_t id = s->target;
    llmc_target_t *t = llmc_auth_target(c, id);
    llmc_buf_t b;
    int ci, rc;

    msg_buf(&b, s);
    /* the retry after a stale pooled connection takes a fresh one: the
     * other pooled ones have been idle as long */
    do
        ci = s->stale_retry ? -1 : llmc_conn_find_idle(c, id);
    while (ci >= 0 && !llmc_conn_idle_ok(c, ci));
    if (ci >= 0) {
        LLMC_LOGD(provider_name(c, s->provider), "pooled connection", NULL);
        c->conns[ci].state = CONN_BUSY;
        s->conn = (uint8_t)ci;
        start_send(c, s);
        return;
    }
    ci = llmc_conn_alloc(c);
    if (ci < 0) {
        attempt_fail(c, s, LLMC_ERR_CONNECT, "no free connection (LLMC_CONNS)");
        return;
    }
    if (t->n_addr == 0) {
        /* may block (getaddrinfo); cached until a connect fails */
        int n = llmc_port_resolve(t->url.host, t->url.port, t->addr, 2);
        /* the time it took is no part of the connect timeout (nor of
         * other timers started after it) */
        c->now = llmc_port_now_ms();
        if (n <= 0) {
            str2(&b, "cannot resolve ", t->url.host);
            attempt_fail(c, s, LLMC_ERR_DNS, NULL);
            return;
        }
        t->n_addr = (uint8_t)n;
        t->first = 0;
    }
    LLMC_LOGD(provider_name(c, s->provider), "connecting to", t->url.host);
    s->phase = PH_CONNECT;
    llmc_set_timer(c, s, c->policy.connect_timeout_ms);
    rc = llmc_conn_open(c, ci, id, t, &b);
    if (rc < 0) {
        t->n_addr = 0;
        attempt_fail(c, s, rc, NULL);
        return;
    }
    s->conn = (uint8_t)ci;
#if LLMC_TLS
    if (rc == LLMC_CONN_AGAIN) { /* its first handshake step ran here */
        conn_again(c, s);
        return;
    }
#endif
    if (rc > 0) /* connected already: no poll event will say so */
        start_send(c, s);
}

/* attempt_begin() clears finish_reason up to usage's end in one go */
typedef char llmc_finish_usage_check[offsetof(llmc_result_t, usage) >
                                             offsetof(llmc_result_t,
                                                      finish_reason)
                                         ? 1
                                         : -1];

/* Start an attempt on s->order[s->pos] (or its IAM token fetch). */
static void attempt_begin(llmc_client_t *c, llmc_slot_t *s)
{
    llmc_result_t *r = &s->result;

    s->provider = s->order[s->pos];
    s->state = SLOT_ACTIVE; /* s->conn: LLMC_NONE since the last one ended */
    s->t_attempt = (uint32_t)c->now;
    s->stale_retry = false;
    s->more = false;
    s->result.message[0] = '\0';
    /* finish_reason and usage are the answering attempt's: none of a
     * failed one's (an empty answer may have sent both) */
    memset(r->finish_reason, 0,
           offsetof(llmc_result_t, usage) + sizeof(r->usage) -
               offsetof(llmc_result_t, finish_reason));
    /* its entry in r->attempts is written whole as it ends */
    if (r->n_attempts < UINT8_MAX)
        r->n_attempts++;
    r->provider = s->provider;
    LLMC_LOGD(provider_name(c, s->provider), "attempt", NULL);
    if (s->job.cb.on_attempt != NULL)
        s->job.cb.on_attempt(s->job.user, s->provider, provider_name(c, s->provider));

    attempt_request(c, s);
}

/* Write the attempt's request (the token request first when IAM needs
 * one) and get it a connection. */
static void attempt_request(llmc_client_t *c, llmc_slot_t *s)
{
    const llmc_provider_t *p = &c->providers[s->provider];
    int rc;

    memset(&s->w, 0, sizeof(s->w));
    s->w.req = s->job.req;
    s->w.model = p->model != NULL ? p->model : s->job.req->model;
    s->w.stream = !p->no_stream;
    s->w.opts = (uint8_t)(p->no_stream_options * LLMC_W_NO_USAGE |
                          p->max_completion_tokens * LLMC_W_MCT);
    s->w.extra[0] = s->job.req->extra_json;
    s->w.extra[1] = p->extra_json;
    s->fetching_token = false;
    /* no response yet: after a token answer or an earlier attempt's
     * [DONE], neither its status, Retry-After nor [DONE] passes for this
     * request's (a stale retry resends before any byte came back) */
    llmc_http_init(&s->http);
    s->got_bytes = false;
    s->done_seen = false;
    s->held_hi = 0;
    /* not PH_TOKEN from an earlier wait: token_shared() takes a slot in
     * that phase for one waiting, also the one whose fetch just failed */
    s->phase = PH_CONNECT;
    if (llmc_auth_prepare(c, s) != 0 && LLMC_IAM) {
        /* another request fetches the token: wait for it (token_shared()),
         * within the deadline */
        LLMC_LOGD(provider_name(c, s->provider), "waiting for its token",
                  NULL);
        s->phase = PH_TOKEN;
        llmc_set_timer(c, s, c->policy.deadline_ms);
        return;
    }
    {
        const llmc_url_t *u;
        /* the provider, or its IAM token endpoint */
        s->target = LLMC_FETCHING_TOKEN(s)
                        ? LLMC_TARGET_IAM(c->prov[s->provider].iam)
                        : s->provider;
        u = &llmc_auth_target(c, s->target)->url;
        s->w.host = u->host;
        s->w.port = u->default_port ? 0 : u->port;
        s->w.path = u->path;
        s->w.path_len = u->path_len;
    }
    rc = llmc_writer_start(&s->w);
    if (rc < 0) {
        attempt_fail(c, s, rc, "CR, LF or a control byte in a header value");
        return;
    }
    open_conn(c, s);
}

/* The attempt failed with status: its message is text, else the one set
 * already, else the status's text. */
static void attempt_fail(llmc_client_t *c, llmc_slot_t *s, int status,
                         const char *text)
{
    bool refresh = false; /* IAM: the token was refused */

    s->more = false; /* nothing more to read for this attempt */
    /* llmc_cancel() from a callback of this read (or from another task):
     * service(), which ends every cancelled request, ends it in this poll
     * as cancelled, also when a close or an error came after the cancel;
     * the provider did not fail */
    if (status == LLMC_ERR_CANCELLED || LLMC_CANCELLED(&s->job))
        return;
    if (text != NULL || s->result.message[0] == '\0')
        set_msg(s, text != NULL ? text : llmc_strerror(status));
    /* a request that waited for another's token fetch shares its failure,
     * which counts once towards the provider's cooldown: before the
     * waiting requests decide, so that they see the cooldown it starts */
    if (s->phase != PH_TOKEN) {
#if LLMC_IAM
        /* the token was refused (a 401 or 403 head decides, also when its
         * body then fails): fetch one, retry once; not a request that
         * waited for another's fetch, whose failure (a refusal of the key
         * pair too) it shares */
        refresh = llmc_auth_refresh(c, s);
        if (!refresh)
#endif
            llmc_fo_failed(c, s);
    }
#if LLMC_IAM
    if (s->fetching_token) { /* never with refresh */
        llmc_auth_token_failed(s, &status);
        token_shared(c, s, status);
    }
#endif
    record_attempt(c, s, status);
    slot_drop_conn(c, s, LLMC_CONN_BROKEN);
    if (refresh) {
        attempt_begin(c, s); /* again, with another token */
        return;
    }
    /* the timer pass starts the next attempt; as the attempt is recorded,
     * not an active slot for finish() */
    s->state = SLOT_WAIT;
    /* delivered: bound to this provider, no failover */
    if (s->delivered || llmc_fo_decide(c, s, status) == LLMC_FO_STOP)
        finish(c, s, status);
}

/* A pooled connection failed before any byte of the answer: the server
 * closed it while idle. Try once more on a fresh connection, as every HTTP
 * client does; this is not an attempt of its own. */
static bool stale_retry(llmc_client_t *c, llmc_slot_t *s)
{
    /* s->conn: the connection that failed */
    if (!c->conns[s->conn].reused || s->got_bytes || s->stale_retry)
        return false;
    slot_drop_conn(c, s, LLMC_CONN_BROKEN);
    s->stale_retry = true;
    s->w.idx = 0;
    s->w.off = 0;
    open_conn(c, s);
    return true;
}

static void io_fail(llmc_client_t *c, llmc_slot_t *s, long err)
{
    if (stale_retry(c, s))
        return;
#if LLMC_TLS
    if (err == LLMC_CONN_TLS_FAILED) {
        llmc_buf_t b;
        msg_buf(&b, s);
        llmc_conn_tls_failed(c, s->conn, &b);
        attempt_fail(c, s, LLMC_ERR_TLS, NULL);
        return;
    }
#endif
    attempt_fail(c, s, err == LLMC_PORT_EOF ? LLMC_ERR_CLOSED : LLMC_ERR_IO,
                 llmc_port_errstr((int)err));
}

/* Until its bytes are written, the bearer is the one stored now: an IAM
 * token answer of another request may have replaced the stored token since
 * this request began, even while its head was going out. The writer takes
 * the bearer whole into one fill (a token is at most LLMC_TOKEN_MAX, the
 * buffer at least that), so no header mixes two tokens. */
static bool stamp_bearer(llmc_client_t *c, llmc_slot_t *s)
{
#if LLMC_IAM
    llmc_iam_t *iam = llmc_auth_iam(c, s);
    if (s->w.bearer == iam->token && iam->len == 0) {
        /* another request's refusal dropped the stored token: fetch the
         * next one or wait for its fetch, as a request starting now
         * does, and pool the connection if nothing went out on it */
        slot_drop_conn(c, s, s->w.idx == 0 ? LLMC_CONN_POOL : LLMC_CONN_DONE);
        attempt_request(c, s);
        return true;
    }
#endif
    /* every token stored has been checked for control bytes */
    s->w.bearer_len = llmc_strlen(s->w.bearer);
#if LLMC_IAM
    {
        /* as much as fits (none: no auth, or the token request itself) */
        llmc_buf_t b;
        llmc_buf_init(&b, s->sent_token, sizeof(s->sent_token));
        llmc_buf_put(&b, s->w.bearer, s->w.bearer_len);
        /* IAM providers: the stored token's, which is the one sent */
        s->sent_gen = iam->gen;
    }
#else
    (void)c;
#endif
    return false;
}

static void step_send(llmc_client_t *c, llmc_slot_t *s)
{
    /* cancelled (from a callback such as its on_attempt, or by another
     * task): service() ends it in this poll, and nothing more of it goes
     * out that a server could bill */
    if (LLMC_CANCELLED(&s->job))
        return;
    for (;;) {
        long n;
        if (s->tx_off == s->tx_len) {
            if (llmc_writer_bearer_ahead(&s->w) && stamp_bearer(c, s))
                return;
            /* the first byte's wait runs from the request sent: a body
             * that goes out slowly, a piece at a time, is no wait for a
             * response (a send that makes no progress still times out) */
            llmc_set_timer(c, s, c->policy.first_byte_timeout_ms);
            s->tx_len = llmc_writer_fill(&s->w, s->buf, sizeof(s->buf));
            s->tx_off = 0;
            if (s->tx_len == 0) {
                s->phase = PH_RECV;
                c->conns[s->conn].want = LLMC_POLL_IN;
                return;
            }
        }
        n = llmc_conn_send(c, s->conn, s->buf + s->tx_off,
                           s->tx_len - s->tx_off);
        if (n == LLMC_PORT_WOULD_BLOCK)
            return;
        if (n < 0) {
            io_fail(c, s, n);
            return;
        }
        s->tx_off += (size_t)n;
    }
}

static void step_recv(llmc_client_t *c, llmc_slot_t *s)
{
    int i;
    s->more = false;
    for (i = 0; i < READS_PER_ROUND; i++) {
        long n = llmc_conn_recv(c, s->conn, c->io.rx, sizeof(c->io.rx));
        if (n > 0) {
            /* after [DONE] the wait for the body's end runs from the
             * read that brought it: bytes that follow (which count for
             * nothing) do not start it again */
            if (!s->done_seen)
                llmc_set_timer(c, s, c->policy.idle_timeout_ms);
            if (feed(c, s, c->io.rx, (size_t)n))
                return;
            if (s->done_seen && s->timer_ms > DONE_GRACE_MS)
                s->timer_ms = DONE_GRACE_MS;
            continue;
        }
        if (n == LLMC_PORT_WOULD_BLOCK)
            return;
        if (s->done_seen) { /* closed or reset before the body's end */
            done_end(c, s);
            return;
        }
        if (n == LLMC_PORT_EOF && s->got_bytes) {
            /* a body that the close ends; a stream so framed is whole
             * only with [DONE] (above) or a finish_reason: else it was
             * cut, which the close alone cannot tell */
            if (llmc_http_eof(&s->http) == 1 &&
                (s->body != BODY_SSE || s->result.finish_reason[0] != '\0')) {
                body_end(c, s, false);
                return;
            }
            attempt_fail(c, s, LLMC_ERR_CLOSED,
                         "connection closed before the response ended");
            return;
        }
        io_fail(c, s, n);
        return;
    }
    s->more = true;
}

/* Advance one slot as far as it goes without waiting. */
static void slot_step(llmc_client_t *c, llmc_slot_t *s, uint8_t revents)
{
    if (s->state != SLOT_ACTIVE || s->conn == LLMC_NONE)
        return;
    if (s->phase == PH_CONNECT) {
        llmc_buf_t b;
        int rc;
        msg_buf(&b, s);
        rc = llmc_conn_step(c, s->conn, revents, &b);
        if (rc < 0) {
            if (rc == LLMC_ERR_TIMEOUT) /* no address left */
                say(s, "connect timed out after ",
                    c->policy.connect_timeout_ms, " ms");
            attempt_fail(c, s, rc, NULL); /* closes the connection */
            return;
        }
        if (rc != 1) {
            /* 2: on the host's next address (the last one was refused or
             * timed out), which has a connect timeout of its own */
            if (rc == 2)
                llmc_set_timer(c, s, c->policy.connect_timeout_ms);
#if LLMC_TLS
            if (rc == LLMC_CONN_AGAIN)
                conn_again(c, s);
#endif
            return;
        }
        start_send(c, s);
    } else if (s->phase == PH_SEND) {
        step_send(c, s);
    }
    /* only a request sent in full makes the phase PH_RECV, on the
     * connection it went out on; failures keep the phase they hit */
    if (s->phase == PH_RECV)
        step_recv(c, s);
}

/* ---- client ------------------------------------------------------------ */

int llmc_client_init_sized(llmc_client_t *c, const llmc_config_t *cfg,
                           size_t client_size)
{
    return client_size == sizeof(*c) ? (llmc_client_init)(c, cfg)
                                     : LLMC_ERR_CONFIG;
}

/* The policy in force: a zeroed one (a config left zeroed) is the
 * default; any other is as given, except that a timeout or deadline of 0,
 * which would end every request at once, is the default's. */
static void policy_from(llmc_policy_t *p, const llmc_policy_t *given)
{
    *p = *given;
    if ((p->shuffle | p->single_provider_retry | p->max_retries |
         p->cooldown_after | p->backoff_base_ms | p->backoff_max_ms |
         p->cooldown_ms | p->connect_timeout_ms | p->first_byte_timeout_ms |
         p->idle_timeout_ms | p->deadline_ms) == 0)
        llmc_policy_default(p);
#define LLMC_GIVEN_OR_DEFAULT(f, d) if (p->f == 0) p->f = (d)
    LLMC_GIVEN_OR_DEFAULT(connect_timeout_ms, LLMC_DEFAULT_CONNECT_TIMEOUT_MS);
    LLMC_GIVEN_OR_DEFAULT(first_byte_timeout_ms,
                          LLMC_DEFAULT_FIRST_BYTE_TIMEOUT_MS);
    LLMC_GIVEN_OR_DEFAULT(idle_timeout_ms, LLMC_DEFAULT_IDLE_TIMEOUT_MS);
    LLMC_GIVEN_OR_DEFAULT(deadline_ms, LLMC_DEFAULT_DEADLINE_MS);
#undef LLMC_GIVEN_OR_DEFAULT
}

/* extra_json is none, or one JSON object */
static bool extra_ok(const char *x)
{
    return x == NULL || llmc_json_valid(x, strlen(x)) == LLMC_OK;
}

int (llmc_client_init)(llmc_client_t *c, const llmc_config_t *cfg)
{
    size_t i;
    int need_tls = 0;
    int rc;

    if (c == NULL || cfg == NULL || cfg->providers == NULL ||
        cfg->n_providers == 0 || cfg->n_providers > LLMC_MAX_PROVIDERS)
        return LLMC_ERR_ARG;
    /* all zero: free connections (llmc_conn.c reads a connection's sock
     * only once llmc_conn_open() has set it) */
    memset(c, 0, sizeof(*c));
    c->providers = cfg->providers;
    c->n_providers = (uint8_t)cfg->n_providers;
    policy_from(&c->policy, &cfg->policy);
    c->max_inflight = cfg->max_inflight == 0 || cfg->max_inflight > LLMC_SLOTS
                          ? LLMC_SLOTS
                          : cfg->max_inflight;
    for (i = 0; i < cfg->n_providers; i++) {
        const llmc_provider_t *p = &cfg->providers[i];
        if (p->name == NULL || p->name[0] == '\0' || !extra_ok(p->extra_json))
            return LLMC_ERR_CONFIG;
        if (llmc_url_parse(p->base_url, &c->prov[i].t.url) != LLMC_OK)
            return LLMC_ERR_URL;
        rc = llmc_auth_init_provider(c, (uint8_t)i);
        if (rc < 0)
            return rc;
        need_tls |= c->prov[i].t.url.tls | rc;
    }
    if (llmc_port_random(&c->rng, sizeof(c->rng)) != 0 || c->rng == 0)
        c->rng = 0x9E3779B9u;
    /* handles go on from a random point, not from 1 again: a handle kept
     * from before a restart of the client names none of its requests */
    c->last_handle = (int32_t)(c->rng >> 2);
    if (need_tls) {
        rc = llmc_tls_init(c, cfg);
        if (rc < 0) {
            llmc_tls_free(c);
            return rc;
        }
    }
    c->ready = true;
    return LLMC_OK;
}

llmc_handle_t llmc_submit(llmc_client_t *c, const llmc_request_t *req,
                          const llmc_callbacks_t *cb, void *user)
{
    llmc_job_t *j;
    llmc_handle_t h;

    /* 1 to LLMC_WRITER_MAX_MESSAGES messages (0 wraps to the largest) */
    if (c == NULL || req == NULL ||
        req->n_messages - 1 >= LLMC_WRITER_MAX_MESSAGES ||
        req->messages == NULL || (req->n_ignored > 0 && req->ignored == NULL) ||
        !extra_ok(req->extra_json))
        return LLMC_ERR_ARG;
    llmc_port_lock();
    h = LLMC_ERR_STATE;
    if (c->ready && !c->shutting_down) {
        /* room: the queue plus the free slots (active never exceeds
         * max_inflight <= LLMC_SLOTS: q_len stays within the array) */
        h = LLMC_ERR_QUEUE_FULL;
        if (c->q_len + c->active < LLMC_QUEUE_LEN + c->max_inflight) {
            j = &c->queue[c->q_len++];
            /* 1, 2, ... INT32_MAX - 1, then 1 again */
            h = c->last_handle + 1;
            c->last_handle = h >= INT32_MAX - 1 ? 0 : h;
            memset(j, 0, sizeof(*j));
            j->handle = h;
            j->req = req;
            j->user = user;
            if (cb != NULL)
                j->cb = *cb;
        }
    }
    llmc_port_unlock();
    if (h > 0)
        llmc_port_wake();
    return h;
}

int llmc_cancel(llmc_client_t *c, llmc_handle_t h)
{
    int i, rc = LLMC_ERR_ARG;
    if (c == NULL || h <= 0)
        return LLMC_ERR_ARG;
    llmc_port_lock();
    /* the queued jobs, then the slots' */
    for (i = 0; i < c->q_len + LLMC_SLOTS; i++) {
        /* the handle of a request in a slot, until it ends (finish()):
         * the slot's state is the polling task's, read without the lock */
        llmc_job_t *j = i < c->q_len ? &c->queue[i]
                                     : &c->slots[i - c->q_len].job;
        if (j->handle == h && !j->cancelled) {
            LLMC_SET_CANCELLED(j);
            rc = LLMC_OK;
        }
    }
    llmc_port_unlock();
    if (rc == LLMC_OK)
        llmc_port_wake();
    return rc;
}

/* *r is cleared, with status and no provider yet; *b writes its
 * message. */
static LLMC_NOINLINE void result_start(llmc_result_t *r, int status,
                                       llmc_buf_t *b)
{
    memset(r, 0, sizeof(*r));
    r->status = status;
    r->provider = -1;
    llmc_buf_init(b, r->message, sizeof(r->message));
}

static void slot_start(llmc_client_t *c, llmc_slot_t *s)
{
    llmc_buf_t b;
    result_start(&s->result, LLMC_OK, &b);
    /* s->job and s->state (SLOT_WAIT): set as dispatch() claimed it */
    s->conn = LLMC_NONE;
    s->delivered = false;
    s->token_retry = false;
    s->fetching_token = false;
    s->token_fresh = false; /* a token fetched for an earlier request */
    s->t_start = (uint32_t)c->now;
    llmc_set_timer(c, s, 0);
    if (llmc_fo_plan(c, s, &b) == 0)
        finish(c, s, LLMC_ERR_NO_PROVIDER);
}

static LLMC_NOINLINE const char *why_cancelled(const llmc_client_t *c)
{
    return c->shutting_down ? "client shut down" : "cancelled by the caller";
}

/* A job that never got a slot ends: cancelled or shut down. */
static void finish_unstarted(llmc_client_t *c, const llmc_job_t *j,
                             const char *why)
{
    /* in the receive buffer, free between reads: no result-sized frame on
     * the polling task's stack (a callback cannot re-enter dispatch()) */
    llmc_result_t *r = &c->io.unstarted;
    llmc_buf_t b;
    result_start(r, LLMC_ERR_CANCELLED, &b);
    llmc_buf_str(&b, why);
    if (j->cb.on_done != NULL)
        j->cb.on_done(j->user, r);
}

/* Take jobs off the queue: a cancelled one ends at once, wherever it
 * waits; the oldest of the others takes a free slot. At most as many as
 * the queue holds: jobs that on_done submits meanwhile (again and again,
 * if it tries a failing request anew) wait for the next round, which
 * service() bounds. Returns true when it stopped there. */
static bool dispatch(llmc_client_t *c)
{
    int n;
    for (n = 0; n < LLMC_QUEUE_LEN + LLMC_SLOTS; n++) {
        llmc_job_t j, *q, *end;
        llmc_slot_t *s = NULL;
        int i;
        llmc_port_lock();
        q = c->queue; /* shutting down: every job ends as cancelled */
        end = q + c->q_len;
        if (!c->shutting_down)
            while (q < end && !q->cancelled)
                q++;
        if (q == end) {
            q = c->queue;
            if (c->q_len > 0 && c->active < c->max_inflight)
                for (i = 0; i < LLMC_SLOTS && s == NULL; i++)
                    if (c->slots[i].state == SLOT_FREE)
                        s = &c->slots[i];
            if (s == NULL) {
                llmc_port_unlock();
                return false;
            }
            c->active++;
            s->state = SLOT_WAIT; /* claimed */
        }
        /* the job moves while the lock is held: llmc_cancel() finds it in
         * the queue or in its slot */
        *(s != NULL ? &s->job : &j) = *q;
        c->q_len--;
        memmove(q, q + 1, (size_t)(end - q - 1) * sizeof(*q));
        llmc_port_unlock();
        if (s == NULL)
            finish_unstarted(c, &j, why_cancelled(c));
        else
            slot_start(c, s);
    }
    return true;
}

static void phase_timeout(llmc_client_t *c, llmc_slot_t *s)
{
    const llmc_policy_t *p = &c->policy;
    const char *what;
    uint32_t ms;
    if (s->done_seen) { /* the answer is complete; only the framing lags */
        done_end(c, s);
        return;
    }
    if (s->phase == PH_CONNECT) {
        /* the host's next address, or the attempt times out */
        slot_step(c, s, LLMC_CONN_TIMED_OUT);
        return;
    }
    if (!s->got_bytes)
        what = "no response within ", ms = p->first_byte_timeout_ms;
    else
        what = "no data for ", ms = p->idle_timeout_ms;
    say(s, what, ms, " ms");
    attempt_fail(c, s, LLMC_ERR_TIMEOUT, NULL);
}

/* Cancellations, timers, retries: everything that needs no I/O. Returns
 * the milliseconds until the earliest timer or deadline of the slots in
 * use as the last round left them (0: a slot has data left to read;
 * UINT32_MAX: none in use). io_first: the sockets have not been polled
 * since the caller last called (its own work may have taken longer than
 * a phase's timeout): a running attempt's timeout is not called over
 * before what came meanwhile is read (0: poll at once). */
static uint32_t service(llmc_client_t *c, bool io_first)
{
    /* c->now, which a name lookup in this pass moves on */
    uint32_t next = UINT32_MAX, left, t;
    int i, rounds, st;
    for (rounds = 0; rounds < 64; rounds++) {
        bool again;
        next = UINT32_MAX;
        again = dispatch(c);
        for (i = 0; i < LLMC_SLOTS; i++) {
            llmc_slot_t *s = &c->slots[i];
            if (s->state == SLOT_FREE)
                continue;
            /* until the deadline; t_start stays while the request runs */
            left = llmc_left((uint32_t)c->now, s->t_start,
                             c->policy.deadline_ms);
            st = LLMC_ERR_CANCELLED;
            if (LLMC_CANCELLED(&s->job) || c->shutting_down) {
                set_msg(s, why_cancelled(c));
            } else if (left == 0 && !(s->done_seen && s->state == SLOT_ACTIVE)) {
                const char *a = "deadline exceeded while waiting to retry",
                           *z = NULL;
                st = LLMC_ERR_TIMEOUT;
                if (s->state == SLOT_ACTIVE) {
                    a = "deadline of ";
                    z = " ms exceeded";
                    /* as any failure: the head decides (a 400 whose
                     * body the deadline cut counts no more than one the
                     * idle timeout cut); not one waiting for a token
                     * fetch: the fetch counts */
                    if (s->phase != PH_TOKEN)
                        llmc_fo_failed(c, s);
                }
                say(s, a, c->policy.deadline_ms, z);
            } else {
                /* the timer or, in the wait for the body's end after
                 * [DONE], the deadline, which leaves the answer standing */
                t = llmc_left((uint32_t)c->now, s->t_timer, s->timer_ms);
                if (t > left)
                    t = left;
                if (t == 0 && (s->state == SLOT_WAIT || !io_first)) {
                    if (s->state == SLOT_WAIT) {
                        llmc_fo_wait_over(c, s);
                        attempt_begin(c, s);
                    } else {
                        phase_timeout(c, s);
                    }
                    /* another round, which counts next anew */
                    again = true;
                    continue;
                }
                /* how long poll may sleep for this slot */
                if (s->more)
                    t = 0;
                if (t < next)
                    next = t;
                continue;
            }
            /* cancelled or past the deadline: the request ends */
            finish(c, s, st);
            again = true; /* its slot is free for the queue */
        }
        if (!again)
            break;
    }
    /* out of rounds: what the last one changed (a slot freed for the
     * queue) is not in next, so the poll must not wait */
    return rounds < 64 ? next : 0;
}

/* Requests queued or running (the queue may grow from another task);
 * c->active counts the slots in use. */
static LLMC_NOINLINE int pending(const llmc_client_t *c)
{
    int n;
    llmc_port_lock();
    n = c->q_len + c->active;
    llmc_port_unlock();
    return n;
}

int llmc_poll(llmc_client_t *c, int timeout_ms)
{
    return llmc_poll_with(c, NULL, 0, timeout_ms);
}

int llmc_poll_with(llmc_client_t *c, llmc_pollfd_t *extra, size_t n_extra,
                   int timeout_ms)
{
    llmc_pollfd_t fds[LLMC_CONNS + LLMC_POLL_EXTRA];
    /* per entry of fds: its connection, and that one's state as the round
     * began */
    uint8_t conn_of[LLMC_CONNS], state[LLMC_CONNS];
    size_t nfds = 0, i;
    llmc_slot_t *s;
    uint32_t next;
    int rc;

    /* not from a callback: the round at hand would be re-entered */
    if (c == NULL || !c->ready || c->busy)
        return LLMC_ERR_STATE;
    if (n_extra > LLMC_POLL_EXTRA || (n_extra > 0 && extra == NULL))
        return LLMC_ERR_ARG;
    c->busy = 1;
    c->now = llmc_port_now_ms();
    rc = pending(c);
    next = service(c, true);
    /* a callback asked for the shutdown: this poll ends everything, with
     * nothing to wait for; nor is there when the timers just ended the
     * last request (its on_done has run: the caller hears of it now, not
     * after a wait for nothing) */
    if (c->busy == 2 || (rc > 0 && pending(c) == 0))
        timeout_ms = 0;
    if (next == UINT32_MAX || (timeout_ms >= 0 && next > (uint32_t)timeout_ms))
        next = (uint32_t)timeout_ms;
    else if (next > INT32_MAX) /* a timer 24.8 days or more away, with no */
        next = INT32_MAX;      /* caller's timeout: not poll's "forever" */
    for (i = 0; i < LLMC_CONNS; i++) {
        llmc_conn_t *k = &c->conns[i];
        if (k->state == CONN_FREE || k->sock == LLMC_SOCK_INVALID)
            continue;
        fds[nfds].sock = k->sock;
        fds[nfds].events = k->want ? k->want : LLMC_POLL_IN;
        conn_of[nfds] = (uint8_t)i;
        state[nfds] = k->state;
        nfds++;
    }
    for (i = 0; i < n_extra; i++)
        fds[nfds + i] = extra[i];
    rc = llmc_port_poll(fds, nfds + n_extra, (int)next);
    for (i = 0; i < n_extra; i++)
        extra[i].revents = rc >= 0 ? fds[nfds + i].revents : 0;
    c->now = llmc_port_now_ms();
    if (rc >= 0) {
        for (i = 0; i < nfds; i++) {
            uint8_t ci = conn_of[i];
            if (fds[i].revents == 0)
                continue;
            if (state[i] == CONN_IDLE) {
                /* an idle pooled connection became readable; one taken
                 * since is not this event's */
                if (c->conns[ci].state == CONN_IDLE)
                    (void)llmc_conn_idle_ok(c, ci);
                continue;
            }
            /* A connection in use belongs to the one active slot that
             * holds it, and only that slot's own step lets it go: the
             * slot found now is the one that held it as the round began. */
            for (s = c->slots; s < c->slots + LLMC_SLOTS; s++)
                if (s->state == SLOT_ACTIVE && s->conn == ci) {
                    slot_step(c, s, fds[i].revents);
                    break;
                }
        }
    }
    for (i = 0; i < LLMC_SLOTS; i++)
        if (c->slots[i].more)
            slot_step(c, &c->slots[i], 0);
    service(c, false);
    rc = c->busy; /* 2: a callback asked for the shutdown */
    c->busy = 0;
    if (rc == 2)
        llmc_client_shutdown(c); /* which leaves busy 0 */
    return pending(c);
}

typedef struct {
    llmc_callbacks_t user_cb;
    void *user;
    llmc_result_t *out;
    int status; /* 1 until on_done */
} chat_ctx_t;

static void chat_delta(void *u, const char *t, size_t n)
{
    chat_ctx_t *x = u;
    if (x->user_cb.on_delta != NULL)
        x->user_cb.on_delta(x->user, t, n);
}

static void chat_attempt(void *u, int p, const char *name)
{
    chat_ctx_t *x = u;
    if (x->user_cb.on_attempt != NULL)
        x->user_cb.on_attempt(x->user, p, name);
}

static void chat_done(void *u, const llmc_result_t *r)
{
    chat_ctx_t *x = u;
    if (x->out != NULL)
        *x->out = *r;
    x->status = r->status;
    if (x->user_cb.on_done != NULL)
        x->user_cb.on_done(x->user, r);
}

int llmc_chat(llmc_client_t *c, const llmc_request_t *req,
              const llmc_callbacks_t *cb, void *user, llmc_result_t *result)
{
    static const llmc_callbacks_t mine = {chat_delta, chat_attempt,
                                          chat_done};
    chat_ctx_t x;
    llmc_handle_t h;

    memset(&x, 0, sizeof(x));
    if (cb != NULL)
        x.user_cb = *cb;
    x.user = user;
    x.out = result;
    x.status = 1;
    /* from a callback it cannot poll */
    h = c != NULL && c->busy ? LLMC_ERR_STATE : llmc_submit(c, req, &mine, &x);
    if (h < 0) {
        /* refused: a result all the same, as of a request that never ran */
        if (result != NULL) {
            llmc_buf_t b;
            result_start(result, h, &b);
        }
        return h;
    }
    while (x.status > 0) {
        int rc = llmc_poll(c, 1000);
        if (rc < 0)
            return rc;
    }
    return x.status;
}

void llmc_client_shutdown(llmc_client_t *c)
{
    int i;
    if (c == NULL || !c->ready)
        return;
    llmc_port_lock();
    c->shutting_down = true;
    /* each request as cancelled: from a callback, also the rest of the
     * read at hand delivers nothing more */
    for (i = 0; i < LLMC_SLOTS; i++)
        LLMC_SET_CANCELLED(&c->slots[i].job);
    llmc_port_unlock();
    if (c->busy) {
        /* from a callback: no more submits from now on; the poll (or
         * shutdown) that runs the callback ends every request and closes
         * everything before it returns */
        c->busy = 2;
        return;
    }
    c->busy = 1;
    /* running requests end as cancelled in service(); so do queued ones,
     * dispatched one by one as cancelled */
    c->now = llmc_port_now_ms();
    service(c, false);
    for (i = 0; i < LLMC_CONNS; i++)
        llmc_conn_close(c, i, true);
#if LLMC_TLS
    for (i = 0; i < c->n_providers; i++)
        if (c->prov[i].has_session) {
            mbedtls_ssl_session_free(&c->prov[i].session);
            c->prov[i].has_session = false;
        }
#endif
    llmc_tls_free(c);
    c->busy = 0;
    /* under the lock: another task's llmc_submit() reads it there */
    llmc_port_lock();
    c->ready = false;
    llmc_port_unlock();
}

/* ---- result text ------------------------------------------------------- */

/* A status's text, then the message when it says more than that. */
static void status_text(llmc_buf_t *b, int status, const char *msg)
{
    const char *what = llmc_strerror(status);
    llmc_buf_str(b, what);
    if (msg[0] != '\0' && strcmp(msg, what) != 0)
        str2(b, ": ", msg);
}

size_t llmc_result_format(const llmc_result_t *r,
                          const llmc_provider_t *providers, size_t n_providers,
                          char *buf, size_t cap)
{
    llmc_buf_t b;
    char dummy[1];
    int n;

    if (buf == NULL || cap == 0) {
        buf = dummy;
        cap = 1;
    }
    llmc_buf_init(&b, buf, cap);
    if (r == NULL)
        return 0;
    if (r->status == LLMC_OK) {
        str2(&b, name_in(providers, n_providers, r->provider), ": ok");
        return b.need;
    }
    n = r->n_attempts < LLMC_MAX_ATTEMPTS ? r->n_attempts : LLMC_MAX_ATTEMPTS;
    if (n > 0) {
        const llmc_attempt_t *a = r->attempts, *end = a + n;
        llmc_buf_str(&b, r->partial ? "failed after partial content:"
                                    : "all providers failed:");
        for (; a < end; a++) {
            str2(&b, "\n", name_in(providers, n_providers, a->provider));
            llmc_buf_str(&b, ": ");
            status_text(&b, a->status, a->message);
        }
        if (r->n_attempts > LLMC_MAX_ATTEMPTS) {
            llmc_buf_str(&b, "\n(");
            llmc_buf_uint(&b, (size_t)(r->n_attempts - LLMC_MAX_ATTEMPTS));
            /* the count stops at 255: there were at least as many */
            if (r->n_attempts == UINT8_MAX)
                llmc_buf_str(&b, " or");
            llmc_buf_str(&b, " more attempts not recorded)");
        }
        a--; /* the last one recorded: did the request end with it? */
        if (r->status == a->status && strcmp(r->message, a->message) == 0)
            return b.need;
        /* no: a deadline or cancel while it waited to retry, or an
         * attempt past the record, ended it */
        llmc_buf_str(&b, "\n");
    }
    status_text(&b, r->status, r->message);
    return b.need;
}
