/* Unit tests of the failover policy (src/llmc_failover.c) against DESIGN.md
 * "Semantics" 1-5: eligibility, order, retry classification, backoff,
 * Retry-After, moving on, cooldown. The client and slot are set up by hand:
 * zeroed, then providers, policy and rng filled in. */
#include "split.h"

#include "llmc/llmc.h"
#include "llmc_failover.h"

static llmc_client_t *C;
static llmc_slot_t *S;
static llmc_request_t R;

static int setup(void **st)
{
    (void)st;
    C = calloc(1, sizeof(*C));
    S = calloc(1, sizeof(*S));
    assert_non_null(C);
    assert_non_null(S);
    llmc_request_init(&R);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    free(C);
    free(S);
    C = NULL;
    S = NULL;
    return 0;
}

/* A client holds at most LLMC_MAX_PROVIDERS providers (1 at the Kconfig
 * minimum). Tests of the order among providers, or of moving on to the
 * next one, need as many as they list and are left out of builds with
 * fewer; those that stay with the first provider list up to three. */
#define NP3 (LLMC_MAX_PROVIDERS < 3 ? LLMC_MAX_PROVIDERS : 3)

static void client_with(const llmc_provider_t *p, size_t n)
{
    memset(C, 0, sizeof(*C));
    memset(S, 0, sizeof(*S));
    C->providers = p;
    C->n_providers = (uint8_t)n;
    /* The policy these tests are written for, which is Kconfig's default
     * one; a build with other default policy knobs (at their Kconfig
     * minimum: no retries, a 1 ms deadline) gets it too. */
    llmc_policy_default(&C->policy);
    C->policy.max_retries = 2;
    C->policy.backoff_base_ms = 500;
    C->policy.backoff_max_ms = 8000;
    C->policy.connect_timeout_ms = 5000;
    C->policy.first_byte_timeout_ms = 30000;
    C->policy.idle_timeout_ms = 30000;
    C->policy.deadline_ms = 120000;
    C->policy.cooldown_after = 3;
    C->policy.cooldown_ms = 30000;
    C->rng = 0x12345678u;
    C->ready = true;
    S->job.req = &R;
    S->result.provider = -1;
}

static int plan(uint64_t now, char *msg, size_t cap)
{
    llmc_buf_t b;
    char dummy[128];
    if (msg == NULL) {
        msg = dummy;
        cap = sizeof(dummy);
    }
    llmc_buf_init(&b, msg, cap);
    C->now = now;
    return llmc_fo_plan(C, S, &b);
}

/* A failed attempt at now: the answer's status, X-Should-Retry and
 * Retry-After as the engine leaves them in S->http. */
static int decide(int status, uint16_t http, int8_t should_retry,
                  int64_t retry_after_ms, uint64_t now)
{
    S->http.status = http;
    S->http.should_retry = should_retry;
    S->http.retry_after_ms = retry_after_ms;
    C->now = now;
    return llmc_fo_decide(C, S, status);
}

/* When the slot's timer fires: the next attempt's time (low 32 bits). */
#define WAKE ((uint32_t)(S->t_timer + S->timer_ms))

static void record(uint8_t provider, bool ok, uint64_t now)
{
    C->now = now;
    llmc_fo_record(C, provider, ok);
}

static const llmc_provider_t k_three[] = {
    {.name = "a", .base_url = "http://a/v1"},
    {.name = "b", .base_url = "http://b/v1"},
    {.name = "c", .base_url = "http://c/v1"},
};

/* ---- plan ------------------------------------------------------------- */

#if LLMC_MAX_PROVIDERS >= 3
static void test_plan_keeps_listed_order(void **st)
{
    (void)st;
    client_with(k_three, 3);
    assert_int_equal(plan(1000, NULL, 0), 3);
    assert_int_equal(S->n_order, 3);
    assert_int_equal(S->order[0], 0);
    assert_int_equal(S->order[1], 1);
    assert_int_equal(S->order[2], 2);
    assert_int_equal(S->pos, 0);
    assert_int_equal(S->tries, 0);
}
#endif

#if LLMC_MAX_PROVIDERS >= 5
static void test_plan_excludes_disabled_ignored_and_cooling(void **st)
{
    static const llmc_provider_t p[] = {
        {.name = "off", .disabled = true},
        {.name = "skip"},
        {.name = "cool"},
        {.name = "good"},
        {.name = "good2"},
    };
    static const char *const ign[] = {NULL, "skip", "nosuch"};
    (void)st;
    client_with(p, 5);
    R.ignored = ign;
    R.n_ignored = 3;
    C->prov[2].cool_until = 5000;
    assert_int_equal(plan(1000, NULL, 0), 2);
    assert_int_equal(S->order[0], 3);
    assert_int_equal(S->order[1], 4);
    assert_int_equal(S->n_order, 2);
}
#endif

#if LLMC_MAX_PROVIDERS >= 3
static void test_plan_cooldown_expires_at_its_time(void **st)
{
    (void)st;
    client_with(k_three, 3);
    C->prov[0].cool_until = 5000;
    assert_int_equal(plan(4999, NULL, 0), 2);
    assert_int_equal(S->order[0], 1);
    assert_int_equal(plan(5000, NULL, 0), 3);
    assert_int_equal(S->order[0], 0);
}
#endif

#if LLMC_MAX_PROVIDERS >= 4
static void test_plan_no_provider_message_counts_each(void **st)
{
    static const llmc_provider_t p[] = {
        {.name = "x", .disabled = true},
        {.name = "y"},
        {.name = "z", .disabled = true},
        {.name = "w"},
    };
    static const char *const ign[] = {"y", "w"};
    char msg[128];
    (void)st;
    client_with(p, 4);
    R.ignored = ign;
    R.n_ignored = 2;
    assert_int_equal(plan(1000, msg, sizeof(msg)), 0);
    assert_string_equal(msg, "4 configured, 2 not working, "
                             "2 ignored, 0 cooling down");
}
#endif

static void test_plan_with_no_providers_says_none_configured(void **st)
{
    char msg[128];
    (void)st;
    client_with(NULL, 0);
    assert_int_equal(plan(1000, msg, sizeof(msg)), 0);
    assert_string_equal(msg, "0 configured, 0 not working, "
                             "0 ignored, 0 cooling down");
}

#if LLMC_MAX_PROVIDERS >= 4
static void test_plan_all_cooling_tries_the_one_that_cools_first(void **st)
{
    static const llmc_provider_t p[] = {
        {.name = "a"}, {.name = "b"}, {.name = "c"}, {.name = "d",
                                                      .disabled = true},
    };
    (void)st;
    client_with(p, 4);
    C->prov[0].cool_until = 9000;
    C->prov[1].cool_until = 7000;
    C->prov[2].cool_until = 8000;
    C->prov[3].cool_until = 1500; /* disabled: never chosen */
    assert_int_equal(plan(1000, NULL, 0), 1);
    assert_int_equal(S->order[0], 1);
    assert_int_equal(S->n_order, 1);
}
#endif

#if LLMC_MAX_PROVIDERS >= 3
static void test_plan_cooling_ignored_provider_never_chosen(void **st)
{
    static const char *const ign[] = {"b"};
    (void)st;
    client_with(k_three, 3);
    R.ignored = ign;
    R.n_ignored = 1;
    C->prov[0].cool_until = 9000;
    C->prov[1].cool_until = 2000;
    C->prov[2].cool_until = 8000;
    assert_int_equal(plan(1000, NULL, 0), 1);
    assert_int_equal(S->order[0], 2);
}
#endif

#if LLMC_MAX_PROVIDERS >= 5
static bool is_permutation(const uint8_t *o, size_t n, const uint8_t *set)
{
    size_t i, j;
    for (i = 0; i < n; i++) {
        size_t hits = 0;
        for (j = 0; j < n; j++)
            hits += o[j] == set[i];
        if (hits != 1)
            return false;
    }
    return true;
}
#endif

#if LLMC_MAX_PROVIDERS >= 8
static void test_plan_shuffle_gives_a_permutation(void **st)
{
    static const llmc_provider_t p[] = {
        {.name = "0"}, {.name = "1"}, {.name = "2"}, {.name = "3"},
        {.name = "4"}, {.name = "5"}, {.name = "6"}, {.name = "7"},
    };
    static const uint8_t all[] = {0, 1, 2, 3, 4, 5, 6, 7};
    unsigned first_pos[8] = {0};
    uint32_t seed;
    size_t distinct_non_identity = 0, i;
    (void)st;
    for (seed = 1; seed <= 400; seed++) {
        client_with(p, 8);
        C->policy.shuffle = true;
        C->rng = seed * 2654435761u;
        assert_int_equal(plan(1000, NULL, 0), 8);
        assert_true(is_permutation(S->order, 8, all));
        first_pos[S->order[0]]++;
        for (i = 0; i < 8; i++)
            if (S->order[i] != i) {
                distinct_non_identity++;
                break;
            }
    }
    assert_true(distinct_non_identity > 300);
    for (i = 0; i < 8; i++) /* every provider comes first sometimes */
        assert_true(first_pos[i] > 10);
}
#endif

#if LLMC_MAX_PROVIDERS >= 5
static void test_plan_shuffle_only_among_eligible(void **st)
{
    static const llmc_provider_t p[] = {
        {.name = "0"}, {.name = "1", .disabled = true}, {.name = "2"},
        {.name = "3"}, {.name = "4"},
    };
    static const uint8_t elig[] = {0, 2, 4};
    static const char *const ign[] = {"3"};
    uint32_t seed;
    (void)st;
    for (seed = 1; seed <= 50; seed++) {
        client_with(p, 5);
        R.ignored = ign;
        R.n_ignored = 1;
        C->policy.shuffle = true;
        C->rng = seed * 0x9e3779b9u;
        assert_int_equal(plan(1000, NULL, 0), 3);
        assert_true(is_permutation(S->order, 3, elig));
    }
}
#endif

#if LLMC_MAX_PROVIDERS >= 3
static void test_plan_single_provider_retry_uses_first_eligible(void **st)
{
    static const llmc_provider_t p[] = {
        {.name = "off", .disabled = true}, {.name = "b"}, {.name = "c"},
    };
    (void)st;
    client_with(p, 3);
    C->policy.single_provider_retry = true;
    assert_int_equal(plan(1000, NULL, 0), 1);
    assert_int_equal(S->n_order, 1);
    assert_int_equal(S->order[0], 1);
    /* with shuffle too: still exactly one, an eligible one */
    C->policy.shuffle = true;
    C->rng = 77;
    assert_int_equal(plan(1000, NULL, 0), 1);
    assert_true(S->order[0] == 1 || S->order[0] == 2);
}
#endif

#if LLMC_MAX_PROVIDERS >= 2
static void test_plan_provider_without_name_cannot_be_ignored(void **st)
{
    static const llmc_provider_t p[] = {{.name = NULL}, {.name = "b"}};
    static const char *const ign[] = {"b", ""};
    (void)st;
    client_with(p, 2);
    R.ignored = ign;
    R.n_ignored = 2;
    assert_int_equal(plan(1000, NULL, 0), 1);
    assert_int_equal(S->order[0], 0);
}
#endif

/* ---- classification --------------------------------------------------- */

static void test_retryable_network_errors_and_timeouts(void **st)
{
    static const int yes[] = {LLMC_ERR_DNS, LLMC_ERR_CONNECT, LLMC_ERR_TLS,
                              LLMC_ERR_IO,  LLMC_ERR_CLOSED,  LLMC_ERR_TIMEOUT};
    size_t i;
    (void)st;
    for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        if (!llmc_fo_retryable(yes[i], 0, -1))
            fail_msg("%s should be retryable", llmc_strerror(yes[i]));
}

static void test_retryable_http_statuses(void **st)
{
    static const uint16_t yes[] = {408, 409, 429, 500, 502, 503, 504, 529, 599};
    static const uint16_t no[] = {400, 401, 403, 404, 405, 410, 413, 422,
                                  300, 302};
    size_t i;
    (void)st;
    for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        if (!llmc_fo_retryable(LLMC_ERR_HTTP, yes[i], -1))
            fail_msg("HTTP %u should be retryable", yes[i]);
    for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        if (llmc_fo_retryable(LLMC_ERR_HTTP, no[i], -1))
            fail_msg("HTTP %u should not be retryable", no[i]);
}

static void test_not_retryable_malformed_verify_empty(void **st)
{
    static const int no[] = {LLMC_ERR_PROTOCOL, LLMC_ERR_TLS_VERIFY,
                             LLMC_ERR_EMPTY,    LLMC_ERR_TOO_LARGE,
                             LLMC_ERR_HEADER,   LLMC_ERR_URL,
                             LLMC_ERR_CANCELLED};
    size_t i;
    (void)st;
    for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        if (llmc_fo_retryable(no[i], 0, -1))
            fail_msg("%s should not be retryable", llmc_strerror(no[i]));
}

static void test_x_should_retry_overrides_status(void **st)
{
    (void)st;
    assert_true(llmc_fo_retryable(LLMC_ERR_HTTP, 400, 1));
    assert_true(llmc_fo_retryable(LLMC_ERR_HTTP, 404, 1));
    assert_false(llmc_fo_retryable(LLMC_ERR_HTTP, 503, 0));
    assert_false(llmc_fo_retryable(LLMC_ERR_HTTP, 429, 0));
    assert_true(llmc_fo_retryable(LLMC_ERR_HTTP, 503, -1));
    assert_false(llmc_fo_retryable(LLMC_ERR_HTTP, 400, -1));
}

/* A transport failure after an error answer's head (its body cut short,
 * reset or timed out): the head decides, as if the body had come whole:
 * a refusal moves on, X-Should-Retry still rules. After a 2xx head, or
 * before any head, such a failure is retryable as ever. */
static void test_failure_after_an_error_head_decided_by_the_head(void **st)
{
    static const int io[] = {LLMC_ERR_CLOSED, LLMC_ERR_IO, LLMC_ERR_TIMEOUT};
    size_t i;
    (void)st;
    for (i = 0; i < sizeof(io) / sizeof(io[0]); i++) {
        assert_false(llmc_fo_retryable(io[i], 401, -1));
        assert_false(llmc_fo_retryable(io[i], 400, -1));
        assert_false(llmc_fo_retryable(io[i], 503, 0));
        assert_true(llmc_fo_retryable(io[i], 400, 1));
        assert_true(llmc_fo_retryable(io[i], 503, -1));
        assert_true(llmc_fo_retryable(io[i], 429, -1));
        assert_true(llmc_fo_retryable(io[i], 200, -1));
        assert_true(llmc_fo_retryable(io[i], 0, -1));
    }
}

/* The IAM token request's failures are reported as auth errors, with the
 * token endpoint's HTTP status: a 5xx, 408, 409 or 429 there is retryable
 * as anywhere else (DESIGN 3); refused credentials, a token answer that is
 * not one, or x-should-retry: false are not. */
static void test_auth_error_retryable_by_its_http_status(void **st)
{
    (void)st;
    assert_true(llmc_fo_retryable(LLMC_ERR_AUTH, 503, -1));
    assert_true(llmc_fo_retryable(LLMC_ERR_AUTH, 500, -1));
    assert_true(llmc_fo_retryable(LLMC_ERR_AUTH, 429, -1));
    assert_true(llmc_fo_retryable(LLMC_ERR_AUTH, 408, -1));
    assert_true(llmc_fo_retryable(LLMC_ERR_AUTH, 400, 1));
    assert_false(llmc_fo_retryable(LLMC_ERR_AUTH, 503, 0));
    assert_false(llmc_fo_retryable(LLMC_ERR_AUTH, 401, -1));
    assert_false(llmc_fo_retryable(LLMC_ERR_AUTH, 403, -1));
    assert_false(llmc_fo_retryable(LLMC_ERR_AUTH, 200, -1));
    /* an error object under 200 is never retryable by its status */
    assert_false(llmc_fo_retryable(LLMC_ERR_API, 503, -1));
}

/* ---- decide ----------------------------------------------------------- */

static void start_request(const llmc_provider_t *p, size_t n, uint64_t t0)
{
    client_with(p, n);
    assert_int_equal(plan(t0, NULL, 0), (int)n);
    S->t_start = t0;
}

static void test_decide_retry_backoff_within_jitter_bounds(void **st)
{
    uint32_t seed;
    uint64_t lo_seen = UINT64_MAX, hi_seen = 0;
    (void)st;
    for (seed = 1; seed <= 200; seed++) {
        uint8_t n;
        start_request(k_three, NP3, 1000);
        C->rng = seed * 2654435761u;
        C->policy.max_retries = 8;
        C->policy.backoff_base_ms = 500;
        C->policy.backoff_max_ms = 6000;
        C->policy.deadline_ms = 1000000;
        for (n = 0; n < 8; n++) {
            uint64_t d = 500ull << n, now = 2000 + n * 10000ull, w;
            if (d > 6000)
                d = 6000;
            assert_int_equal(decide(LLMC_ERR_CONNECT, 0, -1,
                                            -1, now),
                             LLMC_FO_RETRY);
            w = WAKE - now;
            if (w * 4 < d * 3 || w > d)
                fail_msg("retry %u: wait %llu outside [%llu, %llu]", n,
                         (unsigned long long)w,
                         (unsigned long long)(d * 3 / 4),
                         (unsigned long long)d);
            if (n == 0) {
                if (w < lo_seen)
                    lo_seen = w;
                if (w > hi_seen)
                    hi_seen = w;
            }
            assert_int_equal(S->pos, 0);
        }
    }
    /* jitter spreads the waits across the range */
    assert_true(lo_seen < 400);
    assert_true(hi_seen > 475);
}

#if LLMC_MAX_PROVIDERS >= 3
static void test_decide_exhausted_retries_move_on(void **st)
{
    (void)st;
    start_request(k_three, 3, 0);
    C->policy.max_retries = 2;
    assert_int_equal(decide(LLMC_ERR_TIMEOUT, 0, -1, -1, 100),
                     LLMC_FO_RETRY);
    assert_int_equal(decide(LLMC_ERR_HTTP, 503, -1, -1, 200),
                     LLMC_FO_RETRY);
    assert_int_equal(decide(LLMC_ERR_HTTP, 503, -1, -1, 300),
                     LLMC_FO_NEXT);
    assert_int_equal(S->pos, 1);
    assert_int_equal(S->tries, 0);
    assert_int_equal(WAKE, 300);
    /* the next provider gets its own retries */
    assert_int_equal(decide(LLMC_ERR_IO, 0, -1, -1, 400),
                     LLMC_FO_RETRY);
    assert_int_equal(S->pos, 1);
}
#endif

#if LLMC_MAX_PROVIDERS >= 3
static void test_decide_zero_max_retries_moves_on_at_once(void **st)
{
    (void)st;
    start_request(k_three, 3, 0);
    C->policy.max_retries = 0;
    assert_int_equal(decide(LLMC_ERR_CONNECT, 0, -1, -1, 10),
                     LLMC_FO_NEXT);
    assert_int_equal(S->pos, 1);
}
#endif

#if LLMC_MAX_PROVIDERS >= 3
static void test_decide_non_retryable_moves_on(void **st)
{
    static const struct {
        int status;
        uint16_t http;
        int8_t sr;
    } cases[] = {
        {LLMC_ERR_HTTP, 400, -1}, {LLMC_ERR_HTTP, 401, -1},
        {LLMC_ERR_HTTP, 403, -1}, {LLMC_ERR_HTTP, 404, -1},
        {LLMC_ERR_HTTP, 422, -1}, {LLMC_ERR_PROTOCOL, 0, -1},
        {LLMC_ERR_TLS_VERIFY, 0, -1}, {LLMC_ERR_EMPTY, 0, -1},
        {LLMC_ERR_HTTP, 503, 0},
    };
    size_t i;
    (void)st;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        start_request(k_three, 3, 0);
        assert_int_equal(decide(cases[i].status, cases[i].http,
                                        cases[i].sr, 2000, 100),
                         LLMC_FO_NEXT);
        assert_int_equal(S->pos, 1);
        assert_int_equal(WAKE, 100);
    }
}
#endif

static void test_decide_should_retry_true_retries_a_400(void **st)
{
    (void)st;
    start_request(k_three, NP3, 0);
    assert_int_equal(decide(LLMC_ERR_HTTP, 400, 1, -1, 100),
                     LLMC_FO_RETRY);
    assert_int_equal(S->pos, 0);
}

static void test_decide_last_provider_stops(void **st)
{
    int i;
    (void)st;
    start_request(k_three, NP3, 0);
    C->policy.max_retries = 0;
    for (i = 1; i < NP3; i++)
        assert_int_equal(decide(LLMC_ERR_HTTP, 401, -1, -1, (uint64_t)i),
                         LLMC_FO_NEXT);
    assert_int_equal(decide(LLMC_ERR_HTTP, 401, -1, -1, NP3), LLMC_FO_STOP);
}

static void test_decide_retry_after_honoured_up_to_60s(void **st)
{
    (void)st;
    start_request(k_three, NP3, 0);
    assert_int_equal(decide(LLMC_ERR_HTTP, 429, -1, 3000, 1000),
                     LLMC_FO_RETRY);
    /* one ms more than asked: the clock may have been read up to 1 ms
     * after its tick, and the server's wait is a minimum */
    assert_int_equal(WAKE, 4001);
    assert_int_equal(decide(LLMC_ERR_HTTP, 503, -1, 60000,
                                    5000),
                     LLMC_FO_RETRY);
    assert_int_equal(WAKE, 65001);
    assert_int_equal(S->pos, 0);
}

#if LLMC_MAX_PROVIDERS >= 3
static void test_decide_retry_after_over_60s_moves_on(void **st)
{
    (void)st;
    start_request(k_three, 3, 0);
    C->policy.deadline_ms = 10000000;
    assert_int_equal(decide(LLMC_ERR_HTTP, 429, -1, 60001,
                                    1000),
                     LLMC_FO_NEXT);
    assert_int_equal(S->pos, 1);
    assert_int_equal(decide(LLMC_ERR_HTTP, 429, -1, 86400000,
                                    2000),
                     LLMC_FO_NEXT);
    assert_int_equal(S->pos, 2);
}
#endif

#if LLMC_MAX_PROVIDERS >= 3
static void test_decide_retry_after_beyond_deadline_moves_on(void **st)
{
    (void)st;
    start_request(k_three, 3, 1000);
    C->policy.deadline_ms = 10000; /* deadline at 11000 */
    assert_int_equal(decide(LLMC_ERR_HTTP, 503, -1, 5000, 8000),
                     LLMC_FO_NEXT);
    assert_int_equal(S->pos, 1);
    /* within the deadline it is honoured */
    assert_int_equal(decide(LLMC_ERR_HTTP, 503, -1, 2000, 8000),
                     LLMC_FO_RETRY);
    assert_int_equal(WAKE, 10001);
}
#endif

static void test_decide_retry_after_zero_or_absent_uses_backoff(void **st)
{
    (void)st;
    start_request(k_three, NP3, 0);
    C->policy.backoff_base_ms = 400;
    C->policy.backoff_max_ms = 400;
    assert_int_equal(decide(LLMC_ERR_HTTP, 429, -1, 0, 1000),
                     LLMC_FO_RETRY);
    assert_true(WAKE >= 1300 && WAKE <= 1400);
    assert_int_equal(decide(LLMC_ERR_HTTP, 429, -1, -1, 2000),
                     LLMC_FO_RETRY);
    assert_true(WAKE >= 2300 && WAKE <= 2400);
}

static void test_decide_retry_after_ignored_for_non_retryable(void **st)
{
    (void)st;
    start_request(k_three, NP3, 0);
    /* not retried: on to the next provider, or the end with only one */
    assert_int_equal(decide(LLMC_ERR_HTTP, 400, -1, 1000, 10),
                     NP3 > 1 ? LLMC_FO_NEXT : LLMC_FO_STOP);
}

/* single_provider_retry with max_retries n: the tries made on the first
 * provider before the policy stops (each one fails to connect). */
static int single_provider_tries(uint8_t n)
{
    int tries = 1, d;
    uint64_t now = 0;
    client_with(k_three, NP3);
    C->policy.single_provider_retry = true;
    C->policy.max_retries = n;
    C->policy.backoff_base_ms = 1;
    C->policy.backoff_max_ms = 1;
    assert_int_equal(plan(0, NULL, 0), 1);
    S->t_start = 0;
    while ((d = decide(LLMC_ERR_CONNECT, 0, -1, -1, now)) ==
           LLMC_FO_RETRY) {
        assert_int_equal(S->pos, 0);
        now = WAKE;
        if (++tries > 1000)
            fail_msg("still retrying after %d tries", tries);
    }
    assert_int_equal(d, LLMC_FO_STOP);
    return tries;
}

static void test_single_provider_retry_tries_one_provider_1_plus_n(void **st)
{
    (void)st;
    assert_int_equal(single_provider_tries(3), 1 + 3);
}

/* max_retries is a count of 0..255 (the config takes 255 for anything
 * larger): at 255 the provider is still tried 1 + 255 times, not forever
 * (the per-provider try count must not wrap). */
static void test_max_retries_255_is_a_bound(void **st)
{
    int tries, d;
    uint64_t now = WAKE;
    (void)st;
    assert_int_equal(single_provider_tries(255), 1 + 255);
#if LLMC_MAX_PROVIDERS >= 3 /* moves on to the second of three */
    /* in failover mode too: 256 tries, then the next provider */
    start_request(k_three, 3, 0);
    C->policy.max_retries = 255;
    for (tries = 1; (d = decide(LLMC_ERR_HTTP, 503, -1, -1, now)) ==
                    LLMC_FO_RETRY;
         tries++)
        if (tries > 1000)
            fail_msg("still retrying after %d tries", tries);
    assert_int_equal(d, LLMC_FO_NEXT);
    assert_int_equal(tries, 256);
    assert_int_equal(S->pos, 1);
#else
    (void)tries;
    (void)d;
    (void)now;
#endif
}

static void test_failover_walks_every_provider_then_stops(void **st)
{
    int attempts[3] = {0}, d = LLMC_FO_NEXT, total = 0, i;
    uint64_t now = 0;
    (void)st;
    start_request(k_three, NP3, 0);
    C->policy.max_retries = 1;
    while (d != LLMC_FO_STOP) {
        attempts[S->order[S->pos]]++;
        total++;
        d = decide(LLMC_ERR_HTTP, 500, -1, -1, now);
        now = WAKE;
        assert_true(total < 100);
    }
    for (i = 0; i < NP3; i++)
        assert_int_equal(attempts[i], 2);
}

#if LLMC_MAX_PROVIDERS >= 3
/* The slot's times are the clock's low 32 bits: a request that runs while
 * they wrap keeps its deadline and its retry times. */
static void test_decide_across_32_bit_wrap(void **st)
{
    const uint64_t t0 = 0xFFFFF000u; /* 4096 ms before the low bits wrap */
    (void)st;
    start_request(k_three, 3, t0);
    C->policy.deadline_ms = 10000; /* at t0 + 10000, past the wrap */
    /* 6144 ms into the request, 3856 left: 5000 is past the deadline */
    assert_int_equal(decide(LLMC_ERR_HTTP, 503, -1, 5000, t0 + 6144),
                     LLMC_FO_NEXT);
    assert_int_equal(S->pos, 1);
    assert_int_equal(WAKE, (uint32_t)(t0 + 6144));
    assert_int_equal(decide(LLMC_ERR_HTTP, 503, -1, 3000, t0 + 6144),
                     LLMC_FO_RETRY);
    assert_int_equal(WAKE, (uint32_t)(t0 + 9145));
    assert_int_equal(S->pos, 1);
    /* backoff across the wrap: base 500, no more than that */
    C->policy.backoff_max_ms = 500;
    assert_int_equal(decide(LLMC_ERR_CONNECT, 0, -1, -1, t0 + 4000),
                     LLMC_FO_RETRY);
    assert_true(S->timer_ms >= 375 && S->timer_ms <= 500);
    assert_int_equal(S->t_timer, (uint32_t)(t0 + 4000));
}
#endif

static void test_left_is_exact_across_wrap(void **st)
{
    (void)st;
    assert_int_equal(llmc_left(0xFFFFFF00u, 0xFFFFFF00u, 1000), 1000);
    assert_int_equal(llmc_left(0x00000100u, 0xFFFFFF00u, 1000), 488);
    assert_int_equal(llmc_left(0x000002E8u, 0xFFFFFF00u, 1000), 0);
    assert_int_equal(llmc_left(0x000002E7u, 0xFFFFFF00u, 1000), 1);
    assert_int_equal(llmc_left(0x00001000u, 0xFFFFFF00u, 1000), 0);
    /* any length up to 2^32 - 1 ms */
    assert_int_equal(llmc_left(5, 0, UINT32_MAX), UINT32_MAX - 5);
    assert_int_equal(llmc_left(0, 1, UINT32_MAX), 0);
}

/* ---- record / cooldown ------------------------------------------------ */

#if LLMC_MAX_PROVIDERS >= 3
static void test_cooldown_after_n_failures_in_a_row(void **st)
{
    (void)st;
    client_with(k_three, 3);
    C->policy.cooldown_after = 3;
    C->policy.cooldown_ms = 30000;
    record(1, false, 1000);
    record(1, false, 1100);
    assert_int_equal(C->prov[1].cool_until, 0);
    assert_int_equal(plan(1200, NULL, 0), 3);
    record(1, false, 1200);
    assert_int_equal(C->prov[1].cool_until, 31200);
    assert_int_equal(plan(1300, NULL, 0), 2);
    assert_int_equal(S->order[0], 0);
    assert_int_equal(S->order[1], 2);
    assert_int_equal(plan(31200, NULL, 0), 3);
}
#endif

#if LLMC_MAX_PROVIDERS >= 2
/* A request waits to retry a; meanwhile other requests' failures put a
 * into cooldown: when the wait is over, the request moves on to b rather
 * than retry a. A wait for a provider that is not cooling, or for the last
 * one, retries it. */
static void test_provider_that_cools_during_the_wait_is_not_retried(void **st)
{
    (void)st;
    start_request(k_three, NP3, 1000);
    C->policy.cooldown_after = 2;
    record(0, false, 1000);
    assert_int_equal(decide(LLMC_ERR_HTTP, 503, -1, -1, 1000), LLMC_FO_RETRY);
    llmc_fo_wait_over(C, S); /* a is not cooling: the retry stands */
    assert_int_equal(S->pos, 0);
    assert_int_equal(S->tries, 1);
    record(0, false, 1100); /* another request's failure: a cools */
    S->token_retry = S->token_fresh = true;
    C->now = WAKE;
    llmc_fo_wait_over(C, S);
    assert_int_equal(S->pos, 1);
    assert_int_equal(S->tries, 0);
    assert_false(S->token_retry || S->token_fresh); /* a's, not b's */
    /* the last provider is retried even while it cools */
    S->pos = (uint8_t)(S->n_order - 1);
    S->tries = 1;
    C->prov[S->order[S->pos]].cool_until = UINT64_MAX;
    llmc_fo_wait_over(C, S);
    assert_int_equal(S->pos, S->n_order - 1);
    assert_int_equal(S->tries, 1);
}
#endif

/* A 4xx that refuses the request itself (400, 413, 422...) says nothing
 * of the provider's health: it neither counts towards its cooldown nor
 * breaks a run of failures. 401, 403, 404, 408 and 429, transport
 * failures, and any refusal by an IAM token endpoint count. */
static void test_cooldown_counts_failures_of_the_provider_not_of_the_request(
    void **st)
{
    static const uint16_t not_counted[] = {400, 402, 405, 409, 410, 413,
                                           422, 431, 451, 499};
    static const uint16_t counted[] = {401, 403, 404, 408, 429, 500, 503};
    size_t i;
    (void)st;
    client_with(k_three, NP3);
    C->policy.cooldown_after = 2;
    C->now = 1000;
    for (i = 0; i < sizeof(not_counted) / sizeof(not_counted[0]); i++) {
        S->http.status = not_counted[i];
        llmc_fo_failed(C, S);
        if (C->prov[0].fails != 0)
            fail_msg("HTTP %u counted", not_counted[i]);
    }
    for (i = 0; i < sizeof(counted) / sizeof(counted[0]); i++) {
        C->prov[0].fails = 0;
        S->http.status = counted[i];
        llmc_fo_failed(C, S);
        if (C->prov[0].fails != 1)
            fail_msg("HTTP %u not counted", counted[i]);
    }
    /* a run of failures goes on across a 400 */
    S->http.status = 400;
    llmc_fo_failed(C, S);
    S->http.status = 0;
    llmc_fo_failed(C, S);
    assert_int_equal(C->prov[0].fails, 2);
    assert_int_equal(C->prov[0].cool_until, 1000 + 30000);
    /* the token endpoint refused the credentials: the provider is unusable */
    C->prov[0].fails = 0;
    S->fetching_token = true;
    S->http.status = 400;
    llmc_fo_failed(C, S);
    assert_int_equal(C->prov[0].fails, 1);
}

static void test_cooldown_reset_on_success(void **st)
{
    (void)st;
    client_with(k_three, NP3);
    C->policy.cooldown_after = 3;
    C->policy.cooldown_ms = 30000;
    record(0, false, 1000);
    record(0, false, 1000);
    record(0, true, 1000);
    assert_int_equal(C->prov[0].fails, 0);
    record(0, false, 1000);
    record(0, false, 1000);
    assert_int_equal(C->prov[0].cool_until, 0);
    /* a cooling provider that then succeeds is available at once */
    record(0, false, 1000);
    assert_true(C->prov[0].cool_until > 1000);
    record(0, true, 2000);
    assert_int_equal(C->prov[0].cool_until, 0);
    assert_int_equal(plan(2000, NULL, 0), NP3);
}

static void test_cooldown_disabled_when_after_is_zero(void **st)
{
    int i;
    (void)st;
    client_with(k_three, NP3);
    C->policy.cooldown_after = 0;
    for (i = 0; i < 50; i++)
        record(NP3 - 1, false, 1000);
    assert_int_equal(C->prov[NP3 - 1].cool_until, 0);
    assert_int_equal(plan(1001, NULL, 0), NP3);
}

static void test_failure_count_saturates_and_keeps_cooling(void **st)
{
    int i;
    (void)st;
    client_with(k_three, NP3);
    C->policy.cooldown_after = 2;
    C->policy.cooldown_ms = 100;
    for (i = 0; i < 300; i++)
        record(0, false, (uint64_t)i);
    assert_int_equal(C->prov[0].fails, UINT8_MAX);
    assert_int_equal(C->prov[0].cool_until, 299 + 100);
}

#if LLMC_MAX_PROVIDERS >= 3
/* Cooldown is checked at every decision, not only when the order is
 * planned: a provider that began cooling while the request ran (other
 * requests' failures count too) is neither retried nor tried later while
 * another provider remains. */
static void test_provider_cooling_mid_request_is_not_retried(void **st)
{
    (void)st;
    start_request(k_three, 3, 0);
    C->policy.max_retries = 2;
    C->policy.cooldown_after = 1;
    C->policy.cooldown_ms = 30000;
    record(0, false, 100); /* a's failure starts its cooldown */
    assert_int_equal(decide(LLMC_ERR_HTTP, 503, -1, -1, 100), LLMC_FO_NEXT);
    assert_int_equal(S->pos, 1);
    assert_int_equal(S->tries, 0);
}
#endif

#if LLMC_MAX_PROVIDERS >= 3
static void test_providers_cooling_mid_request_are_skipped(void **st)
{
    (void)st;
    start_request(k_three, 3, 0);
    C->policy.cooldown_after = 1;
    C->policy.cooldown_ms = 30000;
    record(1, false, 50); /* b cools because of another request */
    assert_int_equal(decide(LLMC_ERR_HTTP, 400, -1, -1, 100), LLMC_FO_NEXT);
    assert_int_equal(S->pos, 2);
    assert_int_equal(S->order[S->pos], 2);
}
#endif

#if LLMC_MAX_PROVIDERS >= 3
static void test_last_provider_is_tried_and_retried_even_if_cooling(void **st)
{
    (void)st;
    start_request(k_three, 3, 0);
    C->policy.max_retries = 1;
    C->policy.cooldown_after = 1;
    C->policy.cooldown_ms = 30000;
    record(1, false, 50);
    record(2, false, 50);
    /* b and c both cooling: b is skipped, c is the last and is tried */
    assert_int_equal(decide(LLMC_ERR_HTTP, 400, -1, -1, 100), LLMC_FO_NEXT);
    assert_int_equal(S->pos, 2);
    /* and retried, as a request with one provider left would be */
    record(2, false, 200);
    assert_int_equal(decide(LLMC_ERR_HTTP, 503, -1, -1, 200),
                     LLMC_FO_RETRY);
    assert_int_equal(S->pos, 2);
}
#endif

static void test_single_provider_retry_keeps_retrying_a_cooling_one(void **st)
{
    (void)st;
    client_with(k_three, NP3);
    C->policy.single_provider_retry = true;
    C->policy.max_retries = 2;
    C->policy.cooldown_after = 1;
    C->policy.cooldown_ms = 30000;
    assert_int_equal(plan(0, NULL, 0), 1);
    record(0, false, 100);
    assert_int_equal(decide(LLMC_ERR_HTTP, 503, -1, -1, 100),
                     LLMC_FO_RETRY);
    record(0, false, 200);
    assert_int_equal(decide(LLMC_ERR_HTTP, 503, -1, -1, 200),
                     LLMC_FO_RETRY);
    assert_int_equal(decide(LLMC_ERR_HTTP, 503, -1, -1, 300),
                     LLMC_FO_STOP);
}

/* The policy llmc_client_init() puts in force for a given one. */
static llmc_policy_t in_force(const llmc_policy_t *given)
{
    static const llmc_provider_t prov = {.name = "p",
                                         .base_url = "http://127.0.0.1/v1"};
    llmc_config_t cfg;
    llmc_policy_t p;
    memset(&cfg, 0, sizeof(cfg));
    cfg.providers = &prov;
    cfg.n_providers = 1;
    cfg.policy = *given;
    assert_int_equal(llmc_client_init(C, &cfg), LLMC_OK);
    p = C->policy;
    llmc_client_shutdown(C);
    return p;
}

static void assert_timeouts_are(const llmc_policy_t *p, uint32_t connect,
                                uint32_t first_byte, uint32_t idle,
                                uint32_t deadline)
{
    assert_int_equal(p->connect_timeout_ms, connect);
    assert_int_equal(p->first_byte_timeout_ms, first_byte);
    assert_int_equal(p->idle_timeout_ms, idle);
    assert_int_equal(p->deadline_ms, deadline);
}

static void test_zeroed_policy_is_the_default(void **st)
{
    llmc_policy_t given, d, p;
    (void)st;
    memset(&given, 0, sizeof(given));
    llmc_policy_default(&d);
    p = in_force(&given);
    assert_int_equal(p.shuffle, d.shuffle);
    assert_int_equal(p.single_provider_retry, d.single_provider_retry);
    assert_int_equal(p.max_retries, d.max_retries);
    assert_int_equal(p.backoff_base_ms, d.backoff_base_ms);
    assert_int_equal(p.backoff_max_ms, d.backoff_max_ms);
    assert_int_equal(p.cooldown_after, d.cooldown_after);
    assert_int_equal(p.cooldown_ms, d.cooldown_ms);
    assert_timeouts_are(&p, d.connect_timeout_ms, d.first_byte_timeout_ms,
                        d.idle_timeout_ms, d.deadline_ms);
}

static void test_policy_fields_given_are_kept_zero_timeouts_default(void **st)
{
    llmc_policy_t given, d, p;
    (void)st;
    llmc_policy_default(&d);
    /* shuffle alone on a zeroed policy: every other field as given (no
     * retries, no backoff, no cooldown), the timeouts the default's */
    memset(&given, 0, sizeof(given));
    given.shuffle = true;
    p = in_force(&given);
    assert_true(p.shuffle);
    assert_int_equal(p.max_retries, 0);
    assert_int_equal(p.backoff_base_ms, 0);
    assert_int_equal(p.cooldown_after, 0);
    assert_timeouts_are(&p, d.connect_timeout_ms, d.first_byte_timeout_ms,
                        d.idle_timeout_ms, d.deadline_ms);
    /* a deadline alone: kept, with the other timeouts the default's */
    memset(&given, 0, sizeof(given));
    given.deadline_ms = 1234;
    p = in_force(&given);
    assert_int_equal(p.max_retries, 0);
    assert_timeouts_are(&p, d.connect_timeout_ms, d.first_byte_timeout_ms,
                        d.idle_timeout_ms, 1234);
    /* the default with a deadline of 0: 0 would end every request */
    given = d;
    given.deadline_ms = 0;
    given.idle_timeout_ms = 77;
    p = in_force(&given);
    assert_timeouts_are(&p, d.connect_timeout_ms, d.first_byte_timeout_ms, 77,
                        d.deadline_ms);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
#if LLMC_MAX_PROVIDERS >= 3
        T(test_plan_keeps_listed_order),
#endif
#if LLMC_MAX_PROVIDERS >= 5
        T(test_plan_excludes_disabled_ignored_and_cooling),
#endif
#if LLMC_MAX_PROVIDERS >= 3
        T(test_plan_cooldown_expires_at_its_time),
#endif
#if LLMC_MAX_PROVIDERS >= 4
        T(test_plan_no_provider_message_counts_each),
#endif
        T(test_plan_with_no_providers_says_none_configured),
#if LLMC_MAX_PROVIDERS >= 4
        T(test_plan_all_cooling_tries_the_one_that_cools_first),
#endif
#if LLMC_MAX_PROVIDERS >= 3
        T(test_plan_cooling_ignored_provider_never_chosen),
#endif
#if LLMC_MAX_PROVIDERS >= 8
        T(test_plan_shuffle_gives_a_permutation),
#endif
#if LLMC_MAX_PROVIDERS >= 5
        T(test_plan_shuffle_only_among_eligible),
#endif
#if LLMC_MAX_PROVIDERS >= 3
        T(test_plan_single_provider_retry_uses_first_eligible),
#endif
#if LLMC_MAX_PROVIDERS >= 2
        T(test_plan_provider_without_name_cannot_be_ignored),
#endif
        T(test_retryable_network_errors_and_timeouts),
        T(test_retryable_http_statuses),
        T(test_not_retryable_malformed_verify_empty),
        T(test_x_should_retry_overrides_status),
        T(test_cooldown_counts_failures_of_the_provider_not_of_the_request),
#if LLMC_MAX_PROVIDERS >= 2
        T(test_provider_that_cools_during_the_wait_is_not_retried),
#endif
    T(test_failure_after_an_error_head_decided_by_the_head),
        T(test_auth_error_retryable_by_its_http_status),
        T(test_decide_retry_backoff_within_jitter_bounds),
#if LLMC_MAX_PROVIDERS >= 3
        T(test_decide_exhausted_retries_move_on),
#endif
#if LLMC_MAX_PROVIDERS >= 3
        T(test_decide_zero_max_retries_moves_on_at_once),
#endif
#if LLMC_MAX_PROVIDERS >= 3
        T(test_decide_non_retryable_moves_on),
#endif
        T(test_decide_should_retry_true_retries_a_400),
        T(test_decide_last_provider_stops),
        T(test_decide_retry_after_honoured_up_to_60s),
#if LLMC_MAX_PROVIDERS >= 3
        T(test_decide_across_32_bit_wrap),
#endif
        T(test_left_is_exact_across_wrap),
#if LLMC_MAX_PROVIDERS >= 3
        T(test_decide_retry_after_over_60s_moves_on),
#endif
#if LLMC_MAX_PROVIDERS >= 3
        T(test_decide_retry_after_beyond_deadline_moves_on),
#endif
        T(test_decide_retry_after_zero_or_absent_uses_backoff),
        T(test_decide_retry_after_ignored_for_non_retryable),
        T(test_single_provider_retry_tries_one_provider_1_plus_n),
        T(test_max_retries_255_is_a_bound),
        T(test_failover_walks_every_provider_then_stops),
#if LLMC_MAX_PROVIDERS >= 3
        T(test_cooldown_after_n_failures_in_a_row),
#endif
#if LLMC_MAX_PROVIDERS >= 3
        T(test_provider_cooling_mid_request_is_not_retried),
#endif
#if LLMC_MAX_PROVIDERS >= 3
        T(test_providers_cooling_mid_request_are_skipped),
#endif
#if LLMC_MAX_PROVIDERS >= 3
        T(test_last_provider_is_tried_and_retried_even_if_cooling),
#endif
        T(test_single_provider_retry_keeps_retrying_a_cooling_one),
        T(test_cooldown_reset_on_success),
        T(test_cooldown_disabled_when_after_is_zero),
        T(test_failure_count_saturates_and_keeps_cooling),
        T(test_zeroed_policy_is_the_default),
        T(test_policy_fields_given_are_kept_zero_timeouts_default),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
