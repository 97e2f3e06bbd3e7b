/* JSON chunk decoding: never reads outside the input, content is within
 * the input's bytes, the lone surrogate halves noted at its edges are
 * where the note says, and decoding is deterministic. An IAM token answer
 * read through llmc_auth_body(), split anywhere, gives what the answer
 * read whole gives. */
#include "fuzz_common.h"
#include "llmc_auth.h"
#include "llmc_json.h"
#include "llmc_sse.h"

#if LLMC_IAM
static llmc_slot_t g_slot;

/* data[0..size) as a token answer, whole and through the filter in two
 * pieces split at k */
static void token_answer(const uint8_t *data, size_t size, size_t k)
{
    llmc_slot_t *s = &g_slot;
    const char *t1, *t2;
    size_t n1, n2;
    int32_t e1, e2;
    char *a = malloc(size ? size : 1);
    int r1, r2;
    bool fit;
    memcpy(a, data, size);
    llmc_sse_init(&s->sse, s->buf, sizeof(s->buf));
    s->body_len = 0;
    fit = llmc_auth_body(s, (const char *)data, k) &&
          llmc_auth_body(s, (const char *)data + k, size - k);
    FUZZ_ASSERT(s->body_len <= size && s->body_len <= sizeof(s->buf));
    r1 = llmc_json_token(a, size, &t1, &n1, &e1);
    if (r1 == LLMC_OK && size <= sizeof(s->buf)) {
        /* all that is left out is inside strings that are not read */
        FUZZ_ASSERT(fit);
        r2 = llmc_json_token(s->buf, s->body_len, &t2, &n2, &e2);
        FUZZ_ASSERT(r2 == LLMC_OK && n1 == n2 && e1 == e2);
        FUZZ_ASSERT(memcmp(t1, t2, n1) == 0);
    }
    free(a);
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    llmc_chat_msg_t m1, m2;
    char *a, *b;
    int r1, r2;
    if (size > 4096)
        return 0;
    /* exact-size copies: ASan sees any read past the end */
    a = malloc(size ? size : 1);
    b = malloc(size ? size : 1);
    memcpy(a, data, size);
    memcpy(b, data, size);
    r1 = llmc_json_chat(a, size, NULL, &m1);
    r2 = llmc_json_chat(b, size, NULL, &m2);
    FUZZ_ASSERT(r1 == r2);
    if (r1 == 0) {
        FUZZ_ASSERT(m1.has_content == m2.has_content);
        if (m1.has_content) {
            FUZZ_ASSERT(m1.content >= a && m1.content + m1.content_len <= a + size);
            FUZZ_ASSERT(m1.content_len == m2.content_len);
            FUZZ_ASSERT(memcmp(m1.content, m2.content, m1.content_len) == 0);
            /* a noted lone half is a low one, U+FFFD at the start, or a
             * high one, U+FFFD at the end; the client takes 3 bytes off
             * for each, which must not run past the content */
            FUZZ_ASSERT(m1.content_len >= 3u * (size_t)((m1.lone[0] != 0) +
                                                        (m1.lone[1] != 0)));
            FUZZ_ASSERT(m1.lone[0] == 0 || (m1.lone[0] & 0xFC00) == 0xDC00);
            FUZZ_ASSERT(m1.lone[1] == 0 || (m1.lone[1] & 0xFC00) == 0xD800);
            FUZZ_ASSERT(m1.lone[0] == 0 ||
                        memcmp(m1.content, "\xEF\xBF\xBD", 3) == 0);
            FUZZ_ASSERT(m1.lone[1] == 0 ||
                        memcmp(m1.content + m1.content_len - 3,
                               "\xEF\xBF\xBD", 3) == 0);
            FUZZ_ASSERT(m1.lone[0] == m2.lone[0] && m1.lone[1] == m2.lone[1]);
        } else {
            FUZZ_ASSERT(m1.lone[0] == 0 && m1.lone[1] == 0);
        }
        if (m1.error_msg != NULL)
            FUZZ_ASSERT(m1.error_msg >= a && m1.error_msg + m1.error_len <= a + size);
    }
    free(a);
    free(b);
#if LLMC_IAM
    token_answer(data, size, size > 0 ? data[0] % (size + 1) : 0);
#endif
    return 0;
}
