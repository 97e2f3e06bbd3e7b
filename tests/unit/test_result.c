/* Unit tests of llmc_result_format and llmc_strerror (src/llmc_client.c). */
#include "split.h"

#include "llmc/llmc.h"

static const llmc_provider_t k_prov[] = {
    {.name = "openai"},
    {.name = "cloudru"},
    {.name = "local"},
    {.name = NULL},
};

/* msg as a result keeps it in dst (LLMC_MSG_LEN bytes): its first
 * LLMC_MSG_LEN - 1 bytes, 15 at the Kconfig minimum. Not with snprintf,
 * whose truncation of a constant the compiler would warn about. */
static void keep_into(char *dst, const char *msg)
{
    size_t n = strlen(msg);
    if (n > LLMC_MSG_LEN - 1)
        n = LLMC_MSG_LEN - 1;
    memcpy(dst, msg, n);
    dst[n] = '\0';
}

static void add_attempt(llmc_result_t *r, uint8_t provider, int status,
                        uint16_t http, const char *msg)
{
    llmc_attempt_t *a;
    assert_true(r->n_attempts < LLMC_MAX_ATTEMPTS);
    a = &r->attempts[r->n_attempts++];
    a->provider = provider;
    a->status = (int8_t)status;
    a->http_status = http;
    keep_into(a->message, msg);
    r->status = status;
    r->provider = provider;
    keep_into(r->message, msg);
}

/* msg as a result keeps it, in one of a few buffers that stay valid until
 * this is called again as often. */
static const char *kept(const char *msg)
{
    static char k[4][LLMC_MSG_LEN];
    static unsigned next;
    char *b = k[next++ % 4];
    keep_into(b, msg);
    return b;
}

/* printf into a buffer that stays valid until the next call. */
static const char *text(const char *f, ...)
{
    static char t[1024];
    va_list ap;
    va_start(ap, f);
    vsnprintf(t, sizeof(t), f, ap);
    va_end(ap);
    return t;
}

static void set_message(llmc_result_t *r, const char *msg)
{
    keep_into(r->message, msg);
}

static void fresh(llmc_result_t *r)
{
    memset(r, 0, sizeof(*r));
    r->provider = -1;
}

/* Format with a big buffer; the return value must be the text's length. */
static const char *fmt(const llmc_result_t *r)
{
    static char buf[4096];
    size_t n;
    memset(buf, 'X', sizeof(buf));
    n = llmc_result_format(r, k_prov, 4, buf, sizeof(buf));
    assert_int_equal(n, strlen(buf));
    return buf;
}

static void test_success_names_the_provider(void **st)
{
    llmc_result_t r;
    (void)st;
    fresh(&r);
    add_attempt(&r, 0, LLMC_ERR_TIMEOUT, 0, "first byte timeout");
    r.status = LLMC_OK;
    r.provider = 1;
    r.message[0] = '\0';
    assert_string_equal(fmt(&r), "cloudru: ok");
}

static void test_one_failure_one_line(void **st)
{
    llmc_result_t r;
    (void)st;
    fresh(&r);
    add_attempt(&r, 0, LLMC_ERR_HTTP, 401, "Incorrect API key provided");
    assert_string_equal(fmt(&r),
                        text("all providers failed:\n"
                             "openai: http error: %s",
                             kept("Incorrect API key provided")));
}

#if LLMC_MAX_ATTEMPTS >= 4 /* records four attempts */
static void test_several_failures_one_line_each_in_order(void **st)
{
    llmc_result_t r;
    const char *refused = kept("connection refused");
    const char *limit = kept("Rate limit reached");
    (void)st;
    fresh(&r);
    add_attempt(&r, 2, LLMC_ERR_CONNECT, 0, "connection refused");
    add_attempt(&r, 0, LLMC_ERR_HTTP, 429, "Rate limit reached");
    add_attempt(&r, 0, LLMC_ERR_TIMEOUT, 0, "timeout");
    add_attempt(&r, 1, LLMC_ERR_PROTOCOL, 0, "");
    assert_string_equal(fmt(&r), text("all providers failed:\n"
                                      "local: connect error: %s\n"
                                      "openai: http error: %s\n"
                                      "openai: timeout\n"
                                      "cloudru: malformed response",
                                      refused, limit));
}
#endif

static void test_partial_failure_says_so(void **st)
{
    llmc_result_t r;
    (void)st;
    fresh(&r);
    add_attempt(&r, 1, LLMC_ERR_CLOSED, 0, "peer closed mid-stream");
    r.partial = true;
    assert_string_equal(fmt(&r), text("failed after partial content:\n"
                                      "cloudru: connection closed: %s",
                                      kept("peer closed mid-stream")));
}

/* The request ended after its last attempt (its deadline, or a cancel,
 * came while it waited to retry): the reason is the last line. */
static void test_end_after_the_last_attempt_is_the_last_line(void **st)
{
    llmc_result_t r;
    const char *overloaded = kept("status 503: overloaded");
    (void)st;
    fresh(&r);
    add_attempt(&r, 0, LLMC_ERR_HTTP, 503, "status 503: overloaded");
    r.status = LLMC_ERR_TIMEOUT;
    set_message(&r, "deadline exceeded while waiting to retry");
    assert_string_equal(fmt(&r),
                        text("all providers failed:\n"
                             "openai: http error: %s\n"
                             "timeout: %s",
                             overloaded,
                             kept("deadline exceeded while waiting to "
                                  "retry")));
    r.status = LLMC_ERR_CANCELLED;
    r.message[0] = '\0';
    assert_string_equal(fmt(&r), text("all providers failed:\n"
                                      "openai: http error: %s\n"
                                      "cancelled",
                                      overloaded));
}

static void test_failure_without_attempts_gives_kind_and_message(void **st)
{
    llmc_result_t r;
    (void)st;
    fresh(&r);
    r.status = LLMC_ERR_NO_PROVIDER;
    set_message(&r, "3 configured, 3 not working");
    assert_string_equal(fmt(&r), text("no provider: %s",
                                      kept("3 configured, 3 not working")));
    r.message[0] = '\0';
    r.status = LLMC_ERR_CANCELLED;
    assert_string_equal(fmt(&r), "cancelled");
}

static void test_unknown_or_unnamed_provider_shown_as_question_mark(void **st)
{
    llmc_result_t r;
    (void)st;
    fresh(&r);
    add_attempt(&r, 3, LLMC_ERR_DNS, 0, "no such host");
#if LLMC_MAX_ATTEMPTS >= 2
    add_attempt(&r, 7, LLMC_ERR_DNS, 0, "no such host");
    assert_string_equal(fmt(&r), "all providers failed:\n"
                                 "?: dns error: no such host\n"
                                 "?: dns error: no such host");
#else /* one attempt recorded (the Kconfig minimum): one at a time */
    assert_string_equal(fmt(&r), "all providers failed:\n"
                                 "?: dns error: no such host");
    fresh(&r);
    add_attempt(&r, 7, LLMC_ERR_DNS, 0, "no such host");
    assert_string_equal(fmt(&r), "all providers failed:\n"
                                 "?: dns error: no such host");
#endif
    assert_true(llmc_result_format(&r, NULL, 0, NULL, 0) > 0);
}

/* A result whose record is full of the same attempt ("reset" on
 * provider 0) and that made `more` attempts past it; want gets the
 * text's lines for the recorded ones, and the returned length. */
static size_t full_record(llmc_result_t *r, int more, char *want,
                          size_t cap)
{
    int i;
    size_t o;
    fresh(r);
    for (i = 0; i < LLMC_MAX_ATTEMPTS; i++)
        add_attempt(r, 0, LLMC_ERR_IO, 0, "reset");
    r->n_attempts = LLMC_MAX_ATTEMPTS + more;
    o = (size_t)snprintf(want, cap, "all providers failed:");
    for (i = 0; i < LLMC_MAX_ATTEMPTS; i++)
        o += (size_t)snprintf(want + o, cap - o,
                              "\nopenai: i/o error: reset");
    return o;
}

static void test_attempts_beyond_record_are_counted(void **st)
{
    llmc_result_t r;
    char want[2048];
    size_t o;
    (void)st;
    o = full_record(&r, 3, want, sizeof(want));
    snprintf(want + o, sizeof(want) - o, "\n(3 more attempts not recorded)");
    assert_string_equal(fmt(&r), want);
}

/* The count stops at 255 (uint8_t): the line then says at least how
 * many were left out, not a number that may be too small. */
static void test_attempts_count_at_its_top_says_or_more(void **st)
{
    llmc_result_t r;
    char want[2048];
    size_t o;
    (void)st;
    o = full_record(&r, 255 - LLMC_MAX_ATTEMPTS, want, sizeof(want));
    snprintf(want + o, sizeof(want) - o,
             "\n(%d or more attempts not recorded)", 255 - LLMC_MAX_ATTEMPTS);
    assert_string_equal(fmt(&r), want);
    o = full_record(&r, 254 - LLMC_MAX_ATTEMPTS, want, sizeof(want));
    snprintf(want + o, sizeof(want) - o,
             "\n(%d more attempts not recorded)", 254 - LLMC_MAX_ATTEMPTS);
    assert_string_equal(fmt(&r), want);
}

/* The line for the attempt that ended the request past the record says
 * its status text once when its message is that text, as the attempt
 * lines do. */
static void test_end_past_record_says_status_text_once(void **st)
{
    llmc_result_t r;
    char want[2048];
    size_t o;
    (void)st;
    o = full_record(&r, 1, want, sizeof(want));
    keep_into(r.message, "i/o error");
    snprintf(want + o, sizeof(want) - o,
             "\n(1 more attempts not recorded)\ni/o error");
    assert_string_equal(fmt(&r), want);
}

static void test_truncation_returns_needed_length_and_nul_terminates(void **st)
{
    llmc_result_t r;
    char full[512], small[16];
    size_t need, cap;
    (void)st;
    fresh(&r);
    add_attempt(&r, 0, LLMC_ERR_HTTP, 500, "Internal server error");
#if LLMC_MAX_ATTEMPTS >= 2
    add_attempt(&r, 1, LLMC_ERR_TIMEOUT, 0, "idle timeout");
#endif
    need = llmc_result_format(&r, k_prov, 4, full, sizeof(full));
    assert_int_equal(need, strlen(full));
    for (cap = 1; cap <= need + 1; cap++) {
        char *buf = malloc(cap); /* exact size: ASan sees overruns */
        size_t got = llmc_result_format(&r, k_prov, 4, buf, cap);
        size_t keep = cap - 1 < need ? cap - 1 : need;
        assert_int_equal(got, need);
        assert_int_equal(strlen(buf), keep);
        assert_memory_equal(buf, full, keep);
        free(buf);
    }
    memset(small, 'X', sizeof(small));
    assert_int_equal(llmc_result_format(&r, k_prov, 4, small, 10), need);
    assert_string_equal(small, "all provi");
    assert_int_equal(small[10], 'X'); /* nothing past cap */
    /* no buffer: just the length */
    assert_int_equal(llmc_result_format(&r, k_prov, 4, NULL, 0), need);
    assert_int_equal(llmc_result_format(&r, k_prov, 4, small, 0), need);
    assert_int_equal(small[0], 'a');
}

/* A buffer that ends inside a UTF-8 character (a provider's message in
 * Cyrillic) gets the text up to that character: the start of the whole
 * text, as snprintf's is, and never the rest of the text after a hole. */
static void test_truncation_in_a_character_keeps_a_prefix(void **st)
{
    llmc_result_t r;
    char full[512];
    size_t need, cap, got_len;
    (void)st;
    fresh(&r);
    /* "Ошибка" (2-byte characters) */
    add_attempt(&r, 0, LLMC_ERR_API, 200,
                "\xd0\x9e\xd1\x88\xd0\xb8\xd0\xb1\xd0\xba\xd0\xb0");
#if LLMC_MAX_ATTEMPTS >= 2
    add_attempt(&r, 1, LLMC_ERR_TIMEOUT, 0, "idle timeout");
#endif
    need = llmc_result_format(&r, k_prov, 4, full, sizeof(full));
    for (cap = 1; cap <= need + 1; cap++) {
        char *buf = malloc(cap);
        size_t keep = cap - 1 < need ? cap - 1 : need;
        assert_int_equal(llmc_result_format(&r, k_prov, 4, buf, cap), need);
        got_len = strlen(buf);
        if (got_len > keep || memcmp(buf, full, got_len) != 0 ||
            keep - got_len > 3)
            fail_msg("cap %zu: \"%s\" is not the start of \"%s\"", cap,
                     buf, full);
        free(buf);
    }
}

static void test_null_result_formats_empty(void **st)
{
    char buf[8] = "junk";
    (void)st;
    assert_int_equal(llmc_result_format(NULL, k_prov, 4, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
}

static void test_strerror_every_status_non_empty_and_distinct(void **st)
{
    int a, b;
    const char *unknown = llmc_strerror(-9999);
    (void)st;
    assert_non_null(unknown);
    assert_true(unknown[0] != '\0');
    for (a = LLMC_ERR_STATE; a <= LLMC_OK; a++) {
        const char *s = llmc_strerror(a);
        assert_non_null(s);
        assert_true(s[0] != '\0');
        if (strcmp(s, unknown) == 0)
            fail_msg("status %d has no name of its own", a);
        for (b = LLMC_ERR_STATE; b < a; b++)
            if (strcmp(s, llmc_strerror(b)) == 0)
                fail_msg("statuses %d and %d share the name %s", a, b, s);
    }
    assert_string_equal(llmc_strerror(LLMC_OK), "ok");
    assert_string_equal(llmc_strerror(LLMC_ERR_TIMEOUT), "timeout");
    assert_non_null(llmc_strerror(1));
    assert_non_null(llmc_strerror(LLMC_ERR_STATE - 1));
    assert_string_equal(llmc_strerror(LLMC_ERR_STATE - 1), unknown);
}

static void test_strerror_is_one_lower_case_line(void **st)
{
    int a;
    (void)st;
    for (a = LLMC_ERR_STATE; a <= LLMC_OK; a++) {
        const char *s = llmc_strerror(a);
        for (; *s; s++) {
            assert_true((unsigned char)*s >= 0x20);
            assert_false(*s >= 'A' && *s <= 'Z');
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_success_names_the_provider),
        cmocka_unit_test(test_one_failure_one_line),
#if LLMC_MAX_ATTEMPTS >= 4
        cmocka_unit_test(test_several_failures_one_line_each_in_order),
#endif
        cmocka_unit_test(test_partial_failure_says_so),
        cmocka_unit_test(test_end_after_the_last_attempt_is_the_last_line),
        cmocka_unit_test(
            test_failure_without_attempts_gives_kind_and_message),
        cmocka_unit_test(
            test_unknown_or_unnamed_provider_shown_as_question_mark),
        cmocka_unit_test(test_attempts_beyond_record_are_counted),
        cmocka_unit_test(test_attempts_count_at_its_top_says_or_more),
        cmocka_unit_test(test_end_past_record_says_status_text_once),
        cmocka_unit_test(
            test_truncation_returns_needed_length_and_nul_terminates),
        cmocka_unit_test(test_truncation_in_a_character_keeps_a_prefix),
        cmocka_unit_test(test_null_result_formats_empty),
        cmocka_unit_test(test_strerror_every_status_non_empty_and_distinct),
        cmocka_unit_test(test_strerror_is_one_lower_case_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
