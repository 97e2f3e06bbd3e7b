/* Unit tests of the connection table (src/llmc_conn.c): which connection a
 * request gets, and that a connection that cannot be opened stays free.
 * Sockets, connects and TLS are tested against real servers in
 * tests/integration and tests/lwip; here the table is set up by hand with
 * no socket behind it. */
#include "split.h"

#include "llmc/llmc.h"
#include "llmc_internal.h"
#include "llmc_url.h"

static llmc_client_t *C;

static int setup(void **st)
{
    int i;
    (void)st;
    C = calloc(1, sizeof(*C));
    assert_non_null(C);
    for (i = 0; i < LLMC_CONNS; i++)
        C->conns[i].sock = LLMC_SOCK_INVALID;
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    free(C);
    C = NULL;
    return 0;
}

static void conn_is(int i, uint8_t state, uint8_t target, uint32_t last_used)
{
    C->conns[i].state = state;
    C->conns[i].target = target;
    C->conns[i].last_used = last_used;
}

/* An https URL on a client without TLS is refused before a connection is
 * taken: the table is as it was. */
static void test_https_without_tls_refused_and_connection_stays_free(void **st)
{
    llmc_target_t t;
    llmc_buf_t msg;
    char m[96];
    (void)st;
    memset(&t, 0, sizeof(t));
    assert_int_equal(llmc_url_parse("https://api.example.com/v1", &t.url),
                     LLMC_OK);
    llmc_buf_init(&msg, m, sizeof(m));
    assert_int_equal(llmc_conn_open(C, 0, 0, &t, &msg), LLMC_ERR_CONFIG);
    assert_string_equal(m, "https needs TLS, which this client lacks");
    assert_int_equal(C->conns[0].state, CONN_FREE);
    assert_int_equal(llmc_conn_alloc(C), 0);
}

/* A free connection first; when none is free, the idle one used longest
 * ago is closed and handed out (ages compared by difference, so across
 * the 32-bit clock's wrap too); busy ones never. */
static void test_alloc_takes_free_then_evicts_least_recently_used(void **st)
{
    int i;
    (void)st;
    for (i = 0; i < LLMC_CONNS; i++)
        conn_is(i, CONN_BUSY, 0, 0);
    assert_int_equal(llmc_conn_alloc(C), -1);
    conn_is(LLMC_CONNS - 1, CONN_FREE, 0, 0);
    assert_int_equal(llmc_conn_alloc(C), LLMC_CONNS - 1);
    conn_is(LLMC_CONNS - 1, CONN_BUSY, 0, 0);
#if LLMC_CONNS >= 2
    /* idle at 0xFFFFFFF0 (older) and at 5 (after the wrap) */
    conn_is(0, CONN_IDLE, 1, 5);
    conn_is(1, CONN_IDLE, 2, 0xFFFFFFF0u);
    assert_int_equal(llmc_conn_alloc(C), 1);
    assert_int_equal(C->conns[1].state, CONN_FREE);
    assert_int_equal(C->conns[0].state, CONN_IDLE);
#else
    /* one connection (the Kconfig minimum): idle, it is closed and
     * handed out */
    conn_is(0, CONN_IDLE, 1, 5);
    assert_int_equal(llmc_conn_alloc(C), 0);
    assert_int_equal(C->conns[0].state, CONN_FREE);
#endif
}

/* Reuse takes an idle connection to the same target, the most recently
 * used one. */
static void test_find_idle_takes_newest_for_the_target(void **st)
{
    int i;
    (void)st;
    for (i = 0; i < LLMC_CONNS; i++)
        conn_is(i, CONN_BUSY, 3, 100);
    assert_int_equal(llmc_conn_find_idle(C, 3), -1);
#if LLMC_CONNS >= 3
    conn_is(0, CONN_IDLE, 3, 0xFFFFFFF0u);
    conn_is(1, CONN_IDLE, 4, 50);
    conn_is(2, CONN_IDLE, 3, 7); /* newer than 0xFFFFFFF0 across the wrap */
    assert_int_equal(llmc_conn_find_idle(C, 3), 2);
    assert_int_equal(llmc_conn_find_idle(C, 4), 1);
    assert_int_equal(llmc_conn_find_idle(C, 5), -1);
#else
    /* fewer connections than the three above (one at the Kconfig
     * minimum): an idle one is found for its own target only */
    conn_is(0, CONN_IDLE, 3, 0xFFFFFFF0u);
    assert_int_equal(llmc_conn_find_idle(C, 3), 0);
    assert_int_equal(llmc_conn_find_idle(C, 4), -1);
#endif
}

/* A connection that finished connecting through an address list that
 * was since resolved again, to fewer addresses, left the target's
 * starting address past the new list's end: the next connection must
 * start at the list's head, not find no address to try. Needs a socket
 * to connect to (none on the emulated MCUs, whose port has no network). */
static void test_open_starts_at_the_head_when_first_is_past_the_list(
    void **st)
{
    llmc_target_t t;
    llmc_buf_t msg;
    llmc_sock_t lis = LLMC_SOCK_INVALID;
    char m[96];
    int rc;
    (void)st;
    memset(&t, 0, sizeof(t));
    assert_int_equal(llmc_url_parse("http://127.0.0.1/v1", &t.url), LLMC_OK);
    if (llmc_port_resolve("127.0.0.1", 0, &t.addr[0], 1) != 1 ||
        llmc_port_listen(&t.addr[0], 1, &lis) != LLMC_PORT_OK)
        skip();
    t.n_addr = 1;
    t.first = 2; /* set by a connection through the older, longer list */
    llmc_buf_init(&msg, m, sizeof(m));
    rc = llmc_conn_open(C, 0, 0, &t, &msg);
    llmc_port_close(lis);
    assert_true(rc >= 0); /* connected or connecting to addr[0] */
    assert_int_equal(C->conns[0].addr_i, 0);
    assert_int_equal(t.n_addr, 1); /* not given up and resolved again */
    llmc_conn_close(C, 0, false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_https_without_tls_refused_and_connection_stays_free, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_alloc_takes_free_then_evicts_least_recently_used, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_find_idle_takes_newest_for_the_target, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_open_starts_at_the_head_when_first_is_past_the_list, setup,
            teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
