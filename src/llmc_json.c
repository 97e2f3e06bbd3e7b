#include "llmc_json.h"
#include "llmc_util.h"

#include <string.h>

static size_t put_utf8(char *o, uint32_t cp)
{
    size_t n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4, i;
    for (i = n - 1; i > 0; i--, cp >>= 6)
        o[i] = (char)(0x80 | (cp & 0x3F));
    /* 0xxxxxxx, 110xxxxx, 1110xxxx, 11110xxx: the lead bits are byte n - 1
     * of 0xF0E0C000 */
    o[0] = (char)((0xF0E0C000u >> (8 * n - 8)) | cp);
    return n;
}

/* The one-letter escapes, then what each stands for. */
static const char k_esc[] = "\"\\/bfnrt\"\\/\b\f\n\r\t";

/* The escape at s[0..n), if s[0] is a backslash: what it stands for, plus
 * its length (2, or 6 for \uXXXX) times 0x10000; or -1, none. */
static int32_t escape(const char *s, size_t n)
{
    const char *x;
    int32_t v = 6, d;
    int i;
    if (n < 2 || s[0] != '\\')
        return -1;
    if (s[1] != 'u') {
        x = memchr(k_esc, s[1], 8);
        return x != NULL ? (unsigned char)x[8] + 0x20000 : -1;
    }
    if (n < 6)
        return -1;
    /* the 6 (the length) ends up above the 4 hex digits */
    for (i = 2; i < 6; i++) {
        if ((d = llmc_hexval(s[i])) < 0)
            return -1;
        v = v << 4 | d;
    }
    return v;
}

void llmc_json_pair(char *out, uint16_t hi, uint16_t lo)
{
    (void)put_utf8(out, 0x10000 + ((uint32_t)(hi - 0xD800) << 10) +
                            (uint32_t)(lo - 0xDC00));
}

size_t llmc_utf8_check(const char *s, size_t n, size_t *bad)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, k, need;
    unsigned c, lo, hi;
    while (i < n) {
#if UINTPTR_MAX > 0xFFFFFFFFu
        /* 8 ASCII bytes at a time, 64-bit hosts only (as scan_string) */
        uint64_t x;
        if (n - i >= 8 && (memcpy(&x, p + i, 8),
                           (x & 0x8080808080808080u) == 0)) {
            i += 8;
            continue;
        }
#endif
        c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        /* C0, C1 and F5..FF start nothing; E0, ED, F0 and F4 narrow the
         * byte after them (no overlong form, surrogate, or beyond
         * U+10FFFF) */
        need = (size_t)(c >= 0xC2) + (c >= 0xE0) + (c >= 0xF0);
        if (c >= 0xF5)
            need = 0;
        lo = 0x80;
        hi = 0xBF;
        if (c == 0xE0)
            lo = 0xA0;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xED)
            hi = 0x9F;
        if (c == 0xF4)
            hi = 0x8F;
        for (k = 1; k <= need; k++) {
            if (i + k >= n || p[i + k] < lo || p[i + k] > hi)
                break;
            lo = 0x80;
            hi = 0xBF;
        }
        if (k <= need || need == 0) {
            *bad = k;
            return i;
        }
        i += k;
    }
    return n;
}

/* In place is safe: every escape is at least as long as what it makes
 * (\uXXXX: 6 bytes -> at most 3; a surrogate pair: 12 -> 4). */
int llmc_json_unescape(char *s, size_t n, size_t *out_n, uint16_t *lone)
{
    const char *bs = memchr(s, '\\', n);
    size_t i, o;
    int32_t cp;

    i = o = bs != NULL ? (size_t)(bs - s) : n;
    while (i < n) {
        if (s[i] != '\\') {
            s[o++] = s[i++];
            continue;
        }
        if ((cp = escape(s + i, n - i)) < 0)
            return LLMC_ERR_PROTOCOL;
        i += (size_t)cp >> 16;
        cp &= 0xFFFF;
        if ((cp & 0xF800) == 0xD800) { /* a surrogate */
            int32_t lo = escape(s + i, n - i);
            if (cp < 0xDC00 && lo >> 10 == 0x6DC00 >> 10) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0x6DC00);
                i += 6;
            } else {
                /* a low half that begins s, or a high one that ends it
                 * (the escape is s[i - 6..i)) */
                if (lone != NULL && (cp < 0xDC00 ? i == n : i == 6))
                    lone[cp < 0xDC00] = (uint16_t)cp;
                cp = 0xFFFD;
            }
        }
        o += put_utf8(s + o, (uint32_t)cp);
    }
    *out_n = o;
    return LLMC_OK;
}

/* The keys llmc reads, each after its length; a key's id is its place. */
static const char k_keys[] = "\7choices\5usage\5error"
                             "\14access_token\12expires_in"
                             "\5delta\7message\15finish_reason\7content"
                             "\15prompt_tokens\21completion_tokens"
                             "\14total_tokens\4text";
enum {
    K_CHOICES, K_USAGE, K_ERROR, /* top level of a chat completion */
    K_ACCESS, K_EXPIRES,         /* top level of an IAM token answer */
    K_DELTA, K_MESSAGE, K_FINISH, K_CONTENT,
    K_PROMPT,              /* 3 usage counts */
    K_TEXT = K_PROMPT + 3 /* a content part's */
};

/* The id in [from, to) of the key s[0..n), or -1. */
static int key_id(const char *s, size_t n, int from, int to)
{
    const char *k = k_keys;
    int id;
    for (id = 0; id < to; id++, k += *k + 1)
        if (id >= from && (size_t)*k == n && memcmp(s, k + 1, n) == 0)
            return id;
    return -1;
}

/* ---- validation --------------------------------------------------------
 * Each event is checked here, in one pass, against the JSON grammar (RFC
 * 8259: strings with valid escapes and no raw control bytes, numbers,
 * literals, separators, nesting up to 32 levels), and the values of the
 * top-level members llmc reads are located. Only those values are read
 * again (below), so the boilerplate of an OpenAI-shaped chunk (id, model,
 * created...) is scanned once, and no token array is needed. */

#define MAX_DEPTH 32

typedef struct {
    int start, end; /* value span in the text; start < 0: absent */
} span_t;

static const char *skip_ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

static bool digit(char c)
{
    return c >= '0' && c <= '9';
}

/* p points after an opening quote: return the closing quote, or NULL. */
static const char *scan_string(const char *p, const char *e)
{
    int32_t v;
    for (;;) {
        unsigned char c = 0;
#if UINTPTR_MAX > 0xFFFFFFFFu
        /* 8 bytes at a time while none is '"', '\\' or a control byte;
         * 64-bit hosts only: on 32-bit MCUs the 64-bit arithmetic costs
         * more code than it saves time */
        while (e - p >= 8) {
            uint64_t x, q, b, k;
            memcpy(&x, p, 8);
            q = x ^ 0x2222222222222222u;
            b = x ^ 0x5C5C5C5C5C5C5C5Cu;
            k = ((q - 0x0101010101010101u) & ~q) |
                ((b - 0x0101010101010101u) & ~b) |
                ((x - 0x2020202020202020u) & ~x);
            k &= 0x8080808080808080u;
            if (k != 0) {
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
                /* the lowest flagged byte is a real hit (borrows only
                 * travel upwards from one) */
                p += __builtin_ctzll(k) >> 3;
#endif
                break;
            }
            p += 8;
        }
#endif
        /* within the flagged 8 bytes (or the tail), byte by byte */
        while (p < e && (c = (unsigned char)*p) != '"' && c != '\\' &&
               c >= 0x20)
            p++;
        if (p >= e || c < 0x20)
            return NULL;
        if (c == '"')
            return p;
        /* a backslash: an escape */
        if ((v = escape(p, (size_t)(e - p))) < 0)
            return NULL;
        p += v >> 16;
    }
}

/* One or more digits at p: their end, or NULL. */
static const char *digits(const char *p, const char *e)
{
    const char *d = p;
    while (p < e && digit(*p))
        p++;
    return p == d ? NULL : p;
}

/* The literals, each after its length. */
static const char k_lit[] = "\4true\5false\4null";

/* A number or literal starting at p: its end, or NULL. */
static const char *scan_scalar(const char *p, const char *e)
{
    const char *w;
    for (w = k_lit; *w != 0; w += *w + 1)
        if (*p == w[1])
            return e - p >= *w && memcmp(p, w + 1, (size_t)*w) == 0 ? p + *w
                                                                  : NULL;
    p += *p == '-';
    w = digits(p, e);
    if (w == NULL || (*p == '0' && w - p > 1))
        return NULL; /* no leading zero */
    p = w;
    if (p < e && *p == '.' && (p = digits(p + 1, e)) == NULL)
        return NULL;
    if (p < e && (*p | 0x20) == 'e') {
        p++;
        if (p < e && (*p == '+' || *p == '-'))
            p++;
        p = digits(p, e);
    }
    return p;
}

enum { VALUE, NEXT, OPENED, AFTER };

/* Validate js[0..len) as one object (and nothing else but whitespace);
 * for each key with an id in [from, to) found at the top level, the
 * value's span in spans[id]. From js + at: with at 0, the whole document;
 * else the rest of the top-level object after one of its member values
 * (the state validate_from() is in there), for the shape cache below. */
static int validate_from(const char *js, size_t at, size_t len, int from,
                         int to, span_t *spans)
{
    const char *p = js + at, *e = js + len, *q;
    bool tail = at > 0;
    uint32_t stack = tail; /* bit 0: the innermost level is an object */
    int depth = tail, key = -1, i;
    int st = tail ? AFTER : VALUE;
    char c;

    for (i = from; i < to; i++)
        spans[i].start = -1;
    for (;;) {
        p = skip_ws(p, e);
        if (p >= e)
            return LLMC_ERR_PROTOCOL;
        c = *p;
        switch (st) {
        case AFTER:
            if (c != ',')
                goto close;
            p++;
            st = NEXT;
            continue;
        case OPENED:
            if ((c | 0x20) == '}') /* ] or } */
                goto close;
            /* fall through */
        case NEXT:
            if ((stack & 1) == 0)
                break; /* an array's value */
            if (c != '"' || (q = scan_string(p + 1, e)) == NULL)
                return LLMC_ERR_PROTOCOL;
            i = (int)(q - p - 1);
            q = skip_ws(q + 1, e);
            if (q >= e || *q != ':')
                return LLMC_ERR_PROTOCOL;
            /* a member llmc reads: its value's span starts at the value,
             * past whitespace */
            q = skip_ws(q + 1, e);
            if (depth == 1 &&
                (key = key_id(p + 1, (size_t)i, from, to)) >= 0)
                spans[key].start = (int)(q - js);
            p = q;
            st = VALUE;
            continue;
        }
        /* a value */
        if (depth == 0 && c != '{')
            return LLMC_ERR_PROTOCOL; /* the document is an object */
        /* |, not ||: one test, which gives gcc no branch to copy the
         * code after it for */
        if ((c == '{') | (c == '[')) {
            if (depth == MAX_DEPTH)
                return LLMC_ERR_PROTOCOL;
            stack = stack << 1 | (c == '{');
            depth++;
            p++;
            st = OPENED;
            continue;
        }
        q = c == '"' ? scan_string(p + 1, e) : scan_scalar(p, e);
        if (q == NULL)
            return LLMC_ERR_PROTOCOL;
        p = q + (c == '"');
        goto ended;
    close:
        if (c != (stack & 1 ? '}' : ']'))
            return LLMC_ERR_PROTOCOL;
        p++;
        stack >>= 1;
        if (--depth == 0)
            return skip_ws(p, e) == e ? LLMC_OK : LLMC_ERR_PROTOCOL;
    ended:
        if (depth == 1 && key >= 0) /* the member's value ends here */
            spans[key].end = (int)(p - js);
        st = AFTER;
    }
}

int llmc_json_valid(const char *json, size_t len)
{
    return validate_from(json, 0, len, 0, 0, NULL);
}

/* ---- decoding ----------------------------------------------------------
 * The values validate_from() located are read by walking their text, which
 * is valid JSON by then: a value's type is its first byte, and its end is
 * found with the scanners above (none of them can fail on it). A value's
 * end is found before anything inside it is unescaped in place. */

/* The end of the valid value at p (no whitespace before it). */
static char *skip_value(char *p, const char *e)
{
    int depth = 0;
    char c;
    do {
        p = (char *)skip_ws(p, e);
        c = *p;
        if (c == '"')
            p = (char *)scan_string(p + 1, e) + 1;
        else if (c == '{' || c == '[')
            depth++, p++;
        else if (c == '}' || c == ']')
            depth--, p++;
        else if (c == ',' || c == ':')
            p++;
        else
            p = (char *)scan_scalar(p, e);
    } while (depth > 0);
    return p;
}

/* The string v[0..n) (quotes included), unescaped in place. */
static int string_at(char *v, const char *n, const char **s, size_t *len,
                     uint16_t *lone)
{
    /* llmc_json_unescape() sets *len only when it succeeds */
    if (*v != '"' ||
        llmc_json_unescape(v + 1, (size_t)(n - v - 2), len, lone) != LLMC_OK)
        return LLMC_ERR_PROTOCOL;
    *s = v + 1;
    return LLMC_OK;
}

/* An integer's value, saturated to the int32_t range (a count beyond it is
 * not real). v is a value that validate_from() accepted, or (quoted) what
 * follows a string's opening quote. A fraction is cut (3600.5 is 3600);
 * with an exponent (3.6e3 is not 3) or anything else inside the quotes
 * it is no integer. */
static int int_at(const char *v, int32_t *out, bool quoted)
{
    uint32_t x;
    uint64_t r;
    int neg = *v == '-';
    const char *p;
    if (!neg && !digit(*v))
        return LLMC_ERR_PROTOCOL; /* not a number */
    r = llmc_parse_dec(v + neg, (size_t)-1);
    x = (uint32_t)r;
    p = v + neg + (size_t)(r >> 32);
    if (*p == '.')
        while (digit(*++p))
            ;
    if ((*p | 0x20) == 'e' || (quoted && *p != '"'))
        return LLMC_ERR_PROTOCOL;
    if (x > (uint32_t)INT32_MAX + (uint32_t)neg)
        x = (uint32_t)INT32_MAX + (uint32_t)neg;
    *out = neg ? (int32_t)(0u - x) : (int32_t)x;
    return LLMC_OK;
}

typedef char llmc_usage_check[offsetof(llmc_usage_t, total_tokens) ==
                                      offsetof(llmc_usage_t, prompt_tokens) +
                                          2 * sizeof(int32_t)
                                  ? 1
                                  : -1];

enum {
    K_PART = K_TEXT + 1, /* an element of content as an array */
    K_ERRMSG             /* error.message, found as K_MESSAGE */
};

/* The value v[0..n) of a member with key id: choices, usage, error at the
 * top level, what llmc reads inside them. */
static int value(char *v, char *n, int id, llmc_chat_msg_t *out)
{
    char *m, close;
    int from, to, rc;

    if (*v == 'n' || (*v == 'f' && id == K_ERROR))
        return LLMC_OK; /* null: absent ("choices": null too, as vLLM
                           sends beside an error); "error": false is no
                           error */
    if (id == K_CHOICES) {
        if (*v != '[')
            return LLMC_ERR_PROTOCOL;
        v = (char *)skip_ws(v + 1, n);
        if (*v == ']')
            return LLMC_OK; /* no choice */
        n = skip_value(v, n); /* choices[0] */
        from = K_DELTA;
        to = K_CONTENT;
        goto object;
    }
    if (id >= K_PROMPT && id < K_TEXT) {
        /* a non-integer count is not ours to judge */
        (void)int_at(v,
                     (int32_t *)(void *)((char *)&out->usage.prompt_tokens +
                                         (id - K_PROMPT) * sizeof(int32_t)),
                     false);
        return LLMC_OK;
    }
    if (id == K_FINISH)
        return string_at(v, n, &out->finish_reason, &out->finish_len, NULL);
    if (id == K_CONTENT) {
        out->rewritten |= out->content_len != out->content_raw_len;
        out->content_raw_len = (size_t)(n - v - 2);
        out->has_content = true;
        out->lone[0] = out->lone[1] = 0; /* an earlier content's */
        if (*v != '[')
            return string_at(v, n, &out->content, &out->content_len,
                             out->lone);
        /* an array of parts, as Mistral's reasoning models send it:
         * [{"type": "thinking", "thinking": [...]}, {"type": "text",
         * "text": "..."}]; the answer is the parts' "text" strings (only
         * text parts have one), joined in place from where the array
         * starts; a thinking or other part adds nothing */
        out->content = v;
        out->content_len = 0;
        out->rewritten = true; /* no shape is kept from this event */
        from = to = K_TEXT; /* elements are not members */
        goto walk;
    }
    if (id == K_TEXT) {
        /* a part's text: the content's lone halves are those at the start
         * of all the text and at its end */
        const char *ts, *t;
        size_t tn, len, at; /* at: the joined text's length so far */
        uint16_t lone[2] = {0, 0}, first;
        if (string_at(v, n, &ts, &tn, lone) != LLMC_OK)
            return LLMC_ERR_PROTOCOL;
        t = ts; /* in locals whose address is not taken: registers */
        len = tn;
        first = lone[0];
        at = out->content_len;
        if (at == 0)
            out->lone[0] = first;
        else if (out->lone[1] != 0 && first != 0) {
            /* a pair split between two parts: one character, as in the
             * joined strings; the halves' U+FFFD (3 bytes each) make way
             * for its 4 bytes, which end before this part's string */
            at -= 3;
            llmc_json_pair((char *)out->content + at, out->lone[1], first);
            at += 4;
            out->lone[1] = 0;
            t += 3;
            len -= 3;
        }
        if (len > 0)
            out->lone[1] = lone[1];
        memmove((char *)out->content + at, t, len);
        out->content_len = at + len;
        return LLMC_OK;
    }
    if (id == K_PART) {
        from = K_TEXT;
        to = K_TEXT + 1;
        goto object;
    }
    if (id == K_ERROR) {
        out->has_error = true;
        from = K_MESSAGE; /* error.message, as K_ERRMSG */
        to = K_MESSAGE + 1;
        if (*v == '{')
            goto walk;
        /* a string is the message */
    } else if (id != K_ERRMSG) { /* usage, delta, message */
        from = K_CONTENT;
        to = K_CONTENT + 1;
        if (*v != '{')
            return LLMC_ERR_PROTOCOL;
        if (id == K_USAGE) {
            out->usage.present = true;
            from = K_PROMPT;
            to = K_PROMPT + 3;
        }
        goto walk;
    }
    /* the first string */
    if (*v != '"' || out->error_msg != NULL)
        return LLMC_OK;
    return string_at(v, n, &out->error_msg, &out->error_len, NULL);

object:
    if (*v != '{')
        return LLMC_ERR_PROTOCOL;
walk: /* the members of the object v[0..n) whose keys have ids in [from, to),
       * or each element of the array v[0..n) as K_PART */
    close = (char)(*v + 2); /* '}' or ']' */
    for (v = (char *)skip_ws(v + 1, n); *v != close;
         v = (char *)skip_ws(v + (*v == ','), n)) {
        id = K_PART;
        if (close == '}') {
            m = (char *)scan_string(v + 1, n); /* the key's closing quote */
            id = key_id(v + 1, (size_t)(m - v - 1), from, to);
            v = (char *)skip_ws(skip_ws(m + 1, n) + 1, n); /* past ':' */
        }
        m = skip_value(v, n);
        if (id >= 0 &&
            (rc = value(v, m, from == K_MESSAGE ? K_ERRMSG : id, out)) !=
                LLMC_OK)
            return rc;
        v = (char *)skip_ws(m, n);
    }
    return LLMC_OK;
}

/* The members validate_from() located: choices[0], usage, error, in order. */
static int members(char *js, const span_t *sp, llmc_chat_msg_t *out)
{
    int j, rc;

    for (j = K_CHOICES; j <= K_ERROR; j++) {
        if (sp[j].start < 0)
            continue;
        rc = value(js + sp[j].start, js + sp[j].end, j, out);
        if (rc != LLMC_OK)
            return rc;
    }
    return LLMC_OK;
}

/* ---- shape cache --------------------------------------------------------
 * Consecutive chunks of one stream are the same bytes apart from the
 * content string: same id, model, created, same "choices" around it. When
 * an event is decoded in full, its bytes before the content string (up to
 * the opening quote) and after it (from the closing quote to the end of
 * "choices") are kept. The next event that starts with the same prefix,
 * has a valid JSON string from there, and continues with the same suffix
 * is decoded from that knowledge: validation and decoding are
 * deterministic left to right, so they would find what they found before
 * with the new string in place. Only the rest of the object after
 * "choices" (usage, error, anything else) is validated and decoded as
 * usual. The result is the full decoding's, byte for byte
 * (tests/fuzz/fuzz_json_shape.c checks that); the cost is two memcmp and
 * one string scan. */

/* Where validation of js[0..len) can start after the shape sh: past its
 * suffix, when the event has its prefix, a valid JSON string from there and
 * its suffix after that string; else 0. */
static size_t shape_match(const char *js, size_t len,
                          const llmc_json_shape_t *sh)
{
#if LLMC_JSON_SHAPE_SIZE > 0
    size_t pl = sh->pre_len, sl = sh->suf_len;
    const char *q;

    if (pl == 0 || len < pl + sl || memcmp(js, sh->bytes, pl) != 0 ||
        (q = scan_string(js + pl, js + len)) == NULL ||
        (size_t)(js + len - q) < sl || memcmp(q, sh->bytes + pl, sl) != 0)
        return 0;
    return (size_t)(q - js) + sl;
#else
    (void)js; (void)len; (void)sh;
    return 0;
#endif
}

/* After a full decoding: keep the event's shape if a later event can be
 * decoded from it (content present; no finish_reason, error or usage
 * inside the kept bytes, nor an earlier content, which unescaping changed
 * in place). Otherwise the shape kept before stays. */
static void shape_keep(llmc_json_shape_t *sh, const char *js,
                       const span_t *sp, const llmc_chat_msg_t *m)
{
#if LLMC_JSON_SHAPE_SIZE > 0
    size_t pre, suf;

    if (!m->has_content || m->rewritten || m->finish_reason != NULL ||
        m->has_error ||
        (m->usage.present && sp[K_USAGE].start < sp[K_CHOICES].end))
        return;
    pre = (size_t)(m->content - js);
    suf = (size_t)sp[K_CHOICES].end - pre - m->content_raw_len;
    if (pre + suf > LLMC_JSON_SHAPE_SIZE) {
        sh->pre_len = 0; /* does not fit: no stale shape either */
        return;
    }
    memcpy(sh->bytes, js, pre);
    memcpy(sh->bytes + pre, js + pre + m->content_raw_len, suf);
    sh->pre_len = (uint16_t)pre;
    sh->suf_len = (uint16_t)suf;
#else
    (void)sh; (void)js; (void)sp; (void)m;
#endif
}

int llmc_json_chat(char *js, size_t len, llmc_json_shape_t *shape,
                   llmc_chat_msg_t *out)
{
    span_t sp[K_ERROR + 1];
    size_t at = shape != NULL ? shape_match(js, len, shape) : 0, raw;
    int rc;

    memset(out, 0, sizeof(*out));
    for (;;) {
        rc = validate_from(js, at, len, K_CHOICES, K_ERROR + 1, sp);
        if (at == 0 || (rc == LLMC_OK && sp[K_CHOICES].start < 0))
            break;
        at = 0; /* a miss: let the full decoding say what is wrong */
    }
    if (rc != LLMC_OK)
        return rc;
    if (at > 0) {
        /* the content string between the kept prefix and suffix */
        raw = at - shape->suf_len - shape->pre_len;
        out->content = js + shape->pre_len;
        out->content_raw_len = raw;
        out->has_content = true;
        if (llmc_json_unescape(js + shape->pre_len, raw, &out->content_len,
                               out->lone) != LLMC_OK)
            return LLMC_ERR_PROTOCOL; /* as string_at() would say */
    }
    rc = members(js, sp, out);
    /* &, not &&: as in validate_from() */
    if ((rc == LLMC_OK) & (shape != NULL) & (at == 0))
        shape_keep(shape, js, sp, out);
    return rc;
}

#if LLMC_IAM_PROVIDERS > 0 /* the IAM token answer */
int llmc_json_token(char *js, size_t len, const char **token,
                    size_t *token_len, int32_t *expires_in)
{
    span_t sp[K_EXPIRES + 1];
    int rc = validate_from(js, 0, len, K_ACCESS, K_EXPIRES + 1, sp);

    *expires_in = -1;
    if (rc != LLMC_OK)
        return rc;
    if (sp[K_ACCESS].start < 0 ||
        string_at(js + sp[K_ACCESS].start, js + sp[K_ACCESS].end, token,
                  token_len, NULL) != LLMC_OK ||
        *token_len == 0)
        return LLMC_ERR_EMPTY;
    /* a count, or its digits in quotes as some OAuth servers send it;
     * anything else leaves the lifetime unknown (-1): the token is good */
    if (sp[K_EXPIRES].start >= 0) {
        const char *v = js + sp[K_EXPIRES].start;
        (void)int_at(v + (*v == '"'), expires_in, *v == '"');
    }
    return LLMC_OK;
}
#endif
