/* Unit tests of the public API in use: callbacks that submit again, the
 * queue, handles across a restart, with requests that end without network
 * (on the host's POSIX port and on the MCUs' stub port alike). */
#include "split.h"

#include "llmc/llmc.h"
#include "llmc/llmc_port.h"
#include "llmc_internal.h"

static llmc_client_t *C;
static llmc_config_t Cfg;

static const llmc_message_t k_hi = {.role = "user", .content = "hi"};

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

static void hi_request(llmc_request_t *req)
{
    llmc_request_init(req);
    req->model = "m";
    req->messages = &k_hi;
    req->n_messages = 1;
}

static int g_done;

#if LLMC_QUEUE_LEN >= 2 /* requests that wait for the slot */
static void count_done(void *u, const llmc_result_t *r)
{
    (void)u;
    (void)r;
    g_done++;
}

/* A provider whose every attempt fails at once, before any socket: an API
 * key with a line break is refused by the writer (LLMC_ERR_HEADER). */
static const llmc_provider_t k_bad_key = {
    .name = "bad", .base_url = "http://127.0.0.1:9/v1",
    .auth = LLMC_AUTH_BEARER, .api_key = "sk-\nbad"};

/* Requests that fail over through every provider, each failing at once
 * (a board with no network fails its name lookups the same way), one
 * slot: a request takes a round of the engine's timer pass per provider.
 * A poll that has requests it can start at once must not sleep for its
 * timeout (60 s; the port's clock says how long the polls took: the MCU
 * stub's poll moves it on by the time it was asked to wait). */
#define N_QUEUED (LLMC_QUEUE_LEN < 13 ? LLMC_QUEUE_LEN : 13)
/* Cfg: as many providers as the client holds, each failing at once, one
 * request at a time, no retries, no cooldown. */
static void all_failing(void)
{
    static llmc_provider_t p[LLMC_MAX_PROVIDERS];
    static const char *const names[] = {"a", "b", "c", "d", "e", "f", "g",
                                        "h", "i", "j", "k", "l", "m", "n",
                                        "o", "p"};
    int i;
    for (i = 0; i < LLMC_MAX_PROVIDERS; i++) {
        p[i] = k_bad_key;
        p[i].name = names[i % 16];
    }
    Cfg.providers = p;
    Cfg.n_providers = LLMC_MAX_PROVIDERS;
    Cfg.max_inflight = 1;
    llmc_policy_default(&Cfg.policy);
    Cfg.policy.max_retries = 0;
    Cfg.policy.cooldown_after = 0;
}

static void test_poll_does_not_sleep_with_a_startable_queue(void **st)
{
    llmc_request_t req;
    llmc_callbacks_t cb = {NULL, NULL, count_done};
    uint64_t t0;
    int i, n, polls;
    (void)st;
    all_failing();
    assert_int_equal(llmc_client_init(C, &Cfg), LLMC_OK);
    hi_request(&req);
    g_done = 0;
    for (i = 0; i < N_QUEUED; i++)
        assert_true(llmc_submit(C, &req, &cb, NULL) > 0);
    t0 = llmc_port_now_ms();
    for (polls = 0; (n = llmc_poll(C, 60000)) > 0 && polls < 10 &&
                    llmc_port_now_ms() - t0 < 30000;
         polls++)
        ;
    t0 = llmc_port_now_ms() - t0;
    printf("%d polls: %d pending, %d done, %lu ms\n", polls + 1, n, g_done,
           (unsigned long)t0);
    assert_int_equal(g_done, N_QUEUED);
    assert_true(t0 < 30000); /* no poll slept its 60 s */
}
#endif

#if LLMC_QUEUE_LEN >= 2
/* A poll whose timer pass ends the last request returns then, with 0: its
 * on_done has run, and there is nothing left to wait for. n requests fail
 * over through every provider, each at once, one slot: for some n the last
 * of them ends in the timer pass of a poll that the submits' wake no
 * longer shortens. No poll may wait its 3 s (the port's clock says how
 * long each took). */
static void test_poll_that_ends_the_last_request_does_not_wait(void **st)
{
    llmc_request_t req;
    llmc_callbacks_t cb = {NULL, NULL, count_done};
    uint64_t t0, longest = 0;
    int i, n, rc;
    (void)st;
    all_failing();
    hi_request(&req);
    for (n = 1; n <= LLMC_QUEUE_LEN && n <= 40; n++) {
        assert_int_equal(llmc_client_init(C, &Cfg), LLMC_OK);
        g_done = 0;
        for (i = 0; i < n; i++)
            assert_true(llmc_submit(C, &req, &cb, NULL) > 0);
        do {
            t0 = llmc_port_now_ms();
            rc = llmc_poll(C, 3000);
            t0 = llmc_port_now_ms() - t0;
            if (t0 > longest)
                longest = t0;
            if (t0 >= 1500)
                fail_msg("%d requests: a poll waited %lu ms, %d pending", n,
                         (unsigned long)t0, rc);
        } while (rc > 0);
        assert_int_equal(g_done, n);
        llmc_client_shutdown(C);
    }
    printf("longest poll: %lu ms\n", (unsigned long)longest);
}
#endif

static int g_last_status;
static void note_done(void *u, const llmc_result_t *r)
{
    (void)u;
    g_last_status = r->status;
}

/* A program keeps the handle of its last request (a "cancel" button) and
 * restarts the client (shutdown, init on the same storage). The request
 * of that handle has ended (its on_done ran): cancelling it must not end
 * the restarted client's new request. */
static void test_handle_of_before_a_restart_cancels_nothing(void **st)
{
    static const llmc_provider_t off = {.name = "off",
                                        .base_url = "http://127.0.0.1:9/v1",
                                        .disabled = true};
    llmc_request_t req;
    llmc_callbacks_t cb = {NULL, NULL, note_done};
    llmc_handle_t old, h;
    (void)st;
    Cfg.providers = &off;
    Cfg.n_providers = 1;
    hi_request(&req);
    assert_int_equal(llmc_client_init(C, &Cfg), LLMC_OK);
    old = llmc_submit(C, &req, &cb, NULL);
    assert_true(old > 0);
    llmc_client_shutdown(C);
    assert_int_equal(g_last_status, LLMC_ERR_CANCELLED);
    assert_int_equal(llmc_cancel(C, old), LLMC_ERR_ARG); /* it has ended */

    assert_int_equal(llmc_client_init(C, &Cfg), LLMC_OK);
    h = llmc_submit(C, &req, &cb, NULL);
    assert_true(h > 0);
    assert_int_equal(llmc_cancel(C, old), LLMC_ERR_ARG);
    while (llmc_poll(C, 0) > 0)
        ;
    /* the new request ran: no provider is working */
    assert_int_equal(g_last_status, LLMC_ERR_NO_PROVIDER);
}

static llmc_request_t g_again_req;
static int g_again;
/* on_done of a program that tries again after a failure, a bounded
 * number of times here */
static void again_done(void *u, const llmc_result_t *r)
{
    static const llmc_callbacks_t cb = {NULL, NULL, again_done};
    (void)u;
    g_done++;
    if (r->status != LLMC_OK && g_again-- > 0)
        assert_true(llmc_submit(C, &g_again_req, &cb, NULL) > 0);
}

/* A request that no provider can take ends in the poll that starts it,
 * and its on_done submits it again: each poll must still return, as it
 * does for requests that fail in their attempts, so that the program
 * gets control between them. */
static void test_poll_returns_when_on_done_resubmits(void **st)
{
    static const llmc_provider_t off = {.name = "off",
                                        .base_url = "http://127.0.0.1:9/v1",
                                        .disabled = true};
    llmc_callbacks_t cb = {NULL, NULL, again_done};
    (void)st;
    Cfg.providers = &off;
    Cfg.n_providers = 1;
    hi_request(&g_again_req);
    assert_int_equal(llmc_client_init(C, &Cfg), LLMC_OK);
    g_done = 0;
    g_again = 100000;
    assert_true(llmc_submit(C, &g_again_req, &cb, NULL) > 0);
    assert_true(llmc_poll(C, 0) > 0);
    printf("first poll: %d on_done calls\n", g_done);
    assert_true(g_done <= 64 * (LLMC_QUEUE_LEN + LLMC_SLOTS) * 2);
    g_again = 0;
    while (llmc_poll(C, 0) > 0)
        ;
}

static llmc_result_t g_inner;
static int g_inner_rc;
static void chat_in_done(void *u, const llmc_result_t *r)
{
    (void)r;
    memset(&g_inner, 0x5A, sizeof(g_inner));
    g_inner_rc = llmc_chat(C, (const llmc_request_t *)u, NULL, NULL, &g_inner);
}

/* llmc_chat() whose request is refused at submit (a bad argument, a
 * full queue, a client shut down) still fills *result: a program that
 * reads or formats it after any llmc_chat() must not meet garbage. */
static void test_chat_refused_at_submit_fills_result(void **st)
{
    static const llmc_provider_t off = {.name = "off",
                                        .base_url = "http://127.0.0.1:9/v1",
                                        .disabled = true};
    llmc_request_t req, bad;
    llmc_result_t r;
    int i;
    (void)st;
    Cfg.providers = &off;
    Cfg.n_providers = 1;
    Cfg.max_inflight = 1;
    hi_request(&req);
    bad = req;
    bad.n_messages = 0;
    assert_int_equal(llmc_client_init(C, &Cfg), LLMC_OK);
    memset(&r, 0x5A, sizeof(r));
    assert_int_equal(llmc_chat(C, &bad, NULL, NULL, &r), LLMC_ERR_ARG);
    assert_int_equal(r.status, LLMC_ERR_ARG);
    assert_int_equal(r.provider, -1);
    assert_int_equal(r.n_attempts, 0);
    assert_int_equal(r.message[0], '\0');
    for (i = 0; i < LLMC_QUEUE_LEN + LLMC_SLOTS + 1; i++)
        if (llmc_submit(C, &req, NULL, NULL) < 0)
            break;
    memset(&r, 0x5A, sizeof(r));
    assert_int_equal(llmc_chat(C, &req, NULL, NULL, &r), LLMC_ERR_QUEUE_FULL);
    assert_int_equal(r.status, LLMC_ERR_QUEUE_FULL);
    assert_int_equal(r.n_attempts, 0);
    while (llmc_poll(C, 0) > 0) /* they end: no provider */
        ;
    {   /* from a callback: on_done calls llmc_chat() */
        llmc_callbacks_t cb = {NULL, NULL, chat_in_done};
        assert_true(llmc_submit(C, &req, &cb, &req) > 0);
        while (llmc_poll(C, 0) > 0)
            ;
        assert_int_equal(g_inner_rc, LLMC_ERR_STATE);
        assert_int_equal(g_inner.status, LLMC_ERR_STATE);
        assert_int_equal(g_inner.provider, -1);
    }
    llmc_client_shutdown(C);
    memset(&r, 0x5A, sizeof(r));
    assert_int_equal(llmc_chat(C, &req, NULL, NULL, &r), LLMC_ERR_STATE);
    assert_int_equal(r.status, LLMC_ERR_STATE);
    assert_int_equal(r.provider, -1);
}

/* A request's extra_json that is not one JSON object is refused at
 * submit, before anything is sent. */
static void test_submit_refuses_extra_json_not_an_object(void **st)
{
    static const llmc_provider_t off = {.name = "off",
                                        .base_url = "http://127.0.0.1:9/v1",
                                        .disabled = true};
    static const char *const bad[] = {"", "[1]", "{\"a\"}", "{\"a\":1}}",
                                      "{\"a\":tru}"};
    llmc_request_t req;
    size_t i;
    (void)st;
    Cfg.providers = &off;
    Cfg.n_providers = 1;
    assert_int_equal(llmc_client_init(C, &Cfg), LLMC_OK);
    hi_request(&req);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        req.extra_json = bad[i];
        assert_int_equal(llmc_submit(C, &req, NULL, NULL), LLMC_ERR_ARG);
    }
    req.extra_json = "{\"seed\":7}";
    assert_true(llmc_submit(C, &req, NULL, NULL) > 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
#if LLMC_QUEUE_LEN >= 2
        T(test_poll_does_not_sleep_with_a_startable_queue),
#endif
#if LLMC_QUEUE_LEN >= 2
        T(test_poll_that_ends_the_last_request_does_not_wait),
#endif
        T(test_handle_of_before_a_restart_cancels_nothing),
        T(test_poll_returns_when_on_done_resubmits),
        T(test_chat_refused_at_submit_fills_result),
        T(test_submit_refuses_extra_json_not_an_object),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
