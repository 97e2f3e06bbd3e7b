#include "llmc_json.h"
#include "llmc_internal.h"

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

/* The keys llmc reads, each after its length; a key's id is its place
 * (0, an empty key, is none: a key llmc does not read). */
static const char k_keys[] = "\0\7choices\5usage\5error"
                             "\14access_token\12expires_in"
                             "\5delta\7message\15finish_reason\7content"
                             "\15prompt_tokens\21completion_tokens"
                             "\14total_tokens\4text\7message";
enum {
    K_NONE,
    K_CHOICES, K_USAGE, K_ERROR, /* top level of a chat completion */
    K_ACCESS, K_EXPIRES,         /* top level of an IAM token answer */
    K_DELTA, K_MESSAGE, K_FINISH, K_CONTENT,
    K_PROMPT,               /* 3 usage counts */
    K_TEXT = K_PROMPT + 3, /* a content part's */
    K_ERRMSG               /* error.message (K_MESSAGE is delta's twin) */
};

/* The id in [from, to) of the key s[0..n), or K_NONE. */
static int key_id(const char *s, size_t n, int from, int to)
{
    const char *k = k_keys;
    int id;
    for (id = 0; id < to; id++, k += *k + 1)
        if (id >= from && (size_t)*k == n && memcmp(s, k + 1, n) == 0)
            return id;
    return K_NONE;
}

/* ---- validation and decoding -------------------------------------------
 * Each event is checked here, in one pass, against the JSON grammar (RFC
 * 8259: strings with valid escapes and no raw control bytes, numbers,
 * literals, separators, nesting up to 32 levels), and the values llmc
 * reads are taken as the check reaches them: it knows the role of the
 * value it is in at each level (choices, choices[0], its delta...), so
 * nothing is read twice and no token array is needed. A string llmc reads
 * is unescaped in place once it is checked: the text never grows, so only
 * bytes the check has passed are written. */

#define MAX_DEPTH 32

enum { VALUE, NEXT, OPENED, AFTER };

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


/* An integer's value, saturated to the int32_t range (a count beyond it is
 * not real): v[0..end) is a number the check accepted, with a byte after
 * it, or what is between a checked string's quotes. A fraction is cut
 * (3600.5 is 3600); with an exponent (3.6e3 is not 3) or anything else
 * inside the quotes it is no integer. */
static int int_at(const char *v, const char *end, int32_t *out)
{
    uint32_t x;
    uint64_t r;
    int neg = *v == '-';
    const char *p;
    if (!neg && !digit(*v))
        return LLMC_ERR_PROTOCOL; /* not a number */
    /* the digits stop at end at the latest: the byte after a number, or
     * a closing quote, is none */
    r = llmc_parse_dec(v + neg, (size_t)-1);
    x = (uint32_t)r;
    p = v + neg + (size_t)(r >> 32);
    if (*p == '.')
        while (digit(*++p))
            ;
    if (p != end)
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

/* A value's role: the id of its key, where llmc reads that member, or one
 * of these; K_NONE is a value llmc does not read. */
enum {
    R_CHOICE0 = K_ERRMSG + 1, /* choices[0] */
    R_PART,                   /* an element of content as an array */
    R_CHAT, R_TOKEN           /* the document: a chat completion, a token */
};

/* Per role of an object, the ids of the keys llmc reads in it: from |
 * to << 4. */
static const uint8_t k_members[R_TOKEN + 1] = {
    [K_USAGE] = K_PROMPT | (K_PROMPT + 3) << 4,
    [K_ERROR] = K_ERRMSG | (K_ERRMSG + 1) << 4,
    [K_DELTA] = K_CONTENT | (K_CONTENT + 1) << 4,
    [K_MESSAGE] = K_CONTENT | (K_CONTENT + 1) << 4,
    [R_CHOICE0] = K_DELTA | K_CONTENT << 4,
    [R_PART] = K_TEXT | (K_TEXT + 1) << 4,
    [R_CHAT] = K_CHOICES | (K_ERROR + 1) << 4,
    [R_TOKEN] = K_ACCESS | (K_EXPIRES + 1) << 4,
};

/* Per role of an array, its first element's; an element's, the next's:
 * only choices[0] of the choices is read, every content part. */
static const uint8_t k_elem[R_TOKEN + 1] = {
    [K_CHOICES] = R_CHOICE0, [K_CONTENT] = R_PART, [R_PART] = R_PART,
};

/* Per role, the byte its value must start with, or 0 (anything, or
 * content's own check); null is no value for every role but choices[0]. */
static const char k_need[R_TOKEN + 1] = {
    [K_CHOICES] = '[', [K_USAGE] = '{', [K_DELTA] = '{', [K_MESSAGE] = '{',
    [K_FINISH] = '"', [K_TEXT] = '"', [R_CHOICE0] = '{', [R_PART] = '{',
};

/* What a top-level member sets in llmc_chat_msg_t: a later member of the
 * same name replaces it, as when the object is read into a map, so it is
 * cleared first. The token answer's members use the error's and usage's
 * fields. */
#define AT(f) ((uint8_t)offsetof(llmc_chat_msg_t, f))
static const uint8_t k_reset[K_EXPIRES][2] = {
    {AT(content), AT(usage) - AT(content)},
    {AT(usage), AT(has_error) - AT(usage)},
    {AT(has_error), sizeof(llmc_chat_msg_t) - AT(has_error)},
    {AT(has_error), sizeof(llmc_chat_msg_t) - AT(has_error)},
    {AT(usage), AT(has_error) - AT(usage)},
};

/* Take into m the scalar p[0..q) in role vr, c its first byte (a string:
 * q is its closing quote). Not inlined: in decode() its locals crowd the
 * check's out of registers (28 B more on Cortex-M4). Called only for a
 * value llmc reads, so the call costs the receive path nothing. */
static LLMC_NOINLINE void scalar(llmc_chat_msg_t *m, int vr, char c, char *p,
                                 char *q)
{
    char *s;
    int32_t *ip;
    int i;
    s = p + 1; /* a string's body: s[0..q) */
    if (vr == K_EXPIRES || (vr >= K_PROMPT && vr < K_TEXT)) {
        /* a count (expires_in also as its digits in quotes, as some
         * OAuth servers send it); anything but an integer is not
         * ours to judge */
        i = vr == K_EXPIRES ? K_PROMPT : vr; /* in prompt_tokens */
        ip = (int32_t *)(void *)((char *)&m->usage.prompt_tokens +
                                 (i - K_PROMPT) * sizeof(int32_t));
        i = c == '"' && vr == K_EXPIRES;
        if (int_at(p + i, q, ip) == LLMC_OK)
            m->usage.present = true;
    }
    /* the check passed the strings' escapes: unescaping cannot fail */
    if ((vr == K_ERROR || vr == K_ERRMSG || vr == K_ACCESS) &&
        c == '"' && m->error_msg == NULL) { /* the first string */
        (void)llmc_json_unescape(s, (size_t)(q - s), &m->error_len, NULL);
        m->error_msg = s;
    }
    if (vr == K_FINISH) {
        (void)llmc_json_unescape(s, (size_t)(q - s), &m->finish_len, NULL);
        m->finish_reason = s;
    }
    if (vr == K_CONTENT) {
        /* a string: the one part of a content, joined where it is */
        m->content_raw_len = (size_t)(q - s);
        m->content = s;
        m->content_len = 0;
        vr = K_TEXT;
    }
    if (vr == K_TEXT) {
        /* a part's text: the content's lone halves are those at the
         * start of all the text and at its end */
        size_t tn, at2 = m->content_len; /* the joined text so far */
        uint16_t tl[2] = {0, 0}, first;
        (void)llmc_json_unescape(s, (size_t)(q - s), &tn, tl);
        first = tl[0];
        if (at2 == 0)
            m->lone[0] = first;
        else if (m->lone[1] != 0 && first != 0) {
            /* a pair split between two parts: one character, as in
             * the joined strings; the halves' U+FFFD (3 bytes each)
             * make way for its 4 bytes, which end before this part's
             * string */
            at2 -= 3;
            llmc_json_pair((char *)m->content + at2, m->lone[1], first);
            at2 += 4;
            m->lone[1] = 0;
            s += 3;
            tn -= 3;
        }
        if (tn > 0)
            m->lone[1] = tl[1];
        memmove((char *)m->content + at2, s, tn);
        m->content_len = at2 + tn;
    }
}

/* Check js[0..len) as one object (and nothing else but whitespace) and
 * decode into m what llmc reads in it: root is R_CHAT, R_TOKEN (the
 * access_token string in m's error_msg, expires_in in usage), or K_NONE
 * (nothing; m may be NULL). From js + at: with at 0, the whole document;
 * else the rest of a chat completion after its "choices" member, for the
 * shape cache below. *cend: where "choices" ends, or NULL when no shape
 * can be kept from the event (usage before it, a top-level member twice:
 * what the earlier one unescaped in place is not the event's). A value
 * that is not of the type llmc reads there is LLMC_ERR_PROTOCOL, unless a
 * later member of the same name replaces the top-level one it is in. */
static int decode(char *js, size_t at, size_t len, int root,
                  llmc_chat_msg_t *m, const char **cend)
{
    char *p = js + at, *e = js + len, *q;
    uint8_t path[MAX_DEPTH + 1]; /* per level: role << 1 | is an object */
    int depth = at > 0, vr = root, r, i;
    int st = at > 0 ? AFTER : VALUE;
    unsigned bad = 0, seen = 0, nokeep = 0; /* bits: top-level key ids */
    char c;

    *cend = NULL;
    path[1] = (uint8_t)(root << 1 | 1);
    for (;;) {
        p = (char *)skip_ws(p, e);
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
            r = path[depth];
            if ((r & 1) == 0) {
                /* an array's value: choices[0], a content part */
                vr = k_elem[r >> 1];
                if (st == NEXT)
                    vr = k_elem[vr];
                break;
            }
            r >>= 1;
            if (c != '"' || (q = (char *)scan_string(p + 1, e)) == NULL)
                return LLMC_ERR_PROTOCOL;
            vr = key_id(p + 1, (size_t)(q - p - 1), k_members[r] & 15,
                        k_members[r] >> 4);
            if ((unsigned)vr - 1 < K_EXPIRES) { /* a top-level member */
                memset((char *)m + k_reset[vr - 1][0], 0, k_reset[vr - 1][1]);
                bad &= ~(1u << vr);
                nokeep |= seen & 1u << vr;
                seen |= 1u << vr;
            }
            q = (char *)skip_ws(q + 1, e);
            if (q >= e || *q != ':')
                return LLMC_ERR_PROTOCOL;
            p = q + 1;
            st = VALUE;
            continue;
        }
        /* a value: what llmc reads of it, and whether it has its type */
        if (depth == 0 && c != '{')
            return LLMC_ERR_PROTOCOL; /* the document is an object */
        if (c == 'n' && vr != R_CHOICE0)
            vr = K_NONE;
        i = k_need[vr];
        if (vr == K_USAGE)
            m->usage.present = true;
        if (vr == K_ERROR)
            m->has_error = c != 'f'; /* "error": false is no error */
        if (vr == K_CONTENT) {
            m->rewritten |= m->content_len != m->content_raw_len;
            m->has_content = true;
            m->lone[0] = m->lone[1] = 0; /* an earlier content's */
            i = '"';
            if (c == '[') {
                /* an array of parts, as Mistral's reasoning models send
                 * it: [{"type": "thinking", "thinking": [...]}, {"type":
                 * "text", "text": "..."}]; the answer is the parts'
                 * "text" strings (only text parts have one), joined in
                 * place from where the array starts; a thinking or other
                 * part adds nothing */
                m->content = p;
                m->content_len = 0;
                m->rewritten = true; /* no shape is kept from this event */
                i = '[';
            }
        }
        if (i != 0 && c != i) {
            /* LLMC_ERR_PROTOCOL, unless a later member replaces the
             * top-level one this is in (usage, or choices) */
            bad |= 2u << (vr == K_USAGE); /* bit K_CHOICES or K_USAGE */
            vr = K_NONE;
        }
        /* |, not ||: one test, which gives gcc no branch to copy the
         * code after it for */
        if ((c == '{') | (c == '[')) {
            if (depth == MAX_DEPTH)
                return LLMC_ERR_PROTOCOL;
            path[++depth] = (uint8_t)(vr << 1 | (c >> 5 & 1)); /* '{' */
            p++;
            st = OPENED;
            continue;
        }
        q = c == '"' ? (char *)scan_string(p + 1, e)
                     : (char *)scan_scalar(p, e);
        /* a scalar at the end is no document: int_at() may read the byte
         * after a number */
        if (q == NULL || q == e)
            return LLMC_ERR_PROTOCOL;
        if (vr != K_NONE)
            scalar(m, vr, c, p, q);
        p = q + (c == '"');
        goto ended;
    close:
        r = path[depth];
        if (c != (']' | (r & 1) << 5)) /* ] or }: 0x20 apart */
            return LLMC_ERR_PROTOCOL;
        p++;
        r >>= 1;
        if (r == K_CONTENT) /* the parts' array */
            m->content_raw_len = (size_t)(p - m->content) - 2;
        if (r == K_CHOICES) {
            *cend = p;
            nokeep |= m->usage.present;
        }
        if (--depth == 0) {
            if (nokeep)
                *cend = NULL;
            return skip_ws(p, e) == e && bad == 0 ? LLMC_OK
                                                  : LLMC_ERR_PROTOCOL;
        }
    ended:
        st = AFTER;
    }
}

int llmc_json_valid(const char *json, size_t len)
{
    const char *cend;
    /* with K_NONE nothing is written */
    return decode((char *)json, 0, len, K_NONE, NULL, &cend);
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
                       const char *cend, const llmc_chat_msg_t *m)
{
#if LLMC_JSON_SHAPE_SIZE > 0
    size_t pre, suf;

    if (!m->has_content || m->rewritten || m->finish_reason != NULL ||
        m->has_error || cend == NULL)
        return;
    pre = (size_t)(m->content - js);
    suf = (size_t)(cend - js) - pre - m->content_raw_len;
    if (pre + suf > LLMC_JSON_SHAPE_SIZE) {
        sh->pre_len = 0; /* does not fit: no stale shape either */
        return;
    }
    memcpy(sh->bytes, js, pre);
    memcpy(sh->bytes + pre, js + pre + m->content_raw_len, suf);
    sh->pre_len = (uint16_t)pre;
    sh->suf_len = (uint16_t)suf;
#else
    (void)sh; (void)js; (void)cend; (void)m;
#endif
}

int llmc_json_chat(char *js, size_t len, llmc_json_shape_t *shape,
                   llmc_chat_msg_t *out)
{
    size_t at = shape != NULL ? shape_match(js, len, shape) : 0;
    const char *cend;
    int rc;

    memset(out, 0, sizeof(*out));
    if (at > 0) {
        /* the content string between the kept prefix and suffix, which
         * shape_match() checked: unescaping cannot fail */
        out->content = js + shape->pre_len;
        out->content_raw_len = at - shape->suf_len - shape->pre_len;
        out->has_content = true;
        (void)llmc_json_unescape(js + shape->pre_len, out->content_raw_len,
                                 &out->content_len, out->lone);
    }
    rc = decode(js, at, len, R_CHAT, out, &cend);
    /* &, not &&: as in decode() */
    if ((rc == LLMC_OK) & (shape != NULL) & (at == 0))
        shape_keep(shape, js, cend, out);
    return rc;
}

#if LLMC_IAM_PROVIDERS > 0 /* the IAM token answer */
int llmc_json_token(char *js, size_t len, const char **token,
                    size_t *token_len, int32_t *expires_in)
{
    llmc_chat_msg_t m; /* the token as error_msg, expires_in in usage */
    const char *cend;
    int rc;

    memset(&m, 0, sizeof(m));
    rc = decode(js, 0, len, R_TOKEN, &m, &cend);
    *expires_in = -1;
    if (rc != LLMC_OK)
        return rc;
    if (m.error_len == 0)
        return LLMC_ERR_EMPTY;
    *token = m.error_msg;
    *token_len = m.error_len;
    /* a count, or its digits in quotes; anything else leaves the
     * lifetime unknown (-1): the token is good */
    if (m.usage.present)
        *expires_in = m.usage.prompt_tokens;
    return LLMC_OK;
}
#endif
