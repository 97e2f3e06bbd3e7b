/* Unit tests of base_url parsing (src/llmc_url.c). */
#include "split.h"

#include "llmc/llmc.h"
#include "llmc_url.h"

static void parse_ok(const char *url, llmc_url_t *u)
{
    int rc = llmc_url_parse(url, u);
    if (rc != LLMC_OK)
        fail_msg("<%s>: rc %d, want ok", url, rc);
}

static void assert_path(const llmc_url_t *u, const char *want)
{
    assert_int_equal(u->path_len, strlen(want));
    assert_memory_equal(u->path, want, u->path_len);
}

static void test_https_default_port(void **st)
{
    llmc_url_t u;
    (void)st;
    parse_ok("https://api.openai.com/v1", &u);
    assert_true(u.tls);
    assert_int_equal(u.port, 443);
    assert_true(u.default_port);
    assert_string_equal(u.host, "api.openai.com");
    assert_path(&u, "/v1");
}

static void test_http_default_port(void **st)
{
    llmc_url_t u;
    (void)st;
    parse_ok("http://localhost/v1", &u);
    assert_false(u.tls);
    assert_int_equal(u.port, 80);
    assert_true(u.default_port);
    assert_string_equal(u.host, "localhost");
    assert_path(&u, "/v1");
}

static void test_scheme_case_insensitive(void **st)
{
    llmc_url_t u;
    (void)st;
    parse_ok("HTTPS://Example.COM", &u);
    assert_true(u.tls);
    assert_string_equal(u.host, "Example.COM");
    parse_ok("Http://a.b", &u);
    assert_false(u.tls);
}

static void test_explicit_port(void **st)
{
    llmc_url_t u;
    (void)st;
    parse_ok("http://127.0.0.1:8080/v1", &u);
    assert_int_equal(u.port, 8080);
    assert_false(u.default_port);
    assert_string_equal(u.host, "127.0.0.1");
    assert_path(&u, "/v1");
    parse_ok("https://h:1", &u);
    assert_int_equal(u.port, 1);
    assert_false(u.default_port);
    parse_ok("https://h:65535/", &u);
    assert_int_equal(u.port, 65535);
    /* the scheme's own port written out is still the default */
    parse_ok("https://h:443/v1", &u);
    assert_int_equal(u.port, 443);
    assert_true(u.default_port);
    parse_ok("http://h:80", &u);
    assert_true(u.default_port);
    parse_ok("http://h:443", &u);
    assert_false(u.default_port);
    parse_ok("http://h:00080", &u);
    assert_int_equal(u.port, 80);
}

static void test_ipv6_literal(void **st)
{
    llmc_url_t u;
    (void)st;
    parse_ok("http://[::1]:8080/v1", &u);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 8080);
    assert_path(&u, "/v1");
    parse_ok("https://[2001:DB8::a:1]", &u);
    assert_string_equal(u.host, "2001:DB8::a:1");
    assert_int_equal(u.port, 443);
    assert_true(u.default_port);
    assert_path(&u, "");
#if LLMC_HOST_MAX > 16
    parse_ok("http://[::ffff:192.0.2.1]/", &u);
    assert_string_equal(u.host, "::ffff:192.0.2.1");
#else
    /* 16 characters do not fit a LLMC_HOST_MAX of 16 (its Kconfig
     * minimum) with the NUL */
    assert_int_equal(llmc_url_parse("http://[::ffff:192.0.2.1]/", &u),
                     LLMC_ERR_URL);
#endif
}

static void test_ipv6_literal_malformed_rejected(void **st)
{
    llmc_url_t u;
    (void)st;
    assert_int_equal(llmc_url_parse("http://[::1", &u), LLMC_ERR_URL);
    assert_int_equal(llmc_url_parse("http://[]/v1", &u), LLMC_ERR_URL);
    assert_int_equal(llmc_url_parse("http://[::g]/", &u), LLMC_ERR_URL);
    assert_int_equal(llmc_url_parse("http://[::1]x/", &u), LLMC_ERR_URL);
    assert_int_equal(llmc_url_parse("http://::1/", &u), LLMC_ERR_URL);
    /* only an IPv6 address goes in brackets, not a name nor IPv4 */
    assert_int_equal(llmc_url_parse("https://[cafe]/v1", &u), LLMC_ERR_URL);
    assert_int_equal(llmc_url_parse("http://[1.2.3.4]/v1", &u),
                     LLMC_ERR_URL);
}

static void test_path_trailing_slashes_trimmed(void **st)
{
    llmc_url_t u;
    (void)st;
    parse_ok("https://api.example.com/v1/", &u);
    assert_path(&u, "/v1");
    parse_ok("https://api.example.com/v1///", &u);
    assert_path(&u, "/v1");
    parse_ok("https://api.example.com/", &u);
    assert_path(&u, "");
    parse_ok("https://api.example.com", &u);
    assert_path(&u, "");
    parse_ok("https://api.example.com/api/openai/v1", &u);
    assert_path(&u, "/api/openai/v1");
    parse_ok("https://h/a-b_c.d~e%20f", &u);
    assert_path(&u, "/a-b_c.d~e%20f");
}

static void test_host_charset_and_length(void **st)
{
    char url[LLMC_HOST_MAX + 32];
    char host[LLMC_HOST_MAX + 1];
    llmc_url_t u;
    (void)st;
#if LLMC_HOST_MAX > 21
    parse_ok("http://my_host-1.example.org/", &u);
    assert_string_equal(u.host, "my_host-1.example.org");
#else /* the same characters in a host that fits 16 bytes with its NUL */
    parse_ok("http://my_host-1.e.org/", &u);
    assert_string_equal(u.host, "my_host-1.e.org");
#endif
    /* LLMC_HOST_MAX - 1 characters fit (with the NUL) */
    memset(host, 'h', LLMC_HOST_MAX - 1);
    host[LLMC_HOST_MAX - 1] = '\0';
    snprintf(url, sizeof(url), "https://%s/v1", host);
    parse_ok(url, &u);
    assert_int_equal(strlen(u.host), LLMC_HOST_MAX - 1);
    /* LLMC_HOST_MAX does not */
    memset(host, 'h', LLMC_HOST_MAX);
    host[LLMC_HOST_MAX] = '\0';
    snprintf(url, sizeof(url), "https://%s/v1", host);
    assert_int_equal(llmc_url_parse(url, &u), LLMC_ERR_URL);
}

static void test_bad_urls_rejected(void **st)
{
    static const char *const bad[] = {
        "ftp://example.com/",
        "ws://example.com/",
        "example.com/v1",
        "//example.com",
        "https:/example.com",
        "https:example.com",
        "http://",
        "https://",
        "https:///v1",
        "https://:443/v1",
        "http://h:0/",
        "http://h:65536/",
        "http://h:99999999999/",
        "http://h:/v1",
        "http://h:abc/",
        "http://h:80a/",
        "http://h:-1/",
        "http://user@h/",
        "http://h h/",
        "http://h/a b",
        "http://h/a\"b",
        "http://h/a<b>",
        "http://h/a\\b",
        "http://h/v1?x=1",
        "http://h?x=1",
        "http://h/v1#frag",
        "http://h/\x7f",
        "http://h/\x01",
        "http://h/v1\r\nX: y",
        "",
        " https://h/",
    };
    size_t i;
    llmc_url_t u;
    (void)st;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = llmc_url_parse(bad[i], &u);
        if (rc != LLMC_ERR_URL)
            fail_msg("<%s>: rc %d, want LLMC_ERR_URL", bad[i], rc);
    }
    assert_int_equal(llmc_url_parse(NULL, &u), LLMC_ERR_URL);
}

static void test_short_inputs_do_not_overread(void **st)
{
    /* heap copies of exactly strlen+1 bytes: ASan flags a read past them */
    static const char *const in[] = {"h", "ht", "http", "http:", "https:/",
                                     "HTTP:/", "x"};
    size_t i;
    llmc_url_t u;
    (void)st;
    for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        size_t n = strlen(in[i]) + 1;
        char *c = malloc(n);
        memcpy(c, in[i], n);
        assert_int_equal(llmc_url_parse(c, &u), LLMC_ERR_URL);
        free(c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_https_default_port),
        cmocka_unit_test(test_http_default_port),
        cmocka_unit_test(test_scheme_case_insensitive),
        cmocka_unit_test(test_explicit_port),
        cmocka_unit_test(test_ipv6_literal),
        cmocka_unit_test(test_ipv6_literal_malformed_rejected),
        cmocka_unit_test(test_path_trailing_slashes_trimmed),
        cmocka_unit_test(test_host_charset_and_length),
        cmocka_unit_test(test_bad_urls_rejected),
        cmocka_unit_test(test_short_inputs_do_not_overread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
