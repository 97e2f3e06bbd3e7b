#include "llmc_writer.h"

#include <stddef.h>
#include <string.h>

#include "llmc_util.h"

/*
 * The request is a template: ASCII literals with opcodes (bytes >= 0x80)
 * for conditions, the message loop and caller values. A piece is either a
 * run of literal bytes or one value; w->idx is a template position with
 * the message number above it. Sizing and streaming walk the same pieces.
 */
#define OP_END "\x80"
#define OP_ENDIF "\x81"
#define OP_LOOP "\x82"
#define OP_LOOPEND "\x83"
/* conditions: 0x88 + n, bit n of w->cond; ELSE is one that never holds */
#define IF_TOKEN "\x88"
#define IF_IPV6 "\x89"
#define IF_PORT "\x8a"
#define IF_STREAM "\x8b"
#define IF_BEARER "\x8c"
#define IF_PROJECT "\x8d"
#define IF_MAXTOK "\x8e"
#define IF_TEMP "\x8f"
#define OP_ELSE "\x90"
#define IF_USAGE "\x91" /* after ELSE: bit 9 */
#define IF_MCT "\x92"   /* max_completion_tokens: bit 10 */
#define IF_XREQ "\x93"  /* the request's extra members: bit 11 */
#define IF_XPROV "\x94" /* the provider's: bit 12 */
/* values: 0xa0 + n, JSON-escaped from V_ESC on */
#define V_PORT "\xa0"
#define V_CLEN "\xa1"
#define V_MAXTOK "\xa2"
#define V_TEMP "\xa3.\xa4"
#define V_PATH "\xa5"
#define V_HOST "\xa6"
#define V_BEARER "\xa7"
#define V_PROJECT "\xa8"
#define V_XREQ "\xa9" /* as they are: valid JSON */
#define V_XPROV "\xaa"
#define V_KEYID "\xab"
#define V_SECRET "\xac"
#define V_MODEL "\xad"
#define V_ROLE "\xae"
#define V_CONTENT "\xaf"

enum {
    END = 0x80, ENDIF, LOOP, LOOPEND,
    COND0 = 0x88, TOKEN = COND0, IPV6, PORT, STREAM, BEARER, PROJECT,
    MAXTOK, TEMP, ELSE, USAGE, MCT, XREQ, XPROV,
    /* numbers, rendered into w->num */
    VAL0 = 0xa0, VPORT = VAL0, CLEN, VMAXTOK, VTEMPI, VTEMPF,
    /* strings: fields of w (k_field), then of the message */
    PATH, HOST, VBEARER, VPROJECT, VXREQ, VXPROV, V_ESC, KEYID = V_ESC,
    SECRET, MODEL,
    ROLE, CONTENT
};

#if LLMC_IAM_PROVIDERS > 0
/* the token URL's path as it is, else the API's */
#define TPL_CHAT IF_TOKEN OP_ELSE "/chat/completions" OP_ENDIF
/* {"keyId":"...","secret":"..."} for a token, else the chat body */
#define TPL_TOKEN                                                            \
    IF_TOKEN "{\"keyId\":\"" V_KEYID "\",\"secret\":\"" V_SECRET "\"}"       \
    OP_END OP_ENDIF
#else /* Evolution IAM compiled out: never a token request */
#define TPL_CHAT "/chat/completions"
#define TPL_TOKEN ""
#endif

/* up to the bearer's value, then from it */
#define TPL_HEAD1                                                            \
    "POST " V_PATH TPL_CHAT                                                  \
    " HTTP/1.1\r\nHost: " IF_IPV6 "[" OP_ENDIF V_HOST IF_IPV6 "]" OP_ENDIF   \
    IF_PORT ":" V_PORT OP_ENDIF "\r\nUser-Agent: llmc/" LLMC_VERSION         \
    "\r\nAccept: " IF_STREAM "text/event-stream" OP_ELSE "application/json"  \
    OP_ENDIF "\r\nAccept-Encoding: identity\r\n"                         \
    "Content-Type: application/json\r\n"                                   \
    IF_BEARER "Authorization: Bearer "
#define TPL_HEAD                                                             \
    TPL_HEAD1 V_BEARER "\r\n" OP_ENDIF                                        \
    IF_PROJECT "x-project-id: " V_PROJECT "\r\n" OP_ENDIF                    \
    "Content-Length: " V_CLEN "\r\n\r\n"
/* the messages: LOOP skips the "," the first time, LOOPEND goes back to it
 * while messages remain */
#define TPL_LOOP "{\"model\":\"" V_MODEL "\",\"messages\":[" OP_LOOP
#define TPL_MSG ","                                                          \
    "{\"role\":\"" V_ROLE "\",\"content\":\"" V_CONTENT "\"}" OP_LOOPEND
#define TPL_TAIL                                                             \
    "]" IF_MAXTOK ",\"max_" OP_ENDIF IF_MCT "completion_" OP_ENDIF            \
    IF_MAXTOK "tokens\":" V_MAXTOK OP_ENDIF                                  \
    IF_TEMP ",\"temperature\":" V_TEMP OP_ENDIF ",\"stream\":" IF_STREAM     \
    "true" OP_ELSE "false" OP_ENDIF                                          \
    IF_USAGE ",\"stream_options\":{\"include_usage\":true}" OP_ENDIF       \
    IF_XREQ "," V_XREQ OP_ENDIF IF_XPROV "," V_XPROV OP_ENDIF "}" OP_END

static const char k_tpl[] = TPL_HEAD TPL_TOKEN TPL_LOOP TPL_MSG TPL_TAIL;
#define BEARER_POS ((uint32_t)sizeof(TPL_HEAD1) - 1)
#define BODY_POS ((uint32_t)sizeof(TPL_HEAD) - 1)
#define MSG_POS ((uint32_t)sizeof(TPL_HEAD TPL_TOKEN TPL_LOOP) - 1)
#define TAIL_POS ((uint32_t)sizeof(TPL_HEAD TPL_TOKEN TPL_LOOP TPL_MSG) - 1)
#define POS_BITS LLMC_WRITER_POS_BITS
#define POS_MASK ((1u << POS_BITS) - 1)
/* every template offset fits in a position's low bits */
typedef char llmc_tpl_fits[sizeof(k_tpl) <= (1u << POS_BITS) ? 1 : -1];

typedef struct {
    const char *p;
    size_t n;
    uint8_t kind; /* the opcode; < VAL0: a literal run */
    uint32_t next;
} piece_t;

/* The strings from fields of the writer, PATH to MODEL. */
static const uint8_t k_field[] = {
    offsetof(llmc_writer_t, path),       offsetof(llmc_writer_t, host),
    offsetof(llmc_writer_t, bearer),     offsetof(llmc_writer_t, project_id),
    offsetof(llmc_writer_t, extra),
    offsetof(llmc_writer_t, extra) + sizeof(const char *),
    offsetof(llmc_writer_t, key_id),     offsetof(llmc_writer_t, secret),
    offsetof(llmc_writer_t, model),
};
/* Their lengths where the writer holds one, else 0: up to the NUL. */
static const uint8_t k_len[] = {
    offsetof(llmc_writer_t, path_len), 0, offsetof(llmc_writer_t, bearer_len),
    0, offsetof(llmc_writer_t, extra_len),
    offsetof(llmc_writer_t, extra_len) + sizeof(size_t), 0, 0, 0,
};
/* every offset fits in a byte (extra_len[1] is the last) */
typedef char llmc_field_check[offsetof(llmc_writer_t, extra_len) +
                                          sizeof(size_t) < 256 ? 1 : -1];

/* The letter after the backslash ('u' for \u00XX), or 0: no escape. */
static char esc_char(unsigned char c)
{
    if (c == '"' || c == '\\')
        return (char)c;
    if (c >= 0x20)
        return 0;
    return c - 8u < 6u ? "btnufr"[c - 8u] : 'u'; /* \b \t \n \v \f \r */
}

size_t llmc_json_escape(const char *s, size_t n, char *out, size_t cap,
                        size_t *consumed)
{
    size_t i, o = 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char e = esc_char(c);
        if (e == 0) {
            if (o >= cap)
                break;
            out[o++] = (char)c;
            continue;
        }
        if (o + (e == 'u' ? 6 : 2) > cap)
            break;
        out[o++] = '\\';
        out[o++] = e;
        if (e == 'u') {
            unsigned d = c & 15u;
            out[o++] = '0';
            out[o++] = '0';
            out[o++] = (char)('0' + (c >> 4));
            out[o++] = (char)(d + (d < 10 ? '0' : 'a' - 10));
        }
    }
    *consumed = i;
    return o;
}


/* The piece at idx, or false past the end. Numbers are rendered into
 * w->num; rendering is deterministic, so a piece resumed later renders the
 * same bytes. */
static bool get_piece(llmc_writer_t *w, uint32_t idx, piece_t *pc)
{
    const llmc_request_t *r = w->req;
    uint32_t pos = idx & POS_MASK, msg = idx >> POS_BITS;
    const llmc_message_t *m;
    const char *s = NULL;
    size_t n = (size_t)-1;
    unsigned c, t;

    for (;;) {
        c = (unsigned char)k_tpl[pos];
        if (c < 0x80) {
            s = k_tpl + pos;
            n = 0;
            while ((unsigned char)s[n] < 0x80)
                n++;
            pos += (uint32_t)n;
            break;
        }
        pos++;
        if (c >= VAL0)
            break;
        if (c == END)
            return false;
        if (c == LOOP) {
            pos = r->n_messages != 0 ? pos + 1 : TAIL_POS;
        } else if (c == LOOPEND) {
            if (++msg < r->n_messages)
                pos = MSG_POS;
        } else if (c >= COND0 &&
                   !((w->cond >> (c - COND0)) & 1u)) {
            /* past the ENDIF, or the ELSE of a condition */
            do
                t = (unsigned char)k_tpl[pos++];
            while (t != ENDIF && (t != ELSE || c == ELSE));
        }
    }
    if (c >= ROLE) {
        m = &r->messages[msg];
        if (c == ROLE) {
            s = m->role != NULL ? m->role : "user";
        } else {
            s = m->content;
            n = s != NULL ? m->content_len : 0;
            if (n == 0 && s != NULL) {
                if (w->len_of != s) {
                    w->len_of = s;
                    w->len = strlen(s);
                }
                n = w->len;
            }
        }
    } else if (c >= PATH) {
        s = *(const char *const *)(const void *)((const char *)w +
                                                 k_field[c - PATH]);
        if (k_len[c - PATH] != 0)
            n = *(const size_t *)(const void *)((const char *)w +
                                                k_len[c - PATH]);
#if LLMC_IAM_PROVIDERS > 0
        if (c == PATH) {
            if ((n == 0) & (w->key_id != NULL)) { /* &: one test */
                s = "/"; /* a token URL without a path */
                n = 1;
            }
        }
#endif
    } else if (c >= VAL0) {
        size_t v = c == VPORT ? w->port
                     : c == CLEN ? w->content_length
                                 : (uint32_t)r->max_tokens;
        bool frac = c == VTEMPF;
        if (c >= VTEMPI) {
            float f = r->temperature > 100.0f ? 100.0f : r->temperature;
            uint32_t milli = (uint32_t)(f * 1000.0f + 0.5f);
            /* "I", then "1FFF" without its 1 */
            v = frac ? milli % 1000u + 1000u : milli / 1000u;
        }
        s = w->num + frac;
        n = llmc_uint_to_dec(v, w->num) - frac;
    }
    if (s == NULL)
        s = "";
    if (n == (size_t)-1)
        n = strlen(s);
    pc->p = s;
    pc->n = n;
    pc->kind = (uint8_t)c;
    pc->next = pos | msg << POS_BITS;
    return true;
}

int llmc_writer_start(llmc_writer_t *w)
{
    char tmp[64];
    piece_t pc;
    uint32_t i;
    size_t total = 0;
    size_t k;
    const llmc_request_t *r = w->req;
    unsigned mask = 0;
#if LLMC_IAM_PROVIDERS > 0
    if (w->key_id != NULL)
        mask |= 1u << (TOKEN - COND0);
#endif
    if (strchr(w->host, ':') != NULL)
        mask |= 1u << (IPV6 - COND0); /* goes in [] */
    if (w->port != 0)
        mask |= 1u << (PORT - COND0);
    if (w->stream)
        mask |= (w->opts & LLMC_W_NO_USAGE ? 1u
                                           : 1u | 1u << (USAGE - STREAM))
                << (STREAM - COND0);
    if (w->bearer != NULL)
        mask |= 1u << (BEARER - COND0);
    if (w->project_id != NULL)
        mask |= 1u << (PROJECT - COND0);
    if (r != NULL && r->max_tokens > 0) /* r is NULL for a token request */
        mask |= (w->opts & LLMC_W_MCT ? 1u | 1u << (MCT - MAXTOK) : 1u)
                << (MAXTOK - COND0);
    if (r != NULL && r->temperature >= 0.0f)
        mask |= 1u << (TEMP - COND0);
    /* extra members: what is inside an object's braces (llmc_submit() and
     * llmc_client_init() checked that it is one), from its first key's
     * quote to its last value's end; none in {} */
    for (i = 0; i < 2; i++) {
        const char *b = w->extra[i], *e;
        if (b == NULL || (b = strchr(b, '"')) == NULL)
            continue;
        e = strrchr(b, '}');
        while ((unsigned char)e[-1] <= ' ') /* JSON's blanks, outside strings */
            e--;
        w->extra[i] = b;
        w->extra_len[i] = (size_t)(e - b);
        mask |= 1u << (XREQ - COND0 + i);
    }
    w->cond = (uint16_t)mask;

    /* the head's header values are checked */
    for (i = 0; i < BODY_POS; i = pc.next) {
        (void)get_piece(w, i, &pc);
        if (pc.kind >= HOST && pc.kind <= VPROJECT &&
            llmc_has_ctl(pc.p, pc.n))
            return LLMC_ERR_HEADER;
    }
    /* the body is sized by rendering it once */
    w->idx = BODY_POS;
    w->off = 0;
    while ((k = llmc_writer_fill(w, tmp, sizeof(tmp))) != 0)
        total += k;
    w->content_length = total;
    w->idx = 0;
    w->off = 0;
    return LLMC_OK;
}

size_t llmc_writer_fill(llmc_writer_t *w, char *buf, size_t cap)
{
    size_t o = 0, used, k;
    piece_t pc;

    while (o < cap && get_piece(w, w->idx, &pc)) {
        /* the bearer goes out whole from one fill (see the header) */
        if (pc.kind == VBEARER && o > 0 && pc.n > cap - o)
            break;
        if (pc.kind >= V_ESC) {
            o += llmc_json_escape(pc.p + w->off, pc.n - w->off, buf + o,
                                  cap - o, &used);
            w->off += used;
        } else {
            k = pc.n - w->off;
            if (k > cap - o)
                k = cap - o;
            memcpy(buf + o, pc.p + w->off, k);
            o += k;
            w->off += k;
        }
        if (w->off < pc.n)
            break; /* buffer full (or an escape did not fit) */
        w->idx = pc.next;
        w->off = 0;
    }
    return o;
}

bool llmc_writer_bearer_ahead(const llmc_writer_t *w)
{
    return w->idx + (w->off != 0) <= BEARER_POS;
}
