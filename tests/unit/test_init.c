/* Unit tests of llmc_client_init() (src/llmc_client.c, llmc_auth.c,
 * llmc_conn.c): each configuration it cannot run is refused with the
 * status that says why, and a client so refused takes no request. One
 * refused after its TLS setup began gives back what mbedTLS allocated
 * (ASan's leak check) and can be started again. Then how long a stored
 * IAM token lasts, and a started client's first blocking call. */
#include "split.h"

#include "llmc/llmc.h"
#include "llmc_auth.h" /* LLMC_IAM */
#include "llmc_internal.h"
#include "llmc_json.h"
#include "llmc_sse.h"

static llmc_client_t *C;
static llmc_config_t Cfg;

static int setup(void **st)
{
    (void)st;
    C = calloc(1, sizeof(*C));
    assert_non_null(C);
    memset(&Cfg, 0, sizeof(Cfg));
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    llmc_client_shutdown(C);
    free(C);
    C = NULL;
    return 0;
}

static int init_with(const llmc_provider_t *p, size_t n)
{
    Cfg.providers = p;
    Cfg.n_providers = n;
    return llmc_client_init(C, &Cfg);
}

static const llmc_message_t k_hi = {.role = "user", .content = "hi"};

/* *req: one message, "hi" */
static void hi_request(llmc_request_t *req)
{
    llmc_request_init(req);
    req->model = "m";
    req->messages = &k_hi;
    req->n_messages = 1;
}

/* The client takes no request and polls nothing. */
static void assert_not_started(void)
{
    llmc_request_t req;
    hi_request(&req);
    assert_int_equal(llmc_submit(C, &req, NULL, NULL), LLMC_ERR_STATE);
    assert_int_equal(llmc_poll(C, 0), LLMC_ERR_STATE);
}

static const llmc_provider_t k_plain = {.name = "p",
                                        .base_url = "http://127.0.0.1/v1"};

static void test_missing_arguments(void **st)
{
    llmc_provider_t many[LLMC_MAX_PROVIDERS + 1];
    size_t i;
    (void)st;
    Cfg.providers = &k_plain;
    Cfg.n_providers = 1;
    assert_int_equal(llmc_client_init(NULL, &Cfg), LLMC_ERR_ARG);
    assert_int_equal(llmc_client_init(C, NULL), LLMC_ERR_ARG);
    assert_int_equal(init_with(NULL, 1), LLMC_ERR_ARG);
    assert_int_equal(init_with(&k_plain, 0), LLMC_ERR_ARG);
    /* more providers than the client holds (LLMC_MAX_PROVIDERS) */
    for (i = 0; i < LLMC_MAX_PROVIDERS + 1; i++)
        many[i] = k_plain;
    assert_int_equal(init_with(many, LLMC_MAX_PROVIDERS + 1), LLMC_ERR_ARG);
    assert_not_started();
    assert_int_equal(init_with(many, LLMC_MAX_PROVIDERS), LLMC_OK);
}

static void test_provider_without_a_name(void **st)
{
    llmc_provider_t p = k_plain;
    (void)st;
    p.name = NULL;
    assert_int_equal(init_with(&p, 1), LLMC_ERR_CONFIG);
    p.name = "";
    assert_int_equal(init_with(&p, 1), LLMC_ERR_CONFIG);
    assert_not_started();
}

/* An extra_json that is not one JSON object is refused at init, where
 * the configuration is, not found at each request's 400. */
static const char *const k_bad_extra[] = {
    "", " ", "[]", "\"s\"", "1", "{", "{\"a\":1", "{\"a\":}", "{\"a\":1} x",
    "{'a':1}", "{\"a\":1,}", "{\"a\":1}{}", "{\"a\":\"\x01\"}"};

static void test_provider_extra_json_not_an_object(void **st)
{
    llmc_provider_t p = k_plain;
    size_t i;
    (void)st;
    for (i = 0; i < sizeof(k_bad_extra) / sizeof(k_bad_extra[0]); i++) {
        p.extra_json = k_bad_extra[i];
        assert_int_equal(init_with(&p, 1), LLMC_ERR_CONFIG);
        assert_not_started();
    }
    p.extra_json = " {\"reasoning_effort\": \"minimal\"}\n";
    assert_int_equal(init_with(&p, 1), LLMC_OK);
}

static void test_base_url_it_cannot_take(void **st)
{
    static const char *const bad[] = {NULL, "", "ftp://127.0.0.1/v1",
                                      "127.0.0.1/v1", "http:///v1",
                                      "http://127.0.0.1:99999/v1"};
    llmc_provider_t p = k_plain;
    size_t i;
    (void)st;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        p.base_url = bad[i];
        assert_int_equal(init_with(&p, 1), LLMC_ERR_URL);
    }
    assert_not_started();
}

static void test_bearer_without_a_key(void **st)
{
    llmc_provider_t p = k_plain;
    (void)st;
    p.auth = LLMC_AUTH_BEARER;
    assert_int_equal(init_with(&p, 1), LLMC_ERR_CONFIG);
    assert_not_started();
    p.api_key = ""; /* would go out as "Bearer " */
    assert_int_equal(init_with(&p, 1), LLMC_ERR_CONFIG);
    assert_not_started();
    p.api_key = "k";
    assert_int_equal(init_with(&p, 1), LLMC_OK);
}

/* An auth that is none of llmc_auth_t's (memory gone wrong, a value from
 * a newer header) is refused, not taken as no auth. */
static void test_auth_of_no_kind(void **st)
{
    llmc_provider_t p = k_plain;
    (void)st;
    p.api_key = "k";
    p.auth = (llmc_auth_t)(LLMC_AUTH_EVOLUTION_IAM + 1);
    assert_int_equal(init_with(&p, 1), LLMC_ERR_CONFIG);
    assert_not_started();
    p.auth = (llmc_auth_t)-1;
    assert_int_equal(init_with(&p, 1), LLMC_ERR_CONFIG);
    assert_not_started();
    p.auth = LLMC_AUTH_NONE;
    assert_int_equal(init_with(&p, 1), LLMC_OK);
}

/* *p: an Evolution IAM provider with its key pair, token endpoint on
 * plain http */
static void iam_provider(llmc_provider_t *p)
{
    *p = k_plain;
    p->auth = LLMC_AUTH_EVOLUTION_IAM;
    p->key_id = "kid";
    p->secret = "sec";
    p->token_url = "http://127.0.0.1/api/v1/auth/token";
}

static void test_iam_provider_it_cannot_run(void **st)
{
    llmc_provider_t p;
    (void)st;
    iam_provider(&p);
#if LLMC_IAM
    p.key_id = NULL;
    assert_int_equal(init_with(&p, 1), LLMC_ERR_CONFIG);
    p.key_id = "";
    assert_int_equal(init_with(&p, 1), LLMC_ERR_CONFIG);
    p.key_id = "kid";
    p.secret = NULL;
    assert_int_equal(init_with(&p, 1), LLMC_ERR_CONFIG);
    p.secret = "";
    assert_int_equal(init_with(&p, 1), LLMC_ERR_CONFIG);
    p.secret = "sec";
    p.token_url = "ftp://127.0.0.1/token";
    assert_int_equal(init_with(&p, 1), LLMC_ERR_URL);
    assert_not_started();
    p.token_url = "http://127.0.0.1/api/v1/auth/token";
    assert_int_equal(init_with(&p, 1), LLMC_OK);
    /* the token URL's path as it is, its trailing slash too (a base_url's
     * is dropped, as /chat/completions follows it) */
    p.token_url = "http://127.0.0.1/api/v1/auth/token/";
    assert_int_equal(init_with(&p, 1), LLMC_OK);
    assert_int_equal(C->iam[0].t.url.path_len,
                     strlen("/api/v1/auth/token/"));
    p.base_url = "http://127.0.0.1/v1/";
    assert_int_equal(init_with(&p, 1), LLMC_OK);
    assert_int_equal(C->prov[0].t.url.path_len, strlen("/v1"));
#else
    /* compiled out (LLMC_IAM_PROVIDERS=0) */
    assert_int_equal(init_with(&p, 1), LLMC_ERR_CONFIG);
    assert_not_started();
#endif
}

#if LLMC_IAM && LLMC_MAX_PROVIDERS > LLMC_IAM_PROVIDERS
static void test_more_iam_providers_than_it_holds(void **st)
{
    llmc_provider_t p[LLMC_IAM_PROVIDERS + 1];
    size_t i;
    (void)st;
    for (i = 0; i < LLMC_IAM_PROVIDERS + 1; i++)
        iam_provider(&p[i]);
    assert_int_equal(init_with(p, LLMC_IAM_PROVIDERS + 1), LLMC_ERR_CONFIG);
    assert_not_started();
    assert_int_equal(init_with(p, LLMC_IAM_PROVIDERS), LLMC_OK);
}
#endif

#if LLMC_IAM
/* The time to the end of the token that answer brings, stored as
 * llmc_auth_store() stores a token answer. */
static uint64_t token_life(const char *answer)
{
    llmc_slot_t *s = &C->slots[0];
    size_t n = strlen(answer);
    assert_true(n <= sizeof(s->buf));
    memcpy(s->buf, answer, n);
    s->body_len = n;
    s->provider = 0;
    assert_int_equal(llmc_auth_store(C, s), LLMC_OK);
    return llmc_auth_iam(C, s)->expires - C->now;
}

/* The answer a[0..n) through llmc_auth_body() into s's buffer as a body
 * starts, in two pieces split at k: whether all of it fit. */
static bool filtered(llmc_slot_t *s, const char *a, size_t n, size_t k)
{
    llmc_sse_init(&s->sse, s->buf, sizeof(s->buf));
    s->body_len = 0;
    return llmc_auth_body(s, a, k) && llmc_auth_body(s, a + k, n - k);
}

/* A token answer keeps, split anywhere, the members llmc reads and the
 * JSON around them; only the characters of other string values are left
 * out, escapes included. */
static void test_iam_answer_keeps_what_is_read(void **st)
{
    static const char a[] =
        "{\"access_token\": \"t\\\"k\", \"id_token\" :\t\"ey\\\\\\\"J\\u0041\","
        " \"scopes\": [\"openid\", \"roles\"], \"n\": {\"access_token\": "
        "\"n\", \"d\": \"drop\"}, \"expires_in\" : \"3600\", "
        "\"refresh_token\":\"\", \"not_before\": 0}";
    static const char want[] =
        "{\"access_token\": \"t\\\"k\", \"id_token\" :\t\"\","
        " \"scopes\": [\"openid\", \"roles\"], \"n\": {\"access_token\": "
        "\"n\", \"d\": \"\"}, \"expires_in\" : \"3600\", "
        "\"refresh_token\":\"\", \"not_before\": 0}";
    static char big[3 * LLMC_EVENT_BUF_SIZE];
    llmc_slot_t *s = &C->slots[0];
    llmc_provider_t p;
    const char *t;
    size_t k, n = strlen(a), tn;
    int32_t exp;
    (void)st;
    iam_provider(&p);
    assert_int_equal(init_with(&p, 1), LLMC_OK);
    for (k = 0; k <= n; k++) {
        assert_true(filtered(s, a, n, k));
        assert_int_equal(s->body_len, strlen(want));
        assert_memory_equal(s->buf, want, s->body_len);
    }
    assert_int_equal(llmc_json_token(s->buf, s->body_len, &t, &tn, &exp),
                     LLMC_OK);
    assert_int_equal(tn, 3);
    assert_memory_equal(t, "t\"k", 3);
    assert_int_equal(exp, 3600);
    /* an id_token three times the buffer, left out: the rest fits */
    n = (size_t)sprintf(big, "{\"id_token\": \"%0*d\", \"access_token\": "
                                  "\"t\"}", (int)sizeof(big) - 64, 0);
    assert_true(filtered(s, big, n, n / 2));
    assert_int_equal(s->body_len, strlen("{\"id_token\": \"\", "
                                         "\"access_token\": \"t\"}"));
    /* what is kept must fit: an access token as long as the buffer */
    n = (size_t)sprintf(big, "{\"access_token\": \"%0*d\"}",
                        (int)sizeof(s->buf), 0);
    assert_false(filtered(s, big, n, 1));
}

/* A token lasts its expires_in, at most 30 days (so the milliseconds fit
 * 32 bits); one without a lifetime, or with a negative one, serves only
 * the request that fetched it. */
static void test_iam_token_lifetime(void **st)
{
    llmc_provider_t p;
    (void)st;
    iam_provider(&p);
    assert_int_equal(init_with(&p, 1), LLMC_OK);
    C->now = 5000000000u; /* past 32 bits: the end is 64-bit */
    assert_true(token_life("{\"access_token\":\"t\",\"expires_in\":3600}") ==
                3600000u);
    assert_true(token_life("{\"expires_in\":2592000,\"access_token\":\"t\"}") ==
                2592000000u);
    assert_true(token_life("{\"access_token\":\"t\",\"expires_in\":2592001}") ==
                2592000000u);
    assert_true(token_life("{\"access_token\":\"t\",\"expires_in\":"
                           "99999999999}") == 2592000000u);
    assert_true(token_life("{\"access_token\":\"t\",\"expires_in\":-5}") == 0);
    /* in quotes, as some OAuth servers send it; unreadable: unknown */
    assert_true(token_life("{\"access_token\":\"t\",\"expires_in\":\"3600\"}") ==
                3600000u);
    assert_true(token_life("{\"access_token\":\"t\",\"expires_in\":\"?\"}") == 0);
    assert_true(token_life("{\"access_token\":\"t\"}") == 0);
}
#endif

static void test_https_trust_it_cannot_load(void **st)
{
    static const char not_pem[] = "not a certificate";
    llmc_provider_t p = k_plain;
    (void)st;
    p.base_url = "https://localhost/v1";
    Cfg.ca_pem = not_pem;
    Cfg.ca_pem_len = sizeof(not_pem);
    /* without LLMC_TLS, https itself is what it cannot run */
    assert_int_equal(init_with(&p, 1), LLMC_ERR_CONFIG);
    assert_not_started();
#if LLMC_TLS && defined(MBEDTLS_FS_IO)
    Cfg.ca_pem = NULL;
    Cfg.ca_pem_len = 0;
    Cfg.ca_file = "/nonexistent/ca.pem";
    assert_int_equal(init_with(&p, 1), LLMC_ERR_CONFIG);
    assert_not_started();
#endif
    /* a plain-http client needs no trust: nothing is loaded */
    assert_int_equal(init_with(&k_plain, 1), LLMC_OK);
}

static int g_done_calls;
static llmc_result_t g_done;
static void *g_done_user;

static void on_done(void *user, const llmc_result_t *r)
{
    g_done_calls++;
    g_done = *r;
    g_done_user = user;
}

/* A started client's blocking call hands its result to the caller's
 * on_done as well as to *result (a provider that is not working: no
 * network is touched). */
static void test_blocking_call_passes_its_result_to_on_done(void **st)
{
    llmc_provider_t p = k_plain;
    llmc_callbacks_t cb = {NULL, NULL, on_done};
    llmc_request_t req;
    llmc_result_t r;
    int user;
    (void)st;
    p.disabled = true;
    assert_int_equal(init_with(&p, 1), LLMC_OK);
    hi_request(&req);
    g_done_calls = 0;
    assert_int_equal(llmc_chat(C, &req, &cb, &user, &r), LLMC_ERR_NO_PROVIDER);
    assert_int_equal(g_done_calls, 1);
    assert_ptr_equal(g_done_user, &user);
    assert_int_equal(g_done.status, LLMC_ERR_NO_PROVIDER);
    assert_int_equal(r.status, LLMC_ERR_NO_PROVIDER);
    assert_string_equal(g_done.message, r.message);
    assert_true(strstr(r.message, "not working") != NULL ||
                strlen(r.message) == LLMC_MSG_LEN - 1);
}

static void test_storage_of_another_size(void **st)
{
    (void)st;
    Cfg.providers = &k_plain;
    Cfg.n_providers = 1;
    assert_int_equal(llmc_client_init_sized(C, &Cfg, sizeof(*C) - 1),
                     LLMC_ERR_CONFIG);
    assert_int_equal(llmc_client_init_sized(C, &Cfg, sizeof(*C) + 8),
                     LLMC_ERR_CONFIG);
    assert_int_equal(llmc_client_size(), sizeof(*C));
    assert_int_equal(llmc_client_init_sized(C, &Cfg, llmc_client_size()),
                     LLMC_OK);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_missing_arguments),
        T(test_provider_without_a_name),
        T(test_provider_extra_json_not_an_object),
        T(test_base_url_it_cannot_take),
        T(test_bearer_without_a_key),
        T(test_auth_of_no_kind),
        T(test_iam_provider_it_cannot_run),
#if LLMC_IAM && LLMC_MAX_PROVIDERS > LLMC_IAM_PROVIDERS
        T(test_more_iam_providers_than_it_holds),
#endif
#if LLMC_IAM
        T(test_iam_token_lifetime),
        T(test_iam_answer_keeps_what_is_read),
#endif
        T(test_https_trust_it_cannot_load),
        T(test_storage_of_another_size),
        T(test_blocking_call_passes_its_result_to_on_done),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
