/* Unit tests of the string helpers (src/llmc_util.c) and the socket error
 * texts (llmc_port_errstr in src/llmc_conn.c). */
#include "split.h"

#include "llmc/llmc.h"
#include "llmc_internal.h"
#include "llmc_util.h"

/* Numbers are size_t: 32 bits on the MCUs, 64 on hosts. */
#if SIZE_MAX > 0xFFFFFFFFu
#define SIZE_MAX_DEC "18446744073709551615"
#else
#define SIZE_MAX_DEC "4294967295"
#endif

static void dec_is(size_t v, const char *want)
{
    char d[20];
    size_t n = llmc_uint_to_dec(v, d);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(d, want, n);
}

static void test_uint_to_dec_edges(void **st)
{
    (void)st;
    dec_is(0, "0");
    dec_is(9, "9");
    dec_is(10, "10");
    dec_is(65535, "65535");
    dec_is(65536, "65536");
    dec_is(655359, "655359");
    dec_is(UINT32_MAX, "4294967295");
#if SIZE_MAX > 0xFFFFFFFFu
    dec_is((size_t)UINT32_MAX + 1, "4294967296");
    dec_is((size_t)42949672950ull, "42949672950");
    dec_is((size_t)10000000000000000000ull, "10000000000000000000");
#endif
    dec_is(SIZE_MAX, SIZE_MAX_DEC);
}

static void test_uint_to_dec_every_power_of_ten_and_neighbours(void **st)
{
    uint64_t p = 1;
    int k;
    (void)st;
    for (k = 0; k < 20 && p <= SIZE_MAX; k++, p *= 10) {
        char want[24];
        /* p - 1 is k nines, p is 1 and k zeros */
        memset(want, '9', (size_t)k);
        want[k] = '\0';
        if (k > 0)
            dec_is((size_t)(p - 1), want);
        want[0] = '1';
        memset(want + 1, '0', (size_t)k);
        want[k + 1] = '\0';
        dec_is((size_t)p, want);
    }
    assert_true(k >= 10);
}

static void test_buf_numbers(void **st)
{
    char m[32];
    llmc_buf_t b;
    (void)st;
    llmc_buf_init(&b, m, sizeof(m));
    llmc_buf_uint(&b, SIZE_MAX);
    llmc_buf_str(&b, " ");
    llmc_buf_uint(&b, 1);
    assert_string_equal(m, SIZE_MAX_DEC " 1");
    llmc_buf_init(&b, m, sizeof(m));
    llmc_buf_uint(&b, 0);
    llmc_buf_str(&b, NULL);
    llmc_buf_uint(&b, 2147483647);
    assert_string_equal(m, "02147483647");
    assert_int_equal(b.need, 11);
}

static void test_buf_text_controls_become_spaces_and_cut(void **st)
{
    char m[8];
    llmc_buf_t b;
    (void)st;
    llmc_buf_init(&b, m, sizeof(m));
    llmc_buf_text(&b, "a\r\nb\x7f\x1f", 6);
    assert_string_equal(m, "a  b  ");
    assert_int_equal(b.need, 6);
    llmc_buf_text(&b, "xyz", 3);
    assert_string_equal(m, "a  b  x");
    assert_int_equal(b.len, 7);
    assert_int_equal(b.need, 9);
    llmc_buf_init(&b, m, 1);
    llmc_buf_text(&b, "abc", 3);
    assert_string_equal(m, "");
    assert_int_equal(b.need, 3);
}

/* A text cut short by its buffer is cut between UTF-8 characters, never
 * inside one: the bytes of a character that does not fit whole are left
 * out. */
static void test_buf_cut_between_utf8_characters(void **st)
{
    static const struct {
        const char *in;
        const char *out; /* in a 6-byte buffer: 5 bytes of room */
    } cases[] = {
        {"abcd\xc3\xa9", "abcd"},                     /* e-acute, 2 bytes */
        {"abc\xc3\xa9z", "abc\xc3\xa9"},              /* fits exactly */
        {"ab\xe2\x82\xac\xe2\x82\xac", "ab\xe2\x82\xac"}, /* euro, 3 bytes */
        {"a\xf0\x9f\x98\x80" "b", "a\xf0\x9f\x98\x80"}, /* 4 bytes fit */
        {"ab\xf0\x9f\x98\x80", "ab"},                 /* 3 of 4 would */
        /* not UTF-8: a cut before a continuation byte still goes back
         * (at most 3 bytes, a character's most) */
        {"\x80\x80\x80\x80\x80\x80", "\x80\x80"},
        {"abcde\x80", "abcd"},
        {"abcdef", "abcde"},
    };
    size_t i;
    (void)st;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char m[6];
        llmc_buf_t b;
        llmc_buf_init(&b, m, sizeof(m));
        llmc_buf_str(&b, cases[i].in);
        assert_string_equal(m, cases[i].out);
        assert_int_equal(b.len, strlen(cases[i].out));
        assert_int_equal(b.need, strlen(cases[i].in));
    }
}

static void test_hexval_every_byte(void **st)
{
    int i;
    (void)st;
    for (i = 0; i < 256; i++) {
        char c = (char)i;
        int want = -1;
        if (i >= '0' && i <= '9')
            want = i - '0';
        else if (i >= 'a' && i <= 'f')
            want = i - 'a' + 10;
        else if (i >= 'A' && i <= 'F')
            want = i - 'A' + 10;
        if (llmc_hexval(c) != want)
            fail_msg("byte %d: %d, want %d", i, llmc_hexval(c), want);
    }
}

static void test_has_ctl(void **st)
{
    (void)st;
    assert_false(llmc_has_ctl("abc ~", 5));
    assert_true(llmc_has_ctl("ab\tc", 4));
    assert_true(llmc_has_ctl("ab\x7f", 3));
    assert_false(llmc_has_ctl("\x80\xff", 2));
    assert_false(llmc_has_ctl("a\n", 1));
}

static void test_port_errstr(void **st)
{
    (void)st;
    assert_string_equal(llmc_port_errstr(LLMC_PORT_EOF),
                        "connection closed by peer");
    assert_string_equal(llmc_port_errstr(LLMC_PORT_ERROR), "socket error");
    assert_string_equal(llmc_port_errstr(LLMC_PORT_REFUSED),
                        "connection refused");
    assert_string_equal(llmc_port_errstr(LLMC_PORT_RESET),
                        "connection reset by peer");
    assert_string_equal(llmc_port_errstr(LLMC_PORT_UNREACHABLE),
                        "network unreachable");
    assert_string_equal(llmc_port_errstr(LLMC_PORT_NOT_FOUND),
                        "host not found");
    assert_string_equal(llmc_port_errstr(LLMC_PORT_OK), "socket error");
    assert_string_equal(llmc_port_errstr(LLMC_PORT_WOULD_BLOCK),
                        "socket error");
    assert_string_equal(llmc_port_errstr(LLMC_PORT_NO_MEMORY),
                        "out of sockets or network buffers");
    assert_string_equal(llmc_port_errstr(-9), "socket error");
    assert_string_equal(llmc_port_errstr(1), "socket error");
    assert_string_equal(llmc_port_errstr(-2147483647 - 1), "socket error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uint_to_dec_edges),
        cmocka_unit_test(test_uint_to_dec_every_power_of_ten_and_neighbours),
        cmocka_unit_test(test_buf_numbers),
        cmocka_unit_test(test_buf_text_controls_become_spaces_and_cut),
        cmocka_unit_test(test_buf_cut_between_utf8_characters),
        cmocka_unit_test(test_hexval_every_byte),
        cmocka_unit_test(test_has_ctl),
        cmocka_unit_test(test_port_errstr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
