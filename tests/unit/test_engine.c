/*
 * The whole engine (src/, plain http) as fuzz_client drives it, as a unit
 * test: so that it also runs where no fuzzer does, on the emulated MCUs
 * (32-bit size_t and pointers, the MCU default knobs, three compilers, and
 * an Xtensa core that traps on misaligned access), and at the smallest
 * knobs Kconfig allows. The fake network, the requests and every check on
 * callbacks and results are tests/fuzz/fuzz_client.c's and fuzz_engine.h's,
 * included here; a failed check fails the test with the check's text and
 * the input's name.
 *
 * Inputs: fuzz_client's seed corpus (tests/fuzz/corpus/client, embedded by
 * scripts/embed-corpus.py), each with the outcome its name promises where
 * it promises one, then the same seeds mutated the way a fuzzer would
 * mutate them, from a fixed random seed so that every run replays the same
 * inputs.
 */
#define _GNU_SOURCE /* memmem, for fuzz_client.c */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static const char *g_input = "?";
#define FUZZ_ASSERT(c)                                                     \
    do {                                                                   \
        if (!(c))                                                          \
            fail_msg("engine check failed: %s (input %s)", #c, g_input);   \
    } while (0)

#include "../fuzz/fuzz_client.c"

#include "engine_corpus.h"

#define N_CORPUS (sizeof(k_corpus) / sizeof(k_corpus[0]))

#ifndef ENGINE_MUTATIONS
#define ENGINE_MUTATIONS 10000
#endif

/* Run one input; returns request 0's status (1: no request ran). */
static int run(const char *name, const uint8_t *data, size_t len)
{
    g_input = name;
    memset(g_reqs, 0, sizeof(g_reqs));
    g_n_reqs = 0;
    LLVMFuzzerTestOneInput(data, len);
    return g_n_reqs > 0 && g_reqs[0].done == 1 ? g_reqs[0].status : 1;
}

static void test_every_seed_runs_to_its_end(void **st)
{
    size_t i;
    (void)st;
    assert_true(N_CORPUS >= 10);
    for (i = 0; i < N_CORPUS; i++)
        run(k_corpus[i].name, k_corpus[i].data, k_corpus[i].len);
}

#if LLMC_MAX_PROVIDERS >= 3 && LLMC_MAX_ATTEMPTS >= 3 && \
    LLMC_EVENT_BUF_SIZE >= 1024
static const uint8_t *seed(const char *name, size_t *len)
{
    size_t i;
    for (i = 0; i < N_CORPUS; i++)
        if (strcmp(k_corpus[i].name, name) == 0) {
            *len = k_corpus[i].len;
            return k_corpus[i].data;
        }
    fail_msg("no seed %s", name);
    return NULL;
}

/* Seeds whose name says how request 0 ends: its status, whether a
 * failover came first (attempts), and whether content had reached the
 * caller before a failure (partial). Not at the smallest knobs, where a
 * client of 1 provider refuses most seeds' settings. */
static void test_seeds_end_as_named(void **st)
{
    static const struct {
        const char *name;
        int status, min_attempts, partial;
    } named[] = {
        {"stream-ok", LLMC_OK, 1, 0},
        {"stream-small-reads", LLMC_OK, 1, 0},
        {"chunked", LLMC_OK, 1, 0},
        {"length-json", LLMC_OK, 1, 0},
        {"keepalive-two", LLMC_OK, 1, 0},
        {"stall-then-ok", LLMC_OK, 2, 0},
        {"retry-503", LLMC_OK, 2, 0},
        {"connect-fail", LLMC_OK, 2, 0},
        {"failover-429", LLMC_OK, 2, 0},
        {"error-event", LLMC_OK, 2, 0},
        {"cancel-in-delta", LLMC_ERR_CANCELLED, 1, 1},
        {"cancel-in-split-pair", LLMC_ERR_CANCELLED, 1, 1},
        {"partial-cut", LLMC_ERR_IO, 1, 1},
    };
    size_t i, len;
    (void)st;
    for (i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
        const uint8_t *d = seed(named[i].name, &len);
        int status = run(named[i].name, d, len);
        const req_t *r = &g_reqs[0];
        if (status != named[i].status)
            fail_msg("%s: request 0 ended with %d (%s), want %d (%s)",
                     named[i].name, status, llmc_strerror(status),
                     named[i].status, llmc_strerror(named[i].status));
        if (r->attempts < named[i].min_attempts)
            fail_msg("%s: %d attempts, want %d or more", named[i].name,
                     r->attempts, named[i].min_attempts);
        /* content delivered before the end (on_done checks that partial
         * says the same) */
        if ((status != LLMC_OK && r->bytes > 0) != named[i].partial)
            fail_msg("%s: %d bytes delivered before %s", named[i].name,
                     r->bytes, llmc_strerror(status));
    }
}

#endif

/* ---- scenarios written here ------------------------------------------- *
 * The same fake network and clock, with a client and requests of the
 * test's own: providers p0 and p1 (plain http, no auth), the policy given,
 * and the connections' scripts in the order the engine opens them. */

#if LLMC_MAX_PROVIDERS >= 2
typedef struct {
    int first_provider; /* of its first attempt; -1: none */
    int attempts, done, status;
    uint16_t http_status;
} scen_req_t;

static void scen_attempt(void *u, int provider, const char *name)
{
    scen_req_t *r = u;
    (void)name;
    if (r->attempts++ == 0)
        r->first_provider = provider;
}

static void scen_done(void *u, const llmc_result_t *res)
{
    scen_req_t *r = u;
    r->done++;
    r->status = res->status;
    r->http_status = res->http_status;
}

static void scen_init(const llmc_policy_t *policy, const char *scripts,
                      size_t len)
{
    static llmc_provider_t prov[2];
    llmc_config_t cfg;
    memset(prov, 0, sizeof(prov));
    prov[0].name = "p0";
    prov[1].name = "p1";
    prov[0].base_url = prov[1].base_url = "http://a.test/v1";
    memset(&cfg, 0, sizeof(cfg));
    cfg.providers = prov;
    cfg.n_providers = 2;
    cfg.policy = *policy;
    g_input = "scenario";
    g_scripts = (const uint8_t *)scripts;
    g_scripts_len = len;
    g_n_socks = 0;
    g_now = 1000;
    g_answer_at = 0;
    assert_int_equal(llmc_client_init(&g_client, &cfg), LLMC_OK);
}

/* Submit one request and poll until it has ended. */
static void scen_run(scen_req_t *r)
{
    static const llmc_message_t msg = {"user", "hi", 0};
    static const llmc_callbacks_t cb = {NULL, scen_attempt, scen_done};
    static llmc_request_t req;
    int polls = 0;
    llmc_request_init(&req);
    req.model = "m";
    req.messages = &msg;
    req.n_messages = 1;
    memset(r, 0, sizeof(*r));
    r->first_provider = -1;
    assert_true(llmc_submit(&g_client, &req, &cb, r) > 0);
    while (llmc_poll(&g_client, 1000) > 0)
        assert_true(++polls < 1000);
    assert_int_equal(r->done, 1);
}

/* The sockets are all closed once the client is shut down. */
static void scen_end(void)
{
    int i;
    llmc_client_shutdown(&g_client);
    for (i = 0; i < g_n_socks; i++)
        assert_false(g_socks[i].open);
}

/* A 400 refuses the request, not the provider: its head decides, whatever
 * becomes of its body (README, "Failover and retry" 7), also when the
 * request's deadline ends the wait for that body. With cooldown after one
 * failure, the next request still goes to p0 first. */
static void test_deadline_in_a_refusals_body_does_not_cool(void **st)
{
    static const char scripts[] =
        /* raw, then the body's end never comes */
        "\x0c\xff"
        "HTTP/1.1 400 Bad Request\r\n"
        "Content-Type: application/json\r\nContent-Length: 60\r\n\r\n"
        "{\"error\":" SEP
        /* an SSE head, then the answer and a close */
        "\x01\xff"
        "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"},"
        "\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
    llmc_policy_t p;
    scen_req_t r;
    (void)st;
    llmc_policy_default(&p);
    p.max_retries = 0;
    p.cooldown_after = 1;
    p.cooldown_ms = 60000;
    p.connect_timeout_ms = 5000;
    p.first_byte_timeout_ms = 30000;
    p.idle_timeout_ms = 30000;
    p.deadline_ms = 1000; /* before the idle timeout */
    scen_init(&p, scripts, sizeof(scripts) - 1);
    scen_run(&r);
    assert_int_equal(r.status, LLMC_ERR_TIMEOUT);
    assert_int_equal(r.http_status, 400);
    assert_int_equal(r.first_provider, 0);
    scen_run(&r);
    assert_int_equal(r.status, LLMC_OK);
    assert_int_equal(r.first_provider, 0); /* p0 is not cooling down */
    assert_int_equal(r.attempts, 1);
    scen_end();
}

/* first_byte_timeout_ms runs from the request sent to the first response
 * byte (README, "Failover and retry" 8). Here that byte comes 100 ms after
 * the request, well within its 500 ms, but the application is busy for
 * 2 s before it polls again: the answer waiting on the socket is read
 * before the timeout is called over, and the request is answered by its
 * one attempt (not failed over to p1 as if p0 had not answered). */
static void test_answer_that_came_while_nobody_polled_is_read(void **st)
{
    static const char scripts[] =
        "\x01\xff"
        "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"},"
        "\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
    static const llmc_message_t msg = {"user", "hi", 0};
    static const llmc_callbacks_t cb = {NULL, scen_attempt, scen_done};
    llmc_request_t req;
    llmc_policy_t p;
    scen_req_t r;
    int polls = 0;
    (void)st;
    llmc_policy_default(&p);
    p.max_retries = 0;
    p.cooldown_after = 0;
    p.connect_timeout_ms = 5000;
    p.first_byte_timeout_ms = 500;
    p.idle_timeout_ms = 30000;
    p.deadline_ms = 60000;
    scen_init(&p, scripts, sizeof(scripts) - 1);
    llmc_request_init(&req);
    req.model = "m";
    req.messages = &msg;
    req.n_messages = 1;
    memset(&r, 0, sizeof(r));
    g_answer_at = g_now + 100;
    assert_true(llmc_submit(&g_client, &req, &cb, &r) > 0);
    /* the request goes out; its answer is not there yet */
    assert_int_equal(llmc_poll(&g_client, 0), 1);
    assert_int_equal(r.attempts, 1);
    g_now += 2000; /* the application's own work */
    while (llmc_poll(&g_client, 1000) > 0)
        assert_true(++polls < 1000);
    g_answer_at = 0;
    assert_int_equal(r.done, 1);
    assert_int_equal(r.status, LLMC_OK);
    assert_int_equal(r.attempts, 1);
    scen_end();
}
#endif

static uint32_t g_rng_state = 0x2545F491u;

static uint32_t rnd(uint32_t n)
{
    g_rng_state ^= g_rng_state << 13;
    g_rng_state ^= g_rng_state >> 17;
    g_rng_state ^= g_rng_state << 5;
    return n ? g_rng_state % n : 0;
}

/* One of a fuzzer's mutations of buf[0..*len), within cap. */
static void mutate(uint8_t *buf, size_t *len, size_t cap)
{
    size_t n = *len, at = rnd((uint32_t)n + 1), k;
    const uint8_t *other;
    switch (rnd(6)) {
    case 0: /* a byte anywhere */
        if (n > 0)
            buf[rnd((uint32_t)n)] = (uint8_t)rnd(256);
        break;
    case 1: /* a settings byte */
        if (n >= 8)
            buf[rnd(8)] = (uint8_t)rnd(256);
        break;
    case 2: /* one more connection script boundary */
        if (n + SEP_LEN <= cap) {
            memmove(buf + at + SEP_LEN, buf + at, n - at);
            memcpy(buf + at, SEP, SEP_LEN);
            *len = n + SEP_LEN;
        }
        break;
    case 3: /* a cut */
        k = rnd((uint32_t)(n - at) + 1);
        memmove(buf + at, buf + at + k, n - at - k);
        *len = n - k;
        break;
    case 4: /* the end goes */
        *len = at;
        break;
    default: /* a piece of another seed spliced in */
        k = rnd((uint32_t)N_CORPUS);
        other = k_corpus[k].data;
        k = rnd((uint32_t)k_corpus[k].len + 1) / 2;
        if (n + k <= cap) {
            memmove(buf + at + k, buf + at, n - at);
            memcpy(buf + at, other, k);
            *len = n + k;
        }
        break;
    }
}

static void test_mutated_seeds(void **st)
{
    static uint8_t buf[4096];
    static char name[64];
    unsigned i, ok = 0, failed = 0;
    (void)st;
    for (i = 0; i < ENGINE_MUTATIONS; i++) {
        size_t s = rnd((uint32_t)N_CORPUS), len = k_corpus[s].len, m;
        int status;
        if (len > sizeof(buf))
            len = sizeof(buf);
        memcpy(buf, k_corpus[s].data, len);
        for (m = rnd(4) + 1; m > 0; m--)
            mutate(buf, &len, sizeof(buf));
        snprintf(name, sizeof(name), "%s, mutation %u", k_corpus[s].name, i);
        status = run(name, buf, len);
        ok += status == LLMC_OK;
        failed += status < 0;
    }
    printf("engine: %u mutated inputs: request 0 succeeded in %u, failed "
           "in %u\n", (unsigned)ENGINE_MUTATIONS, ok, failed);
    fflush(stdout);
    /* the mutations keep reaching both ends of a request (at the smallest
     * knobs, only settings of 1 provider make a client) */
    assert_true(ok > ENGINE_MUTATIONS / 50);
    assert_true(failed > ENGINE_MUTATIONS / 50);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_seed_runs_to_its_end),
#if LLMC_MAX_PROVIDERS >= 3 && LLMC_MAX_ATTEMPTS >= 3 && \
    LLMC_EVENT_BUF_SIZE >= 1024
        cmocka_unit_test(test_seeds_end_as_named),
#endif
        cmocka_unit_test(test_mutated_seeds),
#if LLMC_MAX_PROVIDERS >= 2
        cmocka_unit_test(test_deadline_in_a_refusals_body_does_not_cool),
        cmocka_unit_test(test_answer_that_came_while_nobody_polled_is_read),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
