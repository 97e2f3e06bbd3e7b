/*
 * Request writer: any model, role, content (any byte), host, bearer and
 * project id. A header value with a control byte is refused; anything
 * else renders the same bytes whatever the buffer (6 bytes and up), with
 * a head that ends at its first blank line, a Content-Length that is the
 * body's, a bearer never split between two fills that it fits in, and a
 * body that is valid JSON whose strings decode back to the input. Extra
 * members (the request's and the provider's extra_json, when the input's
 * strings are JSON objects) go in as they are, after llmc's own, and
 * nowhere else.
 *
 * Input: a flags byte, a buffer size, then length-prefixed strings:
 * model, host, bearer, project id, role and content per message (two),
 * then the two extra_json candidates.
 */
#define _GNU_SOURCE /* memmem */
#include "fuzz_common.h"
#include "llmc_json.h"
#include "llmc_writer.h"
#define JSMN_STATIC
#define JSMN_PARENT_LINKS
#include <jsmn.h>

#define BIG 65536

static const uint8_t *take(const uint8_t **d, size_t *n, size_t *len)
{
    const uint8_t *s;
    size_t k = *n > 0 ? (*d)[0] : 0;
    if (*n > 0)
        (*d)++, (*n)--;
    if (k > *n)
        k = *n;
    s = *d;
    *d += k;
    *n -= k;
    *len = k;
    return s;
}

static int has_ctl(const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 1;
    return 0;
}

/* All of the request, filled cap bytes at a time; cut[i]: a fill ended
 * after i bytes. */
static size_t render(llmc_writer_t *w, char *out, size_t cap, uint8_t *cut)
{
    static char buf[BIG];
    size_t len = 0, k;
    FUZZ_ASSERT(llmc_writer_start(w) == LLMC_OK);
    memset(cut, 0, BIG);
    while ((k = llmc_writer_fill(w, buf, cap)) > 0) {
        FUZZ_ASSERT(k <= cap && len + k < BIG);
        memcpy(out + len, buf, k);
        len += k;
        cut[len] = 1;
    }
    FUZZ_ASSERT(llmc_writer_fill(w, buf, cap) == 0);
    return len;
}

/* The string at token t, decoded, equals s[0..n). */
static void same(char *js, const jsmntok_t *t, const char *s, size_t n)
{
    size_t len;
    FUZZ_ASSERT(t->type == JSMN_STRING);
    FUZZ_ASSERT(llmc_json_unescape(js + t->start, (size_t)(t->end - t->start),
                                   &len, NULL) == LLMC_OK);
    FUZZ_ASSERT(len == n && memcmp(js + t->start, s, n) == 0);
}

/* The members inside the object x: from its first quote to its last
 * value's end; n 0 for {}. */
static const char *inside(const char *x, size_t *n)
{
    const char *b = strchr(x, '"'), *e = x + strlen(x);
    if (b == NULL) {
        *n = 0;
        return x;
    }
    while (*--e != '}')
        ;
    while (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r')
        e--;
    *n = (size_t)(e - b);
    return b;
}

static int is_key(const char *js, const jsmntok_t *t, const char *k)
{
    return t->type == JSMN_STRING && (size_t)(t->end - t->start) == strlen(k) &&
           memcmp(js + t->start, k, strlen(k)) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char a[BIG], b[BIG];
    static uint8_t cut_a[BIG], cut_b[BIG];
    static jsmntok_t tok[64];
    static char strs[10][256];
    static char c[BIG], want[BIG];
    static uint8_t cut_c[BIG];
    const char *p[10];
    size_t n[10], i, la, lb, lc, cap, n_msg, body_len;
    llmc_message_t msg[2];
    llmc_request_t req;
    llmc_writer_t w;
    uint8_t f;
    char *sep, *cl, *body;
    jsmn_parser jp;
    int nt, k, want_err;
    bool stream_options = false;

    if (size < 2)
        return 0;
    f = data[0];
    cap = (size_t)data[1] + 6u;
    data += 2;
    size -= 2;
    for (i = 0; i < 10; i++) {
        const uint8_t *s = take(&data, &size, &n[i]);
        memcpy(strs[i], s, n[i]);
        strs[i][n[i]] = '\0';
        p[i] = strs[i];
    }
    n_msg = (f & 1u) ? 2 : 1;
    for (i = 0; i < n_msg; i++) {
        msg[i].role = (f & 2u) && i == 0 ? NULL : p[4 + 2 * i];
        msg[i].content = p[5 + 2 * i];
        msg[i].content_len = n[5 + 2 * i]; /* 0: strlen of "" */
    }
    memset(&req, 0, sizeof(req));
    req.messages = msg;
    req.n_messages = n_msg;
    req.max_tokens = (f & 4u) ? (int32_t)(cap * 97u) - 500 : 0;
    req.temperature = (f & 8u) ? (float)cap / 8.0f - 4.0f : -1.0f;

    memset(&w, 0, sizeof(w));
    w.model = p[0];
    w.host = p[1];
    w.path = (f & 16u) ? "/v1" : "";
    w.path_len = strlen(w.path);
    w.port = (f & 32u) ? (uint16_t)(cap * 251u) : 0;
    w.stream = (f & 64u) != 0;
    /* the provider's options, from the length of the last string */
    w.opts = (uint8_t)(n[7] & (LLMC_W_NO_USAGE | LLMC_W_MCT));
#if LLMC_IAM_PROVIDERS > 0
    if (f & 128u) { /* an IAM token request: key id and secret */
        w.key_id = p[4];
        w.secret = p[5];
    } else
#endif
    {
        w.req = &req;
        w.bearer = n[2] > 0 ? p[2] : NULL;
        w.bearer_len = n[2];
        w.project_id = n[3] > 0 ? p[3] : NULL;
    }
    /* strings without a length end at their first NUL */
    want_err = has_ctl(p[1], strlen(p[1])) ||
               (w.bearer != NULL && has_ctl(p[2], n[2])) ||
               (w.project_id != NULL && has_ctl(p[3], strlen(p[3])));
    if (want_err) {
        FUZZ_ASSERT(llmc_writer_start(&w) == LLMC_ERR_HEADER);
        return 0;
    }
    la = render(&w, a, BIG - 1, cut_a);
    lb = render(&w, b, cap, cut_b);
    FUZZ_ASSERT(la == lb && memcmp(a, b, la) == 0);

    /* the head: CRLF lines, then the body of Content-Length bytes */
    sep = memmem(a, la, "\r\n\r\n", 4);
    FUZZ_ASSERT(sep != NULL);
    for (i = 0; a + i < sep; i++)
        FUZZ_ASSERT((a[i] != '\r' || a[i + 1] == '\n') &&
                    (a[i] != '\n' || a[i - 1] == '\r'));
    body = sep + 4;
    body_len = la - (size_t)(body - a);
    cl = memmem(a, (size_t)(sep - a), "\r\nContent-Length: ", 18);
    FUZZ_ASSERT(cl != NULL && strtoull(cl + 18, NULL, 10) == body_len);
    FUZZ_ASSERT(w.content_length == body_len);
    if (w.bearer != NULL) {
        /* sent whole from one fill when it fits in one */
        char *at = memmem(a, (size_t)(sep - a), "\r\nAuthorization: Bearer ",
                          24);
        size_t off;
        FUZZ_ASSERT(at != NULL);
        off = (size_t)(at + 24 - a);
        FUZZ_ASSERT(memcmp(at + 24, p[2], n[2]) == 0 &&
                    at[24 + n[2]] == '\r');
        if (n[2] <= cap)
            for (i = off + 1; i < off + n[2]; i++)
                FUZZ_ASSERT(!cut_b[i]);
    }

    /* the body: JSON, its strings the input's (decoded in place below: a
     * copy is kept for the extra members' check) */
    FUZZ_ASSERT(llmc_json_valid(body, body_len) == LLMC_OK);
    memcpy(want, body, body_len);
    jsmn_init(&jp);
    nt = jsmn_parse(&jp, body, body_len, tok, 64);
    FUZZ_ASSERT(nt > 0 && tok[0].type == JSMN_OBJECT);
    for (k = 1; k < nt; k++) {
        jsmntok_t *v = &tok[k + 1];
        if (tok[k].parent != 0)
            continue; /* top-level keys only */
        if (is_key(body, &tok[k], "model"))
            same(body, v, p[0], strlen(p[0]));
        else if (is_key(body, &tok[k], "keyId"))
            same(body, v, p[4], strlen(p[4]));
        else if (is_key(body, &tok[k], "secret"))
            same(body, v, p[5], strlen(p[5]));
        else if (is_key(body, &tok[k], "messages")) {
            int m = k + 2, j;
            FUZZ_ASSERT(v->type == JSMN_ARRAY && v->size == (int)n_msg);
            for (j = 0; j < (int)n_msg; j++) {
                /* {"role":..,"content":..}: 5 tokens */
                const char *role = msg[j].role ? msg[j].role : "user";
                FUZZ_ASSERT(tok[m].type == JSMN_OBJECT && tok[m].size == 2);
                FUZZ_ASSERT(is_key(body, &tok[m + 1], "role"));
                same(body, &tok[m + 2], role, strlen(role));
                FUZZ_ASSERT(is_key(body, &tok[m + 3], "content"));
                same(body, &tok[m + 4], msg[j].content, n[5 + 2 * j]);
                m += 5;
            }
        } else if (is_key(body, &tok[k], "max_tokens") ||
                   is_key(body, &tok[k], "max_completion_tokens")) {
            /* the one the provider takes */
            FUZZ_ASSERT(req.max_tokens > 0 &&
                        strtol(body + v->start, NULL, 10) == req.max_tokens);
            FUZZ_ASSERT((w.opts & LLMC_W_MCT) == 0 ==
                        is_key(body, &tok[k], "max_tokens"));
        } else if (is_key(body, &tok[k], "stream_options")) {
            FUZZ_ASSERT(w.stream && !(w.opts & LLMC_W_NO_USAGE));
            stream_options = true;
        }
        else if (is_key(body, &tok[k], "temperature")) {
            double t = strtod(body + v->start, NULL);
            double want = req.temperature > 100.0f ? 100.0 : req.temperature;
            FUZZ_ASSERT(req.temperature >= 0.0f);
            FUZZ_ASSERT(t - want < 0.001 && want - t < 0.001);
        }
    }
    /* streamed: usage asked for unless the provider refuses the field */
    FUZZ_ASSERT(stream_options ==
                (w.req != NULL && w.stream && !(w.opts & LLMC_W_NO_USAGE)));

    /* extra members: the same request with its final "}" after them */
    for (i = 0; i < 2; i++)
        w.extra[i] = llmc_json_valid(p[8 + i], n[8 + i]) == LLMC_OK &&
                             strlen(p[8 + i]) == n[8 + i]
                         ? p[8 + i]
                         : NULL;
    if (w.extra[0] == NULL && w.extra[1] == NULL)
        return 0;
    lb = body_len - 1; /* the copy without its "}" */
    for (i = 0; i < 2 && w.req != NULL; i++) {
        size_t xn;
        const char *x;
        if (w.extra[i] == NULL)
            continue;
        x = inside(w.extra[i], &xn);
        if (xn == 0)
            continue;
        FUZZ_ASSERT(lb + 1 + xn < BIG);
        want[lb++] = ',';
        memcpy(want + lb, x, xn);
        lb += xn;
    }
    want[lb++] = '}';
    lc = render(&w, c, cap, cut_c);
    sep = memmem(c, lc, "\r\n\r\n", 4);
    FUZZ_ASSERT(sep != NULL);
    body = sep + 4;
    FUZZ_ASSERT(lc - (size_t)(body - c) == lb && memcmp(body, want, lb) == 0);
    FUZZ_ASSERT(w.content_length == lb);
    FUZZ_ASSERT(llmc_json_valid(body, lb) == LLMC_OK);
    return 0;
}
