/* The shape cache is invisible: the input is a stream of events, one per
 * line; each is decoded twice, once with the stream's shape cache and once
 * without any, and the two must agree on everything (return code, content,
 * finish_reason, usage, error) and leave the same bytes in the buffer. */
#include "fuzz_common.h"
#include "llmc_json.h"

static bool same_str(const char *a, size_t an, const char *ab,
                     const char *b, size_t bn, const char *bb)
{
    if ((a == NULL) != (b == NULL))
        return false;
    return a == NULL || (an == bn && a - ab == b - bb &&
                         memcmp(a, b, an) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static llmc_json_shape_t shape;
    const uint8_t *p = data, *e = data + size, *nl;
    llmc_chat_msg_t m1, m2;

    if (size > 16384)
        return 0;
    shape.pre_len = 0;
    while (p < e) {
        size_t n;
        char *a, *b;
        int r1, r2;
        nl = memchr(p, '\n', (size_t)(e - p));
        n = (size_t)((nl != NULL ? nl : e) - p);
        a = malloc(n ? n : 1); /* exact size: ASan sees any overread */
        b = malloc(n ? n : 1);
        memcpy(a, p, n);
        memcpy(b, p, n);
        r1 = llmc_json_chat(a, n, &shape, &m1);
        r2 = llmc_json_chat(b, n, NULL, &m2);
        FUZZ_ASSERT(r1 == r2);
        FUZZ_ASSERT(memcmp(a, b, n) == 0);
        if (r1 == 0) {
            FUZZ_ASSERT(m1.has_content == m2.has_content);
            FUZZ_ASSERT(m1.lone[0] == m2.lone[0] && m1.lone[1] == m2.lone[1]);
            FUZZ_ASSERT(m1.has_error == m2.has_error);
            FUZZ_ASSERT(same_str(m1.content, m1.content_len, a, m2.content,
                                 m2.content_len, b));
            FUZZ_ASSERT(same_str(m1.finish_reason, m1.finish_len, a,
                                 m2.finish_reason, m2.finish_len, b));
            FUZZ_ASSERT(same_str(m1.error_msg, m1.error_len, a,
                                 m2.error_msg, m2.error_len, b));
            FUZZ_ASSERT(m1.usage.present == m2.usage.present);
            FUZZ_ASSERT(m1.usage.prompt_tokens == m2.usage.prompt_tokens);
            FUZZ_ASSERT(m1.usage.completion_tokens ==
                        m2.usage.completion_tokens);
            FUZZ_ASSERT(m1.usage.total_tokens == m2.usage.total_tokens);
        }
        free(a);
        free(b);
        p = nl != NULL ? nl + 1 : e;
    }
    return 0;
}
