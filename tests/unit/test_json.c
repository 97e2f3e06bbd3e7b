/* Unit tests of the JSON decoding (src/llmc_json.c): chat chunks and
 * bodies, error objects, IAM token answers, string unescaping. Each input is
 * copied into a heap buffer of exactly its length so that ASan catches any
 * read past it. */
#include "split.h"

#include "llmc/llmc.h"
#include "llmc_json.h"

/* The last input's copy stays alive until the next call, since the
 * decoded strings point into it. */
static char *g_js;

static void release(void)
{
    free(g_js);
    g_js = NULL;
}

static int teardown(void **st)
{
    (void)st;
    release();
    return 0;
}

static char *copy_in(const char *js, size_t n)
{
    release();
    g_js = malloc(n > 0 ? n : 1);
    assert_non_null(g_js);
    memcpy(g_js, js, n);
    return g_js;
}

static int chat(const char *js, llmc_chat_msg_t *m)
{
    size_t n = strlen(js);
    char *b = copy_in(js, n);
    return llmc_json_chat(b, n, NULL, m);
}

static void assert_content(const llmc_chat_msg_t *m, const char *want,
                           size_t want_len)
{
    assert_true(m->has_content);
    assert_non_null(m->content);
    assert_int_equal(m->content_len, want_len);
    assert_memory_equal(m->content, want, want_len);
}

#define CONTENT_IS(m, lit) assert_content((m), (lit), sizeof(lit) - 1)

/* Content of {"choices":[{"delta":{"content":"<esc>"}}]}. */
static int delta_of(const char *esc, llmc_chat_msg_t *m)
{
    char js[512];
    snprintf(js, sizeof(js), "{\"choices\":[{\"delta\":{\"content\":\"%s\"}}]}",
             esc);
    return chat(js, m);
}

/* ---- chat chunks and bodies -------------------------------------------- */

static void test_chunk_delta_content_read(void **st)
{
    llmc_chat_msg_t m;
    (void)st;
    assert_int_equal(
        chat("{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\","
             "\"created\":1700000000,\"model\":\"gpt-4o-mini\","
             "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"},"
             "\"logprobs\":null,\"finish_reason\":null}]}",
             &m),
        LLMC_OK);
    CONTENT_IS(&m, "Hello");
    assert_null(m.finish_reason);
    assert_false(m.usage.present);
    assert_false(m.has_error);
}

static void test_role_only_chunk_gives_no_content(void **st)
{
    llmc_chat_msg_t m;
    (void)st;
    assert_int_equal(chat("{\"choices\":[{\"index\":0,\"delta\":{\"role\":"
                          "\"assistant\",\"content\":\"\"},"
                          "\"finish_reason\":null}]}",
                          &m),
                     LLMC_OK);
    assert_int_equal(m.content_len, 0);
    assert_null(m.finish_reason);
    assert_int_equal(chat("{\"choices\":[{\"index\":0,\"delta\":{\"role\":"
                          "\"assistant\"}}]}",
                          &m),
                     LLMC_OK);
    assert_false(m.has_content);
    assert_int_equal(m.content_len, 0);
}

static void test_content_null_is_ok_and_absent(void **st)
{
    llmc_chat_msg_t m;
    (void)st;
    assert_int_equal(chat("{\"choices\":[{\"delta\":{\"content\":null,"
                          "\"tool_calls\":[{\"index\":0}]}}]}",
                          &m),
                     LLMC_OK);
    assert_false(m.has_content);
    assert_int_equal(chat("{\"choices\":[{\"message\":{\"role\":\"assistant\","
                          "\"content\":null},\"finish_reason\":\"stop\"}]}",
                          &m),
                     LLMC_OK);
    assert_false(m.has_content);
    assert_int_equal(m.finish_len, 4);
    assert_memory_equal(m.finish_reason, "stop", 4);
}

static void test_finish_reason_read(void **st)
{
    llmc_chat_msg_t m;
    (void)st;
    assert_int_equal(chat("{\"choices\":[{\"index\":0,\"delta\":{},"
                          "\"finish_reason\":\"length\"}]}",
                          &m),
                     LLMC_OK);
    assert_false(m.has_content);
    assert_non_null(m.finish_reason);
    assert_int_equal(m.finish_len, 6);
    assert_memory_equal(m.finish_reason, "length", 6);
}

static void test_usage_chunk_with_empty_choices(void **st)
{
    llmc_chat_msg_t m;
    (void)st;
    assert_int_equal(chat("{\"id\":\"x\",\"choices\":[],\"usage\":{"
                          "\"prompt_tokens\":9,\"completion_tokens\":12,"
                          "\"total_tokens\":21,\"prompt_tokens_details\":"
                          "{\"cached_tokens\":0}}}",
                          &m),
                     LLMC_OK);
    assert_false(m.has_content);
    assert_true(m.usage.present);
    assert_int_equal(m.usage.prompt_tokens, 9);
    assert_int_equal(m.usage.completion_tokens, 12);
    assert_int_equal(m.usage.total_tokens, 21);
}

static void test_usage_null_or_odd_counts(void **st)
{
    llmc_chat_msg_t m;
    (void)st;
    assert_int_equal(chat("{\"choices\":[],\"usage\":null}", &m), LLMC_OK);
    assert_false(m.usage.present);
    assert_int_equal(chat("{\"choices\":[],\"usage\":{\"prompt_tokens\":"
                          "99999999999,\"completion_tokens\":null,"
                          "\"total_tokens\":\"7\"}}",
                          &m),
                     LLMC_OK);
    assert_true(m.usage.present);
    assert_int_equal(m.usage.prompt_tokens, INT32_MAX);
    assert_int_equal(m.usage.completion_tokens, 0);
    assert_int_equal(m.usage.total_tokens, 0);
    assert_int_equal(chat("{\"usage\":[1]}", &m), LLMC_ERR_PROTOCOL);
}

/* A key given twice: the last usable value counts (a count that is not an
 * integer, or has an exponent, is passed over; a fraction is cut), except error.message, whose first string counts;
 * every delta|message is read, so a later content replaces an earlier one. */
static void test_repeated_keys(void **st)
{
    llmc_chat_msg_t m;
    (void)st;
    assert_int_equal(chat("{\"choices\":[],\"usage\":{\"prompt_tokens\":5,"
                          "\"prompt_tokens\":\"x\",\"total_tokens\":1,"
                          "\"total_tokens\":-2147483649,"
                          "\"completion_tokens\":8.5,"
                          "\"completion_tokens\":7.9e3}}",
                          &m),
                     LLMC_OK);
    assert_int_equal(m.usage.prompt_tokens, 5);
    assert_int_equal(m.usage.total_tokens, INT32_MIN);
    assert_int_equal(m.usage.completion_tokens, 8);
    assert_int_equal(chat("{\"error\":{\"message\":1,\"message\":\"a\","
                          "\"message\":\"b\"}}",
                          &m),
                     LLMC_OK);
    assert_int_equal(m.error_len, 1);
    assert_memory_equal(m.error_msg, "a", 1);
    assert_int_equal(chat("{\"choices\":[{\"message\":{\"content\":\"a\"},"
                          "\"delta\":{\"content\":\"b\",\"content\":null},"
                          "\"finish_reason\":\"x\",\"finish_reason\":null}]}",
                          &m),
                     LLMC_OK);
    CONTENT_IS(&m, "b");
    assert_int_equal(m.finish_len, 1);
    assert_memory_equal(m.finish_reason, "x", 1);
    assert_int_equal(chat("{\"choices\":[{\"delta\":{\"content\":\"a\","
                          "\"content\":2}}]}",
                          &m),
                     LLMC_ERR_PROTOCOL);
}

static void test_non_stream_body_message_content(void **st)
{
    llmc_chat_msg_t m;
    (void)st;
    assert_int_equal(
        chat("{\n  \"id\": \"chatcmpl-2\",\n  \"object\": \"chat.completion\","
             "\n  \"choices\": [\n    {\n      \"index\": 0,\n      "
             "\"message\": {\n        \"role\": \"assistant\",\n        "
             "\"content\": \"I am \\\"fine\\\".\",\n        \"refusal\": null"
             "\n      },\n      \"finish_reason\": \"stop\"\n    }\n  ],\n"
             "  \"usage\": {\"prompt_tokens\": 5, \"completion_tokens\": 4, "
             "\"total_tokens\": 9}\n}\n",
             &m),
        LLMC_OK);
    CONTENT_IS(&m, "I am \"fine\".");
    assert_int_equal(m.finish_len, 4);
    assert_true(m.usage.present);
    assert_int_equal(m.usage.total_tokens, 9);
}

static void test_only_first_choice_and_top_level_keys_read(void **st)
{
    llmc_chat_msg_t m;
    (void)st;
    assert_int_equal(
        chat("{\"meta\":{\"choices\":\"not this\",\"content\":\"no\"},"
             "\"choices\":[{\"logprobs\":{\"content\":[{\"token\":\"no\"}]},"
             "\"delta\":{\"x\":{\"content\":\"no\"},\"content\":\"yes\"}},"
             "{\"delta\":{\"content\":\"second\"}}],"
             "\"x\":[[],{},[{}]]}",
             &m),
        LLMC_OK);
    CONTENT_IS(&m, "yes");
}

/* Content as an array of parts (Mistral's reasoning models): the text of
 * the "text" parts, unescaped and joined; thinking and other parts left
 * out; an array with no text part is an empty content. */
static void test_content_parts_text_joined(void **st)
{
    llmc_chat_msg_t m;
    (void)st;
    assert_int_equal(
        chat("{\"choices\":[{\"delta\":{\"content\":[{\"type\":\"thinking\","
             "\"thinking\":[{\"type\":\"text\",\"text\":\"hmm\"}]},"
             "{\"type\":\"text\",\"text\":\"Hel\\u006co\"} , "
             "{\"text\":\", w\\\"\",\"type\":\"text\",\"x\":[1]},"
             "{\"type\":\"reference\",\"reference_ids\":[1]},"
             "{\"type\":\"text\",\"text\":\"\"},"
             "{\"type\":\"text\",\"text\":\"orld\"}]},"
             "\"finish_reason\":null}]}",
             &m),
        LLMC_OK);
    CONTENT_IS(&m, "Hello, w\"orld");
    assert_true(m.rewritten); /* no shape is kept from it */
    assert_int_equal(chat("{\"choices\":[{\"message\":{\"role\":\"assistant\","
                          "\"content\":[{\"type\":\"thinking\",\"thinking\":"
                          "[{\"type\":\"text\",\"text\":\"hmm\"}]},"
                          "{\"type\":\"text\",\"text\":\"answer\"}]}}]}",
                          &m),
                     LLMC_OK);
    CONTENT_IS(&m, "answer");
    /* thinking only, or no part: content present and empty */
    assert_int_equal(chat("{\"choices\":[{\"delta\":{\"content\":[{\"type\":"
                          "\"thinking\",\"thinking\":[{\"type\":\"text\","
                          "\"text\":\"hmm\"}]}]}}]}",
                          &m),
                     LLMC_OK);
    assert_true(m.has_content);
    assert_int_equal(m.content_len, 0);
    assert_int_equal(chat("{\"choices\":[{\"delta\":{\"content\":[ ]}}]}", &m),
                     LLMC_OK);
    assert_true(m.has_content);
    assert_int_equal(m.content_len, 0);
    /* a later string content replaces the parts, and the other way round */
    assert_int_equal(chat("{\"choices\":[{\"delta\":{\"content\":[{\"type\":"
                          "\"text\",\"text\":\"a\"}],\"content\":\"b\"}}]}",
                          &m),
                     LLMC_OK);
    CONTENT_IS(&m, "b");
    assert_int_equal(chat("{\"choices\":[{\"delta\":{\"content\":\"a\\n\","
                          "\"content\":[{\"type\":\"text\",\"text\":\"b\"}]}}]}",
                          &m),
                     LLMC_OK);
    CONTENT_IS(&m, "b");
}

/* A part is an object, and its "text" (only text parts have one; a null
 * one is absent) a string; anything else is not what llmc expects. */
static void test_content_parts_malformed(void **st)
{
    static const char *const bad[] = {
        "[\"text\"]",
        "[{\"type\":\"text\",\"text\":[\"a\"]}]",
        "[{\"type\":\"image\",\"text\":7}]",
        "[{\"type\":\"text\",\"text\":\"a\"},1]",
        "[[{\"type\":\"text\",\"text\":\"a\"}]]",
    };
    char js[160];
    llmc_chat_msg_t m;
    size_t i;
    (void)st;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(js, sizeof(js),
                 "{\"choices\":[{\"delta\":{\"content\":%s}}]}", bad[i]);
        if (chat(js, &m) != LLMC_ERR_PROTOCOL)
            fail_msg("accepted %s", bad[i]);
    }
    assert_int_equal(chat("{\"choices\":[{\"delta\":{\"content\":[{\"type\":"
                          "\"text\"},{\"type\":\"text\",\"text\":null},"
                          "{\"type\":\"image_url\",\"image_url\":{\"text\":"
                          "\"no\"}}]}}]}",
                          &m),
                     LLMC_OK);
    assert_true(m.has_content);
    assert_int_equal(m.content_len, 0);
}

/* The lone surrogate halves of parts: the first part's at the start, the
 * last part's at the end, for the stream's neighbouring contents. */
static void test_content_parts_lone_halves(void **st)
{
    llmc_chat_msg_t m;
    (void)st;
    assert_int_equal(chat("{\"choices\":[{\"delta\":{\"content\":["
                          "{\"type\":\"text\",\"text\":\"\\uDE00a\\uD83D\"},"
                          "{\"type\":\"text\",\"text\":\"\\uDE00b\\uD83D\"}"
                          "]}}]}",
                          &m),
                     LLMC_OK);
    /* the halves at the parts' edges are one character, as in the
     * joined strings; those at the content's edges stay lone */
    CONTENT_IS(&m, "\xEF\xBF\xBD" "a\xF0\x9F\x98\x80" "b\xEF\xBF\xBD");
    assert_int_equal(m.lone[0], 0xDE00);
    assert_int_equal(m.lone[1], 0xD83D);
    assert_int_equal(chat("{\"choices\":[{\"delta\":{\"content\":["
                          "{\"type\":\"text\",\"text\":\"a\\uD83D\"},"
                          "{\"type\":\"text\",\"text\":\"\\uDE00b\"}"
                          "]}}]}",
                          &m),
                     LLMC_OK);
    CONTENT_IS(&m, "a\xF0\x9F\x98\x80" "b");
    assert_int_equal(m.lone[0], 0);
    assert_int_equal(m.lone[1], 0);
    /* a part that is only the low half: nothing left of it after the
     * pair, and the content ends whole */
    assert_int_equal(chat("{\"choices\":[{\"delta\":{\"content\":["
                          "{\"type\":\"text\",\"text\":\"a\\uD83D\"},"
                          "{\"type\":\"text\",\"text\":\"\\uDE00\"}"
                          "]}}]}",
                          &m),
                     LLMC_OK);
    CONTENT_IS(&m, "a\xF0\x9F\x98\x80");
    assert_int_equal(m.lone[0], 0);
    assert_int_equal(m.lone[1], 0);
}

/* The WHATWG decoder's reading: where the first ill-formed sequence starts
 * and how many bytes its U+FFFD stands for. */
static void test_utf8_check_finds_ill_formed_sequences(void **st)
{
    static const struct {
        const char *s;
        size_t at, bad;
    } k[] = {
        {"", 0, 0},
        {"plain", 5, 0},
        {"\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf", 13, 0},
        {"\xed\x9f\xbf\xee\x80\x80", 6, 0}, /* around the surrogates */
        {"a\xff", 1, 1},
        {"ab\x80", 2, 1},            /* a stray continuation byte */
        {"\xc0\xaf", 0, 1},          /* overlong: C0 starts nothing */
        {"\xc1\xbf", 0, 1},
        {"\xe0\x9f\xbf", 0, 1},      /* overlong 3 bytes */
        {"\xed\xa0\x80", 0, 1},      /* a surrogate */
        {"\xf0\x8f\xbf\xbf", 0, 1},  /* overlong 4 bytes */
        {"\xf4\x90\x80\x80", 0, 1},  /* beyond U+10FFFF */
        {"\xf5\x80\x80\x80", 0, 1},
        {"x\xe2\x82", 1, 2},         /* cut at the end: one for both */
        {"x\xe2\x82y", 1, 2},
        {"\xf0\x9f\x98", 0, 3},
        {"\xf0\x9f\x98z", 0, 3},
        {"\xc3", 0, 1},
    };
    size_t i, bad;
    (void)st;
    for (i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
        bad = 0;
        assert_int_equal(llmc_utf8_check(k[i].s, strlen(k[i].s), &bad),
                         k[i].at);
        assert_int_equal(bad, k[i].bad);
    }
}

static void test_content_raw_utf8_kept(void **st)
{
    llmc_chat_msg_t m;
    (void)st;
    assert_int_equal(delta_of("\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80", &m),
                     LLMC_OK);
    CONTENT_IS(&m, "\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80");
}

/* ---- errors ----------------------------------------------------------- */

static void test_error_object_message_read(void **st)
{
    llmc_chat_msg_t m;
    (void)st;
    assert_int_equal(chat("{\"error\":{\"code\":429,\"type\":\"rate_limit\","
                          "\"message\":\"Rate limit \\\"reached\\\"\","
                          "\"param\":null}}",
                          &m),
                     LLMC_OK);
    assert_true(m.has_error);
    assert_int_equal(m.error_len, strlen("Rate limit \"reached\""));
    assert_memory_equal(m.error_msg, "Rate limit \"reached\"", m.error_len);
    assert_false(m.has_content);
}

static void test_error_string_read(void **st)
{
    llmc_chat_msg_t m;
    (void)st;
    assert_int_equal(chat("{\"error\":\"model not found\"}", &m), LLMC_OK);
    assert_true(m.has_error);
    assert_int_equal(m.error_len, 15);
    assert_memory_equal(m.error_msg, "model not found", 15);
}

static void test_error_object_without_message_still_error(void **st)
{
    llmc_chat_msg_t m;
    (void)st;
    assert_int_equal(chat("{\"error\":{\"code\":500}}", &m), LLMC_OK);
    assert_true(m.has_error);
    assert_null(m.error_msg);
}

static void test_error_null_ignored(void **st)
{
    llmc_chat_msg_t m;
    (void)st;
    assert_int_equal(chat("{\"error\":null,\"choices\":[{\"delta\":{"
                          "\"content\":\"ok\"}}]}",
                          &m),
                     LLMC_OK);
    assert_false(m.has_error);
    CONTENT_IS(&m, "ok");
    /* false is no error either, and true is one without a message */
    assert_int_equal(chat("{\"choices\":[{\"delta\":{\"content\":\"ok\"}}],"
                          "\"error\": false}",
                          &m),
                     LLMC_OK);
    assert_false(m.has_error);
    CONTENT_IS(&m, "ok");
    assert_int_equal(chat("{\"error\":true}", &m), LLMC_OK);
    assert_true(m.has_error);
    assert_int_equal(m.error_len, 0);
}

static void test_error_in_stream_event_beside_choices(void **st)
{
    llmc_chat_msg_t m;
    (void)st;
    assert_int_equal(chat("{\"choices\":[{\"delta\":{\"content\":\"\"},"
                          "\"finish_reason\":\"error\"}],\"error\":{"
                          "\"message\":\"upstream\\nfailed\"}}",
                          &m),
                     LLMC_OK);
    assert_true(m.has_error);
    assert_int_equal(m.error_len, 15);
    assert_memory_equal(m.error_msg, "upstream\nfailed", 15);
}

/* ---- escapes ---------------------------------------------------------- */

static void test_simple_escapes_decoded(void **st)
{
    llmc_chat_msg_t m;
    (void)st;
    assert_int_equal(delta_of("a\\nb\\tc\\\"d\\\\e\\/f\\bg\\fh\\ri", &m),
                     LLMC_OK);
    CONTENT_IS(&m, "a\nb\tc\"d\\e/f\bg\fh\ri");
}

static void test_unicode_escapes_to_utf8(void **st)
{
    llmc_chat_msg_t m;
    (void)st;
    assert_int_equal(delta_of("caf\\u00e9", &m), LLMC_OK);
    CONTENT_IS(&m, "caf\xc3\xa9");
    assert_int_equal(delta_of("\\u4e2d\\u6587", &m), LLMC_OK);
    CONTENT_IS(&m, "\xe4\xb8\xad\xe6\x96\x87");
    assert_int_equal(delta_of("\\u00E9\\u0041\\u007f\\u0080\\u07ff\\u0800"
                              "\\uffff",
                              &m),
                     LLMC_OK);
    CONTENT_IS(&m, "\xc3\xa9"
                   "A\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf");
    assert_int_equal(delta_of("a\\u0000b", &m), LLMC_OK);
    CONTENT_IS(&m, "a\0b");
}

static void test_surrogate_pair_to_four_bytes(void **st)
{
    llmc_chat_msg_t m;
    (void)st;
    assert_int_equal(delta_of("\\ud83d\\ude00", &m), LLMC_OK);
    CONTENT_IS(&m, "\xf0\x9f\x98\x80");
    assert_int_equal(delta_of("x\\uD83D\\uDE00y\\udbff\\udfff", &m),
                     LLMC_OK);
    CONTENT_IS(&m, "x\xf0\x9f\x98\x80y\xf4\x8f\xbf\xbf");
}

static void test_lone_surrogates_become_replacement_char(void **st)
{
    llmc_chat_msg_t m;
    (void)st;
    assert_int_equal(delta_of("a\\ud83db", &m), LLMC_OK);
    CONTENT_IS(&m, "a\xef\xbf\xbd"
                   "b");
    assert_int_equal(delta_of("a\\ude00b", &m), LLMC_OK);
    CONTENT_IS(&m, "a\xef\xbf\xbd"
                   "b");
    assert_int_equal(delta_of("\\ud83d", &m), LLMC_OK); /* high at the end */
    CONTENT_IS(&m, "\xef\xbf\xbd");
    /* high then a non-surrogate escape: the escape still counts */
    assert_int_equal(delta_of("\\ud83d\\u0041", &m), LLMC_OK);
    CONTENT_IS(&m, "\xef\xbf\xbd"
                   "A");
    /* high, high, low: one replacement then the pair */
    assert_int_equal(delta_of("\\ud83d\\ud83d\\ude00", &m), LLMC_OK);
    CONTENT_IS(&m, "\xef\xbf\xbd\xf0\x9f\x98\x80");
    /* low then high: two replacements */
    assert_int_equal(delta_of("\\ude00\\ud83d", &m), LLMC_OK);
    CONTENT_IS(&m, "\xef\xbf\xbd\xef\xbf\xbd");
    /* high followed by a plain escape */
    assert_int_equal(delta_of("\\ud83d\\n", &m), LLMC_OK);
    CONTENT_IS(&m, "\xef\xbf\xbd\n");
}

static int unescape_str(const char *in, char *out, size_t *out_n)
{
    size_t n = strlen(in);
    char *b = copy_in(in, n);
    int rc = llmc_json_unescape(b, n, out_n, NULL);
    if (rc == LLMC_OK)
        memcpy(out, b, *out_n);
    return rc;
}

/* The lone halves llmc_json_unescape() notes: a low one that begins the
 * string, a high one that ends it; none elsewhere, and the output is the
 * same with or without the note. */
static void test_lone_halves_at_the_edges_are_noted(void **st)
{
    static const struct {
        const char *in;
        uint16_t lo, hi; /* lone[0], lone[1] */
    } cases[] = {
        {"\\\\ud83d", 0, 0},                  /* not an escape */
        {"ab\\ud83d", 0, 0xD83D},             /* high at the end */
        {"\\uDBFF", 0, 0xDBFF},               /* alone: the end */
        {"\\ude00cd", 0xDE00, 0},             /* low at the start */
        {"\\udc00", 0xDC00, 0},
        {"\\ude00x\\ud83d", 0xDE00, 0xD83D},  /* both */
        {"\\ude00\\ud83d", 0xDE00, 0xD83D},
        {"x\\ude00", 0, 0},                   /* low, not at the start */
        {"\\ud83dx", 0, 0},                   /* high, not at the end */
        {"\\ud83d\\ude00", 0, 0},             /* a pair */
        {"a\\ud83d\\ude00\\ud83d", 0, 0xD83D},
        {"\\ude00\\ud83d\\ude00", 0xDE00, 0},
        {"\\ud83d\\ud83d", 0, 0xD83D},        /* only the last high */
        {"\\ude00\\ude00", 0xDE00, 0},        /* only the first low */
        {"\\u0041\\ud83d\\n", 0, 0},
        {"\\ud83d\\n", 0, 0},
    };
    size_t i, n1, n2;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = strlen(cases[i].in);
        char *a = copy_in(cases[i].in, len), b[64];
        uint16_t lone[2] = {0, 0};
        assert_true(len < sizeof(b));
        memcpy(b, cases[i].in, len);
        assert_int_equal(llmc_json_unescape(a, len, &n1, lone), LLMC_OK);
        assert_int_equal(llmc_json_unescape(b, len, &n2, NULL), LLMC_OK);
        if (lone[0] != cases[i].lo || lone[1] != cases[i].hi)
            fail_msg("%s: lone %#x %#x", cases[i].in, lone[0], lone[1]);
        assert_int_equal(n1, n2);
        assert_memory_equal(a, b, n1);
        /* a noted half is U+FFFD at its edge */
        if (lone[0] != 0)
            assert_memory_equal(a, "\xef\xbf\xbd", 3);
        if (lone[1] != 0)
            assert_memory_equal(a + n1 - 3, "\xef\xbf\xbd", 3);
    }
    (void)st;
}

/* A chunk notes its content's lone halves, and only the content's: a
 * finish_reason or an error message beside it does not. */
static void test_chat_notes_the_contents_lone_halves(void **st)
{
    llmc_chat_msg_t m;
    (void)st;
    assert_int_equal(delta_of("\\ude00 ok \\ud83d", &m), LLMC_OK);
    assert_int_equal(m.lone[0], 0xDE00);
    assert_int_equal(m.lone[1], 0xD83D);
    assert_int_equal(chat("{\"choices\":[{\"delta\":{\"content\":\"a\\ud83d\"},"
                          "\"finish_reason\":\"\\ude00x\\ud83d\"}]}",
                          &m),
                     LLMC_OK);
    assert_int_equal(m.lone[0], 0);
    assert_int_equal(m.lone[1], 0xD83D);
    assert_int_equal(chat("{\"choices\":[{\"finish_reason\":\"\\ud83d\","
                          "\"delta\":{\"content\":\"b\"}}]}",
                          &m),
                     LLMC_OK);
    assert_int_equal(m.lone[1], 0);
    assert_int_equal(chat("{\"error\":{\"message\":\"\\ude00\"}}", &m),
                     LLMC_OK);
    assert_int_equal(m.lone[0], 0);
    /* the last of two contents counts, as its text does */
    assert_int_equal(chat("{\"choices\":[{\"delta\":{\"content\":\"\\ude00\","
                          "\"content\":\"c\"}}]}",
                          &m),
                     LLMC_OK);
    CONTENT_IS(&m, "c");
    assert_int_equal(m.lone[0], 0);
}

static void test_unescape_direct_cases(void **st)
{
    char out[64];
    size_t n = 999;
    (void)st;
    assert_int_equal(unescape_str("", out, &n), LLMC_OK);
    assert_int_equal(n, 0);
    assert_int_equal(unescape_str("plain text", out, &n), LLMC_OK);
    assert_int_equal(n, 10);
    assert_memory_equal(out, "plain text", 10);
    assert_int_equal(unescape_str("\\\\\\\\", out, &n), LLMC_OK);
    assert_int_equal(n, 2);
    assert_memory_equal(out, "\\\\", 2);
    assert_int_equal(unescape_str("\\ud83d\\ude00\\ud83d\\ude00", out, &n),
                     LLMC_OK);
    assert_int_equal(n, 8);
    assert_memory_equal(out, "\xf0\x9f\x98\x80\xf0\x9f\x98\x80", 8);
}

static void test_bad_escapes_rejected(void **st)
{
    static const char *const bad[] = {
        "\\x41", "\\u12", "ab\\u", "\\uZZZZ", "\\u12G4", "abc\\",
        "\\a",   "\\'",  "\\U0041", "\\ud83d\\u12",
    };
    char out[64];
    size_t i, n;
    llmc_chat_msg_t m;
    (void)st;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(unescape_str(bad[i], out, &n), LLMC_ERR_PROTOCOL);
    /* the same inside a chunk */
    assert_int_equal(delta_of("\\x41", &m), LLMC_ERR_PROTOCOL);
    assert_int_equal(delta_of("\\uZZZZ", &m), LLMC_ERR_PROTOCOL);
    assert_int_equal(delta_of("\\u12", &m), LLMC_ERR_PROTOCOL);
    assert_int_equal(chat("{\"error\":\"\\q\"}", &m), LLMC_ERR_PROTOCOL);
    assert_int_equal(chat("{\"choices\":[{\"delta\":{},\"finish_reason\":"
                          "\"\\z\"}]}",
                          &m),
                     LLMC_ERR_PROTOCOL);
}

/* ---- malformed JSON --------------------------------------------------- */

static void test_malformed_json_rejected(void **st)
{
    static const char *const bad[] = {
        "",
        "   ",
        "{",
        "{\"choices\":[{\"delta\":{\"content\":\"Hel",
        "{\"choices\":[{\"delta\":{\"content\":\"Hello\"}}]",
        "{\"a\":1",
        "{\"a\":-",
        "{\"a\":tru",
        "{\"a\":1} x",
        "{\"a\":1}{\"b\":2}",
        "{\"a\":1}]",
        "[1,2]",
        "[{\"choices\":[]}]",
        "\"text\"",
        "42",
        "null",
        "{'a':1}",
        "{a:1}",
        "{\"a\":1}\x01",
        "data: {\"a\":1}",
    };
    size_t i;
    llmc_chat_msg_t m;
    (void)st;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = chat(bad[i], &m);
        if (rc != LLMC_ERR_PROTOCOL)
            fail_msg("input %zu <%s>: rc %d, want %d", i, bad[i], rc,
                     LLMC_ERR_PROTOCOL);
    }
}

/* llmc_json_valid() is the same check, without a member read */
static void test_json_valid_is_the_grammar_check(void **st)
{
    static const char *const bad[] = {
        "", "{", "{\"a\"}", "{\"a\":1 \"b\":2}", "{\"a\":1,}",
        "{\"a\":tx}", "{\"a\":nul}", "{\"a\":1}{\"b\":2}", "[1,2]",
        "{\"a\":\"\\x\"}", "{\"a\":01}",
    };
    char deep[5 + 2 * 32 + 1];
    size_t i, n;
    (void)st;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (llmc_json_valid(bad[i], strlen(bad[i])) != LLMC_ERR_PROTOCOL)
            fail_msg("input %zu <%s> accepted", i, bad[i]);
    assert_int_equal(llmc_json_valid(" {\"a\":[1,{\"b\":null}],"
                                     "\"c\":\"\\ud83d\\ude00\"} \n",
                                     strlen(" {\"a\":[1,{\"b\":null}],"
                                            "\"c\":\"\\ud83d\\ude00\"} \n")),
                     LLMC_OK);
    /* an object and 31 arrays in it: 32 levels; one more array: 33 */
    for (n = 31; n <= 32; n++) {
        size_t k = 0;
        memcpy(deep, "{\"a\":", 5);
        k = 5;
        for (i = 0; i < n; i++)
            deep[k++] = '[';
        for (i = 0; i < n; i++)
            deep[k++] = ']';
        deep[k++] = '}';
        assert_int_equal(llmc_json_valid(deep, k),
                         n == 31 ? LLMC_OK : LLMC_ERR_PROTOCOL);
    }
}

static void test_surrounding_whitespace_accepted(void **st)
{
    llmc_chat_msg_t m;
    (void)st;
    assert_int_equal(chat(" \r\n\t{\"choices\":[{\"delta\":{\"content\":"
                          "\"ok\"}}]} \r\n\t",
                          &m),
                     LLMC_OK);
    CONTENT_IS(&m, "ok");
    assert_int_equal(chat("{}", &m), LLMC_OK);
    assert_false(m.has_content);
}

/* whitespace around the values llmc reads: their spans start after the
 * colon, at whitespace the decoder skips; counts beyond 32 bits are
 * clamped */
static void test_whitespace_around_read_values(void **st)
{
    llmc_chat_msg_t m;
    (void)st;
    assert_int_equal(chat("{\"choices\" : \n[ {\"delta\": {\"content\" :\t"
                          "\"ok\" } } ] ,\"usage\":\r\n{\"prompt_tokens\": 7 ,"
                          "\"completion_tokens\":-3000000000,"
                          "\"total_tokens\":\n99999999999} ,"
                          " \"error\" : null }",
                          &m),
                     LLMC_OK);
    CONTENT_IS(&m, "ok");
    assert_true(m.usage.present);
    assert_int_equal(m.usage.prompt_tokens, 7);
    assert_int_equal(m.usage.completion_tokens, INT32_MIN);
    assert_int_equal(m.usage.total_tokens, INT32_MAX);
    assert_false(m.has_error);
    /* bare scalars as the top-level values read */
    assert_int_equal(chat("{\"usage\": 1 }", &m), LLMC_ERR_PROTOCOL);
    assert_int_equal(chat("{\"error\": 5 }", &m), LLMC_OK);
    assert_true(m.has_error);
    assert_int_equal(chat("{\"error\":5}", &m), LLMC_OK);
    assert_true(m.has_error);
    assert_int_equal(chat("{\"choices\":true}", &m), LLMC_ERR_PROTOCOL);
}

/* A tokenizer such as jsmn 1.1.0 accepts a key with no value ({"a"},
 * {"a":}); a decoder that trusted it would read a value that is not there (past the event, or the
 * previous event's). Such input must be rejected, also right after an
 * event that had the value. */
static void test_key_without_value_rejected(void **st)
{
    llmc_chat_msg_t m;
    int a, b, c, d;
    (void)st;
    a = chat("{\"a\"}", &m);
    b = chat("{\"a\":}", &m);
    c = chat("{\"error\"}", &m);
    assert_int_equal(chat("{\"choices\":[{\"delta\":{\"content\":\"x\"}}]}",
                          &m),
                     LLMC_OK);
    d = chat("{\"choices\"}", &m);
    assert_int_equal(a, LLMC_ERR_PROTOCOL);
    assert_int_equal(b, LLMC_ERR_PROTOCOL);
    assert_int_equal(c, LLMC_ERR_PROTOCOL);
    assert_int_equal(d, LLMC_ERR_PROTOCOL);
}

/* A tokenizer such as jsmn 1.1.0 does not check separators and takes these
 * for objects; llmc refuses them. */
static void test_missing_or_extra_separators_rejected(void **st)
{
    llmc_chat_msg_t m;
    int a, b, c;
    (void)st;
    a = chat("{\"a\":1 \"b\":2}", &m);
    b = chat("{\"a\":1,}", &m);
    c = chat("{\"a\":1:2}", &m);
    assert_int_equal(a, LLMC_ERR_PROTOCOL);
    assert_int_equal(b, LLMC_ERR_PROTOCOL);
    assert_int_equal(c, LLMC_ERR_PROTOCOL);
}

/* The values llmc does not read are skipped whatever they hold: nested
 * containers, brackets, braces and escaped quotes inside strings, scalars
 * at the end of an object. */
static void test_values_not_read_are_skipped(void **st)
{
    llmc_chat_msg_t m;
    (void)st;
    assert_int_equal(
        chat("{\"choices\":[{\"logprobs\":{\"content\":[{\"t\":\"}]\\\"{[\","
             "\"b\":[1,[2,{\"content\":\"no\"}],-0.5e+3]}]},\"x\":\"\\\\\","
             "\"delta\":{\"n\":{},\"e\":[],\"content\":\"yes\",\"z\":false},"
             "\"index\":0},{\"delta\":{\"content\":\"second\"}}],"
             "\"usage\":{\"a\":[{}],\"total_tokens\":9,\"b\":null}}",
             &m),
        LLMC_OK);
    CONTENT_IS(&m, "yes");
    assert_true(m.usage.present);
    assert_int_equal(m.usage.total_tokens, 9);
}

/* No token array bounds what an event may hold: a choice with thousands of
 * members before its delta decodes (the event buffer is the one bound). */
static void test_many_values_decode(void **st)
{
    static const char head[] = "{\"choices\":[{";
    static const char tail[] = "\"delta\":{\"content\":\"x\"}}]}";
    size_t i, n = 0, cap = 5000 * 8 + sizeof(head) + sizeof(tail);
    char *js = malloc(cap);
    llmc_chat_msg_t m;
    int rc;
    (void)st;
    assert_non_null(js);
    n += (size_t)sprintf(js + n, "%s", head);
    for (i = 0; i < 5000; i++)
        n += (size_t)sprintf(js + n, "\"k\":[%u],", (unsigned)(i % 10));
    n += (size_t)sprintf(js + n, "%s", tail);
    rc = chat(js, &m);
    free(js);
    assert_int_equal(rc, LLMC_OK);
    CONTENT_IS(&m, "x");
}

static void test_raw_control_bytes_in_strings_rejected(void **st)
{
    llmc_chat_msg_t m;
    (void)st;
    assert_int_equal(chat("{\"choices\":[{\"delta\":{\"content\":\"a\tb\"}}]}",
                          &m),
                     LLMC_ERR_PROTOCOL);
    assert_int_equal(chat("{\"x\":\"0123456789\x01" "abcdef\"}", &m),
                     LLMC_ERR_PROTOCOL);
    assert_int_equal(chat("{\"x\":\"0123456789\\tabcdef\"}", &m), LLMC_OK);
}

static void test_number_and_literal_grammar_checked(void **st)
{
    static const char *const bad[] = {
        "{\"a\":01}", "{\"a\":1.}", "{\"a\":-}", "{\"a\":1e}", "{\"a\":.5}",
        "{\"a\":+1}", "{\"a\":nul}", "{\"a\":tru}", "{\"a\":nulll}",
        "{\"a\":0x1}", "{\"a\":1 2}"};
    static const char *const good[] = {
        "{\"a\":0}", "{\"a\":-0.5}", "{\"a\":1e9}", "{\"a\":2E-3}",
        "{\"a\":1.25e+2}", "{\"a\":true}", "{\"a\":false}", "{\"a\":null}",
        "{\"usage\":null}", "{\"a\":[1,[],{}]}", " {\"a\" : 1 } \n"};
    llmc_chat_msg_t m;
    size_t i;
    (void)st;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(chat(bad[i], &m), LLMC_ERR_PROTOCOL);
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_int_equal(chat(good[i], &m), LLMC_OK);
}

static void test_nesting_deeper_than_32_rejected(void **st)
{
    char js[256];
    size_t i, o = 0;
    llmc_chat_msg_t m;
    (void)st;
    /* depth 32 in all (the object plus 31 arrays) is fine, 33 is not */
    for (int depth = 32; depth <= 33; depth++) {
        o = 0;
        js[o++] = '{';
        memcpy(js + o, "\"a\":", 4);
        o += 4;
        for (i = 1; i < (size_t)depth; i++)
            js[o++] = '[';
        for (i = 1; i < (size_t)depth; i++)
            js[o++] = ']';
        js[o++] = '}';
        js[o] = '\0';
        assert_int_equal(chat(js, &m),
                         depth == 32 ? LLMC_OK : LLMC_ERR_PROTOCOL);
    }
}

/* The string scanner reads 8 bytes at a time: a quote, an escape or a bad
 * byte must be found at every offset of a long string. */
static void test_escape_or_quote_found_at_every_offset(void **st)
{
    char js[128], want[64];
    llmc_chat_msg_t m;
    size_t k, i;
    (void)st;
    for (k = 0; k < 40; k++) {
        size_t o = 0, w = 0;
        o += (size_t)sprintf(js, "{\"choices\":[{\"delta\":{\"content\":\"");
        for (i = 0; i < 40; i++) {
            if (i == k) {
                memcpy(js + o, "\\\"", 2);
                o += 2;
                want[w++] = '"';
            } else {
                js[o++] = (char)('a' + i % 26);
                want[w++] = (char)('a' + i % 26);
            }
        }
        o += (size_t)sprintf(js + o, "\"}}]}");
        js[o] = '\0';
        assert_int_equal(chat(js, &m), LLMC_OK);
        assert_int_equal(m.content_len, w);
        assert_memory_equal(m.content, want, w);
        /* the same string cut short at offset k: unterminated */
        js[35 + k] = '\0';
        assert_int_equal(chat(js, &m), LLMC_ERR_PROTOCOL);
    }
}

static void test_choices_not_an_array_rejected(void **st)
{
    llmc_chat_msg_t m;
    (void)st;
    assert_int_equal(chat("{\"choices\":{\"delta\":{\"content\":\"x\"}}}", &m),
                     LLMC_ERR_PROTOCOL);
    assert_int_equal(chat("{\"choices\":\"x\"}", &m), LLMC_ERR_PROTOCOL);
    assert_int_equal(chat("{\"choices\":1}", &m), LLMC_ERR_PROTOCOL);
    assert_int_equal(chat("{\"choices\":[1]}", &m), LLMC_ERR_PROTOCOL);
    assert_int_equal(chat("{\"choices\":[\"x\"]}", &m), LLMC_ERR_PROTOCOL);
}

/* vLLM and others send error chunks and error bodies with "choices": null:
 * the provider's error.message must come through (README: "Error messages:
 * the provider's error.message when it sent one"; DESIGN: an event whose
 * JSON has an error object ends the request with that error), and a null
 * choices is absent, as a null delta, content or usage is. */
static void test_choices_null_is_absent_and_error_read(void **st)
{
    llmc_chat_msg_t m;
    (void)st;
    assert_int_equal(chat("{\"object\":\"error\",\"choices\":null,"
                          "\"error\":{\"message\":\"context too long\"}}",
                          &m),
                     LLMC_OK);
    assert_true(m.has_error);
    assert_int_equal(m.error_len, 16);
    assert_memory_equal(m.error_msg, "context too long", 16);
    assert_int_equal(chat("{\"error\":{\"message\":\"x\"},\"choices\":null}",
                          &m),
                     LLMC_OK);
    assert_true(m.has_error);
    assert_int_equal(chat("{\"choices\":null,\"usage\":{\"total_tokens\":3}}",
                          &m),
                     LLMC_OK);
    assert_false(m.has_content);
    assert_true(m.usage.present);
    assert_int_equal(m.usage.total_tokens, 3);
}

static void test_content_or_delta_of_wrong_type_rejected(void **st)
{
    llmc_chat_msg_t m;
    (void)st;
    assert_int_equal(chat("{\"choices\":[{\"delta\":{\"content\":5}}]}", &m),
                     LLMC_ERR_PROTOCOL);
    assert_int_equal(chat("{\"choices\":[{\"delta\":{\"content\":[\"a\"]}}]}",
                          &m),
                     LLMC_ERR_PROTOCOL);
    assert_int_equal(chat("{\"choices\":[{\"delta\":\"text\"}]}", &m),
                     LLMC_ERR_PROTOCOL);
    assert_int_equal(chat("{\"choices\":[{\"delta\":null}]}", &m), LLMC_OK);
    assert_int_equal(chat("{\"choices\":[{\"finish_reason\":3}]}", &m),
                     LLMC_ERR_PROTOCOL);
}

/* ---- IAM token answer ------------------------------------------------- */

#if LLMC_IAM_PROVIDERS > 0 /* llmc_json_token() is compiled out at 0 */
static int token_of(const char *js, const char **tok, size_t *len,
                    int32_t *exp)
{
    size_t n = strlen(js);
    char *b = copy_in(js, n);
    return llmc_json_token(b, n, tok, len, exp);
}

static void test_token_answer_read(void **st)
{
    const char *t = NULL;
    size_t len = 0;
    int32_t exp = 0;
    (void)st;
    assert_int_equal(token_of("{\"access_token\":\"eyJ.abc\\/def\","
                              "\"expires_in\":3600,\"token_type\":\"Bearer\","
                              "\"extra\":{\"access_token\":1}}",
                              &t, &len, &exp),
                     LLMC_OK);
    assert_int_equal(len, 11);
    assert_memory_equal(t, "eyJ.abc/def", 11);
    assert_int_equal(exp, 3600);
}

/* expires_in is read as a 32-bit integer, saturated: the client keeps a
 * token 30 days at most anyway; in quotes too */
static void test_token_expiry_digits(void **st)
{
    static const struct {
        const char *json;
        int32_t want;
    } k[] = {
        {"{\"access_token\":\"t\",\"expires_in\":123456789012345678}",
         INT32_MAX},
        {"{\"access_token\":\"t\",\"expires_in\":2147483647}", INT32_MAX},
        {"{\"access_token\":\"t\",\"expires_in\":2147483646.9}",
         INT32_MAX - 1},
        {"{\"access_token\":\"t\",\"expires_in\":-2147483648}", INT32_MIN},
        {"{\"access_token\":\"t\",\"expires_in\":-99999999999999}",
         INT32_MIN},
        {"{\"expires_in\": -42.9 ,\"access_token\":\"t\"}", -42},
        {"{\"expires_in\":3600.5,\"access_token\":\"t\"}", 3600},
        /* 3.6e3 is 3600, not 3: with an exponent, unknown */
        {"{\"expires_in\":3.6e3,\"access_token\":\"t\"}", -1},
        {"{\"expires_in\":1E3,\"access_token\":\"t\"}", -1},
        {"{\"access_token\":\"t\",\"expires_in\":\"3.6e3\"}", -1},
        {"{\"access_token\":\"t\",\"expires_in\":\"60 s\"}", -1},
        {"{\"access_token\":\"t\",\"expires_in\":\"60.5\"}", 60},
        {"{\"access_token\":\"t\",\"expires_in\":0}", 0},
        /* in quotes, its digits (some OAuth servers send it so); no
         * count at all: unknown, and the token still good */
        {"{\"access_token\":\"t\",\"expires_in\":\"60\"}", 60},
        {"{\"expires_in\": \"3599\" ,\"access_token\":\"t\"}", 3599},
        {"{\"access_token\":\"t\",\"expires_in\":\"-5\"}", -5},
        {"{\"access_token\":\"t\",\"expires_in\":\"soon\"}", -1},
        {"{\"access_token\":\"t\",\"expires_in\":\"\"}", -1},
        {"{\"access_token\":\"t\",\"expires_in\":null}", -1},
        {"{\"access_token\":\"t\",\"expires_in\":true}", -1},
        {"{\"access_token\":\"t\",\"expires_in\":[60]}", -1},
    };
    const char *t = NULL;
    size_t len = 0, i;
    int32_t exp = 0;
    (void)st;
    for (i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
        assert_int_equal(token_of(k[i].json, &t, &len, &exp), LLMC_OK);
        assert_int_equal(len, 1);
        assert_true(exp == k[i].want);
    }
}

static void test_token_without_expiry_gives_minus_one(void **st)
{
    const char *t = NULL;
    size_t len = 0;
    int32_t exp = 0;
    (void)st;
    assert_int_equal(token_of("{\"access_token\":\"t\"}", &t, &len, &exp),
                     LLMC_OK);
    assert_int_equal(exp, -1);
}

static void test_token_missing_empty_or_wrong_type_rejected(void **st)
{
    const char *t = NULL;
    size_t len = 0;
    int32_t exp = 0;
    (void)st;
    assert_int_equal(token_of("{\"expires_in\":3600}", &t, &len, &exp),
                     LLMC_ERR_EMPTY);
    assert_int_equal(token_of("{\"access_token\":\"\",\"expires_in\":3600}",
                              &t, &len, &exp),
                     LLMC_ERR_EMPTY);
    assert_int_equal(token_of("{\"access_token\":123}", &t, &len, &exp),
                     LLMC_ERR_EMPTY);
    assert_int_equal(token_of("{\"error\":\"invalid key\"}", &t, &len, &exp),
                     LLMC_ERR_EMPTY);
    /* not a JSON object: told apart from one without the token */
    assert_int_equal(token_of("[\"access_token\",\"t\"]", &t, &len, &exp),
                     LLMC_ERR_PROTOCOL);
    assert_int_equal(token_of("{\"access_token\":\"t\"", &t, &len, &exp),
                     LLMC_ERR_PROTOCOL);
}
#endif

/* ---- shape cache ---------------------------------------------------------
 * A hit is made visible from outside by spoiling the kept bytes: poison()
 * turns the id "c-1" in the kept prefix into 01234, a number with a
 * leading zero. An event that starts with EV_BAD (the same change) is
 * then decoded only by a hit, which does not read the kept bytes again;
 * the full decoding rejects it. */

#define EV_PRE "{\"id\":\"c-1\",\"model\":\"m\",\"choices\":[{\"index\":0," \
               "\"delta\":{\"content\":\""
#define EV_BAD "{\"id\":01234,\"model\":\"m\",\"choices\":[{\"index\":0," \
               "\"delta\":{\"content\":\""
#define EV_SUF "\"},\"logprobs\":null,\"finish_reason\":null}]"

static int shaped(llmc_json_shape_t *sh, const char *js, llmc_chat_msg_t *m)
{
    size_t n = strlen(js);
    char *b = copy_in(js, n);
    return llmc_json_chat(b, n, sh, m);
}

/* The shapes the tests below keep are up to 122 bytes. */
#if LLMC_JSON_SHAPE_SIZE >= 122
static void poison(llmc_json_shape_t *sh)
{
    static const char id[] = "\"id\":\"c-1\"";
    assert_true(sh->pre_len >= sizeof(id) - 1);
    assert_memory_equal(sh->bytes + 1, id, sizeof(id) - 1);
    memcpy(sh->bytes + 6, "01234", 5);
}

static void test_shape_hit_decodes_new_content(void **st)
{
    llmc_json_shape_t sh;
    llmc_chat_msg_t m;
    (void)st;
    sh.pre_len = 0;
    /* the spoiled prefix is not JSON: decoded in full, it is refused */
    assert_int_equal(shaped(&sh, EV_BAD "Hel" EV_SUF "}", &m),
                     LLMC_ERR_PROTOCOL);
    assert_int_equal(sh.pre_len, 0);
    assert_int_equal(shaped(&sh, EV_PRE "Hel" EV_SUF "}", &m), LLMC_OK);
    CONTENT_IS(&m, "Hel");
    assert_int_equal(sh.pre_len, strlen(EV_PRE));
    assert_int_equal(sh.suf_len, strlen(EV_SUF));
    poison(&sh);
    /* the same shape with other content, escapes and quotes included */
    assert_int_equal(shaped(&sh, EV_BAD "lo \\\"w\\\"\\n\\ud83c\\udf89" EV_SUF
                                 "}", &m),
                     LLMC_OK);
    CONTENT_IS(&m, "lo \"w\"\n\xF0\x9F\x8E\x89");
    assert_null(m.finish_reason);
    assert_false(m.usage.present);
    assert_false(m.has_error);
    assert_int_equal(shaped(&sh, EV_BAD EV_SUF "}", &m), LLMC_OK);
    CONTENT_IS(&m, "");
}

static void test_shape_miss_when_bytes_around_content_differ(void **st)
{
    llmc_json_shape_t sh;
    llmc_chat_msg_t m;
    (void)st;
    sh.pre_len = 0;
    assert_int_equal(shaped(&sh, EV_PRE "a" EV_SUF "}", &m), LLMC_OK);
    poison(&sh);
    /* another prefix, another suffix: both decoded in full (and refused,
     * as their prefixes are not JSON) */
    assert_int_equal(shaped(&sh, "{\"id\":01235,\"model\":\"m\",\"choices\":"
                                 "[{\"index\":0,\"delta\":{\"content\":\"b"
                                 EV_SUF "}", &m),
                     LLMC_ERR_PROTOCOL);
    assert_int_equal(shaped(&sh, EV_BAD "b\"},\"logprobs\":null,"
                                 "\"finish_reason\":\"stop\"}]}", &m),
                     LLMC_ERR_PROTOCOL);
    /* the full decoding reads finish_reason */
    assert_int_equal(shaped(&sh, EV_PRE "b\"},\"logprobs\":null,"
                                 "\"finish_reason\":\"stop\"}]}", &m),
                     LLMC_OK);
    CONTENT_IS(&m, "b");
    assert_memory_equal(m.finish_reason, "stop", 4);
    /* an event with finish_reason is not kept: the first shape still hits */
    assert_int_equal(shaped(&sh, EV_BAD "c" EV_SUF "}", &m), LLMC_OK);
    CONTENT_IS(&m, "c");
}

/* A content given twice: the first is unescaped in place before the second
 * is read, so the bytes before the second are no longer the event's and
 * must not be kept: the next event, which has those bytes (not JSON), is
 * rejected as the full decoding rejects it. */
static void test_shape_not_kept_after_content_rewritten(void **st)
{
    llmc_json_shape_t sh;
    llmc_chat_msg_t m;
    (void)st;
    sh.pre_len = 0;
    assert_int_equal(shaped(&sh, EV_PRE "a\\\"b\",\"content\":\"x" EV_SUF "}",
                            &m),
                     LLMC_OK);
    CONTENT_IS(&m, "x");
    assert_int_equal(sh.pre_len, 0);
    assert_int_equal(shaped(&sh, EV_PRE "a\"bb\",\"content\":\"y" EV_SUF "}",
                            &m),
                     LLMC_ERR_PROTOCOL);
    /* without escapes nothing was rewritten: the shape is kept */
    assert_int_equal(shaped(&sh, EV_PRE "ab\",\"content\":\"x" EV_SUF "}",
                            &m),
                     LLMC_OK);
    poison(&sh);
    assert_int_equal(shaped(&sh, EV_BAD "ab\",\"content\":\"z" EV_SUF "}",
                            &m),
                     LLMC_OK);
    CONTENT_IS(&m, "z");
}

static void test_shape_hit_still_reads_members_after_choices(void **st)
{
    llmc_json_shape_t sh;
    llmc_chat_msg_t m;
    (void)st;
    sh.pre_len = 0;
    assert_int_equal(shaped(&sh, EV_PRE "a" EV_SUF ",\"obfuscation\":\"xy\"}",
                            &m),
                     LLMC_OK);
    poison(&sh);
    assert_int_equal(shaped(&sh, EV_BAD "b" EV_SUF ",\"obfuscation\":\"q\","
                                 "\"usage\":{\"prompt_tokens\":3,"
                                 "\"completion_tokens\":4,\"total_tokens\":7}}",
                            &m),
                     LLMC_OK);
    CONTENT_IS(&m, "b");
    assert_true(m.usage.present);
    assert_int_equal(m.usage.total_tokens, 7);
    assert_int_equal(shaped(&sh, EV_BAD "c" EV_SUF
                                 ",\"error\":{\"message\":\"boom\"}}",
                            &m),
                     LLMC_OK);
    assert_true(m.has_error);
    assert_int_equal(m.error_len, 4);
    assert_memory_equal(m.error_msg, "boom", 4);
    /* what follows "choices" is still checked */
    assert_int_equal(shaped(&sh, EV_BAD "c" EV_SUF ",\"usage\":7}", &m),
                     LLMC_ERR_PROTOCOL);
    /* a second "choices" after the first: the later one counts, in full;
     * a hit reads it in place of the kept one, as the full decoding
     * does (the spoiled prefix is not read again) */
    assert_int_equal(shaped(&sh, EV_BAD "d" EV_SUF ",\"choices\":[{\"delta\""
                                 ":{\"content\":\"z\"}}]}",
                            &m),
                     LLMC_OK);
    CONTENT_IS(&m, "z");
    assert_int_equal(shaped(&sh, EV_PRE "d" EV_SUF ",\"choices\":[{\"delta\""
                                 ":{\"content\":\"z\"}}]}",
                            &m),
                     LLMC_OK);
    CONTENT_IS(&m, "z");
}

static void test_shape_hit_rejects_what_full_decoding_rejects(void **st)
{
    llmc_json_shape_t sh;
    llmc_chat_msg_t m;
    (void)st;
    sh.pre_len = 0;
    assert_int_equal(shaped(&sh, EV_PRE "a" EV_SUF "}", &m), LLMC_OK);
    assert_int_equal(shaped(&sh, EV_PRE "raw\ttab" EV_SUF "}", &m),
                     LLMC_ERR_PROTOCOL);
    assert_int_equal(shaped(&sh, EV_PRE "bad \\x" EV_SUF "}", &m),
                     LLMC_ERR_PROTOCOL);
    assert_int_equal(shaped(&sh, EV_PRE "a" EV_SUF ",}", &m),
                     LLMC_ERR_PROTOCOL);
    assert_int_equal(shaped(&sh, EV_PRE "a" EV_SUF, &m), LLMC_ERR_PROTOCOL);
    assert_int_equal(shaped(&sh, EV_PRE "a" EV_SUF "} x", &m),
                     LLMC_ERR_PROTOCOL);
    /* the shape survived the bad events */
    poison(&sh);
    assert_int_equal(shaped(&sh, EV_BAD "b" EV_SUF "}", &m), LLMC_OK);
    CONTENT_IS(&m, "b");
}

static void test_shape_larger_than_cache_not_kept(void **st)
{
    llmc_json_shape_t sh;
    llmc_chat_msg_t m;
    char js[LLMC_JSON_SHAPE_SIZE + 128];
    size_t pad = LLMC_JSON_SHAPE_SIZE + 1;
    (void)st;
    sh.pre_len = 0;
    assert_int_equal(shaped(&sh, EV_PRE "a" EV_SUF "}", &m), LLMC_OK);
    assert_true(sh.pre_len > 0);
    strcpy(js, "{\"x\":\"");
    memset(js + 6, 'p', pad);
    strcpy(js + 6 + pad, "\",");
    strcat(js, &EV_PRE[1]); /* {"x":"ppp...","id":...,"content":"a... */
    strcat(js, "a" EV_SUF "}");
    assert_int_equal(shaped(&sh, js, &m), LLMC_OK);
    CONTENT_IS(&m, "a");
    assert_int_equal(sh.pre_len, 0);
}
#else
/* A cache smaller than those shapes (LLMC_JSON_SHAPE_SIZE 0, the Kconfig
 * minimum, turns it off): a 132-byte shape is not kept, nor is anything
 * after it. */
#define EV_PRE_PAD "{\"pad\":\"0123456789abcdef\",\"id\":\"c-1\",\"model\":" \
                   "\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\""

static void test_shape_larger_than_small_cache_not_kept(void **st)
{
    llmc_json_shape_t sh;
    llmc_chat_msg_t m;
    (void)st;
    sh.pre_len = 0;
    assert_int_equal(shaped(&sh, EV_PRE_PAD "a" EV_SUF "}", &m), LLMC_OK);
    CONTENT_IS(&m, "a");
    assert_int_equal(sh.pre_len, 0);
    assert_int_equal(shaped(&sh, EV_PRE_PAD "b" EV_SUF "}", &m), LLMC_OK);
    CONTENT_IS(&m, "b");
    assert_int_equal(sh.pre_len, 0);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_chunk_delta_content_read, teardown),
        cmocka_unit_test_teardown(test_role_only_chunk_gives_no_content,
                                  teardown),
        cmocka_unit_test_teardown(test_content_null_is_ok_and_absent,
                                  teardown),
        cmocka_unit_test_teardown(test_finish_reason_read, teardown),
        cmocka_unit_test_teardown(test_usage_chunk_with_empty_choices,
                                  teardown),
        cmocka_unit_test_teardown(test_usage_null_or_odd_counts, teardown),
        cmocka_unit_test_teardown(test_non_stream_body_message_content,
                                  teardown),
        cmocka_unit_test_teardown(
            test_only_first_choice_and_top_level_keys_read, teardown),
        cmocka_unit_test_teardown(test_content_parts_text_joined, teardown),
        cmocka_unit_test_teardown(test_content_parts_malformed, teardown),
        cmocka_unit_test_teardown(test_content_parts_lone_halves, teardown),
        cmocka_unit_test_teardown(test_utf8_check_finds_ill_formed_sequences,
                                  teardown),
        cmocka_unit_test_teardown(test_content_raw_utf8_kept, teardown),
        cmocka_unit_test_teardown(test_error_object_message_read, teardown),
        cmocka_unit_test_teardown(test_error_string_read, teardown),
        cmocka_unit_test_teardown(
            test_error_object_without_message_still_error, teardown),
        cmocka_unit_test_teardown(test_error_null_ignored, teardown),
        cmocka_unit_test_teardown(test_error_in_stream_event_beside_choices,
                                  teardown),
        cmocka_unit_test_teardown(test_simple_escapes_decoded, teardown),
        cmocka_unit_test_teardown(test_unicode_escapes_to_utf8, teardown),
        cmocka_unit_test_teardown(test_surrogate_pair_to_four_bytes,
                                  teardown),
        cmocka_unit_test_teardown(
            test_lone_surrogates_become_replacement_char, teardown),
        cmocka_unit_test_teardown(test_lone_halves_at_the_edges_are_noted,
                                  teardown),
        cmocka_unit_test_teardown(test_chat_notes_the_contents_lone_halves,
                                  teardown),
        cmocka_unit_test_teardown(test_unescape_direct_cases, teardown),
        cmocka_unit_test_teardown(test_bad_escapes_rejected, teardown),
        cmocka_unit_test_teardown(test_malformed_json_rejected, teardown),
        cmocka_unit_test_teardown(test_json_valid_is_the_grammar_check,
                                  teardown),
        cmocka_unit_test_teardown(test_surrounding_whitespace_accepted,
                                  teardown),
        cmocka_unit_test_teardown(test_whitespace_around_read_values,
                                  teardown),
        cmocka_unit_test_teardown(test_key_without_value_rejected, teardown),
        cmocka_unit_test_teardown(test_missing_or_extra_separators_rejected,
                                  teardown),
        cmocka_unit_test_teardown(test_values_not_read_are_skipped, teardown),
        cmocka_unit_test_teardown(test_many_values_decode, teardown),
        cmocka_unit_test_teardown(test_choices_not_an_array_rejected,
                                  teardown),
        cmocka_unit_test_teardown(test_choices_null_is_absent_and_error_read,
                                  teardown),
        cmocka_unit_test_teardown(test_raw_control_bytes_in_strings_rejected,
                                  teardown),
        cmocka_unit_test_teardown(test_number_and_literal_grammar_checked,
                                  teardown),
        cmocka_unit_test_teardown(test_nesting_deeper_than_32_rejected,
                                  teardown),
        cmocka_unit_test_teardown(test_escape_or_quote_found_at_every_offset,
                                  teardown),
        cmocka_unit_test_teardown(test_content_or_delta_of_wrong_type_rejected,
                                  teardown),
        cmocka_unit_test_teardown(test_repeated_keys, teardown),
#if LLMC_IAM_PROVIDERS > 0
        cmocka_unit_test_teardown(test_token_answer_read, teardown),
        cmocka_unit_test_teardown(test_token_expiry_digits, teardown),
        cmocka_unit_test_teardown(test_token_without_expiry_gives_minus_one,
                                  teardown),
        cmocka_unit_test_teardown(
            test_token_missing_empty_or_wrong_type_rejected, teardown),
#endif
#if LLMC_JSON_SHAPE_SIZE >= 122
        cmocka_unit_test_teardown(
            test_shape_hit_decodes_new_content, teardown),
        cmocka_unit_test_teardown(
            test_shape_miss_when_bytes_around_content_differ, teardown),
        cmocka_unit_test_teardown(
            test_shape_not_kept_after_content_rewritten, teardown),
        cmocka_unit_test_teardown(
            test_shape_hit_still_reads_members_after_choices, teardown),
        cmocka_unit_test_teardown(
            test_shape_hit_rejects_what_full_decoding_rejects, teardown),
        cmocka_unit_test_teardown(test_shape_larger_than_cache_not_kept,
                                  teardown),
#else
        cmocka_unit_test_teardown(test_shape_larger_than_small_cache_not_kept,
                                  teardown),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
