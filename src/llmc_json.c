#include "llmc_json.h"

#include <string.h>

#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS /* finds a token's container in O(1), not by
                             scanning back over every token on each , } ] */
#include <jsmn.h>

typedef char llmc_tok_size_check[sizeof(jsmntok_t) == sizeof(llmc_json_tok_t)
                                      ? 1
                                      : -1];

static int hex4(const char *p, uint32_t *v)
{
    uint32_t x = 0;
    int i;
    for (i = 0; i < 4; i++) {
        char c = p[i];
        x <<= 4;
        if (c >= '0' && c <= '9')
            x |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            x |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            x |= (uint32_t)(c - 'A' + 10);
        else
            return -1;
    }
    *v = x;
    return 0;
}

static size_t put_utf8(char *o, uint32_t cp)
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

/* In place is safe: every escape is at least as long as what it makes
 * (\uXXXX: 6 bytes -> at most 3; a surrogate pair: 12 -> 4). */
int llmc_json_unescape(char *s, size_t n, size_t *out_n)
{
    const char *bs = memchr(s, '\\', n);
    size_t i, o;

    if (bs == NULL) {
        *out_n = n;
        return LLMC_OK;
    }
    i = o = (size_t)(bs - s);
    while (i < n) {
        char c = s[i];
        uint32_t cp, lo;
        if (c != '\\') {
            s[o++] = c;
            i++;
            continue;
        }
        if (i + 1 >= n)
            return LLMC_ERR_PROTOCOL;
        c = s[i + 1];
        i += 2;
        switch (c) {
        case '"': s[o++] = '"'; break;
        case '\\': s[o++] = '\\'; break;
        case '/': s[o++] = '/'; break;
        case 'b': s[o++] = '\b'; break;
        case 'f': s[o++] = '\f'; break;
        case 'n': s[o++] = '\n'; break;
        case 'r': s[o++] = '\r'; break;
        case 't': s[o++] = '\t'; break;
        case 'u':
            if (i + 4 > n || hex4(s + i, &cp) != 0)
                return LLMC_ERR_PROTOCOL;
            i += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (i + 6 <= n && s[i] == '\\' && s[i + 1] == 'u' &&
                    hex4(s + i + 2, &lo) == 0 && lo >= 0xDC00 &&
                    lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    i += 6;
                } else {
                    cp = 0xFFFD;
                }
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                cp = 0xFFFD;
            }
            o += put_utf8(s + o, cp);
            break;
        default:
            return LLMC_ERR_PROTOCOL;
        }
    }
    *out_n = o;
    return LLMC_OK;
}

/* Index of the token after the subtree rooted at i: count children (an
 * object's size is its keys, a key's size is its one value). */
static int skip(const jsmntok_t *t, int i, int n)
{
    int pending = 1;
    while (pending > 0 && i < n) {
        pending += t[i].size - 1;
        i++;
    }
    return i;
}

static bool key_is(const char *js, const jsmntok_t *k, const char *name)
{
    size_t n = strlen(name);
    return k->type == JSMN_STRING && (size_t)(k->end - k->start) == n &&
           memcmp(js + k->start, name, n) == 0;
}

/* jsmn, even strict, accepts {"a"}, {"a":1 "b":2}, {"a":1,} and bare
 * words such as nul; llmc checks the structure itself: keys are strings
 * with one value, separators are exactly where JSON puts them, literals
 * are true/false/null or numbers. Nesting is bounded (no deep recursion on
 * a small stack). */
#define MAX_DEPTH 16

static bool ws(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

/* The token's text, quotes included for strings. */
static int tok_begin(const jsmntok_t *t)
{
    return t->type == JSMN_STRING ? t->start - 1 : t->start;
}

static int tok_end(const jsmntok_t *t)
{
    return t->type == JSMN_STRING ? t->end + 1 : t->end;
}

/* Between a and b only whitespace and exactly one sep (0: none). */
static bool gap(const char *js, int a, int b, char sep)
{
    bool seen = sep == 0;
    for (; a < b; a++) {
        if (js[a] == sep && !seen)
            seen = true;
        else if (!ws(js[a]))
            return false;
    }
    return seen;
}

static bool number_ok(const char *p, int n)
{
    int i = 0, d;
    if (i < n && p[i] == '-')
        i++;
    for (d = 0; i < n && p[i] >= '0' && p[i] <= '9'; i++, d++) {
    }
    if (d == 0 || (d > 1 && p[i - d] == '0'))
        return false;
    if (i < n && p[i] == '.') {
        for (i++, d = 0; i < n && p[i] >= '0' && p[i] <= '9'; i++, d++) {
        }
        if (d == 0)
            return false;
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-'))
            i++;
        for (d = 0; i < n && p[i] >= '0' && p[i] <= '9'; i++, d++) {
        }
        if (d == 0)
            return false;
    }
    return i == n;
}

static bool literal_ok(const char *js, const jsmntok_t *t)
{
    const char *p = js + t->start;
    int n = t->end - t->start;
    if (t->size != 0)
        return false;
    if ((n == 4 && memcmp(p, "true", 4) == 0) ||
        (n == 5 && memcmp(p, "false", 5) == 0) ||
        (n == 4 && memcmp(p, "null", 4) == 0))
        return true;
    return number_ok(p, n);
}

/* Check the value at t[i]; returns the index after it, or -1. */
static int check(const char *js, const jsmntok_t *t, int i, int n, int depth)
{
    int k, j, prev_end;
    bool obj;

    if (i >= n || depth > MAX_DEPTH)
        return -1;
    if (t[i].type == JSMN_STRING)
        return t[i].size == 0 ? i + 1 : -1;
    if (t[i].type == JSMN_PRIMITIVE)
        return literal_ok(js, &t[i]) ? i + 1 : -1;
    obj = t[i].type == JSMN_OBJECT;
    prev_end = t[i].start + 1; /* after { or [ */
    j = i + 1;
    for (k = 0; k < t[i].size; k++) {
        if (j >= n || !gap(js, prev_end, tok_begin(&t[j]), k ? ',' : 0))
            return -1;
        if (obj) {
            if (t[j].type != JSMN_STRING || t[j].size != 1 || j + 1 >= n ||
                !gap(js, tok_end(&t[j]), tok_begin(&t[j + 1]), ':'))
                return -1;
            j++;
        }
        prev_end = tok_end(&t[j]);
        j = check(js, t, j, n, depth + 1);
        if (j < 0)
            return -1;
    }
    return gap(js, prev_end, t[i].end - 1, 0) ? j : -1;
}

static int parse(char *js, size_t len, llmc_json_tok_t *tok, size_t ntok,
                 jsmntok_t **out)
{
    jsmn_parser p;
    jsmntok_t *t = (jsmntok_t *)(void *)tok;
    size_t end;
    int r;

    jsmn_init(&p);
    r = jsmn_parse(&p, js, len, t, (unsigned int)ntok);
    if (r == JSMN_ERROR_NOMEM)
        return LLMC_ERR_TOO_LARGE;
    if (r <= 0 || t[0].type != JSMN_OBJECT)
        return LLMC_ERR_PROTOCOL;
    /* jsmn stops after the first value; anything but space after it is
     * garbage, and an object that never closed is incomplete. */
    if (t[0].end <= t[0].start)
        return LLMC_ERR_PROTOCOL;
    for (end = (size_t)t[0].end; end < len; end++)
        if (js[end] != ' ' && js[end] != '\n' && js[end] != '\r' &&
            js[end] != '\t')
            return LLMC_ERR_PROTOCOL;
    if (check(js, t, 0, r, 0) != r)
        return LLMC_ERR_PROTOCOL;
    *out = t;
    return r;
}

static int string_at(char *js, const jsmntok_t *t, const char **s,
                     size_t *n)
{
    size_t len;
    if (t->type != JSMN_STRING)
        return LLMC_ERR_PROTOCOL;
    if (llmc_json_unescape(js + t->start, (size_t)(t->end - t->start),
                           &len) != LLMC_OK)
        return LLMC_ERR_PROTOCOL;
    *s = js + t->start;
    *n = len;
    return LLMC_OK;
}

static bool is_null(const char *js, const jsmntok_t *t)
{
    return t->type == JSMN_PRIMITIVE && js[t->start] == 'n';
}

static int int_at(const char *js, const jsmntok_t *t, int64_t *v)
{
    int i = t->start;
    int64_t x = 0;
    bool neg = false;
    if (t->type != JSMN_PRIMITIVE)
        return LLMC_ERR_PROTOCOL;
    if (i < t->end && js[i] == '-') {
        neg = true;
        i++;
    }
    if (i >= t->end || js[i] < '0' || js[i] > '9')
        return LLMC_ERR_PROTOCOL;
    for (; i < t->end && js[i] >= '0' && js[i] <= '9'; i++)
        if (x < 1000000000000LL)
            x = x * 10 + (js[i] - '0');
    *v = neg ? -x : x;
    return LLMC_OK;
}

static int32_t clamp32(int64_t v)
{
    return v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int32_t)v;
}

static int usage(const char *js, const jsmntok_t *t, int i, int n,
                 llmc_usage_t *u)
{
    int k, end = skip(t, i, n);
    int64_t v;

    if (t[i].type != JSMN_OBJECT)
        return is_null(js, &t[i]) ? LLMC_OK : LLMC_ERR_PROTOCOL;
    for (k = i + 1; k < end; k = skip(t, k + 1, n)) {
        const jsmntok_t *val = &t[k + 1];
        if (val->type != JSMN_PRIMITIVE || is_null(js, val))
            continue;
        if (int_at(js, val, &v) != LLMC_OK)
            continue; /* a non-integer count is not ours to judge */
        if (key_is(js, &t[k], "prompt_tokens"))
            u->prompt_tokens = clamp32(v);
        else if (key_is(js, &t[k], "completion_tokens"))
            u->completion_tokens = clamp32(v);
        else if (key_is(js, &t[k], "total_tokens"))
            u->total_tokens = clamp32(v);
    }
    u->present = true;
    return LLMC_OK;
}

/* {"message": ...} or {"delta": ...}: the content string. */
static int message(char *js, const jsmntok_t *t, int i, int n,
                   llmc_chat_msg_t *out)
{
    int k, end = skip(t, i, n);
    if (t[i].type != JSMN_OBJECT)
        return is_null(js, &t[i]) ? LLMC_OK : LLMC_ERR_PROTOCOL;
    for (k = i + 1; k < end; k = skip(t, k + 1, n)) {
        if (!key_is(js, &t[k], "content") || is_null(js, &t[k + 1]))
            continue;
        if (string_at(js, &t[k + 1], &out->content, &out->content_len) != 0)
            return LLMC_ERR_PROTOCOL;
        out->has_content = true;
    }
    return LLMC_OK;
}

static int choice(char *js, const jsmntok_t *t, int i, int n,
                  llmc_chat_msg_t *out)
{
    int k, end = skip(t, i, n), rc;
    if (t[i].type != JSMN_OBJECT)
        return LLMC_ERR_PROTOCOL;
    for (k = i + 1; k < end; k = skip(t, k + 1, n)) {
        const jsmntok_t *val = &t[k + 1];
        if (key_is(js, &t[k], "delta") || key_is(js, &t[k], "message")) {
            rc = message(js, t, k + 1, n, out);
            if (rc != 0)
                return rc;
        } else if (key_is(js, &t[k], "finish_reason") && !is_null(js, val)) {
            if (string_at(js, val, &out->finish_reason, &out->finish_len))
                return LLMC_ERR_PROTOCOL;
        }
    }
    return LLMC_OK;
}

static int error_obj(char *js, const jsmntok_t *t, int i, int n,
                     llmc_chat_msg_t *out)
{
    int k, end;
    if (is_null(js, &t[i]))
        return LLMC_OK;
    out->has_error = true;
    if (t[i].type == JSMN_STRING)
        return string_at(js, &t[i], &out->error_msg, &out->error_len);
    if (t[i].type != JSMN_OBJECT)
        return LLMC_OK;
    end = skip(t, i, n);
    for (k = i + 1; k < end; k = skip(t, k + 1, n))
        if (key_is(js, &t[k], "message") && t[k + 1].type == JSMN_STRING)
            return string_at(js, &t[k + 1], &out->error_msg, &out->error_len);
    return LLMC_OK;
}

int llmc_json_chat(char *js, size_t len, llmc_json_tok_t *tok, size_t ntok,
                   llmc_chat_msg_t *out)
{
    jsmntok_t *t;
    int n = parse(js, len, tok, ntok, &t), k, rc = 0;

    memset(out, 0, sizeof(*out));
    if (n < 0)
        return n;
    for (k = 1; k < n && rc == 0; k = skip(t, k + 1, n)) {
        const jsmntok_t *val = &t[k + 1];
        if (key_is(js, &t[k], "choices")) {
            if (val->type != JSMN_ARRAY)
                return LLMC_ERR_PROTOCOL;
            if (val->size > 0)
                rc = choice(js, t, k + 2, n, out);
        } else if (key_is(js, &t[k], "usage")) {
            rc = usage(js, t, k + 1, n, &out->usage);
        } else if (key_is(js, &t[k], "error")) {
            rc = error_obj(js, t, k + 1, n, out);
        }
    }
    return rc;
}

int llmc_json_token(char *js, size_t len, llmc_json_tok_t *tok, size_t ntok,
                    const char **token, size_t *token_len,
                    int64_t *expires_in)
{
    jsmntok_t *t;
    int n = parse(js, len, tok, ntok, &t), k;
    bool have_token = false;

    if (n < 0)
        return n;
    *expires_in = -1;
    for (k = 1; k < n; k = skip(t, k + 1, n)) {
        if (key_is(js, &t[k], "access_token")) {
            if (string_at(js, &t[k + 1], token, token_len) != LLMC_OK)
                return LLMC_ERR_PROTOCOL;
            have_token = true;
        } else if (key_is(js, &t[k], "expires_in")) {
            if (int_at(js, &t[k + 1], expires_in) != LLMC_OK)
                return LLMC_ERR_PROTOCOL;
        }
    }
    return have_token && *token_len > 0 ? LLMC_OK : LLMC_ERR_PROTOCOL;
}
