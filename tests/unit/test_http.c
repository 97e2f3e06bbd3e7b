/* Unit tests of the HTTP/1.1 response parser (src/llmc_http.c). Every input
 * goes through split_check: whole, split at every byte, byte by byte. */
#include "split.h"

#include "llmc/llmc.h"
#include "llmc_http.h"

/* ---- runner ----------------------------------------------------------- */

typedef struct {
    /* inputs */
    int stop_code; /* body callback returns it when it meets a '!' */
    bool eof_at_end; /* call llmc_http_eof when the input runs out */
    /* outputs of the last run */
    int head_rc;
    size_t head_end; /* offset of the first body byte */
    int body_rc;
    size_t body_end; /* offset after the last byte the body consumed */
    int eof_rc;
    bool reusable;
    llmc_http_t h;
    tbuf_t data; /* decoded body bytes */
    size_t calls;
} http_run_t;

static int body_cb(void *ctx, const char *p, size_t n)
{
    http_run_t *r = (http_run_t *)ctx;
    const char *bang = r->stop_code != 0 ? memchr(p, '!', n) : NULL;
    assert_true(n > 0); /* never called with nothing */
    r->calls++;
    if (bang != NULL) {
        tb_put(&r->data, p, (size_t)(bang - p));
        return r->stop_code;
    }
    tb_put(&r->data, p, n);
    return 0;
}

enum { PH_HEAD, PH_BODY, PH_DONE, PH_ERR };

static long long off_of(size_t off)
{
    return off == (size_t)-1 ? -1LL : (long long)off;
}

static void http_runner(void *ctx, const seg_t *segs, size_t nseg,
                        tbuf_t *out)
{
    http_run_t *r = (http_run_t *)ctx;
    llmc_http_t *h = &r->h;
    size_t i, abs = 0, used;
    int phase = PH_HEAD, rc;

    llmc_http_init(h);
    tb_reset(&r->data);
    r->head_rc = r->body_rc = 0;
    r->head_end = r->body_end = (size_t)-1;
    r->eof_rc = 0;
    r->calls = 0;
    for (i = 0; i < nseg && (phase == PH_HEAD || phase == PH_BODY); i++) {
        const char *p = segs[i].p;
        size_t n = segs[i].n;
        if (phase == PH_HEAD) {
            used = (size_t)-1;
            rc = llmc_http_head(h, p, n, &used);
            r->head_rc = rc;
            if (rc < 0) {
                phase = PH_ERR;
                break;
            }
            assert_true(used <= n);
            if (rc == 0) {
                assert_int_equal(used, n);
                abs += n;
                continue;
            }
            assert_int_equal(rc, 1);
            assert_true(llmc_http_in_body(h));
            abs += used;
            r->head_end = abs;
            p += used;
            n -= used;
            phase = PH_BODY;
        }
        /* the rest of the segment, possibly empty, goes to the body */
        used = (size_t)-1;
        rc = llmc_http_body(h, p, n, &used, body_cb, r);
        r->body_rc = rc;
        if (rc < 0 || rc > 1) {
            phase = PH_ERR;
            break;
        }
        assert_true(used <= n);
        if (rc == 1) {
            r->body_end = abs + used;
            phase = PH_DONE;
            break;
        }
        assert_int_equal(used, n);
        abs += n;
    }
    if (r->eof_at_end && (phase == PH_HEAD || phase == PH_BODY))
        r->eof_rc = llmc_http_eof(h);
    r->reusable = llmc_http_reusable(h);
    tb_printf(out,
              "head=%d@%lld body=%d@%lld eof=%d reuse=%d status=%u "
              "flags=%#x ra=%lld sr=%d in_body=%d data=",
              r->head_rc, off_of(r->head_end), r->body_rc,
              off_of(r->body_end), r->eof_rc, (int)r->reusable,
              (unsigned)h->status, (unsigned)h->flags,
              (long long)h->retry_after_ms, (int)h->should_retry,
              (int)llmc_http_in_body(h));
    tb_bytes(out, tb_cstr(&r->data), r->data.len);
}

/* Parse in (split every way); r keeps the results of a run. */
static void parse_n(http_run_t *r, const char *in, size_t n, size_t stride)
{
    tbuf_t whole;
    split_check_stride(in, n, http_runner, r, stride, &whole);
    tb_free(&whole);
}

static void parse(http_run_t *r, const char *in)
{
    parse_n(r, in, strlen(in), 1);
}

static void run_free(http_run_t *r)
{
    tb_free(&r->data);
}

/* Just the head's status for inputs that should fail in the head. */
static int head_status_of(const char *in)
{
    http_run_t r = {0};
    int rc;
    parse(&r, in);
    rc = r.head_rc;
    run_free(&r);
    return rc;
}

static int64_t retry_after_of(const char *in)
{
    http_run_t r = {0};
    int64_t v;
    parse(&r, in);
    assert_int_equal(r.head_rc, 1);
    v = r.h.retry_after_ms;
    run_free(&r);
    return v;
}

static int should_retry_of(const char *in)
{
    http_run_t r = {0};
    int v;
    parse(&r, in);
    assert_int_equal(r.head_rc, 1);
    v = r.h.should_retry;
    run_free(&r);
    return v;
}

static unsigned flags_of(const char *in)
{
    http_run_t r = {0};
    unsigned v;
    parse(&r, in);
    assert_int_equal(r.head_rc, 1);
    v = r.h.flags;
    run_free(&r);
    return v;
}

/* in parses whole, its body is data, and the connection is reusable. */
static void assert_whole_and_reusable(const char *in, const char *data)
{
    http_run_t r = {0};
    parse(&r, in);
    assert_int_equal(r.head_rc, 1);
    assert_int_equal(r.body_rc, 1);
    assert_string_equal(tb_cstr(&r.data), data);
    assert_true(r.reusable);
    run_free(&r);
}

/* ---- status line ------------------------------------------------------ */

static void test_status_line_crlf_parsed_with_body(void **st)
{
    static const char in[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
    http_run_t r = {0};
    (void)st;
    parse(&r, in);
    assert_int_equal(r.head_rc, 1);
    assert_int_equal(r.h.status, 200);
    assert_int_equal(r.head_end, strlen(in) - 2);
    assert_int_equal(r.body_rc, 1);
    assert_int_equal(r.body_end, strlen(in));
    assert_string_equal(tb_cstr(&r.data), "hi");
    assert_true(r.reusable);
    assert_int_equal(r.h.retry_after_ms, -1);
    assert_int_equal(r.h.should_retry, -1);
    run_free(&r);
}

static void test_bare_lf_line_ends_parse_like_crlf(void **st)
{
    static const char in[] =
        "HTTP/1.1 201 Created\nContent-Length: 3\nConnection: close\n\nabc";
    http_run_t r = {0};
    (void)st;
    parse(&r, in);
    assert_int_equal(r.head_rc, 1);
    assert_int_equal(r.h.status, 201);
    assert_int_equal(r.head_end, strlen(in) - 3);
    assert_int_equal(r.body_rc, 1);
    assert_string_equal(tb_cstr(&r.data), "abc");
    assert_true(r.h.flags & LLMC_HTTP_F_CLOSE);
    assert_false(r.reusable);
    run_free(&r);
}

/* A CR that no LF follows is no line end (RFC 9112 2.2): in the head it is
 * an error wherever it is, not dropped ("1\r0" is not 10); in a body it
 * is data. */
static void test_lone_cr_rejected_in_head_kept_in_body(void **st)
{
    static const char *const bad[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r0\r\n\r\nx",
        "HTTP/1.1 200 O\rK\r\nContent-Length: 1\r\n\r\nx",
        "HTTP/1.1 200 OK\r\nX-A\r: b\r\nContent-Length: 1\r\n\r\nx",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\r\n\r\nx",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\r\nx",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r \r\n\r\nx",
        "\rHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
    };
    static const char ok[] =
        "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\na\rb\r";
    http_run_t r = {0};
    size_t i;
    (void)st;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(head_status_of(bad[i]), LLMC_ERR_PROTOCOL);
    parse(&r, ok);
    assert_int_equal(r.head_rc, 1);
    assert_int_equal(r.body_rc, 1);
    assert_string_equal(tb_cstr(&r.data), "a\rb\r");
    run_free(&r);
}

static void test_status_line_without_reason_phrase_accepted(void **st)
{
    http_run_t r = {0};
    (void)st;
    parse(&r, "HTTP/1.1 503\r\nContent-Length: 0\r\n\r\n");
    assert_int_equal(r.head_rc, 1);
    assert_int_equal(r.h.status, 503);
    assert_int_equal(r.body_rc, 1);
    run_free(&r);
}

static void test_status_codes_1xx_to_5xx_read_exactly(void **st)
{
    static const struct {
        const char *in;
        unsigned status;
    } cases[] = {
        {"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n", 429},
        {"HTTP/1.1 599 X\r\nContent-Length: 0\r\n\r\n", 599},
        {"HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n", 302},
        {"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 404},
    };
    size_t i;
    (void)st;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        http_run_t r = {0};
        parse(&r, cases[i].in);
        assert_int_equal(r.head_rc, 1);
        assert_int_equal(r.h.status, cases[i].status);
        run_free(&r);
    }
}

static void test_status_line_http2_rejected(void **st)
{
    (void)st;
    assert_int_equal(head_status_of("HTTP/2 200 OK\r\n\r\n"),
                     LLMC_ERR_PROTOCOL);
    assert_int_equal(head_status_of("HTTP/2.0 200 OK\r\n\r\n"),
                     LLMC_ERR_PROTOCOL);
    assert_int_equal(head_status_of("HTTP/3 200\r\n\r\n"), LLMC_ERR_PROTOCOL);
}

static void test_status_line_missing_code_rejected(void **st)
{
    (void)st;
    assert_int_equal(head_status_of("HTTP/1.1\r\n\r\n"), LLMC_ERR_PROTOCOL);
    assert_int_equal(head_status_of("HTTP/1.1 \r\n\r\n"), LLMC_ERR_PROTOCOL);
    assert_int_equal(head_status_of("HTTP/1.1 OK\r\n\r\n"), LLMC_ERR_PROTOCOL);
    assert_int_equal(head_status_of("HTTP/1.1  200 OK\r\n\r\n"),
                     LLMC_ERR_PROTOCOL);
}

static void test_status_line_letters_or_bad_digits_rejected(void **st)
{
    (void)st;
    assert_int_equal(head_status_of("HTTP/1.1 2OO OK\r\n\r\n"),
                     LLMC_ERR_PROTOCOL);
    assert_int_equal(head_status_of("HTTP/1.1 20x OK\r\n\r\n"),
                     LLMC_ERR_PROTOCOL);
    assert_int_equal(head_status_of("HTTP/1.1 20 OK\r\n\r\n"),
                     LLMC_ERR_PROTOCOL);
    assert_int_equal(head_status_of("HTTP/1.1 2000 OK\r\n\r\n"),
                     LLMC_ERR_PROTOCOL);
    assert_int_equal(head_status_of("HTTP/1.1 600 X\r\n\r\n"),
                     LLMC_ERR_PROTOCOL);
    assert_int_equal(head_status_of("HTTP/1.1 099 X\r\n\r\n"),
                     LLMC_ERR_PROTOCOL);
    assert_int_equal(head_status_of("HTTP/1.x 200 OK\r\n\r\n"),
                     LLMC_ERR_PROTOCOL);
    assert_int_equal(head_status_of("http/1.1 200 OK\r\n\r\n"),
                     LLMC_ERR_PROTOCOL);
    assert_int_equal(head_status_of("SSH-2.0-OpenSSH_9.2\r\n"),
                     LLMC_ERR_PROTOCOL);
}

static void test_header_line_without_colon_rejected(void **st)
{
    (void)st;
    assert_int_equal(head_status_of("HTTP/1.1 200 OK\r\nNoColonHere\r\n\r\n"),
                     LLMC_ERR_PROTOCOL);
}

static void test_incomplete_head_needs_more(void **st)
{
    http_run_t r = {0};
    (void)st;
    r.eof_at_end = true;
    parse(&r, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n");
    assert_int_equal(r.head_rc, 0);
    assert_false(llmc_http_in_body(&r.h));
    assert_int_equal(r.eof_rc, LLMC_ERR_CLOSED); /* eof inside the head */
    assert_false(r.reusable);
    run_free(&r);
}

static void test_100_continue_before_real_head_skipped(void **st)
{
    static const char in[] = "HTTP/1.1 100 Continue\r\n\r\n"
                             "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
    http_run_t r = {0};
    (void)st;
    parse(&r, in);
    assert_int_equal(r.head_rc, 1);
    assert_int_equal(r.h.status, 200);
    assert_int_equal(r.head_end, strlen(in) - 3);
    assert_int_equal(r.body_rc, 1);
    assert_string_equal(tb_cstr(&r.data), "abc");
    run_free(&r);
}

static void test_interim_heads_with_headers_do_not_leak_into_final(void **st)
{
    /* the 103's Connection: close and Retry-After belong to it alone */
    static const char in[] = "HTTP/1.1 100 Continue\n\n"
                             "HTTP/1.1 103 Early Hints\r\n"
                             "Link: </style.css>; rel=preload\r\n"
                             "Connection: close\r\nRetry-After: 9\r\n\r\n"
                             "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    http_run_t r = {0};
    (void)st;
    parse(&r, in);
    assert_int_equal(r.head_rc, 1);
    assert_int_equal(r.h.status, 200);
    assert_int_equal(r.h.retry_after_ms, -1);
    assert_false(r.h.flags & LLMC_HTTP_F_CLOSE);
    assert_string_equal(tb_cstr(&r.data), "ok");
    assert_true(r.reusable);
    run_free(&r);
}

/* ---- headers ---------------------------------------------------------- */

static void test_content_length_read_with_surrounding_spaces(void **st)
{
    http_run_t r = {0};
    (void)st;
    parse(&r, "HTTP/1.1 200 OK\r\ncontent-LENGTH: \t 4 \t\r\n\r\nabcd");
    assert_int_equal(r.head_rc, 1);
    assert_true(r.h.flags & LLMC_HTTP_F_LENGTH);
    assert_int_equal(r.body_rc, 1);
    assert_string_equal(tb_cstr(&r.data), "abcd");
    run_free(&r);
}

static void test_content_length_duplicates_equal_accepted(void **st)
{
    http_run_t r = {0};
    (void)st;
    parse(&r, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX: y\r\n"
              "Content-Length: 3\r\n\r\nabc");
    assert_int_equal(r.head_rc, 1);
    assert_int_equal(r.body_rc, 1);
    assert_string_equal(tb_cstr(&r.data), "abc");
    run_free(&r);
}

static void test_content_length_duplicates_differing_rejected(void **st)
{
    (void)st;
    assert_int_equal(head_status_of("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
                                    "Content-Length: 4\r\n\r\nabcd"),
                     LLMC_ERR_PROTOCOL);
}

static void test_content_length_non_digits_rejected(void **st)
{
    static const char *const bad[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        ("HTTP/1.1 200 OK\r\nContent-Length: "
         "1000000000000000000000000000000000000000000000000000000000\r\n\r\n"),
    };
    size_t i;
    (void)st;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(head_status_of(bad[i]), LLMC_ERR_PROTOCOL);
}

static void test_transfer_encoding_chunked_case_insensitive(void **st)
{
    static const char *const in[] = {
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3\r\nabc\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\ntransfer-encoding: CHUNKED\r\n\r\n"
        "3\r\nabc\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTRANSFER-ENCODING:Chunked  \r\n\r\n"
        "3\r\nabc\r\n0\r\n\r\n",
    };
    size_t i;
    (void)st;
    for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        http_run_t r = {0};
        parse(&r, in[i]);
        assert_int_equal(r.head_rc, 1);
        assert_true(r.h.flags & LLMC_HTTP_F_CHUNKED);
        assert_int_equal(r.body_rc, 1);
        assert_string_equal(tb_cstr(&r.data), "abc");
        assert_true(r.reusable);
        run_free(&r);
    }
}

static void test_transfer_encoding_gzip_or_stacked_rejected(void **st)
{
    (void)st;
    assert_int_equal(head_status_of("HTTP/1.1 200 OK\r\n"
                                    "Transfer-Encoding: gzip\r\n\r\n"),
                     LLMC_ERR_PROTOCOL);
    assert_int_equal(head_status_of("HTTP/1.1 200 OK\r\n"
                                    "Transfer-Encoding: gzip, chunked\r\n\r\n"),
                     LLMC_ERR_PROTOCOL);
    assert_int_equal(head_status_of("HTTP/1.1 200 OK\r\n"
                                    "Transfer-Encoding: deflate\r\n"
                                    "Content-Length: 3\r\n\r\nabc"),
                     LLMC_ERR_PROTOCOL);
}

/* llmc asks for identity and decodes no content coding: a coded 2xx
 * body cannot be read (the head is refused, with LLMC_HTTP_F_CODED set so
 * the message can say why); identity, in any case, or an empty value is
 * no coding; an error status stands whatever its body's coding. */
static void test_content_encoding_other_than_identity_refused(
    void **st)
{
    static const char *const coded[] = {"gzip", "br", "deflate",
                                        "identity, gzip", "gzip, identity",
                                        "x-identity"};
    static const char *const plain[] = {"identity", "IDENTITY ", "", "\t"};
    char in[256];
    char tabs[LLMC_HTTP_VAL_MAX + 1];
    size_t i;
    (void)st;
    for (i = 0; i < sizeof(coded) / sizeof(coded[0]); i++) {
        http_run_t r = {0};
        snprintf(in, sizeof(in),
                 "HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\n"
                 "Content-Length: 3\r\n\r\nabc",
                 coded[i]);
        parse(&r, in);
        assert_int_equal(r.head_rc, LLMC_ERR_PROTOCOL);
        assert_true(r.h.flags & LLMC_HTTP_F_CODED);
        run_free(&r);
    }
    for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        http_run_t r = {0};
        snprintf(in, sizeof(in),
                 "HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\n"
                 "Content-Length: 3\r\n\r\nabc",
                 plain[i]);
        parse(&r, in);
        assert_int_equal(r.head_rc, 1);
        assert_false(r.h.flags & LLMC_HTTP_F_CODED);
        assert_string_equal(tb_cstr(&r.data), "abc");
        run_free(&r);
    }
    /* "identity" and more than the kept bytes of blanks and a coding */
    memset(tabs, '\t', sizeof(tabs) - 1);
    tabs[sizeof(tabs) - 1] = '\0';
    snprintf(in, sizeof(in),
             "HTTP/1.1 200 OK\r\nContent-Encoding: identity%sgzip\r\n"
             "Content-Length: 3\r\n\r\nabc",
             tabs);
    assert_int_equal(head_status_of(in), LLMC_ERR_PROTOCOL);
    {
        http_run_t r = {0};
        parse(&r, "HTTP/1.1 429 Too Many Requests\r\n"
                  "Content-Encoding: gzip\r\nContent-Length: 3\r\n"
                  "\r\nabc");
        assert_int_equal(r.head_rc, 1);
        assert_int_equal(r.h.status, 429);
        assert_true(r.h.flags & LLMC_HTTP_F_CODED);
        assert_int_equal(r.body_rc, 1);
        assert_true(r.reusable);
        run_free(&r);
    }
    /* chunked is a transfer coding, not a content coding */
    assert_int_equal(head_status_of("HTTP/1.1 200 OK\r\n"
                                    "Content-Encoding: chunked\r\n\r\n"),
                     LLMC_ERR_PROTOCOL);
}

/* Only the first LLMC_HTTP_VAL_MAX bytes of a value are kept, and a run
 * of blanks is kept as one space: "chunked" and more blanks than that is
 * "chunked" (trailing blanks are not part of a value, RFC 9110 5.5), but
 * with a coding after the blanks it is not "chunked" alone. */
static void test_transfer_encoding_blanks_collapse_coding_after_rejected(
    void **st)
{
    char in[256];
    char tabs[LLMC_HTTP_VAL_MAX + 1];
    (void)st;
    memset(tabs, '\t', sizeof(tabs) - 1);
    tabs[sizeof(tabs) - 1] = '\0';
    snprintf(in, sizeof(in),
             "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked%s, gzip\r\n"
             "\r\n3\r\nabc\r\n0\r\n\r\n",
             tabs);
    assert_int_equal(head_status_of(in), LLMC_ERR_PROTOCOL);
    snprintf(in, sizeof(in),
             "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked%s\r\n"
             "\r\n3\r\nabc\r\n0\r\n\r\n",
             tabs);
    assert_whole_and_reusable(in, "abc");
}

/* Several Transfer-Encoding lines are one list (RFC 9110 5.3): a second
 * line is refused as the same codings on one line are. */
static void test_transfer_encoding_on_two_lines_rejected(void **st)
{
    static const char *const two[] = {"chunked", "chunked",
                                      "chunked", "identity",
                                      "identity", "chunked"};
    char in[256];
    size_t i;
    (void)st;
    for (i = 0; i < sizeof(two) / sizeof(two[0]); i += 2) {
        snprintf(in, sizeof(in),
                 "HTTP/1.1 200 OK\r\nTransfer-Encoding: %s, %s\r\n\r\n"
                 "5\r\nhello\r\n0\r\n\r\n",
                 two[i], two[i + 1]);
        assert_int_equal(head_status_of(in), LLMC_ERR_PROTOCOL);
        snprintf(in, sizeof(in),
                 "HTTP/1.1 200 OK\r\nTransfer-Encoding: %s\r\n"
                 "Transfer-Encoding: %s\r\n\r\n"
                 "5\r\nhello\r\n0\r\n\r\n",
                 two[i], two[i + 1]);
        assert_int_equal(head_status_of(in), LLMC_ERR_PROTOCOL);
    }
}

/* "identity" overrides a Content-Length as chunked does, and a response
 * whose coding is not chunked ends at the close (RFC 9112 6.3): the body
 * is not cut at the length, and the connection is not used again. */
static void test_transfer_encoding_identity_body_ends_at_close(void **st)
{
    static const char *const in[] = {
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n"
        "Content-Length: 5\r\n\r\nhello, world",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
        "Transfer-Encoding: identity\r\n\r\nhello, world",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n"
        "hello, world"};
    size_t i;
    (void)st;
    for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        http_run_t r = {0};
        r.eof_at_end = true;
        parse(&r, in[i]);
        assert_int_equal(r.head_rc, 1);
        assert_false(r.h.flags & LLMC_HTTP_F_LENGTH);
        assert_int_equal(r.body_rc, 0);
        assert_int_equal(r.eof_rc, 1);
        assert_string_equal(tb_cstr(&r.data), "hello, world");
        assert_false(r.reusable);
        run_free(&r);
    }
}

static void test_chunked_wins_over_content_length(void **st)
{
    /* and the connection is not reused (RFC 9112 6.3: such a message
     * "ought to be handled as an error"), in either order; chunked alone
     * leaves it reusable */
    static const char *const in[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n"
        "Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
        "Content-Length: 2\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\n"
        "Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"};
    size_t i;
    (void)st;
    for (i = 0; i < 3; i++) {
        http_run_t r = {0};
        parse(&r, in[i]);
        assert_int_equal(r.head_rc, 1);
        assert_true(r.h.flags & LLMC_HTTP_F_CHUNKED);
        assert_false(r.h.flags & LLMC_HTTP_F_LENGTH);
        assert_int_equal(r.body_rc, 1);
        assert_string_equal(tb_cstr(&r.data), "ok");
        assert_int_equal(r.reusable, i == 2);
        run_free(&r);
    }
}

static void test_connection_close_sets_close_and_not_reusable(void **st)
{
    static const char *const in[] = {
        "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx",
        "HTTP/1.1 200 OK\r\nconnection: Close\r\nContent-Length: 1\r\n\r\nx",
        "HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\n"
        "Content-Length: 1\r\n\r\nx",
        /* tabs separate tokens as spaces do */
        "HTTP/1.1 200 OK\r\nConnection: keep-alive,\tclose\r\n"
        "Content-Length: 1\r\n\r\nx",
        "HTTP/1.1 200 OK\r\nConnection: keep-alive\t,close\r\n"
        "Content-Length: 1\r\n\r\nx",
        /* a value longer than the bytes kept of it may have its close past
         * them: it closes */
        "HTTP/1.1 200 OK\r\nConnection: keep-alive, x-a-rather-long-token-"
        "that-fills-the-kept-bytes, close\r\nContent-Length: 1\r\n\r\nx",
        "HTTP/1.1 200 OK\r\nConnection: keep-alive, x-a-rather-long-token-"
        "that-fills-the-kept-bytes\r\nContent-Length: 1\r\n\r\nx",
    };
    size_t i;
    (void)st;
    for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        http_run_t r = {0};
        parse(&r, in[i]);
        assert_int_equal(r.body_rc, 1);
        assert_true(r.h.flags & LLMC_HTTP_F_CLOSE);
        assert_false(r.reusable);
        run_free(&r);
    }
}

static void test_connection_keep_alive_is_reusable_after_body(void **st)
{
    http_run_t r = {0};
    (void)st;
    parse(&r, "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n"
              "X-Closed: close\r\nContent-Length: 1\r\n\r\nx");
    assert_int_equal(r.body_rc, 1);
    assert_false(r.h.flags & LLMC_HTTP_F_CLOSE);
    assert_true(r.reusable);
    run_free(&r);
}

static void test_not_reusable_before_body_complete(void **st)
{
    http_run_t r = {0};
    (void)st;
    parse(&r, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
    assert_int_equal(r.body_rc, 0);
    assert_false(r.reusable);
    run_free(&r);
}

static void test_content_type_event_stream_and_json(void **st)
{
    (void)st;
    assert_true(flags_of("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream"
                         "\r\n\r\n") &
                LLMC_HTTP_F_SSE);
    assert_true(flags_of("HTTP/1.1 200 OK\r\ncontent-type: Text/Event-Stream; "
                         "charset=utf-8\r\n\r\n") &
                LLMC_HTTP_F_SSE);
    assert_true(flags_of("HTTP/1.1 200 OK\r\nContent-Type: application/json"
                         "\r\nContent-Length: 0\r\n\r\n") &
                LLMC_HTTP_F_JSON);
    assert_true(flags_of("HTTP/1.1 200 OK\r\nContent-Type: application/json; "
                         "charset=utf-8\r\nContent-Length: 0\r\n\r\n") &
                LLMC_HTTP_F_JSON);
    assert_false(flags_of("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                          "Content-Length: 0\r\n\r\n") &
                 (LLMC_HTTP_F_JSON | LLMC_HTTP_F_SSE));
    assert_false(flags_of("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") &
                 (LLMC_HTTP_F_JSON | LLMC_HTTP_F_SSE));
}

static void test_retry_after_seconds_read_as_ms(void **st)
{
    (void)st;
    assert_int_equal(retry_after_of("HTTP/1.1 429 X\r\nRetry-After: 7\r\n"
                                    "Content-Length: 0\r\n\r\n"),
                     7000);
    assert_int_equal(retry_after_of("HTTP/1.1 429 X\r\nretry-after: 0\r\n"
                                    "Content-Length: 0\r\n\r\n"),
                     0);
    assert_int_equal(retry_after_of("HTTP/1.1 503 X\r\nRetry-After: "
                                    "120  \r\nContent-Length: 0\r\n\r\n"),
                     120000);
    /* absurd values are capped at a day */
    assert_int_equal(retry_after_of("HTTP/1.1 503 X\r\nRetry-After: "
                                    "99999999\r\nContent-Length: 0\r\n\r\n"),
                     86400000);
    assert_int_equal(retry_after_of("HTTP/1.1 503 X\r\nretry-after-ms: "
                                    "999999999999\r\n"
                                    "Content-Length: 0\r\n\r\n"),
                     86400000);
}

static void test_retry_after_http_date_or_junk_ignored(void **st)
{
    (void)st;
    assert_int_equal(retry_after_of("HTTP/1.1 503 X\r\nRetry-After: Wed, 21 "
                                    "Oct 2015 07:28:00 GMT\r\n"
                                    "Content-Length: 0\r\n\r\n"),
                     -1);
    assert_int_equal(retry_after_of("HTTP/1.1 503 X\r\nRetry-After: 5s\r\n"
                                    "Content-Length: 0\r\n\r\n"),
                     -1);
    assert_int_equal(retry_after_of("HTTP/1.1 503 X\r\nRetry-After: -5\r\n"
                                    "Content-Length: 0\r\n\r\n"),
                     -1);
}

/* A value longer than the bytes kept of it is not read from those bytes:
 * 30 s with leading zeros must not become 3 s. Ignored, as a date is. */
static void test_retry_after_longer_than_kept_ignored(void **st)
{
    char in[256];
    char zeros[LLMC_HTTP_VAL_MAX];
    (void)st;
    memset(zeros, '0', sizeof(zeros) - 1);
    zeros[sizeof(zeros) - 1] = '\0';
    snprintf(in, sizeof(in),
             "HTTP/1.1 503 X\r\nRetry-After: %s30\r\n"
             "Content-Length: 0\r\n\r\n",
             zeros);
    assert_int_equal(retry_after_of(in), -1);
    snprintf(in, sizeof(in),
             "HTTP/1.1 503 X\r\nretry-after-ms: %s12345\r\n"
             "Content-Length: 0\r\n\r\n",
             zeros);
    assert_int_equal(retry_after_of(in), -1);
    /* as many zeros as are kept, then the digit: read */
    zeros[sizeof(zeros) - 2] = '\0';
    snprintf(in, sizeof(in),
             "HTTP/1.1 503 X\r\nRetry-After: %s3\r\n"
             "Content-Length: 0\r\n\r\n",
             zeros);
    assert_int_equal(retry_after_of(in), 3000);
}

/* Trailing blanks are not part of a value (RFC 9110 5.5), tabs as much
 * as spaces, however many of them there are. */
static void test_many_trailing_tabs_not_part_of_the_value(void **st)
{
    char in[512];
    char tabs[2 * LLMC_HTTP_VAL_MAX];
    (void)st;
    memset(tabs, '\t', sizeof(tabs) - 1);
    tabs[sizeof(tabs) - 1] = '\0';
    snprintf(in, sizeof(in),
             "HTTP/1.1 200 OK\r\nContent-Length: 5%s\r\n"
             "Connection: keep-alive%s\r\n\r\nhello",
             tabs, tabs);
    assert_whole_and_reusable(in, "hello");
}

static void test_retry_after_ms_wins_over_retry_after_either_order(void **st)
{
    (void)st;
    assert_int_equal(retry_after_of("HTTP/1.1 429 X\r\nretry-after-ms: 1500\r\n"
                                    "Retry-After: 2\r\n"
                                    "Content-Length: 0\r\n\r\n"),
                     1500);
    assert_int_equal(retry_after_of("HTTP/1.1 429 X\r\nRetry-After: 2\r\n"
                                    "retry-after-ms: 1500\r\n"
                                    "Content-Length: 0\r\n\r\n"),
                     1500);
    assert_int_equal(retry_after_of("HTTP/1.1 429 X\r\nRETRY-AFTER-MS: 250.5"
                                    "\r\nContent-Length: 0\r\n\r\n"),
                     251);
}

/* A fraction of retry-after-ms rounds up: 0.5 ms is a delay (DESIGN 3
 * honours 0 < delay <= 60 s; 0 would mean none and the usual backoff),
 * and 60000.5 ms is more than 60 s (moves on). A zero fraction changes
 * nothing. */
static void test_retry_after_ms_fraction_rounds_up(void **st)
{
    (void)st;
    assert_int_equal(retry_after_of("HTTP/1.1 429 X\r\nretry-after-ms: 0.5"
                                    "\r\nContent-Length: 0\r\n\r\n"),
                     1);
    assert_int_equal(retry_after_of("HTTP/1.1 429 X\r\nretry-after-ms: "
                                    "60000.001\r\nContent-Length: 0\r\n\r\n"),
                     60001);
    assert_int_equal(retry_after_of("HTTP/1.1 429 X\r\nretry-after-ms: 7.000"
                                    "\r\nContent-Length: 0\r\n\r\n"),
                     7);
    assert_int_equal(retry_after_of("HTTP/1.1 429 X\r\nretry-after-ms: 0.0"
                                    "\r\nContent-Length: 0\r\n\r\n"),
                     0);
    assert_int_equal(retry_after_of("HTTP/1.1 429 X\r\nretry-after-ms: "
                                    "99999999999.9\r\nContent-Length: 0\r\n\r\n"),
                     86400001);
}

static void test_x_should_retry_true_false_and_absent(void **st)
{
    (void)st;
    assert_int_equal(should_retry_of("HTTP/1.1 500 X\r\nx-should-retry: true"
                                     "\r\nContent-Length: 0\r\n\r\n"),
                     1);
    assert_int_equal(should_retry_of("HTTP/1.1 503 X\r\nX-Should-Retry: false"
                                     "\r\nContent-Length: 0\r\n\r\n"),
                     0);
    assert_int_equal(should_retry_of("HTTP/1.1 503 X\r\nx-should-retry: TRUE"
                                     "\r\nContent-Length: 0\r\n\r\n"),
                     1);
    assert_int_equal(should_retry_of("HTTP/1.1 503 X\r\nx-should-retry: maybe"
                                     "\r\nContent-Length: 0\r\n\r\n"),
                     -1);
    assert_int_equal(should_retry_of("HTTP/1.1 503 X\r\n"
                                     "Content-Length: 0\r\n\r\n"),
                     -1);
}

static void test_http10_response_is_not_reusable(void **st)
{
    http_run_t r = {0};
    (void)st;
    parse(&r, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
    assert_int_equal(r.h.status, 200);
    assert_int_equal(r.body_rc, 1);
    assert_string_equal(tb_cstr(&r.data), "ok");
    assert_true(r.h.flags & LLMC_HTTP_F_CLOSE);
    assert_false(r.reusable);
    run_free(&r);
}

/* A name and a value longer than LLMC_HTTP_VAL_MAX: 299 and 599 bytes, or
 * less when the head would not fit LLMC_HEAD_MAX (512 at the Kconfig
 * minimum, which leaves 142 and 285). The rest of the head is 85 bytes. */
enum {
    LONG_ROOM = LLMC_HEAD_MAX - 85,
    LONG_NAME = LONG_ROOM / 3 < 299 ? LONG_ROOM / 3 : 299,
    LONG_VAL = LONG_ROOM - LONG_NAME < 599 ? LONG_ROOM - LONG_NAME : 599
};

static void test_unknown_long_and_folded_headers_pass(void **st)
{
    char in[1200];
    http_run_t r = {0};
    char longname[LONG_NAME + 1], longval[LONG_VAL + 1];
    (void)st;
    assert_true(LONG_NAME > LLMC_HTTP_VAL_MAX && LONG_VAL > LLMC_HTTP_VAL_MAX);
    memset(longname, 'N', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    memset(longval, 'v', sizeof(longval) - 1);
    longval[sizeof(longval) - 1] = '\0';
    snprintf(in, sizeof(in),
             "HTTP/1.1 200 OK\r\n%s: 1\r\nX-Long: %s\r\n"
             "X-Folded: a\r\n  continued: here\r\n"
             "Content-Length: 2\r\n\r\nok",
             longname, longval);
    parse(&r, in);
    assert_int_equal(r.head_rc, 1);
    assert_int_equal(r.body_rc, 1);
    assert_string_equal(tb_cstr(&r.data), "ok");
    run_free(&r);
}

/* Obsolete line folding (RFC 9112 5.2): a line that starts with a blank
 * continues the header before it, the fold and the blanks around it read
 * as one space; a blank-led line right after the status line continues
 * no header and is refused (RFC 9112 2.2). */
static void test_folded_header_values_joined(void **st)
{
    http_run_t r = {0};
    (void)st;
    parse(&r, "HTTP/1.1 503 Busy\r\nRetry-After:\r\n 7\r\n"
              "Connection: keep-alive, \r\n \t close\r\n"
              "X-Should-Retry: \r\n\tfalse \r\n"
              "Content-Length:\r\n 2\r\nContent-Type: text/event-stream"
              "\r\n\r\nok");
    assert_int_equal(r.head_rc, 1);
    assert_int_equal(r.h.status, 503);
    assert_int_equal(r.h.retry_after_ms, 7000);
    assert_int_equal(r.h.should_retry, 0);
    assert_true(r.h.flags & LLMC_HTTP_F_CLOSE);
    assert_true(r.h.flags & LLMC_HTTP_F_SSE);
    run_free(&r);
    assert_int_equal(head_status_of("HTTP/1.1 200 OK\r\n  x: 1\r\n"
                                    "Content-Length: 0\r\n\r\n"),
                     LLMC_ERR_PROTOCOL);
    /* "1 2" is not a length */
    assert_int_equal(head_status_of("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
                                    " 2\r\n\r\nok"),
                     LLMC_ERR_PROTOCOL);
    parse(&r, "HTTP/1.1 200 OK\r\nContent-Length:\r\n  2\r\n\r\nok");
    assert_int_equal(r.head_rc, 1);
    assert_int_equal(r.body_rc, 1);
    assert_string_equal(tb_cstr(&r.data), "ok");
    run_free(&r);
}

static void make_head(char *buf, size_t total)
{
    /* status line + one padding header + Content-Length: 0, total bytes */
    static const char a[] = "HTTP/1.1 200 OK\r\nX-Pad: ";
    static const char b[] = "\r\nContent-Length: 0\r\n\r\n";
    size_t pad = total - (sizeof(a) - 1) - (sizeof(b) - 1);
    memcpy(buf, a, sizeof(a) - 1);
    memset(buf + sizeof(a) - 1, 'p', pad);
    memcpy(buf + sizeof(a) - 1 + pad, b, sizeof(b) - 1);
}

static void test_head_of_exactly_head_max_accepted(void **st)
{
    char *in = malloc(LLMC_HEAD_MAX);
    http_run_t r = {0};
    (void)st;
    make_head(in, LLMC_HEAD_MAX);
    parse_n(&r, in, LLMC_HEAD_MAX, 509);
    assert_int_equal(r.head_rc, 1);
    assert_int_equal(r.head_end, LLMC_HEAD_MAX);
    assert_int_equal(r.body_rc, 1);
    run_free(&r);
    free(in);
}

static void test_head_larger_than_head_max_too_large(void **st)
{
    char *in = malloc(LLMC_HEAD_MAX + 1);
    http_run_t r = {0};
    (void)st;
    make_head(in, LLMC_HEAD_MAX + 1);
    parse_n(&r, in, LLMC_HEAD_MAX + 1, 509);
    assert_int_equal(r.head_rc, LLMC_ERR_TOO_LARGE);
    run_free(&r);
    free(in);
}

static void test_endless_status_line_too_large(void **st)
{
    size_t n = LLMC_HEAD_MAX + 100;
    char *in = malloc(n);
    http_run_t r = {0};
    (void)st;
    memcpy(in, "HTTP/1.1 200 ", 13);
    memset(in + 13, 'x', n - 13);
    parse_n(&r, in, n, 1021);
    assert_int_equal(r.head_rc, LLMC_ERR_TOO_LARGE);
    run_free(&r);
    free(in);
}

/* ---- bodies: chunked -------------------------------------------------- */

#define CHUNKED_HEAD "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"

static void chunked_ok(const char *body, const char *want)
{
    char in[4096];
    http_run_t r = {0};
    snprintf(in, sizeof(in), "%s%s", CHUNKED_HEAD, body);
    r.eof_at_end = false;
    parse(&r, in);
    assert_int_equal(r.head_rc, 1);
    assert_int_equal(r.body_rc, 1);
    assert_int_equal(r.body_end, strlen(in));
    assert_int_equal(r.data.len, strlen(want));
    assert_memory_equal(tb_cstr(&r.data), want, strlen(want));
    assert_int_equal(llmc_http_eof(&r.h), 1);
    assert_true(r.reusable);
    run_free(&r);
}

static int chunked_err(const char *body, tbuf_t *data)
{
    char in[4096];
    http_run_t r = {0};
    int rc;
    snprintf(in, sizeof(in), "%s%s", CHUNKED_HEAD, body);
    parse(&r, in);
    assert_int_equal(r.head_rc, 1);
    rc = r.body_rc;
    if (data != NULL)
        tb_put(data, tb_cstr(&r.data), r.data.len);
    run_free(&r);
    return rc;
}

static void test_chunked_body_decoded_across_chunks(void **st)
{
    (void)st;
    chunked_ok("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world");
}

static void test_chunked_body_with_bare_lf_line_ends(void **st)
{
    (void)st;
    chunked_ok("5\nhello\n1\n!\n0\n\n", "hello!");
}

static void test_chunked_body_binary_and_crlf_inside_data(void **st)
{
    (void)st;
    chunked_ok("4\r\n\r\n\r\n\r\n3\r\n0\r\n\r\n0\r\n\r\n", "\r\n\r\n0\r\n");
}

static void test_chunked_body_with_extensions(void **st)
{
    (void)st;
    chunked_ok("5;name=value\r\nhello\r\n3 ; a=\"b;c\"\r\nabc\r\n"
               "0;last\r\n\r\n",
               "helloabc");
}

/* After a chunk's size only blanks, then extensions or the line end
 * (RFC 9112 7.1.1): "1 2" is not a size with an extension "2". */
static void test_chunked_size_with_junk_after_blank_rejected(void **st)
{
    (void)st;
    assert_int_equal(chunked_err("1 2\r\nx\r\n0\r\n\r\n", NULL),
                     LLMC_ERR_PROTOCOL);
    assert_int_equal(chunked_err("1\t2\r\nx\r\n0\r\n\r\n", NULL),
                     LLMC_ERR_PROTOCOL);
    assert_int_equal(chunked_err("1 x;a\r\nx\r\n0\r\n\r\n", NULL),
                     LLMC_ERR_PROTOCOL);
    assert_int_equal(chunked_err("1\r\nx\r\n0 0\r\n\r\n", NULL),
                     LLMC_ERR_PROTOCOL);
    chunked_ok("1 \t ;a\r\nx\r\n2\t\r\nyz\r\n0 \r\n\r\n", "xyz");
}

static void test_chunked_body_with_trailers(void **st)
{
    (void)st;
    chunked_ok("2\r\nok\r\n0\r\nX-Trailer: a\r\nChecksum: 123\r\n\r\n", "ok");
}

/* In the chunked framing (size line, extensions, the CRLF after the data,
 * trailers) a CR must end its line; inside the data it is a byte. */
static void test_lone_cr_rejected_in_chunk_framing_kept_in_data(void **st)
{
    static const char *const bad[] = {
        "1\r0\r\n0123456789abcdef\r\n0\r\n\r\n",
        "\r1\r\nx\r\n0\r\n\r\n",
        "1;a\rb\r\nx\r\n0\r\n\r\n",
        "1\r\nx\r\r\n0\r\n\r\n",
        "1\r\nx\r\n0\r\r\n\r\n",
        "1\r\nx\r\n0\r\nX-T: a\rb\r\n\r\n",
        "1\r\nx\r\n0\r\n\r\r\n",
    };
    size_t i;
    (void)st;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(chunked_err(bad[i], NULL), LLMC_ERR_PROTOCOL);
    chunked_ok("3\r\na\rb\r\n1\r\n\r\r\n2\r\n\r\r\r\n0\r\n\r\n",
               "a\rb\r\r\r");
}

static void test_chunked_size_uppercase_and_mixed_hex(void **st)
{
    (void)st;
    chunked_ok("A\r\n0123456789\r\n1f\r\n"
               "abcdefghijklmnopqrstuvwxyz01234\r\n00\r\n\r\n",
               "0123456789abcdefghijklmnopqrstuvwxyz01234");
    chunked_ok("0000B\r\nhello world\r\n0\r\n\r\n", "hello world");
}

static void test_chunked_bytes_after_last_chunk_not_consumed(void **st)
{
    static const char in[] = CHUNKED_HEAD "2\r\nok\r\n0\r\n\r\nHTTP/1.1 200";
    http_run_t r = {0};
    (void)st;
    parse(&r, in);
    assert_int_equal(r.body_rc, 1);
    assert_int_equal(r.body_end, strlen(in) - strlen("HTTP/1.1 200"));
    assert_string_equal(tb_cstr(&r.data), "ok");
    run_free(&r);
}

static void test_chunked_bad_hex_rejected(void **st)
{
    (void)st;
    assert_int_equal(chunked_err("g\r\nx\r\n0\r\n\r\n", NULL),
                     LLMC_ERR_PROTOCOL);
    assert_int_equal(chunked_err("0x5\r\nhello\r\n0\r\n\r\n", NULL),
                     LLMC_ERR_PROTOCOL);
    assert_int_equal(chunked_err("-1\r\n", NULL), LLMC_ERR_PROTOCOL);
}

/* The size line must hold a digit, also for the first chunk, whatever the
 * last header of the head was (here Transfer-Encoding, whose value was the
 * last thing the head parser kept). */
static void test_chunked_first_size_line_without_digits_rejected(void **st)
{
    int empty = chunked_err("\r\n5\r\nhello\r\n0\r\n\r\n", NULL);
    int ext_only = chunked_err(";ext\r\n5\r\nhello\r\n0\r\n\r\n", NULL);
    int later = chunked_err("1\r\na\r\n\r\n5\r\nhello\r\n0\r\n\r\n", NULL);
    (void)st;
    assert_int_equal(later, LLMC_ERR_PROTOCOL); /* not the first chunk */
    assert_int_equal(empty, LLMC_ERR_PROTOCOL);
    assert_int_equal(ext_only, LLMC_ERR_PROTOCOL);
}

static void test_chunked_missing_crlf_after_data_rejected_after_data(void **st)
{
    tbuf_t data = {0};
    (void)st;
    assert_int_equal(chunked_err("5\r\nhelloX\r\n0\r\n\r\n", &data),
                     LLMC_ERR_PROTOCOL);
    assert_string_equal(tb_cstr(&data), "hello");
    tb_free(&data);
}

static void test_chunked_size_overflow_rejected(void **st)
{
    (void)st;
    assert_int_equal(chunked_err("10000000000000000\r\n", NULL),
                     LLMC_ERR_PROTOCOL);
    assert_int_equal(chunked_err("FFFFFFFFFFFFFFFFF\r\n", NULL),
                     LLMC_ERR_PROTOCOL);
    assert_int_equal(
        chunked_err("100000000000000000000000000000000000000001\r\nx", NULL),
        LLMC_ERR_PROTOCOL);
}

/* Chunk sizes are read in 32 bits: up to 256 MiB - 1. */
static void test_chunk_size_up_to_256mib_read(void **st)
{
    tbuf_t data = {0};
    (void)st;
    assert_int_equal(chunked_err("FFFFFFF\r\nabc", &data), 0);
    assert_int_equal(data.len, 3);
    tb_free(&data);
    assert_int_equal(chunked_err("10000000\r\nabc", NULL), LLMC_ERR_PROTOCOL);
}

/* an extension, or the blanks before one, as long as a head */
static void test_chunked_huge_extension_too_large(void **st)
{
    size_t n = strlen(CHUNKED_HEAD) + 2 + LLMC_HEAD_MAX + 10;
    char *in = malloc(n);
    http_run_t r = {0};
    int blanks;
    (void)st;
    for (blanks = 0; blanks < 2; blanks++) {
        memcpy(in, CHUNKED_HEAD "1;", strlen(CHUNKED_HEAD) + 2);
        memset(in + strlen(CHUNKED_HEAD) + 1, blanks ? ' ' : 'e',
               n - strlen(CHUNKED_HEAD) - 1);
        if (!blanks)
            in[strlen(CHUNKED_HEAD) + 1] = ';';
        parse_n(&r, in, n, 1031);
        assert_int_equal(r.head_rc, 1);
        assert_int_equal(r.body_rc, LLMC_ERR_TOO_LARGE);
        run_free(&r);
    }
    free(in);
}

/* A long streamed answer arrives as one chunk per SSE event: the number of
 * chunks must not be bounded by LLMC_HEAD_MAX (which bounds one line). */
static void test_chunked_body_with_many_chunks_not_limited(void **st)
{
    size_t nchunks = LLMC_HEAD_MAX + 2000, hl = strlen(CHUNKED_HEAD), i;
    size_t n = hl + nchunks * 6 + 5, len;
    char *in = malloc(n);
    http_run_t r = {0};
    (void)st;
    memcpy(in, CHUNKED_HEAD, hl);
    for (i = 0; i < nchunks; i++)
        memcpy(in + hl + i * 6, "1\r\na\r\n", 6);
    memcpy(in + hl + nchunks * 6, "0\r\n\r\n", 5);
    parse_n(&r, in, n, 7919);
    len = r.data.len;
    run_free(&r);
    free(in);
    assert_int_equal(r.head_rc, 1);
    assert_int_equal(r.body_rc, 1);
    assert_int_equal(len, nchunks);
}

static void test_chunked_body_split_at_every_byte_gives_same_bytes(void **st)
{
    /* a realistic SSE stream in chunks, with an extension and a trailer */
    static const char in[] =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
        "18\r\ndata: {\"a\":\"\\u00e9\"}\r\n\r\n\r\n"
        "E;x=y\r\ndata: [DONE]\n\n\r\n0\r\nX-T: 1\r\n\r\n";
    http_run_t r = {0};
    (void)st;
    parse(&r, in);
    assert_int_equal(r.body_rc, 1);
    assert_true(r.h.flags & LLMC_HTTP_F_SSE);
    assert_string_equal(tb_cstr(&r.data),
                        "data: {\"a\":\"\\u00e9\"}\r\n\r\ndata: [DONE]\n\n");
    run_free(&r);
}

/* ---- bodies: Content-Length, close-delimited, none --------------------- */

static void test_content_length_body_exact_and_rest_not_consumed(void **st)
{
    static const char in[] =
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK";
    http_run_t r = {0};
    (void)st;
    parse(&r, in);
    assert_int_equal(r.body_rc, 1);
    assert_int_equal(r.body_end, strlen(in) - strlen("HTTP/1.1 200 OK"));
    assert_string_equal(tb_cstr(&r.data), "hello");
    assert_int_equal(llmc_http_eof(&r.h), 1);
    assert_true(r.reusable);
    run_free(&r);
}

static void test_content_length_zero_body_complete_at_once(void **st)
{
    static const char in[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nX";
    http_run_t r = {0};
    (void)st;
    parse(&r, in);
    assert_int_equal(r.head_end, strlen(in) - 1);
    assert_int_equal(r.body_rc, 1);
    assert_int_equal(r.body_end, strlen(in) - 1);
    assert_int_equal(r.calls, 0);
    assert_true(r.reusable);
    run_free(&r);
}

static void test_close_delimited_body_ends_on_eof(void **st)
{
    static const char in[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json"
                             "\r\n\r\n{\"a\":1}\r\n";
    http_run_t r = {0};
    (void)st;
    r.eof_at_end = true;
    parse(&r, in);
    assert_int_equal(r.head_rc, 1);
    assert_int_equal(r.body_rc, 0);
    assert_int_equal(r.eof_rc, 1);
    assert_string_equal(tb_cstr(&r.data), "{\"a\":1}\r\n");
    assert_true(r.h.flags & LLMC_HTTP_F_CLOSE);
    assert_false(r.reusable);
    run_free(&r);
}

/* Lengths are 32-bit: 4 GiB - 2 is the largest Content-Length read, and
 * 4 GiB or more is refused rather than wrapped. */
static void test_content_length_up_to_4gib_read_beyond_rejected(void **st)
{
    http_run_t r = {0};
    (void)st;
    parse(&r, "HTTP/1.1 200 OK\r\nContent-Length: 4294967294\r\n\r\n");
    assert_int_equal(r.head_rc, 1);
    assert_true(r.h.flags & LLMC_HTTP_F_LENGTH);
    assert_int_equal(r.h.length, 4294967294u);
    run_free(&r);
    assert_int_equal(head_status_of("HTTP/1.1 200 OK\r\nContent-Length: "
                                    "4294967295\r\n\r\n"),
                     LLMC_ERR_PROTOCOL);
    assert_int_equal(head_status_of("HTTP/1.1 200 OK\r\nContent-Length: "
                                    "4294967296\r\n\r\n"),
                     LLMC_ERR_PROTOCOL);
}

static int count_cb(void *ctx, const char *p, size_t n)
{
    (void)p;
    *(uint64_t *)ctx += n;
    return 0;
}

/* A close-delimited body has no length to count down: it goes on past
 * 4 GiB until the peer closes. */
static void test_close_delimited_body_not_cut_at_4gib(void **st)
{
    static const char head[] = "HTTP/1.1 200 OK\r\n\r\n";
    static char chunk[1u << 16];
    llmc_http_t h;
    uint64_t got = 0, fed;
    size_t used;
    (void)st;
    llmc_http_init(&h);
    assert_int_equal(llmc_http_head(&h, head, sizeof(head) - 1, &used), 1);
    for (fed = 0; fed <= 0x100000000ull; fed += sizeof(chunk)) {
        assert_int_equal(
            llmc_http_body(&h, chunk, sizeof(chunk), &used, count_cb, &got),
            0);
        assert_int_equal(used, sizeof(chunk));
    }
    assert_true(got == fed);
    assert_int_equal(llmc_http_eof(&h), 1);
}

static void test_eof_on_short_content_length_body_is_closed(void **st)
{
    http_run_t r = {0};
    (void)st;
    r.eof_at_end = true;
    parse(&r, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort");
    assert_int_equal(r.body_rc, 0);
    assert_int_equal(r.eof_rc, LLMC_ERR_CLOSED);
    assert_string_equal(tb_cstr(&r.data), "short");
    run_free(&r);
}

static void test_eof_on_short_chunked_body_is_closed(void **st)
{
    static const char *const in[] = {
        CHUNKED_HEAD "5\r\nhel",
        CHUNKED_HEAD "5\r\nhello\r\n",
        CHUNKED_HEAD "5\r\nhello\r\n0\r\n",  /* trailer section not ended */
        CHUNKED_HEAD "5\r\nhello\r\n0\r\nX: 1\r\n",
        CHUNKED_HEAD,
    };
    size_t i;
    (void)st;
    for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        http_run_t r = {0};
        r.eof_at_end = true;
        parse(&r, in[i]);
        assert_int_equal(r.head_rc, 1);
        assert_int_equal(r.body_rc, 0);
        assert_int_equal(r.eof_rc, LLMC_ERR_CLOSED);
        assert_false(r.reusable);
        run_free(&r);
    }
}

static void test_no_body_for_204_and_304(void **st)
{
    static const char *const in[] = {
        "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1",
        "HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\nHTTP/1.1",
        "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\nHTTP",
    };
    size_t i;
    (void)st;
    for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        http_run_t r = {0};
        parse(&r, in[i]);
        assert_int_equal(r.head_rc, 1);
        assert_true(r.h.flags & LLMC_HTTP_F_NOBODY);
        assert_int_equal(r.body_rc, 1);
        assert_int_equal(r.body_end, r.head_end); /* nothing consumed */
        assert_int_equal(r.calls, 0);
        assert_int_equal(llmc_http_eof(&r.h), 1);
        assert_true(r.reusable);
        run_free(&r);
    }
}

/* Once complete, further body bytes (the next response) are left alone. */
static void test_body_call_after_completion_consumes_nothing(void **st)
{
    static const char *const in[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
         "2\r\nok\r\n0\r\n\r\n"),
        "HTTP/1.1 204 No Content\r\n\r\n",
    };
    size_t i, used, hu;
    (void)st;
    for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        http_run_t r = {0};
        size_t n = strlen(in[i]);
        llmc_http_init(&r.h);
        assert_int_equal(llmc_http_head(&r.h, in[i], n, &hu), 1);
        assert_int_equal(llmc_http_body(&r.h, in[i] + hu, n - hu, &used,
                                        body_cb, &r),
                         1);
        assert_int_equal(used, n - hu);
        used = 99;
        assert_int_equal(
            llmc_http_body(&r.h, "HTTP/1.1", 8, &used, body_cb, &r), 1);
        assert_int_equal(used, 0);
        used = 99;
        assert_int_equal(llmc_http_body(&r.h, "", 0, &used, body_cb, &r), 1);
        assert_int_equal(used, 0);
        assert_int_equal(llmc_http_eof(&r.h), 1);
        assert_true(llmc_http_reusable(&r.h));
        run_free(&r);
    }
}

static void test_body_callback_nonzero_stops_and_is_returned(void **st)
{
    static const char *const in[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nabc!defg",
        CHUNKED_HEAD "3\r\nabc\r\n5\r\n!defg\r\n0\r\n\r\n",
        CHUNKED_HEAD "8\r\nabc!defg\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\n\r\nabc!defg",
    };
    static const int codes[] = {42, LLMC_ERR_CANCELLED, -1000};
    size_t i, j;
    (void)st;
    for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        for (j = 0; j < sizeof(codes) / sizeof(codes[0]); j++) {
            http_run_t r = {0};
            r.stop_code = codes[j];
            parse(&r, in[i]);
            assert_int_equal(r.head_rc, 1);
            assert_int_equal(r.body_rc, codes[j]);
            assert_string_equal(tb_cstr(&r.data), "abc");
            run_free(&r);
        }
    }
}

static void test_http_init_resets_retry_fields(void **st)
{
    llmc_http_t h;
    (void)st;
    memset(&h, 0xA5, sizeof(h));
    llmc_http_init(&h);
    assert_int_equal(h.retry_after_ms, -1);
    assert_int_equal(h.should_retry, -1);
    assert_int_equal(h.status, 0);
    assert_false(llmc_http_in_body(&h));
    assert_int_equal(llmc_http_eof(&h), LLMC_ERR_CLOSED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_line_crlf_parsed_with_body),
        cmocka_unit_test(test_bare_lf_line_ends_parse_like_crlf),
        cmocka_unit_test(test_lone_cr_rejected_in_head_kept_in_body),
        cmocka_unit_test(test_status_line_without_reason_phrase_accepted),
        cmocka_unit_test(test_status_codes_1xx_to_5xx_read_exactly),
        cmocka_unit_test(test_status_line_http2_rejected),
        cmocka_unit_test(test_status_line_missing_code_rejected),
        cmocka_unit_test(test_status_line_letters_or_bad_digits_rejected),
        cmocka_unit_test(test_header_line_without_colon_rejected),
        cmocka_unit_test(test_incomplete_head_needs_more),
        cmocka_unit_test(test_100_continue_before_real_head_skipped),
        cmocka_unit_test(
            test_interim_heads_with_headers_do_not_leak_into_final),
        cmocka_unit_test(test_content_length_read_with_surrounding_spaces),
        cmocka_unit_test(test_content_length_duplicates_equal_accepted),
        cmocka_unit_test(test_content_length_duplicates_differing_rejected),
        cmocka_unit_test(test_content_length_non_digits_rejected),
        cmocka_unit_test(test_transfer_encoding_chunked_case_insensitive),
        cmocka_unit_test(test_transfer_encoding_gzip_or_stacked_rejected),
        cmocka_unit_test(
            test_content_encoding_other_than_identity_refused),
        cmocka_unit_test(test_transfer_encoding_blanks_collapse_coding_after_rejected),
        cmocka_unit_test(test_transfer_encoding_on_two_lines_rejected),
        cmocka_unit_test(test_transfer_encoding_identity_body_ends_at_close),
        cmocka_unit_test(test_chunked_wins_over_content_length),
        cmocka_unit_test(test_connection_close_sets_close_and_not_reusable),
        cmocka_unit_test(test_connection_keep_alive_is_reusable_after_body),
        cmocka_unit_test(test_not_reusable_before_body_complete),
        cmocka_unit_test(test_content_type_event_stream_and_json),
        cmocka_unit_test(test_retry_after_seconds_read_as_ms),
        cmocka_unit_test(test_retry_after_http_date_or_junk_ignored),
        cmocka_unit_test(test_retry_after_longer_than_kept_ignored),
        cmocka_unit_test(test_many_trailing_tabs_not_part_of_the_value),
        cmocka_unit_test(
            test_retry_after_ms_wins_over_retry_after_either_order),
        cmocka_unit_test(test_retry_after_ms_fraction_rounds_up),
        cmocka_unit_test(test_x_should_retry_true_false_and_absent),
        cmocka_unit_test(test_http10_response_is_not_reusable),
        cmocka_unit_test(test_unknown_long_and_folded_headers_pass),
        cmocka_unit_test(test_folded_header_values_joined),
        cmocka_unit_test(test_head_of_exactly_head_max_accepted),
        cmocka_unit_test(test_head_larger_than_head_max_too_large),
        cmocka_unit_test(test_endless_status_line_too_large),
        cmocka_unit_test(test_chunked_body_decoded_across_chunks),
        cmocka_unit_test(test_chunked_body_with_bare_lf_line_ends),
        cmocka_unit_test(test_chunked_body_binary_and_crlf_inside_data),
        cmocka_unit_test(test_chunked_body_with_extensions),
        cmocka_unit_test(test_chunked_size_with_junk_after_blank_rejected),
        cmocka_unit_test(test_chunked_body_with_trailers),
        cmocka_unit_test(
            test_lone_cr_rejected_in_chunk_framing_kept_in_data),
        cmocka_unit_test(test_chunked_size_uppercase_and_mixed_hex),
        cmocka_unit_test(test_chunked_bytes_after_last_chunk_not_consumed),
        cmocka_unit_test(test_chunked_bad_hex_rejected),
        cmocka_unit_test(test_chunked_first_size_line_without_digits_rejected),
        cmocka_unit_test(
            test_chunked_missing_crlf_after_data_rejected_after_data),
        cmocka_unit_test(test_chunked_size_overflow_rejected),
        cmocka_unit_test(test_chunk_size_up_to_256mib_read),
        cmocka_unit_test(test_chunked_huge_extension_too_large),
        cmocka_unit_test(test_chunked_body_with_many_chunks_not_limited),
        cmocka_unit_test(
            test_chunked_body_split_at_every_byte_gives_same_bytes),
        cmocka_unit_test(
            test_content_length_body_exact_and_rest_not_consumed),
        cmocka_unit_test(test_content_length_zero_body_complete_at_once),
        cmocka_unit_test(test_close_delimited_body_ends_on_eof),
        cmocka_unit_test(
            test_content_length_up_to_4gib_read_beyond_rejected),
        cmocka_unit_test(test_close_delimited_body_not_cut_at_4gib),
        cmocka_unit_test(test_eof_on_short_content_length_body_is_closed),
        cmocka_unit_test(test_eof_on_short_chunked_body_is_closed),
        cmocka_unit_test(test_no_body_for_204_and_304),
        cmocka_unit_test(test_body_call_after_completion_consumes_nothing),
        cmocka_unit_test(test_body_callback_nonzero_stops_and_is_returned),
        cmocka_unit_test(test_http_init_resets_retry_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
