#include "llmc_writer.h"

#include <string.h>

#include "llmc_util.h"

/*
 * The request is a template: ASCII literals with opcodes (bytes >= 0x80)
 * for conditions, the message loop and caller values. A piece is either a
 * run of literal bytes or one value; w->idx is a template position with
 * the message number above it. Sizing and streaming walk the same pieces.
 */
#define OP_END "\x80"
#define OP_ELSE "\x81"
#define OP_ENDIF "\x82"
#define OP_LOOP "\x83"
#define OP_LOOPEND "\x84"
/* conditions: 0x88 + n */
#define IF_TOKEN "\x88"
#define IF_IPV6 "\x89"
#define IF_PORT "\x8a"
#define IF_STREAM "\x8b"
#define IF_BEARER "\x8c"
#define IF_PROJECT "\x8d"
#define IF_NOTFIRST "\x8e"
#define IF_MAXTOK "\x8f"
#define IF_TEMP "\x90"
/* values: 0xa0 + n, JSON-escaped from V_ESC on */
#define V_PATH "\xa0"
#define V_PORT "\xa1"
#define V_CLEN "\xa2"
#define V_HOST "\xa3"
#define V_BEARER "\xa4"
#define V_PROJECT "\xa5"
#define V_MAXTOK "\xa6"
#define V_TEMP "\xa7"
#define V_KEYID "\xa8"
#define V_SECRET "\xa9"
#define V_MODEL "\xaa"
#define V_ROLE "\xab"
#define V_CONTENT "\xac"

enum {
    END = 0x80, ELSE, ENDIF, LOOP, LOOPEND,
    COND0 = 0x88, TOKEN = COND0, IPV6, PORT, STREAM, BEARER, PROJECT,
    NOTFIRST, MAXTOK, TEMP,
    VAL0 = 0xa0, PATH = VAL0, VPORT, CLEN, HOST, VBEARER, VPROJECT, VMAXTOK,
    VTEMP, V_ESC, KEYID = V_ESC, SECRET, MODEL, ROLE, CONTENT
};

#define TPL_HEAD                                                             \
    "POST " V_PATH IF_TOKEN OP_ELSE "/chat/completions" OP_ENDIF             \
    " HTTP/1.1\r\nHost: " IF_IPV6 "[" OP_ENDIF V_HOST IF_IPV6 "]" OP_ENDIF   \
    IF_PORT ":" V_PORT OP_ENDIF "\r\nUser-Agent: llmc/" LLMC_VERSION         \
    "\r\nAccept: " IF_STREAM "text/event-stream" OP_ELSE "application/json"  \
    OP_ENDIF "\r\nContent-Type: application/json\r\n"                        \
    IF_BEARER "Authorization: Bearer " V_BEARER "\r\n" OP_ENDIF              \
    IF_PROJECT "x-project-id: " V_PROJECT "\r\n" OP_ENDIF                    \
    "Content-Length: " V_CLEN "\r\n\r\n"
/* {"keyId":"...","secret":"..."} for a token, else the chat body */
#define TPL_BODY                                                             \
    IF_TOKEN "{\"keyId\":\"" V_KEYID "\",\"secret\":\"" V_SECRET "\"}"       \
    OP_END OP_ENDIF                                                          \
    "{\"model\":\"" V_MODEL "\",\"messages\":[" OP_LOOP IF_NOTFIRST ","      \
    OP_ENDIF "{\"role\":\"" V_ROLE "\",\"content\":\"" V_CONTENT "\"}"       \
    OP_LOOPEND "]" IF_MAXTOK ",\"max_tokens\":" V_MAXTOK OP_ENDIF            \
    IF_TEMP ",\"temperature\":" V_TEMP OP_ENDIF ",\"stream\":" IF_STREAM     \
    "true,\"stream_options\":{\"include_usage\":true}" OP_ELSE "false"       \
    OP_ENDIF "}" OP_END

static const char k_tpl[] = TPL_HEAD TPL_BODY;
#define BODY_POS ((uint32_t)sizeof(TPL_HEAD) - 1)
#define POS_BITS 9u
#define POS_MASK ((1u << POS_BITS) - 1)

typedef struct {
    const char *p;
    size_t n;
    uint8_t kind; /* the opcode; < VAL0: a literal run */
    uint32_t next;
} piece_t;

/* The letter after the backslash ('u' for \u00XX), or 0: no escape. */
static char esc_char(unsigned char c)
{
    static const char from[7] = "\"\\\b\f\n\r\t", to[7] = "\"\\bfnrt";
    const char *f;
    if (c >= 0x20 && c != '"' && c != '\\')
        return 0;
    f = memchr(from, c, sizeof(from));
    return f != NULL ? to[f - from] : 'u';
}

static size_t esc_len(unsigned char c)
{
    char e = esc_char(c);
    return e == 0 ? 1 : e == 'u' ? 6 : 2;
}

uint64_t llmc_json_escaped_len(const char *s, size_t n)
{
    uint64_t total = 0;
    size_t i;
    for (i = 0; i < n; i++)
        total += esc_len((unsigned char)s[i]);
    return total;
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

static bool cond(const llmc_writer_t *w, unsigned k, uint32_t msg)
{
    const llmc_request_t *r = w->req;
    switch (k) {
    case TOKEN: return w->key_id != NULL;
    case IPV6: return strchr(w->host, ':') != NULL; /* goes in [] */
    case PORT: return w->port != 0;
    case STREAM: return w->stream;
    case BEARER: return w->bearer != NULL;
    case PROJECT: return w->project_id != NULL;
    case NOTFIRST: return msg != 0;
    case MAXTOK: return r->max_tokens > 0;
    default: return r->temperature >= 0.0f;
    }
}

/* Skips past the next `a` or `b` from pos. */
static uint32_t skip(uint32_t pos, unsigned a, unsigned b)
{
    unsigned c;
    do
        c = (unsigned char)k_tpl[pos++];
    while (c != a && c != b);
    return pos;
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
    unsigned c;

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
        if (c == END)
            return false;
        if (c == ELSE) {
            pos = skip(pos, ENDIF, ENDIF);
        } else if (c == LOOP) {
            if (r->n_messages == 0)
                pos = skip(pos, LOOPEND, LOOPEND);
        } else if (c == LOOPEND) {
            if (++msg < r->n_messages)
                while ((unsigned char)k_tpl[pos - 1] != LOOP)
                    pos--;
        } else if (c >= VAL0) {
            break;
        } else if (c >= COND0 && !cond(w, c, msg)) {
            pos = skip(pos, ELSE, ENDIF);
        }
    }
    switch (c) {
    case PATH:
        s = w->path;
        n = w->path_len;
        if (n == 0 && w->key_id != NULL) {
            s = "/"; /* a token URL without a path */
            n = 1;
        }
        break;
    case HOST: s = w->host; break;
    case VBEARER: s = w->bearer; n = w->bearer_len; break;
    case VPROJECT: s = w->project_id; break;
    case VPORT: n = llmc_u64_to_dec(w->port, w->num); break;
    case CLEN: n = llmc_u64_to_dec(w->content_length, w->num); break;
    case VMAXTOK: n = llmc_u64_to_dec((uint32_t)r->max_tokens, w->num); break;
    case VTEMP: {
        float t = r->temperature > 100.0f ? 100.0f : r->temperature;
        uint32_t milli = (uint32_t)(t * 1000.0f + 0.5f);
        /* "I" then "1FFF" with its 1 turned into the point: "I.FFF" */
        n = llmc_u64_to_dec(milli / 1000u, w->num);
        n += llmc_u64_to_dec(milli % 1000u + 1000u, w->num + n);
        w->num[n - 4] = '.';
        break;
    }
    case KEYID: s = w->key_id; break;
    case SECRET: s = w->secret; break;
    case MODEL: s = w->model; break;
    case ROLE:
        m = &r->messages[msg];
        s = m->role != NULL ? m->role : "user";
        break;
    case CONTENT:
        m = &r->messages[msg];
        s = m->content;
        if (m->content_len)
            n = m->content_len;
        break;
    default: /* a literal run */
        break;
    }
    if (s == NULL)
        s = c >= V_ESC ? "" : w->num;
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
    piece_t pc;
    uint32_t i;
    uint64_t total = 0;

    /* one walk: the head's header values are checked, the body sized */
    for (i = 0; get_piece(w, i, &pc); i = pc.next) {
        if (i >= BODY_POS)
            total += pc.kind >= V_ESC ? llmc_json_escaped_len(pc.p, pc.n)
                                      : pc.n;
        else if (pc.kind >= HOST && pc.kind <= VPROJECT &&
                 llmc_has_ctl(pc.p, pc.n))
            return LLMC_ERR_HEADER;
    }
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
