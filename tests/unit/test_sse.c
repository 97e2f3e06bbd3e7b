/* Unit tests of the SSE framer (src/llmc_sse.c). Every input goes through
 * split_check: whole, split at every byte, byte by byte. */
#include "split.h"

#include "llmc/llmc.h"
#include "llmc_sse.h"

typedef struct {
    size_t cap;       /* event buffer size for the run */
    int stop_code;    /* returned by the callback for the event "stop" */
    /* outputs of the last run */
    int rc;
    size_t n_events;
    tbuf_t events; /* "[data]" per event */
} sse_run_t;

static int event_cb(void *ctx, char *data, size_t len)
{
    sse_run_t *r = (sse_run_t *)ctx;
    r->n_events++;
    tb_str(&r->events, "[");
    tb_bytes(&r->events, data, len);
    tb_str(&r->events, "]");
    if (r->stop_code != 0 && len == 4 && memcmp(data, "stop", 4) == 0)
        return r->stop_code;
    return 0;
}

static void sse_runner(void *ctx, const seg_t *segs, size_t nseg, tbuf_t *out)
{
    sse_run_t *r = (sse_run_t *)ctx;
    llmc_sse_t s;
    char *buf = malloc(r->cap > 0 ? r->cap : 1); /* exact: ASan checks */
    size_t i;

    assert_non_null(buf);
    llmc_sse_init(&s, buf, r->cap);
    tb_reset(&r->events);
    r->n_events = 0;
    r->rc = 0;
    for (i = 0; i < nseg && r->rc == 0; i++)
        r->rc = llmc_sse_feed(&s, segs[i].p, segs[i].n, event_cb, r);
    tb_printf(out, "rc=%d n=%zu ", r->rc, r->n_events);
    tb_put(out, tb_cstr(&r->events), r->events.len);
    free(buf);
}

/* Feed in with an event buffer of cap bytes; returns the feed's status and
 * leaves the events' transcript in *events (caller frees). */
static int feed_cap(const char *in, size_t cap, int stop_code,
                    tbuf_t *events)
{
    sse_run_t r = {0};
    tbuf_t whole;
    r.cap = cap;
    r.stop_code = stop_code;
    SPLIT_CHECK_STR(in, sse_runner, &r, &whole);
    tb_free(&whole);
    memset(events, 0, sizeof(*events));
    tb_put(events, tb_cstr(&r.events), r.events.len);
    tb_free(&r.events);
    return r.rc;
}

/* Events of in (buffer 256, no stop); the feed must succeed. */
static void expect_events(const char *in, const char *want)
{
    tbuf_t ev;
    int rc = feed_cap(in, 256, 0, &ev);
    assert_int_equal(rc, 0);
    assert_string_equal(tb_cstr(&ev), want);
    tb_free(&ev);
}

static void test_lf_line_ends_dispatch_events(void **st)
{
    (void)st;
    expect_events("data: a\n\ndata: b\n\n", "[a][b]");
}

static void test_crlf_line_ends_dispatch_events(void **st)
{
    (void)st;
    expect_events("data: a\r\n\r\ndata: b\r\n\r\n", "[a][b]");
}

static void test_cr_line_ends_dispatch_events(void **st)
{
    (void)st;
    expect_events("data: a\r\rdata: b\r\r", "[a][b]");
}

static void test_mixed_line_ends_in_one_stream(void **st)
{
    (void)st;
    expect_events("data: a\r\n\ndata: b\n\r\ndata: c\r\rdata: d\r\n\r",
                  "[a][b][c][d]");
}

static void test_crlf_split_between_feeds_makes_no_blank_line(void **st)
{
    /* CR ends one feed and its LF starts the next: still one line end, so
     * the two data lines form one event. */
    char buf[64];
    tbuf_t ev = {0};
    sse_run_t r = {0};
    llmc_sse_t s;
    (void)st;
    r.cap = sizeof(buf);
    llmc_sse_init(&s, buf, sizeof(buf));
    assert_int_equal(llmc_sse_feed(&s, "data: a\r", 8, event_cb, &r), 0);
    assert_int_equal(llmc_sse_feed(&s, "\ndata: b\r", 9, event_cb, &r), 0);
    assert_int_equal(llmc_sse_feed(&s, "\n", 1, event_cb, &r), 0);
    assert_int_equal(r.n_events, 0);
    assert_int_equal(llmc_sse_feed(&s, "\r", 1, event_cb, &r), 0);
    assert_int_equal(llmc_sse_feed(&s, "\n", 1, event_cb, &r), 0);
    assert_int_equal(r.n_events, 1);
    assert_string_equal(tb_cstr(&r.events), "[a\\x0ab]");
    tb_free(&r.events);
    /* and through the split checker */
    assert_int_equal(feed_cap("data: a\r\ndata: b\r\n\r\n", 64, 0, &ev), 0);
    assert_string_equal(tb_cstr(&ev), "[a\\x0ab]");
    tb_free(&ev);
}

static void test_two_crs_are_two_line_ends(void **st)
{
    (void)st;
    expect_events("data: a\r\rdata: b\r\n\n", "[a][b]");
}

static void test_comment_lines_ignored(void **st)
{
    (void)st;
    expect_events(": OPENROUTER PROCESSING\n\n: OPENROUTER PROCESSING\r\n\r\n"
                  "data: x\n\n:\n\n",
                  "[x]");
    expect_events("data: a\n: keep-alive\ndata: b\n\n", "[a\\x0ab]");
    expect_events(":data: not data\n\n", "");
}

static void test_multi_line_data_joined_with_newline(void **st)
{
    (void)st;
    expect_events("data: a\ndata: b\ndata: c\n\n", "[a\\x0ab\\x0ac]");
    expect_events("data: {\"x\":\ndata: 1}\r\n\r\n", "[{\"x\":\\x0a1}]");
}

static void test_data_without_space_after_colon(void **st)
{
    (void)st;
    expect_events("data:x\n\n", "[x]");
    expect_events("data:  x\n\n", "[ x]"); /* only one space is dropped */
    expect_events("data: \n\n", "[]");
    expect_events("data:\n\n", "[]");
}

static void test_data_line_without_colon_is_empty_data_line(void **st)
{
    (void)st;
    expect_events("data\n\n", "[]");
    expect_events("data\ndata\n\n", "[\\x0a]");
    expect_events("data: a\ndata\r\n\r\n", "[a\\x0a]");
    expect_events("data\rdata: b\r\r", "[\\x0ab]");
}

static void test_other_fields_ignored(void **st)
{
    (void)st;
    expect_events("event: message\nid: 5\nretry: 100\nfoo: bar\n"
                  "data: x\nevent\nid\n\n",
                  "[x]");
    expect_events("event: ping\n\n", "");
    expect_events("Data: x\n\ndataX: y\n\ndatadata: z\n\n data: w\n\n"
                  "dat: v\n\n",
                  "");
}

/* llama.cpp's server sends an error met while streaming as an "error"
 * field: its value is the event's data, wrapped as {"error":...} */
static void test_error_field_wrapped_as_an_error_object(void **st)
{
    tbuf_t ev;
    (void)st;
    expect_events("error: {\"message\":\"m\"}\n\ndata: [DONE]\n\n",
                  "[{\"error\":{\"message\":\"m\"}}][[DONE]]");
    expect_events("error\n\nerror:x\r\n\r\n", "[{\"error\":}][{\"error\":x}]");
    /* joined with another line, it is no JSON: the decoder fails it */
    expect_events("error: a\ndata: b\n\n", "[{\"error\":a\\x0ab}]");
    expect_events("data: a\nerror: b\n\n", "[a\\x0ab]");
    /* no other name is read as it: not WHATWG's "error" event type */
    expect_events("errors: x\n\nerr: x\n\nerror2: x\n\nError: x\n\n"
                  "event: error\n\neerror: x\n\n",
                  "");
    /* the wrapping counts towards the buffer: 9 + 1 + 1 bytes */
    assert_int_equal(feed_cap("error: x\n\n", 11, 0, &ev), 0);
    assert_string_equal(tb_cstr(&ev), "[{\"error\":x}]");
    tb_free(&ev);
    assert_int_equal(feed_cap("error: x\n\n", 10, 0, &ev),
                     LLMC_ERR_TOO_LARGE);
    tb_free(&ev);
}

static void test_blank_lines_without_data_dispatch_nothing(void **st)
{
    (void)st;
    expect_events("\n\n\r\n\r\r\n", "");
    expect_events("id: 1\n\n\n\ndata: a\n\n\n\n", "[a]");
}

static void test_incomplete_event_at_end_not_dispatched(void **st)
{
    (void)st;
    expect_events("data: a\n\ndata: b\n", "[a]");
    expect_events("data: a\n\ndata: b", "[a]");
    expect_events("data: a\n\ndata: b\r", "[a]");
    expect_events("data", "");
}

static void test_openai_stream_with_done(void **st)
{
    (void)st;
    expect_events(
        ": OPENROUTER PROCESSING\n\n"
        "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n"
        "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\\n\"}}]}\n\n"
        "data: [DONE]\n\n",
        "[{\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}]"
        "[{\"choices\":[{\"delta\":{\"content\":\"Hi\\\\n\"}}]}]"
        "[[DONE]]");
}

static void test_event_exactly_at_capacity_fits(void **st)
{
    tbuf_t ev;
    (void)st;
    assert_int_equal(feed_cap("data: 12345678\n\ndata: abcdefgh\n\n", 8, 0,
                              &ev),
                     0);
    assert_string_equal(tb_cstr(&ev), "[12345678][abcdefgh]");
    tb_free(&ev);
    /* the joining "\n" counts */
    assert_int_equal(feed_cap("data: 1234\ndata: 567\n\n", 8, 0, &ev), 0);
    assert_string_equal(tb_cstr(&ev), "[1234\\x0a567]");
    tb_free(&ev);
}

static void test_event_one_byte_over_capacity_too_large(void **st)
{
    tbuf_t ev;
    (void)st;
    assert_int_equal(feed_cap("data: 123456789\n\n", 8, 0, &ev),
                     LLMC_ERR_TOO_LARGE);
    assert_string_equal(tb_cstr(&ev), "");
    tb_free(&ev);
    assert_int_equal(feed_cap("data: 1234\ndata: 5678\n\n", 8, 0, &ev),
                     LLMC_ERR_TOO_LARGE);
    tb_free(&ev);
    assert_int_equal(feed_cap("data: ok\n\ndata: 12345678\ndata\n\n", 8, 0,
                              &ev),
                     LLMC_ERR_TOO_LARGE);
    assert_string_equal(tb_cstr(&ev), "[ok]");
    tb_free(&ev);
    /* even when the stream never ends the event */
    assert_int_equal(feed_cap("data: 123456789", 8, 0, &ev),
                     LLMC_ERR_TOO_LARGE);
    tb_free(&ev);
}

static void test_zero_capacity_buffer_only_takes_empty_events(void **st)
{
    tbuf_t ev;
    (void)st;
    assert_int_equal(feed_cap("data\n\ndata:\n\n", 0, 0, &ev), 0);
    assert_string_equal(tb_cstr(&ev), "[][]");
    tb_free(&ev);
    assert_int_equal(feed_cap("data: x\n\n", 0, 0, &ev), LLMC_ERR_TOO_LARGE);
    tb_free(&ev);
}

static void test_comments_and_other_fields_do_not_use_buffer(void **st)
{
    tbuf_t ev;
    (void)st;
    assert_int_equal(feed_cap(": a very long keep-alive comment line\n"
                              "event: a-very-long-event-name\n"
                              "id: 1234567890123456789\ndata: ok\n\n",
                              4, 0, &ev),
                     0);
    assert_string_equal(tb_cstr(&ev), "[ok]");
    tb_free(&ev);
}

static void test_callback_nonzero_return_propagated(void **st)
{
    tbuf_t ev;
    (void)st;
    assert_int_equal(feed_cap("data: a\n\ndata: stop\n\ndata: c\n\n", 64, 7,
                              &ev),
                     7);
    assert_string_equal(tb_cstr(&ev), "[a][stop]");
    tb_free(&ev);
    assert_int_equal(feed_cap("data: stop\r\rdata: c\r\r", 64,
                              LLMC_ERR_API, &ev),
                     LLMC_ERR_API);
    assert_string_equal(tb_cstr(&ev), "[stop]");
    tb_free(&ev);
}

static void test_empty_feed_is_a_no_op(void **st)
{
    char buf[16];
    llmc_sse_t s;
    sse_run_t r = {0};
    (void)st;
    llmc_sse_init(&s, buf, sizeof(buf));
    assert_int_equal(llmc_sse_feed(&s, "", 0, event_cb, &r), 0);
    assert_int_equal(llmc_sse_feed(&s, "data: a\n", 8, event_cb, &r), 0);
    assert_int_equal(llmc_sse_feed(&s, "", 0, event_cb, &r), 0);
    assert_int_equal(llmc_sse_feed(&s, "\n", 1, event_cb, &r), 0);
    assert_string_equal(tb_cstr(&r.events), "[a]");
    tb_free(&r.events);
}

static void test_utf8_and_binary_bytes_kept(void **st)
{
    (void)st;
    expect_events("data: \xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\x01\n\n",
                  "[\\xc3\\xa9\\xe4\\xb8\\xad\\xf0\\x9f\\x98\\x80\\x01]");
}

/* WHATWG: the stream is UTF-8 decoded, which strips one leading BOM; the
 * first event must not be lost (its content would silently vanish). */
static void test_leading_bom_stripped(void **st)
{
    (void)st;
    expect_events("\xef\xbb\xbf" "data: a\n\ndata: b\n\n", "[a][b]");
    expect_events("\xef\xbb\xbf" "\r\ndata: a\n\n", "[a]");
    /* only at the stream's start, and only one */
    expect_events("data: a\n\n\xef\xbb\xbf" "data: b\n\n", "[a]");
    expect_events("\xef\xbb\xbf\xef\xbb\xbf" "data: a\n\n", "");
    /* part of a BOM is not one: that line is not a data line */
    expect_events("\xef\xbb" "data: a\n\ndata: b\n\n", "[b]");
    expect_events("\xef\ndata: b\n\n", "[b]");
    expect_events("\xef\xbb\xbf", "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lf_line_ends_dispatch_events),
        cmocka_unit_test(test_crlf_line_ends_dispatch_events),
        cmocka_unit_test(test_cr_line_ends_dispatch_events),
        cmocka_unit_test(test_mixed_line_ends_in_one_stream),
        cmocka_unit_test(test_crlf_split_between_feeds_makes_no_blank_line),
        cmocka_unit_test(test_two_crs_are_two_line_ends),
        cmocka_unit_test(test_comment_lines_ignored),
        cmocka_unit_test(test_multi_line_data_joined_with_newline),
        cmocka_unit_test(test_data_without_space_after_colon),
        cmocka_unit_test(test_data_line_without_colon_is_empty_data_line),
        cmocka_unit_test(test_other_fields_ignored),
        cmocka_unit_test(test_error_field_wrapped_as_an_error_object),
        cmocka_unit_test(test_blank_lines_without_data_dispatch_nothing),
        cmocka_unit_test(test_incomplete_event_at_end_not_dispatched),
        cmocka_unit_test(test_openai_stream_with_done),
        cmocka_unit_test(test_event_exactly_at_capacity_fits),
        cmocka_unit_test(test_event_one_byte_over_capacity_too_large),
        cmocka_unit_test(test_zero_capacity_buffer_only_takes_empty_events),
        cmocka_unit_test(test_comments_and_other_fields_do_not_use_buffer),
        cmocka_unit_test(test_callback_nonzero_return_propagated),
        cmocka_unit_test(test_empty_feed_is_a_no_op),
        cmocka_unit_test(test_utf8_and_binary_bytes_kept),
        cmocka_unit_test(test_leading_bom_stripped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
