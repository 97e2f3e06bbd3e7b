/* Unit tests of the request writer (src/llmc_writer.c): the bytes of a chat
 * request and of an IAM token request, Content-Length, header validation,
 * and resumable filling with any buffer size. The body is checked against
 * literals and, for arbitrary content, parsed back with jsmn and
 * llmc_json_unescape. */
#include "split.h"

#include "llmc/llmc_client.h"
#include "llmc_json.h"
#include "llmc_url.h"
#include "llmc_writer.h"

#define JSMN_STATIC
#define JSMN_STRICT
#include <jsmn.h>

#define UA "User-Agent: llmc/" LLMC_VERSION "\r\n"

/* ---- helpers ---------------------------------------------------------- */

static void writer_for(llmc_writer_t *w, const llmc_request_t *req)
{
    memset(w, 0, sizeof(*w));
    w->req = req;
    w->model = "gpt-4o-mini";
    w->path = "/v1";
    w->path_len = 3;
    w->host = "api.example.com";
    w->stream = true;
}

/* Everything llmc_writer_fill produces with a buffer of cap bytes (a heap
 * buffer of that exact size, so ASan sees any overrun). */
static void render(llmc_writer_t *w, size_t cap, tbuf_t *out)
{
    char *buf = malloc(cap);
    size_t k, rounds = 0;
    assert_non_null(buf);
    memset(out, 0, sizeof(*out));
    tb_put(out, "", 0);
    while ((k = llmc_writer_fill(w, buf, cap)) > 0) {
        assert_true(k <= cap);
        tb_put(out, buf, k);
        assert_true(++rounds < 10000000);
    }
    /* finished: more calls give nothing */
    assert_int_equal(llmc_writer_fill(w, buf, cap), 0);
    free(buf);
}

/* start + render with a large buffer; splits the result at the blank line
 * and checks Content-Length against the body. */
typedef struct {
    tbuf_t all;
    const char *body;
    size_t head_len, body_len;
} req_bytes_t;

static void build(llmc_writer_t *w, req_bytes_t *r)
{
    const char *sep, *cl;
    unsigned long long want;
    assert_int_equal(llmc_writer_start(w), LLMC_OK);
    render(w, 4096, &r->all);
    sep = strstr(tb_cstr(&r->all), "\r\n\r\n");
    assert_non_null(sep);
    r->head_len = (size_t)(sep - r->all.p) + 4;
    r->body = r->all.p + r->head_len;
    r->body_len = r->all.len - r->head_len;
    cl = strstr(r->all.p, "\r\nContent-Length: ");
    assert_non_null(cl);
    assert_true(cl < sep);
    want = strtoull(cl + 18, NULL, 10);
    assert_int_equal(want, r->body_len);
    assert_int_equal(w->content_length, r->body_len);
}

static void bytes_free(req_bytes_t *r)
{
    tb_free(&r->all);
}

#if LLMC_IAM_PROVIDERS > 0
/* *w: an IAM token request for key_id and secret to host's path. */
static void token_writer(llmc_writer_t *w, const char *key_id,
                         const char *secret, const char *host,
                         const char *path)
{
    memset(w, 0, sizeof(*w));
    w->key_id = key_id;
    w->secret = secret;
    w->host = host;
    w->path = path;
    w->path_len = strlen(path);
}
#endif

/* Started again and filled from..to bytes at a time, w gives ref's bytes. */
static void same_at_every_cap(llmc_writer_t *w, const req_bytes_t *ref,
                              size_t from, size_t to)
{
    size_t cap;
    for (cap = from; cap <= to; cap++) {
        tbuf_t got;
        assert_int_equal(llmc_writer_start(w), LLMC_OK);
        render(w, cap, &got);
        assert_int_equal(got.len, ref->all.len);
        assert_memory_equal(got.p, ref->all.p, got.len);
        tb_free(&got);
    }
}

/* The head's line for a header name, or NULL. */
static bool head_has(const req_bytes_t *r, const char *line)
{
    const char *p = strstr(r->all.p, line);
    return p != NULL && (size_t)(p - r->all.p) < r->head_len;
}

/* Python's json.dumps(s, ensure_ascii=False) of bytes s[0..n). */
static void escape_ref(const char *s, size_t n, tbuf_t *out)
{
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': tb_str(out, "\\\""); break;
        case '\\': tb_str(out, "\\\\"); break;
        case '\b': tb_str(out, "\\b"); break;
        case '\f': tb_str(out, "\\f"); break;
        case '\n': tb_str(out, "\\n"); break;
        case '\r': tb_str(out, "\\r"); break;
        case '\t': tb_str(out, "\\t"); break;
        default:
            if (c < 0x20)
                tb_printf(out, "\\u%04x", c);
            else
                tb_put(out, &c, 1);
        }
    }
}

/* Parse the body with jsmn and return the decoded string value at
 * messages[idx].<key> (or the top-level key when idx < 0). */
static int skip_tok(const jsmntok_t *t, int i, int n)
{
    int end = t[i].end;
    i++;
    while (i < n && t[i].start < end)
        i++;
    return i;
}

static bool tok_is(const char *js, const jsmntok_t *t, const char *s)
{
    return t->type == JSMN_STRING &&
           (size_t)(t->end - t->start) == strlen(s) &&
           memcmp(js + t->start, s, strlen(s)) == 0;
}

static void body_value(const req_bytes_t *r, int idx, const char *key,
                       tbuf_t *out)
{
    jsmntok_t t[256];
    jsmn_parser p;
    char *js = malloc(r->body_len);
    int n, k, obj = 0;
    size_t len;

    memcpy(js, r->body, r->body_len);
    jsmn_init(&p);
    n = jsmn_parse(&p, js, r->body_len, t, 256);
    assert_true(n > 0);
    assert_int_equal(t[0].type, JSMN_OBJECT);
    assert_int_equal(t[0].end, (int)r->body_len);
    if (idx >= 0) {
        int arr = -1, e;
        for (k = 1; k < n; k = skip_tok(t, k + 1, n))
            if (tok_is(js, &t[k], "messages"))
                arr = k + 1;
        assert_true(arr > 0);
        assert_int_equal(t[arr].type, JSMN_ARRAY);
        assert_true(idx < t[arr].size);
        e = arr + 1;
        for (k = 0; k < idx; k++)
            e = skip_tok(t, e, n);
        obj = e;
        assert_int_equal(t[obj].type, JSMN_OBJECT);
    }
    memset(out, 0, sizeof(*out));
    for (k = obj + 1; k < skip_tok(t, obj, n); k = skip_tok(t, k + 1, n)) {
        if (!tok_is(js, &t[k], key))
            continue;
        if (t[k + 1].type == JSMN_STRING) {
            assert_int_equal(llmc_json_unescape(js + t[k + 1].start,
                                                (size_t)(t[k + 1].end -
                                                         t[k + 1].start),
                                                &len, NULL),
                             LLMC_OK);
            tb_put(out, js + t[k + 1].start, len);
        } else {
            tb_put(out, js + t[k + 1].start,
                   (size_t)(t[k + 1].end - t[k + 1].start));
        }
        free(js);
        return;
    }
    free(js);
    fail_msg("key %s not found in the body", key);
}

/* ---- request bytes ---------------------------------------------------- */

static const llmc_message_t k_two[] = {
    {"system", "Be brief.", 0},
    {"user", "Hi", 0},
};

static void test_stream_request_bytes_exact(void **st)
{
    llmc_request_t req;
    llmc_writer_t w;
    req_bytes_t r;
    static const char body[] =
        "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"system\","
        "\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Hi\"}],"
        "\"stream\":true,\"stream_options\":{\"include_usage\":true}}";
    char want[1024];
    (void)st;
    llmc_request_init(&req);
    req.messages = k_two;
    req.n_messages = 2;
    writer_for(&w, &req);
    build(&w, &r);
    snprintf(want, sizeof(want),
             "POST /v1/chat/completions HTTP/1.1\r\n"
             "Host: api.example.com\r\n" UA
             "Accept: text/event-stream\r\n"
             "Accept-Encoding: identity\r\n"
             "Content-Type: application/json\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             strlen(body), body);
    assert_string_equal(tb_cstr(&r.all), want);
    bytes_free(&r);
}

static void test_non_stream_request_asks_for_json(void **st)
{
    llmc_request_t req;
    llmc_writer_t w;
    req_bytes_t r;
    static const char body[] =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
        "\"stream\":false}";
    char want[1024];
    (void)st;
    llmc_request_init(&req);
    req.messages = &k_two[1];
    req.n_messages = 1;
    writer_for(&w, &req);
    w.model = "m";
    w.stream = false;
    w.path = "";
    w.path_len = 0;
    build(&w, &r);
    snprintf(want, sizeof(want),
             "POST /chat/completions HTTP/1.1\r\n"
             "Host: api.example.com\r\n" UA
             "Accept: application/json\r\n"
             "Accept-Encoding: identity\r\n"
             "Content-Type: application/json\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             strlen(body), body);
    assert_string_equal(tb_cstr(&r.all), want);
    bytes_free(&r);
}

/* no_usage: streamed, without stream_options (Mistral's API refuses it);
 * Content-Length follows; a request not streamed never has it */
static void test_stream_without_stream_options(void **st)
{
    llmc_request_t req;
    llmc_writer_t w;
    req_bytes_t r;
    static const char body[] =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
        "\"max_tokens\":9,\"stream\":true}";
    char want[64];
    (void)st;
    llmc_request_init(&req);
    req.messages = &k_two[1];
    req.n_messages = 1;
    req.max_tokens = 9;
    writer_for(&w, &req);
    w.model = "m";
    w.opts = LLMC_W_NO_USAGE;
    build(&w, &r);
    assert_string_equal(r.body, body);
    snprintf(want, sizeof(want), "Content-Length: %zu\r\n", strlen(body));
    assert_non_null(strstr(tb_cstr(&r.all), want));
    assert_non_null(strstr(tb_cstr(&r.all), "Accept: text/event-stream"));
    bytes_free(&r);
    writer_for(&w, &req);
    w.model = "m";
    w.opts = LLMC_W_NO_USAGE;
    w.stream = false;
    build(&w, &r);
    assert_non_null(strstr(r.body, "\"max_tokens\":9,\"stream\":false}"));
    bytes_free(&r);
}

/* LLMC_W_MCT: the limit goes out as max_completion_tokens (OpenAI's
 * o-series and GPT-5 models refuse max_tokens); no limit, neither */
static void test_max_completion_tokens(void **st)
{
    llmc_request_t req;
    llmc_writer_t w;
    req_bytes_t r;
    char want[64];
    (void)st;
    llmc_request_init(&req);
    req.messages = &k_two[1];
    req.n_messages = 1;
    req.max_tokens = 300;
    writer_for(&w, &req);
    w.opts = LLMC_W_MCT;
    build(&w, &r);
    assert_non_null(strstr(r.body, "],\"max_completion_tokens\":300,"
                                   "\"stream\":true,\"stream_options\":"));
    assert_null(strstr(r.body, "\"max_tokens\""));
    snprintf(want, sizeof(want), "Content-Length: %zu\r\n",
             strlen(r.body));
    assert_non_null(strstr(tb_cstr(&r.all), want));
    bytes_free(&r);
    req.max_tokens = 0;
    writer_for(&w, &req);
    w.opts = LLMC_W_MCT | LLMC_W_NO_USAGE;
    build(&w, &r);
    assert_non_null(strstr(r.body, "}],\"stream\":true}"));
    assert_null(strstr(r.body, "max_"));
    bytes_free(&r);
}

static void test_max_tokens_and_temperature_rendered(void **st)
{
    llmc_request_t req;
    llmc_writer_t w;
    req_bytes_t r;
    (void)st;
    llmc_request_init(&req);
    req.messages = &k_two[1];
    req.n_messages = 1;
    req.max_tokens = 256;
    req.temperature = 0.7f;
    writer_for(&w, &req);
    build(&w, &r);
    assert_non_null(strstr(r.body, "],\"max_tokens\":256,\"temperature\":0.700,"
                                   "\"stream\":true,\"stream_options\":"
                                   "{\"include_usage\":true}}"));
    bytes_free(&r);
}

static void test_temperature_values_rendered_with_three_decimals(void **st)
{
    static const struct {
        float t;
        const char *want;
    } cases[] = {
        {0.0f, ",\"temperature\":0.000,"}, {1.0f, ",\"temperature\":1.000,"},
        {2.0f, ",\"temperature\":2.000,"}, {0.05f, ",\"temperature\":0.050,"},
        {1.5f, ",\"temperature\":1.500,"}, {0.999f, ",\"temperature\":0.999,"},
        {0.9996f, ",\"temperature\":1.000,"},
        {42.0625f, ",\"temperature\":42.063,"},
        {100.0f, ",\"temperature\":100.000,"},
        {250.0f, ",\"temperature\":100.000,"},
    };
    size_t i;
    (void)st;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        llmc_request_t req;
        llmc_writer_t w;
        req_bytes_t r;
        llmc_request_init(&req);
        req.temperature = cases[i].t;
        writer_for(&w, &req);
        build(&w, &r);
        if (strstr(r.body, cases[i].want) == NULL)
            fail_msg("temperature %f: body %s lacks %s", (double)cases[i].t,
                     r.body, cases[i].want);
        bytes_free(&r);
    }
}

static void test_unset_max_tokens_and_temperature_not_sent(void **st)
{
    static const int32_t mt[] = {0, -1, -100};
    size_t i;
    (void)st;
    for (i = 0; i < sizeof(mt) / sizeof(mt[0]); i++) {
        llmc_request_t req;
        llmc_writer_t w;
        req_bytes_t r;
        llmc_request_init(&req);
        req.max_tokens = mt[i];
        req.temperature = -0.5f;
        writer_for(&w, &req);
        build(&w, &r);
        assert_null(strstr(r.body, "max_tokens"));
        assert_null(strstr(r.body, "temperature"));
        assert_string_equal(r.body,
                            "{\"model\":\"gpt-4o-mini\",\"messages\":[],"
                            "\"stream\":true,\"stream_options\":"
                            "{\"include_usage\":true}}");
        bytes_free(&r);
    }
}

static void test_max_tokens_large_value(void **st)
{
    llmc_request_t req;
    llmc_writer_t w;
    req_bytes_t r;
    (void)st;
    llmc_request_init(&req);
    req.max_tokens = INT32_MAX;
    writer_for(&w, &req);
    build(&w, &r);
    assert_non_null(strstr(r.body, "],\"max_tokens\":2147483647,\"stream\""));
    bytes_free(&r);
}

static void test_content_quotes_backslashes_escaped(void **st)
{
    static const llmc_message_t m[] = {
        {"user", "say \"hi\" \\ and C:\\path\\ \"\"", 0},
    };
    llmc_request_t req;
    llmc_writer_t w;
    req_bytes_t r;
    tbuf_t v;
    (void)st;
    llmc_request_init(&req);
    req.messages = m;
    req.n_messages = 1;
    writer_for(&w, &req);
    build(&w, &r);
    assert_non_null(strstr(r.body, "\"content\":\"say \\\"hi\\\" \\\\ and "
                                   "C:\\\\path\\\\ \\\"\\\"\"}"));
    body_value(&r, 0, "content", &v);
    assert_string_equal(tb_cstr(&v), m[0].content);
    tb_free(&v);
    bytes_free(&r);
}

static void test_every_control_char_escaped_like_python(void **st)
{
    char content[40];
    llmc_message_t m;
    llmc_request_t req;
    llmc_writer_t w;
    req_bytes_t r;
    tbuf_t want = {0}, v;
    size_t i;
    char *esc_at;
    (void)st;
    for (i = 0; i < 32; i++)
        content[i] = (char)i;
    memcpy(content + 32, "\x7f\"\\/", 4);
    m.role = "user";
    m.content = content;
    m.content_len = 36;
    llmc_request_init(&req);
    req.messages = &m;
    req.n_messages = 1;
    writer_for(&w, &req);
    build(&w, &r);
    tb_str(&want, "\"content\":\"");
    escape_ref(content, 36, &want);
    tb_str(&want, "\"}");
    esc_at = strstr(r.body, tb_cstr(&want));
    assert_non_null(esc_at);
    assert_non_null(strstr(r.body, "\\u0000\\u0001"));
    assert_non_null(strstr(r.body, "\\u001f\x7f\\\"\\\\/"));
    /* no raw control byte anywhere in the body */
    for (i = 0; i < r.body_len; i++)
        assert_true((unsigned char)r.body[i] >= 0x20);
    body_value(&r, 0, "content", &v);
    assert_int_equal(v.len, 36);
    assert_memory_equal(v.p, content, 36);
    tb_free(&v);
    tb_free(&want);
    bytes_free(&r);
}

static void test_utf8_content_passed_through(void **st)
{
    static const llmc_message_t m[] = {
        {"user", "caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80", 0},
    };
    llmc_request_t req;
    llmc_writer_t w;
    req_bytes_t r;
    tbuf_t v;
    (void)st;
    llmc_request_init(&req);
    req.messages = m;
    req.n_messages = 1;
    writer_for(&w, &req);
    build(&w, &r);
    assert_non_null(strstr(r.body, m[0].content));
    body_value(&r, 0, "content", &v);
    assert_string_equal(tb_cstr(&v), m[0].content);
    tb_free(&v);
    bytes_free(&r);
}

static void test_model_role_and_missing_fields(void **st)
{
    static const llmc_message_t m[] = {
        {NULL, NULL, 40}, /* no content, whatever its length says */
        {"assi\"stant", "x", 0},
    };
    llmc_request_t req;
    llmc_writer_t w;
    req_bytes_t r;
    (void)st;
    llmc_request_init(&req);
    req.messages = m;
    req.n_messages = 2;
    writer_for(&w, &req);
    w.model = "my\"model\\v1";
    build(&w, &r);
    assert_string_equal(r.body,
                        "{\"model\":\"my\\\"model\\\\v1\",\"messages\":["
                        "{\"role\":\"user\",\"content\":\"\"},"
                        "{\"role\":\"assi\\\"stant\",\"content\":\"x\"}],"
                        "\"stream\":true,\"stream_options\":"
                        "{\"include_usage\":true}}");
    bytes_free(&r);
    w.model = NULL;
    build(&w, &r);
    assert_non_null(strstr(r.body, "{\"model\":\"\",\"messages\":["));
    bytes_free(&r);
}

static void test_no_messages_give_an_empty_array(void **st)
{
    llmc_request_t req;
    llmc_writer_t w;
    req_bytes_t r;
    (void)st;
    llmc_request_init(&req);
    req.max_tokens = 7;
    writer_for(&w, &req);
    build(&w, &r);
    assert_string_equal(r.body,
                        "{\"model\":\"gpt-4o-mini\",\"messages\":[],"
                        "\"max_tokens\":7,\"stream\":true,\"stream_options\":"
                        "{\"include_usage\":true}}");
    bytes_free(&r);
}

static void test_content_len_limits_content(void **st)
{
    static const llmc_message_t m[] = {{"user", "abcdef", 3}};
    llmc_request_t req;
    llmc_writer_t w;
    req_bytes_t r;
    (void)st;
    llmc_request_init(&req);
    req.messages = m;
    req.n_messages = 1;
    writer_for(&w, &req);
    build(&w, &r);
    assert_non_null(strstr(r.body, "\"content\":\"abc\"}"));
    bytes_free(&r);
}

/* Contents given NUL-terminated (content_len 0): each message has its own
 * length, also when the same text comes twice and when fills are small
 * (the length is taken once per content, not at each fill). */
static void test_nul_terminated_contents_each_their_own_length(void **st)
{
    static const char a[] = "a first, longer text", b[] = "b";
    static const llmc_message_t m[] = {
        {"user", a, 0}, {"assistant", b, 0}, {"user", a, 0}, {"user", a, 5}};
    llmc_request_t req;
    llmc_writer_t w;
    req_bytes_t r;
    tbuf_t small;
    (void)st;
    llmc_request_init(&req);
    req.messages = m;
    req.n_messages = 4;
    writer_for(&w, &req);
    build(&w, &r);
    assert_non_null(strstr(r.body,
                           "[{\"role\":\"user\",\"content\":"
                           "\"a first, longer text\"},"
                           "{\"role\":\"assistant\",\"content\":\"b\"},"
                           "{\"role\":\"user\",\"content\":"
                           "\"a first, longer text\"},"
                           "{\"role\":\"user\",\"content\":\"a fir\"}]"));
    assert_int_equal(llmc_writer_start(&w), LLMC_OK);
    render(&w, 3, &small);
    assert_int_equal(small.len, r.all.len);
    assert_memory_equal(small.p, r.all.p, r.all.len);
    tb_free(&small);
    bytes_free(&r);
}

static void test_messages_parse_back_to_their_content(void **st)
{
    static const llmc_message_t m[] = {
        {"system", "You are \"helpful\".\nBe brief.\t\\o/", 0},
        {"user", "", 0},
        {"assistant", "\xe2\x80\x94 ok \x1b[0m", 0},
        {"user", "last", 0},
    };
    llmc_request_t req;
    llmc_writer_t w;
    req_bytes_t r;
    tbuf_t v;
    int i;
    (void)st;
    llmc_request_init(&req);
    req.messages = m;
    req.n_messages = 4;
    req.max_tokens = 5;
    writer_for(&w, &req);
    build(&w, &r);
    for (i = 0; i < 4; i++) {
        body_value(&r, i, "content", &v);
        assert_string_equal(tb_cstr(&v), m[i].content);
        tb_free(&v);
        body_value(&r, i, "role", &v);
        assert_string_equal(tb_cstr(&v), m[i].role);
        tb_free(&v);
    }
    body_value(&r, -1, "model", &v);
    assert_string_equal(tb_cstr(&v), "gpt-4o-mini");
    tb_free(&v);
    body_value(&r, -1, "max_tokens", &v);
    assert_string_equal(tb_cstr(&v), "5");
    tb_free(&v);
    body_value(&r, -1, "stream", &v);
    assert_string_equal(tb_cstr(&v), "true");
    tb_free(&v);
    bytes_free(&r);
}

/* ---- head ------------------------------------------------------------- */

static void test_host_has_non_default_port_only(void **st)
{
    llmc_request_t req;
    llmc_writer_t w;
    req_bytes_t r;
    (void)st;
    llmc_request_init(&req);
    writer_for(&w, &req);
    w.port = 8080;
    build(&w, &r);
    assert_true(head_has(&r, "\r\nHost: api.example.com:8080\r\n"));
    bytes_free(&r);
    w.port = 0;
    build(&w, &r);
    assert_true(head_has(&r, "\r\nHost: api.example.com\r\n"));
    bytes_free(&r);
    w.port = 65535;
    build(&w, &r);
    assert_true(head_has(&r, "\r\nHost: api.example.com:65535\r\n"));
    bytes_free(&r);
}

static void test_authorization_only_when_bearer_set(void **st)
{
    llmc_request_t req;
    llmc_writer_t w;
    req_bytes_t r;
    (void)st;
    llmc_request_init(&req);
    writer_for(&w, &req);
    build(&w, &r);
    assert_null(strstr(r.all.p, "Authorization"));
    bytes_free(&r);
    w.bearer = "sk-test-123XYZ";
    w.bearer_len = strlen(w.bearer);
    build(&w, &r);
    assert_true(head_has(&r, "\r\nAuthorization: Bearer sk-test-123XYZ\r\n"));
    bytes_free(&r);
    /* bearer_len bounds the token (it need not be NUL-terminated) */
    w.bearer = "tokenGARBAGE";
    w.bearer_len = 5;
    build(&w, &r);
    assert_true(head_has(&r, "\r\nAuthorization: Bearer token\r\n"));
    bytes_free(&r);
}

/* s (a string) is in p[0..n). */
static bool holds(const char *p, size_t n, const char *s)
{
    size_t m = strlen(s), i;
    for (i = 0; i + m <= n; i++)
        if (memcmp(p + i, s, m) == 0)
            return true;
    return false;
}

/* The bearer is rendered whole from one fill, so a token replaced between
 * two fills of the head (another request's token answer while this one's
 * send blocked) goes out whole: the one set before the fill that took it,
 * never a mix of two. Every buffer size from the token's length up. */
static void test_bearer_whole_from_one_fill_replaceable_until_then(void **st)
{
    static const char *const toks[2] = {
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", /* 40 */
        "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",           /* 30 */
    };
    llmc_request_t req;
    llmc_writer_t w;
    req_bytes_t ref;
    tbuf_t got;
    char buf[300];
    size_t cap, k, fills;
    int last;
    (void)st;
    llmc_request_init(&req);
    req.messages = k_two;
    req.n_messages = 2;
    for (cap = 40; cap <= sizeof(buf); cap++) {
        writer_for(&w, &req);
        w.bearer = toks[0];
        w.bearer_len = strlen(toks[0]);
        assert_int_equal(llmc_writer_start(&w), LLMC_OK);
        memset(&got, 0, sizeof(got));
        tb_put(&got, "", 0);
        last = -1;
        for (fills = 0;; fills++) {
            bool ahead = llmc_writer_bearer_ahead(&w);
            if (ahead) { /* another token every fill until it is taken */
                last = (int)(fills & 1);
                w.bearer = toks[last];
                w.bearer_len = strlen(toks[last]);
            }
            k = llmc_writer_fill(&w, buf, cap);
            if (k == 0)
                break;
            if (ahead && !llmc_writer_bearer_ahead(&w)) {
                /* this fill took the bearer: all of it */
                assert_true(holds(buf, k, toks[last]));
            }
            tb_put(&got, buf, k);
        }
        assert_false(llmc_writer_bearer_ahead(&w));
        /* the bytes are those of a request with that token */
        writer_for(&w, &req);
        w.bearer = toks[last];
        w.bearer_len = strlen(toks[last]);
        build(&w, &ref);
        assert_int_equal(got.len, ref.all.len);
        assert_memory_equal(got.p, ref.all.p, got.len);
        bytes_free(&ref);
        tb_free(&got);
    }
}

static void test_project_id_header_only_when_set(void **st)
{
    llmc_request_t req;
    llmc_writer_t w;
    req_bytes_t r;
    (void)st;
    llmc_request_init(&req);
    writer_for(&w, &req);
    build(&w, &r);
    assert_null(strstr(r.all.p, "x-project-id"));
    bytes_free(&r);
    w.project_id = "proj-42";
    w.bearer = "t";
    w.bearer_len = 1;
    build(&w, &r);
    assert_true(head_has(&r, "\r\nAuthorization: Bearer t\r\n"
                             "x-project-id: proj-42\r\n"
                             "Content-Length: "));
    bytes_free(&r);
}

static void test_cr_or_lf_in_header_values_rejected(void **st)
{
    static const char *const bad[] = {
        "tok\r\nX-Evil: 1", "tok\n", "\rtok", "to\x01k", "tok\x7f",
    };
    llmc_request_t req;
    llmc_writer_t w;
    size_t i;
    (void)st;
    llmc_request_init(&req);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        writer_for(&w, &req);
        w.bearer = bad[i];
        w.bearer_len = strlen(bad[i]);
        assert_int_equal(llmc_writer_start(&w), LLMC_ERR_HEADER);
        writer_for(&w, &req);
        w.project_id = bad[i];
        assert_int_equal(llmc_writer_start(&w), LLMC_ERR_HEADER);
        writer_for(&w, &req);
        w.host = bad[i];
        assert_int_equal(llmc_writer_start(&w), LLMC_ERR_HEADER);
    }
#if LLMC_IAM_PROVIDERS > 0 /* token requests are compiled out at 0 */
    /* the host of an IAM token request is checked too */
    token_writer(&w, "k", "s", "iam.example\r\nX-Evil: 1", "");
    assert_int_equal(llmc_writer_start(&w), LLMC_ERR_HEADER);
#endif
    /* a CR beyond bearer_len is not part of the value */
    writer_for(&w, &req);
    w.bearer = "tok\r\n";
    w.bearer_len = 3;
    assert_int_equal(llmc_writer_start(&w), LLMC_OK);
}

/* llmc_url_t keeps IPv6 hosts without brackets; the client hands that host
 * to the writer (llmc_client.c attempt_request). Host must be [::1]:8080. */
static void test_ipv6_host_header_bracketed(void **st)
{
    llmc_url_t u;
    llmc_request_t req;
    llmc_writer_t w;
    req_bytes_t r;
    bool ok_port, ok_default;
    (void)st;
    llmc_request_init(&req);
    writer_for(&w, &req);
    assert_int_equal(llmc_url_parse("http://[::1]:8080/v1", &u), LLMC_OK);
    w.host = u.host; /* as attempt_request does */
    w.port = u.default_port ? 0 : u.port;
    w.path = u.path;
    w.path_len = u.path_len;
    build(&w, &r);
    ok_port = head_has(&r, "\r\nHost: [::1]:8080\r\n");
    bytes_free(&r);
    assert_int_equal(llmc_url_parse("https://[2001:db8::1]/v1", &u), LLMC_OK);
    w.host = u.host;
    w.port = u.default_port ? 0 : u.port;
    build(&w, &r);
    ok_default = head_has(&r, "\r\nHost: [2001:db8::1]\r\n");
    bytes_free(&r);
    assert_true(ok_port);
    assert_true(ok_default);
}

/* ---- resumable fill --------------------------------------------------- */

static void test_fill_with_every_capacity_gives_same_bytes(void **st)
{
    char content[300];
    llmc_message_t m[3];
    llmc_request_t req;
    llmc_writer_t w;
    req_bytes_t ref;
    size_t i, cap;
    (void)st;
    /* escapes of every width, at every offset */
    for (i = 0; i < sizeof(content); i++)
        content[i] = (char)("a\"\x01\n\\\xc3\xa9\x1f"[i % 8]);
    m[0].role = "system";
    m[0].content = content;
    m[0].content_len = sizeof(content);
    m[1].role = "user";
    m[1].content = "\x01\x02\x03\x04\x05\x06";
    m[1].content_len = 0;
    m[2].role = "assistant";
    m[2].content = "";
    m[2].content_len = 0;
    llmc_request_init(&req);
    req.messages = m;
    req.n_messages = 3;
    req.max_tokens = 1234567;
    req.temperature = 1.25f;
    writer_for(&w, &req);
    w.port = 8443;
    w.bearer = "sk-abc";
    w.bearer_len = 6;
    w.project_id = "p1";
    build(&w, &ref);
    for (cap = 6; cap <= 64 + 1; cap++) {
        tbuf_t got;
        size_t c = cap <= 64 ? cap : 4096;
        assert_int_equal(llmc_writer_start(&w), LLMC_OK);
        render(&w, c, &got);
        if (got.len != ref.all.len || memcmp(got.p, ref.all.p, got.len) != 0)
            fail_msg("capacity %zu gives different bytes", c);
        tb_free(&got);
    }
    bytes_free(&ref);
}

static void test_fill_never_splits_an_escape_and_fills_what_fits(void **st)
{
    static const llmc_message_t m[] = {{"user", "\x01\x01\x01", 0}};
    llmc_request_t req;
    llmc_writer_t w;
    char buf[64];
    size_t k, total = 0;
    (void)st;
    llmc_request_init(&req);
    req.messages = m;
    req.n_messages = 1;
    writer_for(&w, &req);
    assert_int_equal(llmc_writer_start(&w), LLMC_OK);
    while ((k = llmc_writer_fill(&w, buf, 7)) > 0) {
        size_t j;
        /* a chunk never ends inside "\u0001" */
        for (j = 0; j < k; j++)
            if (buf[j] == '\\' && j + 1 < k && buf[j + 1] == 'u')
                assert_true(j + 6 <= k);
        total += k;
    }
    assert_true(total > 0);
}

static void test_writer_start_resets_progress(void **st)
{
    llmc_request_t req;
    llmc_writer_t w;
    tbuf_t a, b;
    char buf[10];
    (void)st;
    llmc_request_init(&req);
    req.messages = k_two;
    req.n_messages = 2;
    writer_for(&w, &req);
    assert_int_equal(llmc_writer_start(&w), LLMC_OK);
    render(&w, 33, &a);
    assert_int_equal(llmc_writer_start(&w), LLMC_OK);
    assert_true(llmc_writer_fill(&w, buf, sizeof(buf)) > 0); /* half-way */
    assert_int_equal(llmc_writer_start(&w), LLMC_OK);
    render(&w, 33, &b);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.p, b.p, a.len);
    tb_free(&a);
    tb_free(&b);
}

static void test_long_conversation_content_length_matches(void **st)
{
    size_t n = 100000, i;
    char *big = malloc(n);
    llmc_message_t m[2];
    llmc_request_t req;
    llmc_writer_t w;
    req_bytes_t r;
    tbuf_t v, got;
    (void)st;
    for (i = 0; i < n; i++)
        big[i] = (char)(i % 97 == 0 ? '\n' : 'a' + i % 26);
    m[0].role = "user";
    m[0].content = big;
    m[0].content_len = n;
    m[1] = m[0];
    llmc_request_init(&req);
    req.messages = m;
    req.n_messages = 2;
    writer_for(&w, &req);
    build(&w, &r);
    body_value(&r, 1, "content", &v);
    assert_int_equal(v.len, n);
    assert_memory_equal(v.p, big, n);
    tb_free(&v);
    assert_int_equal(llmc_writer_start(&w), LLMC_OK);
    render(&w, 1460, &got);
    assert_int_equal(got.len, r.all.len);
    assert_memory_equal(got.p, r.all.p, got.len);
    tb_free(&got);
    bytes_free(&r);
    free(big);
}

/* llmc_submit() refuses, before anything is queued:
 * - more than 2^23 messages: the writer numbers messages in the upper 23
 *   bits of its position, and more wrapped to message 0, so that the
 *   sizing pass never ended (the poll that started the request hung);
 * - no messages;
 * - an ignored list said to hold names but given as NULL (it was read in
 *   the poll that planned the request). */
static void test_submit_refuses_counts_it_cannot_use(void **st)
{
    static llmc_client_t c;
    llmc_provider_t p;
    llmc_config_t cfg;
    llmc_message_t m = {"user", "hi", 0};
    llmc_request_t req;
    (void)st;
    memset(&p, 0, sizeof(p));
    p.name = "local";
    p.base_url = "http://127.0.0.1:9/v1";
    memset(&cfg, 0, sizeof(cfg));
    cfg.providers = &p;
    cfg.n_providers = 1;
    assert_int_equal(llmc_client_init(&c, &cfg), LLMC_OK);
    llmc_request_init(&req);
    req.messages = &m; /* submit reads none of them */
    req.n_messages = ((size_t)1 << 23) + 1;
    assert_int_equal(llmc_submit(&c, &req, NULL, NULL), LLMC_ERR_ARG);
    req.n_messages = 0;
    assert_int_equal(llmc_submit(&c, &req, NULL, NULL), LLMC_ERR_ARG);
    req.n_messages = 1;
    req.n_ignored = 1;
    assert_int_equal(llmc_submit(&c, &req, NULL, NULL), LLMC_ERR_ARG);
    req.n_ignored = 0;
    req.n_messages = (size_t)1 << 23; /* the most it numbers */
    assert_true(llmc_submit(&c, &req, NULL, NULL) > 0);
    llmc_client_shutdown(&c); /* ends it unstarted */
}

/* ---- IAM token request ------------------------------------------------ */

#if LLMC_IAM_PROVIDERS > 0 /* compiled out at 0 */
static void test_iam_token_request_bytes(void **st)
{
    llmc_writer_t w;
    req_bytes_t r;
    static const char body[] =
        "{\"keyId\":\"k\\\"1\",\"secret\":\"s\\\\2\\n\"}";
    char want[1024];
    tbuf_t v;
    (void)st;
    token_writer(&w, "k\"1", "s\\2\n", "iam.api.cloud.ru",
                 "/api/v1/auth/token");
    w.stream = false;
    build(&w, &r);
    snprintf(want, sizeof(want),
             "POST /api/v1/auth/token HTTP/1.1\r\n"
             "Host: iam.api.cloud.ru\r\n" UA "Accept: application/json\r\n"
             "Accept-Encoding: identity\r\n"
             "Content-Type: application/json\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             strlen(body), body);
    assert_string_equal(tb_cstr(&r.all), want);
    body_value(&r, -1, "secret", &v);
    assert_string_equal(tb_cstr(&v), "s\\2\n");
    tb_free(&v);
    body_value(&r, -1, "keyId", &v);
    assert_string_equal(tb_cstr(&v), "k\"1");
    tb_free(&v);
    bytes_free(&r);
}

static void test_iam_token_request_with_every_capacity(void **st)
{
    llmc_writer_t w;
    req_bytes_t ref;
    (void)st;
    token_writer(&w, "key\x01id", "\"secret\"\t\\", "iam.example",
                 "/auth/token");
    w.port = 8443;
    build(&w, &ref);
    same_at_every_cap(&w, &ref, 6, 64);
    bytes_free(&ref);
}

/* A token_url with no path ("https://iam.example") gives path "": the
 * request line still needs a target, "/". */
static void test_iam_token_request_with_empty_path_targets_root(void **st)
{
    llmc_writer_t w;
    req_bytes_t r;
    bool ok;
    (void)st;
    token_writer(&w, "k", "s", "iam.example", "");
    build(&w, &r);
    ok = strncmp(r.all.p, "POST / HTTP/1.1\r\n", 17) == 0;
    bytes_free(&r);
    assert_true(ok);
}
#endif

/* extra_json: the members inside the request's object, then those inside
 * the provider's, after llmc's own members, as they are (blanks inside
 * kept, around them dropped); an empty object adds nothing, not even a
 * comma; strings holding braces and quotes are left whole; the body's
 * bytes are the same with every buffer size. */
static void test_extra_members_after_llmc_own(void **st)
{
    static const struct {
        const char *req, *prov, *tail;
    } k[] = {
        {"{\"seed\":7}", NULL, ",\"seed\":7}"},
        {NULL, " {\"reasoning_effort\" : \"minimal\"}\n",
         ",\"reasoning_effort\" : \"minimal\"}"},
        {"{\"response_format\":{\"type\":\"json_object\"},\r\n\t\"stop\":"
         "[\"}\",\" \\\" {\"]}",
         "{\"top_p\":0.5 }",
         ",\"response_format\":{\"type\":\"json_object\"},\r\n\t\"stop\":"
         "[\"}\",\" \\\" {\"],\"top_p\":0.5}"},
        {"{}", " { } ", "}"},
        {"{ }", "{\"a\":{}}", ",\"a\":{}}"},
    };
    static const char own[] = "],\"stream\":true,\"stream_options\":"
                              "{\"include_usage\":true}";
    llmc_request_t req;
    llmc_writer_t w;
    req_bytes_t r;
    size_t i;
    (void)st;
    for (i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
        tbuf_t want = {0};
        llmc_request_init(&req);
        req.messages = k_two;
        req.n_messages = 2;
        req.extra_json = k[i].req;
        writer_for(&w, &req);
        w.extra[0] = k[i].req;
        w.extra[1] = k[i].prov;
        build(&w, &r);
        tb_str(&want, own);
        tb_str(&want, k[i].tail);
        assert_true(r.body_len > want.len);
        assert_string_equal(r.body + r.body_len - want.len, tb_cstr(&want));
        assert_int_equal(llmc_json_valid(r.body, r.body_len), LLMC_OK);
        same_at_every_cap(&w, &r, 1, 48);
        tb_free(&want);
        bytes_free(&r);
    }
}

#if LLMC_IAM_PROVIDERS > 0
/* A token request's body is the key pair alone, extra members or not. */
static void test_extra_members_not_in_a_token_request(void **st)
{
    llmc_writer_t w;
    req_bytes_t r;
    (void)st;
    token_writer(&w, "k", "s", "iam.example", "/t");
    w.extra[1] = "{\"seed\":1}";
    build(&w, &r);
    assert_int_equal(r.body_len, strlen("{\"keyId\":\"k\",\"secret\":\"s\"}"));
    assert_memory_equal(r.body, "{\"keyId\":\"k\",\"secret\":\"s\"}", r.body_len);
    bytes_free(&r);
}
#endif

/* ---- escape primitives ------------------------------------------------ */

static void test_json_escape_matches_reference(void **st)
{
    char s[256], out[2048];
    size_t i, used, k;
    tbuf_t ref = {0};
    (void)st;
    for (i = 0; i < 256; i++)
        s[i] = (char)i;
    k = llmc_json_escape(s, 256, out, sizeof(out), &used);
    assert_int_equal(used, 256);
    escape_ref(s, 256, &ref);
    assert_int_equal(k, ref.len);
    assert_memory_equal(out, ref.p, k);
    tb_free(&ref);
    /* an escape that does not fit is not started */
    k = llmc_json_escape("a\x01", 2, out, 6, &used);
    assert_int_equal(k, 1);
    assert_int_equal(used, 1);
    k = llmc_json_escape("\x01", 1, out, 5, &used);
    assert_int_equal(k, 0);
    assert_int_equal(used, 0);
    k = llmc_json_escape("\"", 1, out, 1, &used);
    assert_int_equal(k, 0);
    assert_int_equal(used, 0);
    k = llmc_json_escape("\"", 1, out, 2, &used);
    assert_int_equal(k, 2);
    assert_memory_equal(out, "\\\"", 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_request_bytes_exact),
        cmocka_unit_test(test_extra_members_after_llmc_own),
#if LLMC_IAM_PROVIDERS > 0
        cmocka_unit_test(test_extra_members_not_in_a_token_request),
#endif
        cmocka_unit_test(test_non_stream_request_asks_for_json),
        cmocka_unit_test(test_stream_without_stream_options),
        cmocka_unit_test(test_max_completion_tokens),
        cmocka_unit_test(test_max_tokens_and_temperature_rendered),
        cmocka_unit_test(test_temperature_values_rendered_with_three_decimals),
        cmocka_unit_test(test_unset_max_tokens_and_temperature_not_sent),
        cmocka_unit_test(test_max_tokens_large_value),
        cmocka_unit_test(test_content_quotes_backslashes_escaped),
        cmocka_unit_test(test_every_control_char_escaped_like_python),
        cmocka_unit_test(test_utf8_content_passed_through),
        cmocka_unit_test(test_model_role_and_missing_fields),
        cmocka_unit_test(test_no_messages_give_an_empty_array),
        cmocka_unit_test(test_content_len_limits_content),
        cmocka_unit_test(test_nul_terminated_contents_each_their_own_length),
        cmocka_unit_test(test_messages_parse_back_to_their_content),
        cmocka_unit_test(test_host_has_non_default_port_only),
        cmocka_unit_test(test_authorization_only_when_bearer_set),
        cmocka_unit_test(test_bearer_whole_from_one_fill_replaceable_until_then),
        cmocka_unit_test(test_project_id_header_only_when_set),
        cmocka_unit_test(test_cr_or_lf_in_header_values_rejected),
        cmocka_unit_test(test_ipv6_host_header_bracketed),
        cmocka_unit_test(test_fill_with_every_capacity_gives_same_bytes),
        cmocka_unit_test(
            test_fill_never_splits_an_escape_and_fills_what_fits),
        cmocka_unit_test(test_writer_start_resets_progress),
        cmocka_unit_test(test_long_conversation_content_length_matches),
        cmocka_unit_test(
            test_submit_refuses_counts_it_cannot_use),
#if LLMC_IAM_PROVIDERS > 0
        cmocka_unit_test(test_iam_token_request_bytes),
        cmocka_unit_test(test_iam_token_request_with_every_capacity),
        cmocka_unit_test(
            test_iam_token_request_with_empty_path_targets_root),
#endif
        cmocka_unit_test(test_json_escape_matches_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
