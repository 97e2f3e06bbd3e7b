/*
 * llmc-gateway's request parsing (examples/posix/llmc_gateway.c, included
 * whole with main() left out by LLMC_GATEWAY_FUZZ), in two modes chosen by
 * the input's first byte:
 *
 * Body mode: the rest of the input is a request body, in a heap buffer of
 * exactly its size (the gateway gets no NUL after a body: on a connection
 * the next pipelined request follows it), handed to submit() as
 * conn_parse() hands it. The run stops at the overload check just before
 * llmc_submit() (no slot, no queue), so every body ends in exactly one
 * response: 503 "overloaded" when the body was accepted, a 400 with a
 * non-empty message when it was refused. A reference decoding below, on
 * a pristine copy of the body, says which it must be and, for an accepted
 * body, what the request must hold: the model (copied, under
 * GW_MODEL_MAX bytes, no U+0000: never cut short), each message's role
 * (any string without U+0000: the gateway leaves roles to the provider)
 * and content (pointers inside the body, unescaped in place,
 * NUL-terminated), at most GW_MESSAGES messages, max_tokens (1 and up,
 * or null), temperature, stream and include_usage; a field that asks
 * for another kind of answer (tools, functions, n, logprobs) refuses the
 * body unless it is "off";
 * every other field that is not null nor one of tool calls, choices and
 * log probabilities is passed on in extra_json, key and value as written,
 * in order, unless they are too long for GW_EXTRA_MAX, which refuses the
 * body. Keys are matched decoded, and of a key given
 * twice the last counts ("messages" too); the JSON grammar itself is
 * llmc_json_valid()'s, fuzzed by fuzz_json.
 *
 * Connection mode: the rest of the input is what a client sends on one
 * connection, read by the gateway's own conn_read() in pieces the input
 * chooses (fuzz_common.h), answered with conn_flush() and conn_next() as
 * main() does, over a port in this file: the socket is memory, the engine
 * is the real one (src/) with one provider whose connection is refused,
 * so an accepted request ends as a 502 from cb_done(). The client closes
 * once it has all its answers, or stalls and is dropped by
 * check_timeouts(). It checks that the responses are whole, each with a
 * Content-Length that is its body's and a JSON body (4xx and 5xx: an
 * OpenAI error with a non-empty message), but for the answers to HEAD
 * requests, which are their heads alone; nothing follows a "Connection:
 * close" response; a request that reached llmc is the one the reference
 * decodes from its bytes in the input, and stays so until its on_done
 * (llmc holds pointers into the connection's buffer); it gets one 502;
 * every connection ends, its socket closed once; a NUL or a bare LF in
 * the first head is a 400 at once; so is a first head whose version is
 * not HTTP/1.DIGIT, that has a field name other than a token (a line
 * that begins with SP or HTAB included), or more than one Host, or none
 * in HTTP/1.1. The same bytes read whole and in pieces give the same
 * responses ("100 Continue" aside).
 *
 * Both modes use the sizes of a board build (LLMC_POLL_EXTRA 4): 4 KiB
 * requests, 16 messages, 256 JSON tokens.
 *
 * Input: byte 0: & 1 connection mode; & 2 body mode's endpoint (/chat,
 * else /v1/chat/completions); & 4 the client stalls at the end. Body mode:
 * the body follows. Connection mode: up to 4 piece sizes, then the bytes.
 */
#include "../../examples/posix/llmc_gateway.c"

#include "fuzz_common.h"

#define CLIENT_SOCK 7
#define LISTEN_SOCK 5
#define LOG_MAX (1024 * 1024)

/* ---- the port: one client connection in memory --------------------------- */

static const uint8_t *g_rx;  /* what the client sends */
static size_t g_rx_len;
static size_t g_rx_off;      /* bytes the gateway has received */
static const size_t *g_cuts; /* piece sizes, none: all at once */
static size_t g_n_cuts, g_n_pieces;
static size_t g_piece;             /* recv calls this round */
static int g_stall;                /* the client never closes */
static int g_accepted_sock;  /* accept: 0 not yet, 1 given, 2 closed */
static uint64_t g_now = 1000;
static char *g_log;          /* what the gateway sent the client */
static size_t g_log_len;

int llmc_port_resolve(const char *host, uint16_t port, llmc_addr_t *out,
                      int max)
{
    (void)host, (void)max;
    memset(out, 0, sizeof(*out));
    out->family = 4;
    out->port = port;
    out->addr[0] = 127;
    out->addr[3] = 1;
    return 1;
}

int llmc_port_connect(const llmc_addr_t *addr, llmc_sock_t *sock)
{
    (void)addr, (void)sock;
    return LLMC_PORT_REFUSED; /* the provider is down */
}

int llmc_port_connect_result(llmc_sock_t s)
{
    (void)s;
    FUZZ_ASSERT(0); /* no connect is ever in progress */
    return LLMC_PORT_ERROR;
}

int llmc_port_listen(llmc_addr_t *addr, int backlog, llmc_sock_t *sock)
{
    (void)addr, (void)backlog, (void)sock;
    return LLMC_PORT_ERROR;
}

int llmc_port_accept(llmc_sock_t listener, llmc_sock_t *sock)
{
    FUZZ_ASSERT(listener == LISTEN_SOCK);
    if (g_accepted_sock != 0)
        return LLMC_PORT_WOULD_BLOCK;
    g_accepted_sock = 1;
    *sock = CLIENT_SOCK;
    return LLMC_PORT_OK;
}

long llmc_port_send(llmc_sock_t s, const void *buf, size_t len)
{
    FUZZ_ASSERT(s == CLIENT_SOCK && g_accepted_sock == 1 && len > 0);
    FUZZ_ASSERT(g_log_len + len <= LOG_MAX);
    /* a few bytes at a time: conn_flush() must send the rest */
    if (len > 97)
        len = 97;
    memcpy(g_log + g_log_len, buf, len);
    g_log_len += len;
    return (long)len;
}

/* Whether a recv now has something to report: bytes, or the client's
 * close once it has read every answer. */
static int readable(const conn_t *c, int stall)
{
    if (g_rx_off < g_rx_len)
        return 1;
    return !stall && !conn_pending(c) &&
           (c->state == C_READ || c->state == C_DRAIN);
}

/* One piece (or all that fits, read whole), or the close, per round:
 * the gateway parses what it has before it sees more. */
long llmc_port_recv(llmc_sock_t s, void *buf, size_t len)
{
    size_t n;
    FUZZ_ASSERT(s == CLIENT_SOCK && g_accepted_sock == 1 && len > 0);
    if (g_piece++ > 0)
        return LLMC_PORT_WOULD_BLOCK;
    if (g_rx_off == g_rx_len)
        return LLMC_PORT_EOF; /* asked only when readable() */
    n = g_n_cuts > 0 ? fuzz_piece(g_cuts, g_n_cuts, g_n_pieces++,
                                  g_rx_len - g_rx_off)
                     : g_rx_len - g_rx_off;
    if (n > len)
        n = len;
    memcpy(buf, g_rx + g_rx_off, n);
    g_rx_off += n;
    return (long)n;
}

void llmc_port_close(llmc_sock_t s)
{
    if (s == LLMC_SOCK_INVALID)
        return;
    FUZZ_ASSERT(s == CLIENT_SOCK && g_accepted_sock == 1); /* once */
    g_accepted_sock = 2;
}

int llmc_port_poll(llmc_pollfd_t *fds, size_t n, int timeout_ms)
{
    (void)fds;
    FUZZ_ASSERT(n == 0); /* llmc never holds a socket here */
    if (timeout_ms > 0)
        g_now += (uint64_t)timeout_ms;
    return 0;
}

void llmc_port_wake(void) {}
uint64_t llmc_port_now_ms(void) { return g_now; }
void llmc_port_lock(void) {}
void llmc_port_unlock(void) {}
void llmc_port_log(int level, const char *msg, size_t len)
{
    (void)level, (void)msg, (void)len;
}

int llmc_port_random(void *buf, size_t len)
{
    memset(buf, 0x5a, len);
    return 0;
}

/* ---- the reference decoding of a body ------------------------------------ */

typedef struct {
    const char *s;
    size_t n;
} span_t;

typedef struct {
    const char *js; /* valid JSON (llmc_json_valid) */
    char *arena;    /* decoded strings: never more than the text */
    size_t used;
    int tokens;     /* values and keys: what jsmn writes */
} ref_t;

typedef struct {
    bool accept;
    bool has_model;
    span_t model;
    size_t nm;
    span_t role[GW_MESSAGES], content[GW_MESSAGES];
    int32_t max_tokens;
    float temperature;
    bool stream, include_usage;
    char *extra; /* the extra_json expected, or extra_len 0: none */
    size_t extra_len;
} want_t;

static size_t ws(const ref_t *r, size_t i)
{
    while (r->js[i] == ' ' || r->js[i] == '\t' || r->js[i] == '\r' ||
           r->js[i] == '\n')
        i++;
    return i;
}

/* The end of the value at js[i]; its tokens are counted. */
static size_t value_end(ref_t *r, size_t i)
{
    const char *js = r->js;
    r->tokens++;
    if (js[i] == '"') {
        for (i++; js[i] != '"'; i += js[i] == '\\' ? 2 : 1)
            ;
        return i + 1;
    }
    if (js[i] == '{' || js[i] == '[') {
        char close = js[i] == '{' ? '}' : ']';
        i = ws(r, i + 1);
        if (js[i] == close)
            return i + 1;
        for (;;) {
            if (close == '}') { /* the key, then ':' */
                i = value_end(r, i);
                i = ws(r, ws(r, i) + 1);
            }
            i = ws(r, value_end(r, i));
            if (js[i] == ']' || js[i] == '}')
                return i + 1;
            i = ws(r, i + 1); /* ',' */
        }
    }
    while (js[i] != ',' && js[i] != ']' && js[i] != '}' && js[i] != ' ' &&
           js[i] != '\t' && js[i] != '\r' && js[i] != '\n')
        i++; /* a number or literal: the top level is an object */
    return i;
}

static span_t str_at(ref_t *r, size_t i);

/* The key of the last member() as written, quotes included. */
static span_t g_key_raw;

/* The next member of the object at *i (its '{' at first): key (decoded)
 * and value; false at its end. */
static bool member(ref_t *r, size_t *i, span_t *key, size_t *val)
{
    size_t p = ws(r, *i), e;
    if (r->js[p] == '{' || r->js[p] == ',')
        p = ws(r, p + 1);
    if (r->js[p] == '}')
        return false;
    e = value_end(r, p);
    g_key_raw.s = r->js + p;
    g_key_raw.n = e - p;
    *key = str_at(r, p);
    *val = ws(r, ws(r, e) + 1);
    *i = value_end(r, *val);
    return true;
}

/* The next element of the array at *i (its '[' at first). */
static bool element(ref_t *r, size_t *i, size_t *val)
{
    size_t p = ws(r, *i);
    if (r->js[p] == '[' || r->js[p] == ',')
        p = ws(r, p + 1);
    if (r->js[p] == ']')
        return false;
    *val = p;
    *i = value_end(r, p);
    return true;
}

static bool is_key(span_t k, const char *name)
{
    return k.n == strlen(name) && memcmp(k.s, name, k.n) == 0;
}

static unsigned hex4(const char *s)
{
    unsigned v = 0;
    int i;
    for (i = 0; i < 4; i++) {
        char c = s[i];
        v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

static size_t utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* The string at js[i], decoded (RFC 8259; a lone surrogate is U+FFFD). */
static span_t str_at(ref_t *r, size_t i)
{
    const char *js = r->js;
    char *o = r->arena + r->used;
    size_t k = 0;
    span_t s;
    for (i++; js[i] != '"';) {
        unsigned cp;
        if (js[i] != '\\') {
            o[k++] = js[i++];
            continue;
        }
        if (js[i + 1] != 'u') {
            static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
            o[k++] = to[strchr(from, js[i + 1]) - from];
            i += 2;
            continue;
        }
        cp = hex4(js + i + 2);
        i += 6;
        if (cp >= 0xD800 && cp < 0xDC00 && js[i] == '\\' && js[i + 1] == 'u' &&
            (hex4(js + i + 2) & 0xFC00) == 0xDC00) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (hex4(js + i + 2) - 0xDC00);
            i += 6;
        } else if (cp >= 0xD800 && cp < 0xE000) {
            cp = 0xFFFD;
        }
        k += utf8(o + k, cp);
    }
    r->used += k;
    s.s = o;
    s.n = k;
    return s;
}

static bool is_word(const ref_t *r, size_t i, const char *w)
{
    return strncmp(r->js + i, w, strlen(w)) == 0;
}

/* A number the gateway reads: at most 39 characters. */
static bool number(ref_t *r, size_t i, double *d)
{
    char tmp[40];
    int t = r->tokens;
    size_t n = value_end(r, i) - i;
    r->tokens = t;
    if (!(r->js[i] == '-' || (r->js[i] >= '0' && r->js[i] <= '9')) ||
        n >= sizeof(tmp))
        return false;
    memcpy(tmp, r->js + i, n);
    tmp[n] = '\0';
    *d = strtod(tmp, NULL);
    return true;
}

static bool int32_at(ref_t *r, size_t i, int32_t *v)
{
    double d;
    if (!number(r, i, &d) || d < -2147483648.0 || d > 2147483647.0 ||
        d != (double)(int32_t)d)
        return false;
    *v = (int32_t)d;
    return true;
}

/* A token limit: an integer of 1 or more (llmc sends none for less) */
static bool limit_at(ref_t *r, size_t i, int32_t *v)
{
    return int32_at(r, i, v) && *v > 0;
}

static bool bool_at(const ref_t *r, size_t i, bool *b)
{
    if (is_word(r, i, "true"))
        *b = true;
    else if (is_word(r, i, "false"))
        *b = false;
    else
        return false;
    return true;
}

/* What the gateway must make of body js[0..len) at endpoint ep. */
/* Content as an array of parts at js[a]: each an object whose "type"
 * keys all have the value "text" (as written: no escapes) and whose last
 * "text" key has a string; the texts decoded and joined. */
static bool parts_at(ref_t *r, size_t a, span_t *out)
{
    size_t pos[GW_TOKENS], np = 0, e = a, ev, k;
    span_t t;

    while (element(r, &e, &ev)) {
        size_t f = ev, fv, text = 0;
        span_t fk;
        bool is_text = false;
        if (r->js[ev] != '{')
            return false;
        while (member(r, &f, &fk, &fv)) {
            if (is_key(fk, "type")) {
                if (strncmp(r->js + fv, "\"text\"", 6) != 0)
                    return false;
                is_text = true;
            } else if (is_key(fk, "text")) {
                text = fv;
            }
        }
        if (!is_text || text == 0 || r->js[text] != '"')
            return false;
        pos[np++] = text;
    }
    /* decoded one after the other: one span */
    out->s = r->arena + r->used;
    out->n = 0;
    for (k = 0; k < np; k++) {
        t = str_at(r, pos[k]);
        out->n += t.n;
    }
    return true;
}

/* A field the gateway refuses unless it is "off" (its unsupported()):
 * false when it is on. */
static bool off_or_other(ref_t *r, span_t k, size_t v)
{
    size_t e = v, ev;
    int32_t one;
    bool on;

    if (is_word(r, v, "null"))
        return true;
    if (is_key(k, "tools") || is_key(k, "functions"))
        return r->js[v] == '[' && !element(r, &e, &ev);
    if (is_key(k, "n"))
        return int32_at(r, v, &one) && one == 1;
    if (is_key(k, "logprobs"))
        return bool_at(r, v, &on) && !on;
    return true;
}

/* A field the gateway passes on in extra_json: not null, not one of tool
 * calls, choices and log probabilities. */
static bool ref_passed_on(ref_t *r, span_t k, size_t v)
{
    static const char *const kept[] = {"tools", "functions", "tool_choice",
                                       "function_call", "parallel_tool_calls",
                                       "n", "logprobs", "top_logprobs"};
    size_t i;
    if (is_word(r, v, "null"))
        return false;
    for (i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
        if (is_key(k, kept[i]))
            return false;
    return true;
}

/* Well-formed UTF-8 (RFC 3629): by code point, not by the first byte's
 * ranges as llmc_tool_utf8_span() checks it. */
static bool utf8_ok(const unsigned char *s, size_t n)
{
    size_t i = 0, k, need;
    uint32_t cp, min;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xE0u) == 0xC0u)
            need = 1, cp = c & 0x1Fu, min = 0x80;
        else if ((c & 0xF0u) == 0xE0u)
            need = 2, cp = c & 0x0Fu, min = 0x800;
        else if ((c & 0xF8u) == 0xF0u)
            need = 3, cp = c & 0x07u, min = 0x10000;
        else
            return false;
        if (n - i <= need)
            return false;
        for (k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0u) != 0x80u)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3Fu);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += need + 1;
    }
    return true;
}

static void reference(const char *js, size_t len, int ep, char *arena,
                      want_t *w)
{
    static char extra[GW_EXTRA_MAX];
    ref_t r;
    size_t i = 0, v;
    span_t k;
    bool have_messages = false, too_long = false;

    memset(w, 0, sizeof(*w));
    w->extra = extra;
    w->temperature = -1.0f;
    if (llmc_json_valid(js, len) != LLMC_OK ||
        !utf8_ok((const unsigned char *)js, len))
        return;
    r.js = js;
    r.arena = arena;
    r.used = 0;
    r.tokens = 0;
    i = ws(&r, 0);
    value_end(&r, i);
    if (r.tokens > GW_TOKENS)
        return;
    while (member(&r, &i, &k, &v)) {
        char c = js[v];
        if (ep == EP_CHAT) {
            if (is_key(k, "message")) {
                if (c != '"')
                    return;
                w->content[0] = str_at(&r, v);
                w->nm = 1;
            } else if (is_key(k, "max_tokens") && !is_word(&r, v, "null") &&
                       !limit_at(&r, v, &w->max_tokens)) {
                return;
            }
            continue;
        }
        if (is_key(k, "model")) {
            if (c != '"')
                return;
            w->model = str_at(&r, v);
            w->has_model = true;
            if (w->model.n >= GW_MODEL_MAX ||
                memchr(w->model.s, 0, w->model.n) != NULL)
                return;
        } else if (is_key(k, "messages")) {
            size_t e, ev;
            if (c != '[')
                return;
            have_messages = true;
            w->nm = 0; /* the last "messages" counts */
            for (e = v; element(&r, &e, &ev);) {
                size_t f = ev, fv;
                span_t fk;
                bool role = false, content = false;
                if (js[ev] != '{' || w->nm == GW_MESSAGES)
                    return;
                while (member(&r, &f, &fk, &fv)) {
                    if (is_key(fk, "role")) {
                        if (js[fv] != '"')
                            return;
                        w->role[w->nm] = str_at(&r, fv);
                        if (memchr(w->role[w->nm].s, 0, w->role[w->nm].n))
                            return; /* it would be cut short */
                        role = true;
                    } else if (is_key(fk, "content") && js[fv] == '[') {
                        if (!parts_at(&r, fv, &w->content[w->nm]))
                            return;
                        content = true;
                    } else if (is_key(fk, "content")) {
                        if (js[fv] != '"')
                            return;
                        w->content[w->nm] = str_at(&r, fv);
                        content = true;
                    }
                }
                if (!role || !content)
                    return;
                w->nm++;
            }
        } else if (is_key(k, "max_tokens") ||
                   is_key(k, "max_completion_tokens")) {
            if (!is_word(&r, v, "null") && !limit_at(&r, v, &w->max_tokens))
                return;
        } else if (is_key(k, "temperature")) {
            double d;
            if (is_word(&r, v, "null"))
                continue;
            if (!number(&r, v, &d) || d < 0 || d > 2)
                return;
            w->temperature = (float)d;
        } else if (is_key(k, "stream")) {
            if (!is_word(&r, v, "null") && !bool_at(&r, v, &w->stream))
                return;
        } else if (is_key(k, "stream_options")) {
            size_t f = v, fv;
            span_t fk;
            if (is_word(&r, v, "null"))
                continue;
            if (c != '{')
                return;
            while (member(&r, &f, &fk, &fv))
                if (is_key(fk, "include_usage") &&
                    !bool_at(&r, fv, &w->include_usage))
                    return;
        } else if (!off_or_other(&r, k, v)) {
            return;
        } else if (ref_passed_on(&r, k, v)) {
            /* "{" or ",", the key as written, ":", the value as written */
            span_t key = g_key_raw;
            size_t n = w->extra_len;
            /* with the closing "}" and the NUL */
            too_long |= n + key.n + (i - v) + 4 > sizeof(extra);
            if (too_long)
                continue;
            extra[n] = n == 0 ? '{' : ',';
            n++;
            memcpy(extra + n, key.s, key.n);
            n += key.n;
            extra[n++] = ':';
            memcpy(extra + n, js + v, i - v);
            w->extra_len = n + (i - v);
        }
    }
    if (too_long)
        return; /* for the gateway's GW_EXTRA_MAX */
    if (w->extra_len > 0) {
        extra[w->extra_len++] = '}';
        extra[w->extra_len] = '\0';
    }
    if (ep == EP_CHAT ? w->nm == 0 : !have_messages || w->nm == 0)
        return;
    w->accept = true;
}

/* The request the gateway made of body[0..len) (its buffer, unescaped in
 * place) is the one w describes. */
static void check_request(const conn_t *c, const char *body, size_t len,
                          const want_t *w)
{
    size_t i;
    const char *model = w->has_model ? w->model.s : g_default_model;
    size_t model_len = w->has_model ? w->model.n : strlen(g_default_model);
    FUZZ_ASSERT(w->accept);
    FUZZ_ASSERT(c->req.model == c->model);
    FUZZ_ASSERT(strlen(c->model) == model_len &&
                memcmp(c->model, model, model_len) == 0);
    FUZZ_ASSERT(c->req.messages == c->msgs);
    FUZZ_ASSERT(c->req.n_messages == w->nm && w->nm <= GW_MESSAGES);
    for (i = 0; i < w->nm; i++) {
        const llmc_message_t *m = &c->msgs[i];
        if (c->endpoint == EP_CHAT) {
            FUZZ_ASSERT(strcmp(m->role, "user") == 0);
        } else {
            FUZZ_ASSERT(m->role >= body && m->role < body + len);
            FUZZ_ASSERT(strlen(m->role) == w->role[i].n &&
                        memcmp(m->role, w->role[i].s, w->role[i].n) == 0);
        }
        FUZZ_ASSERT(m->content_len == w->content[i].n);
        if (m->content_len == 0) {
            FUZZ_ASSERT(m->content[0] == '\0');
            continue;
        }
        FUZZ_ASSERT(m->content >= body &&
                    m->content + m->content_len < body + len);
        FUZZ_ASSERT(m->content[m->content_len] == '\0');
        FUZZ_ASSERT(memcmp(m->content, w->content[i].s, m->content_len) == 0);
    }
    FUZZ_ASSERT(c->req.max_tokens == w->max_tokens);
    FUZZ_ASSERT(c->req.temperature == w->temperature);
    FUZZ_ASSERT(c->stream == (c->endpoint == EP_COMPLETIONS && w->stream));
    FUZZ_ASSERT(c->include_usage == w->include_usage);
    if (w->extra_len == 0) {
        FUZZ_ASSERT(c->req.extra_json == NULL);
    } else {
        FUZZ_ASSERT(c->req.extra_json == c->extra);
        FUZZ_ASSERT(strlen(c->extra) == w->extra_len &&
                    memcmp(c->extra, w->extra, w->extra_len) == 0);
        FUZZ_ASSERT(llmc_json_valid(c->extra, w->extra_len) == LLMC_OK);
    }
}

/* ---- responses ----------------------------------------------------------- */

typedef struct {
    int status;
    bool close;
    bool head_only; /* the answer to a HEAD request: no body */
    const char *body;
    size_t body_len;
    span_t type; /* an error's "type" */
} resp_t;

static const char *find(const char *s, size_t n, const char *w)
{
    size_t k = strlen(w), i;
    for (i = 0; i + k <= n; i++)
        if (memcmp(s + i, w, k) == 0)
            return s + i;
    return NULL;
}

/* The response at log[*off..len): whole, framed by its Content-Length,
 * its body JSON; an error's body as respond_error() writes it. With
 * head_only, the answer to a HEAD request: its head alone. */
static void response(const char *log, size_t len, size_t *off, resp_t *r,
                     bool head_only)
{
    const char *p = log + *off, *end, *h;
    size_t n = len - *off, head;
    unsigned long long cl = 0;
    FUZZ_ASSERT(n >= 16 && memcmp(p, "HTTP/1.1 ", 9) == 0);
    r->status = atoi(p + 9);
    end = find(p, n, "\r\n\r\n");
    FUZZ_ASSERT(end != NULL);
    head = (size_t)(end - p) + 4;
    memset(&r->type, 0, sizeof(r->type));
    r->body = p + head;
    r->body_len = 0;
    r->close = false;
    r->head_only = false;
    if (r->status == 100) {
        FUZZ_ASSERT(head == 25); /* "HTTP/1.1 100 Continue", nothing else */
        *off += head;
        return;
    }
    h = find(p, head, "\r\nContent-Length: ");
    FUZZ_ASSERT(h != NULL);
    cl = strtoull(h + 18, NULL, 10);
    r->close = find(p, head, "\r\nConnection: close\r\n") != NULL;
    FUZZ_ASSERT(r->close !=
                (find(p, head, "\r\nConnection: keep-alive\r\n") != NULL));
    r->head_only = head_only;
    if (head_only) { /* the Content-Length GET's answer would have */
        FUZZ_ASSERT(cl > 0);
        *off += head;
        return;
    }
    FUZZ_ASSERT(cl <= n - head);
    r->body_len = (size_t)cl;
    *off += head + r->body_len;
    FUZZ_ASSERT(llmc_json_valid(r->body, r->body_len) == LLMC_OK);
    if (r->status >= 400) {
        static const char pre[] = "{\"error\":{\"message\":\"";
        const char *t = find(r->body, r->body_len, "\",\"type\":\"");
        FUZZ_ASSERT(r->body_len > sizeof(pre) &&
                    memcmp(r->body, pre, sizeof(pre) - 1) == 0);
        FUZZ_ASSERT(r->body[sizeof(pre) - 1] != '"'); /* a message */
        FUZZ_ASSERT(t != NULL);
        r->type.s = t + 10;
        t = memchr(r->type.s, '"', (size_t)(r->body + r->body_len - r->type.s));
        FUZZ_ASSERT(t != NULL);
        r->type.n = (size_t)(t - r->type.s);
    }
}

static bool type_is(const resp_t *r, const char *t)
{
    return is_key(r->type, t);
}

/* ---- body mode ----------------------------------------------------------- */

static void body_mode(const uint8_t *data, size_t size, int ep)
{
    conn_t *c = &g_conns[0];
    char *body = malloc(size), *arena = malloc(size + 1);
    static want_t w;
    resp_t r;
    size_t off = 0;

    FUZZ_ASSERT(body != NULL && arena != NULL);
    memcpy(body, data, size);
    reference((const char *)data, size, ep, arena, &w);

    memset(c, 0, offsetof(conn_t, in));
    c->sock = LLMC_SOCK_INVALID;
    c->state = C_READ;
    c->keep_alive = true;
    c->peer_eof = false;
    c->out_off = c->out_len = 0;
    conn_reset_request(c);
    c->endpoint = ep;
    g_active = g_max_inflight = g_queue_limit = 0; /* stop before llmc */
    submit(c, body, size);
    FUZZ_ASSERT(c->state == C_WRITE);
    response(c->out, c->out_len, &off, &r, false);
    FUZZ_ASSERT(off == c->out_len); /* one response */
    if (w.accept) {
        FUZZ_ASSERT(r.status == 503 && type_is(&r, "overloaded"));
        check_request(c, body, size, &w);
    } else {
        FUZZ_ASSERT(r.status == 400 && type_is(&r, "invalid_request_error"));
    }
    free(body);
    free(arena);
}

/* ---- connection mode ----------------------------------------------------- */

typedef struct {
    char *log;
    size_t log_len;
    unsigned reached; /* requests that reached llmc */
} run_t;

/* Per response the gateway made (100 Continue aside), in order: whether
 * it answers a HEAD request. A response is made as a connection enters
 * C_WRITE, one at a time: the next request is read once it has gone. */
static bool *g_resp_head;
static size_t g_n_resp, g_resp_cap;

static void made_response(const conn_t *c, int before)
{
    if (c->state != C_WRITE || before == C_WRITE)
        return;
    FUZZ_ASSERT(g_n_resp < g_resp_cap);
    g_resp_head[g_n_resp++] = c->head_only;
}

static llmc_provider_t g_prov;

/* The request in c->in[0..) that the gateway submitted: checked against
 * its bytes in the input, which in_len bytes ago began it. */
static void check_submitted(conn_t *c, char *arena, want_t *w)
{
    size_t head = 0, start = g_rx_off - c->in_len;
    while (memcmp(c->in + head, "\r\n\r\n", 4) != 0)
        FUZZ_ASSERT(++head + 4 <= c->in_len);
    head += 4;
    FUZZ_ASSERT(head <= c->req_len && c->req_len <= c->in_len);
    reference((const char *)g_rx + start + head, c->req_len - head,
              c->endpoint, arena, w);
    check_request(c, c->in + head, c->req_len - head, w);
}

static void conn_run(const uint8_t *s, size_t len, const size_t *cuts,
                     size_t n_cuts, int stall, run_t *out)
{
    static want_t w;
    conn_t *c = &g_conns[0];
    char *arena = malloc(len + 1);
    llmc_config_t lc;
    unsigned long id = 0;
    size_t rounds, off = 0, n_502 = 0, n_resp = 0;
    bool closed = false;

    FUZZ_ASSERT(arena != NULL);
    /* a response takes a request, of a byte at least (a timeout's
     * none, nor a dropped connection's) */
    g_resp_cap = len + 1;
    g_resp_head = malloc(g_resp_cap * sizeof(*g_resp_head));
    g_n_resp = 0;
    FUZZ_ASSERT(g_resp_head != NULL);
    g_rx = s;
    g_rx_len = len;
    g_rx_off = 0;
    g_cuts = cuts;
    g_n_cuts = n_cuts;
    g_n_pieces = 0;
    g_stall = stall;
    g_accepted_sock = 0;
    g_log = out->log;
    g_log_len = 0;
    out->reached = 0;

    /* as main() sets the gateway up */
    memset(g_conns, 0, sizeof(g_conns));
    memset(g_health, 0, sizeof(g_health));
    memset(&g_cfg, 0, sizeof(g_cfg));
    g_cfg.providers[0] = g_prov;
    g_cfg.n_providers = 1;
    llmc_policy_default(&g_cfg.policy);
    g_cfg.policy.max_retries = 0;
    g_cfg.max_inflight = g_max_inflight = 1;
    g_queue_limit = LLMC_QUEUE_LEN;
    g_active = 0;
    g_next_id = 1;
    memset(&lc, 0, sizeof(lc));
    lc.providers = g_cfg.providers;
    lc.n_providers = g_cfg.n_providers;
    lc.policy = g_cfg.policy;
    lc.max_inflight = 1;
    FUZZ_ASSERT(llmc_client_init(&g_client, &lc) == LLMC_OK);
    g_listener = LISTEN_SOCK;

    accept_all(g_now);
    FUZZ_ASSERT(c->state == C_READ && c->sock == CLIENT_SOCK);
    for (rounds = 0; c->state != C_FREE; rounds++) {
        bool idle = true;
        /* each round reads a piece or answers a request: no hang */
        FUZZ_ASSERT(rounds < 4 * len + 64);
        g_piece = 0;
        if ((c->state == C_READ || c->state == C_WAIT) &&
            c->in_len < GW_REQ_MAX && readable(c, stall)) {
            int before = c->state;
            conn_read(c, g_now);
            made_response(c, before);
            idle = false;
        } else if (c->state == C_DRAIN && readable(c, stall)) {
            conn_drain(c);
            idle = false;
        }
        if (c->state == C_ZOMBIE) /* dropped: llmc ends its request */
            FUZZ_ASSERT(llmc_poll(&g_client, 1000) >= 0);
        if (c->state == C_WAIT) {
            if (c->id != id) {
                id = c->id;
                out->reached++;
            }
            /* llmc reads the request until its on_done */
            check_submitted(c, arena, &w);
            FUZZ_ASSERT(llmc_poll(&g_client, 1000) >= 0);
            made_response(c, C_WAIT);
            idle = false;
        }
        if (c->state == C_WRITE) {
            if (conn_flush(c, g_now) && c->state == C_WRITE &&
                !conn_pending(c)) {
                conn_next(c, g_now);
                made_response(c, C_READ);
            }
            idle = false;
        }
        if (idle && stall) {
            /* all sent, all answered: the client says nothing more */
            g_now += g_client_timeout_ms + 1;
            check_timeouts(g_now);
        }
    }
    FUZZ_ASSERT(g_accepted_sock == 2 && g_active == 0);
    llmc_client_shutdown(&g_client);

    while (off < g_log_len) {
        resp_t r;
        bool head_only;
        FUZZ_ASSERT(!closed); /* nothing after "Connection: close" */
        /* a 100 Continue is no response of g_resp_head's */
        head_only = g_log_len - off >= 13 &&
                    memcmp(g_log + off, "HTTP/1.1 100 ", 13) != 0 &&
                    n_resp < g_n_resp && g_resp_head[n_resp];
        response(g_log, g_log_len, &off, &r, head_only);
        if (r.status != 100)
            n_resp++;
        closed = r.close;
        if (r.head_only) {
            FUZZ_ASSERT(r.status != 502); /* HEAD never reaches llmc */
        } else if (r.status == 502) {
            FUZZ_ASSERT(type_is(&r, "upstream_error"));
            n_502++;
        } else if (r.status != 100 && r.status != 200) {
            FUZZ_ASSERT(r.status >= 400 && r.status < 500 &&
                        type_is(&r, "invalid_request_error"));
        }
    }
    FUZZ_ASSERT(n_502 == out->reached);
    FUZZ_ASSERT(n_resp == g_n_resp); /* every response made went out */
    out->log_len = g_log_len;
    free(g_resp_head);
    g_resp_head = NULL;
    free(arena);
}

/* The first response is a 400 that closes, and nothing reached llmc. */
static void check_refused(const run_t *run)
{
    static const char want[] = "HTTP/1.1 400 ";
    const char *end = find(run->log, run->log_len, "\r\n\r\n");
    FUZZ_ASSERT(run->log_len > sizeof(want) &&
                memcmp(run->log, want, sizeof(want) - 1) == 0);
    FUZZ_ASSERT(end != NULL &&
                find(run->log, (size_t)(end - run->log) + 4,
                     "\r\nConnection: close\r\n") != NULL);
    FUZZ_ASSERT(run->reached == 0);
}

/* RFC 9110 5.6.2: the bytes a token (a field name) is made of. */
static bool tchar(uint8_t b)
{
    static const char punct[] = "!#$%&'*+-.^_`|~";
    return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') ||
           (b >= '0' && b <= '9') ||
           (b != 0 && memchr(punct, b, sizeof(punct) - 1) != NULL);
}

/* Whether head[0..n) (CRLF-terminated lines, no NUL, no bare LF, its
 * blank line left out) breaks a rule of RFC 9112 that llmc-gateway keeps:
 * the request line ends in HTTP/1.DIGIT; each field line is a token, a
 * colon, a value; one Host, none only in HTTP/1.0. */
static bool head_refused(const uint8_t *head, size_t n)
{
    const uint8_t *p = head, *end = head + n, *le, *colon, *q;
    unsigned hosts = 0;
    bool http10;
    le = (const uint8_t *)find((const char *)p, n, "\r\n");
    FUZZ_ASSERT(le != NULL);
    if (le - p < 8 || memcmp(le - 8, "HTTP/1.", 7) != 0 || le[-1] < '0' ||
        le[-1] > '9')
        return true;
    http10 = le[-1] == '0';
    for (p = le + 2; p < end; p = le + 2) {
        le = (const uint8_t *)find((const char *)p, (size_t)(end - p),
                                   "\r\n");
        FUZZ_ASSERT(le != NULL);
        colon = memchr(p, ':', (size_t)(le - p));
        if (colon == NULL || colon == p)
            return true;
        for (q = p; q < colon; q++)
            if (!tchar(*q))
                return true;
        if (colon - p == 4 && (p[0] | 0x20) == 'h' && (p[1] | 0x20) == 'o' &&
            (p[2] | 0x20) == 's' && (p[3] | 0x20) == 't')
            hosts++;
    }
    return hosts > 1 || (hosts == 0 && !http10);
}

/* A NUL or a bare LF in the first head, or a head that head_refused():
 * a 400 at once, and the end. */
static void check_first_head(const uint8_t *s, size_t len, const run_t *run)
{
    size_t i = 0;
    while (i + 1 < len && s[i] == '\r' && s[i + 1] == '\n')
        i += 2;
    for (s += i, len -= i, i = 0; i < len && i < GW_REQ_MAX; i++) {
        if (i >= 3 && memcmp(s + i - 3, "\r\n\r\n", 4) == 0) {
            if (head_refused(s, i - 1))
                check_refused(run);
            return;
        }
        if (s[i] == 0 || (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))) {
            check_refused(run);
            return;
        }
    }
}

/* log[0..n) without its "100 Continue" responses. */
static size_t without_continue(char *log, size_t n)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    size_t i = 0, o = 0;
    while (i < n) {
        if (n - i >= sizeof(cont) - 1 &&
            memcmp(log + i, cont, sizeof(cont) - 1) == 0) {
            i += sizeof(cont) - 1;
            continue;
        }
        log[o++] = log[i++];
    }
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static run_t whole, pieces;
    size_t cuts[4], n_cuts;
    uint8_t mode;

    if (size < 1)
        return 0;
    if (whole.log == NULL) {
        whole.log = malloc(LOG_MAX);
        pieces.log = malloc(LOG_MAX);
        FUZZ_ASSERT(whole.log != NULL && pieces.log != NULL);
        g_prov.name = "up";
        g_prov.base_url = "http://up.test/v1";
        g_prov.auth = LLMC_AUTH_NONE;
    }
    mode = data[0];
    data++;
    size--;
    if (!(mode & 1)) {
        body_mode(data, size, (mode & 2) ? EP_CHAT : EP_COMPLETIONS);
        return 0;
    }
    n_cuts = fuzz_splits(&data, &size, cuts);
    conn_run(data, size, NULL, 0, mode & 4, &whole);
    check_first_head(data, size, &whole);
    conn_run(data, size, cuts, n_cuts, mode & 4, &pieces);
    whole.log_len = without_continue(whole.log, whole.log_len);
    pieces.log_len = without_continue(pieces.log, pieces.log_len);
    FUZZ_ASSERT(whole.reached == pieces.reached);
    FUZZ_ASSERT(whole.log_len == pieces.log_len &&
                memcmp(whole.log, pieces.log, whole.log_len) == 0);
    return 0;
}
