/*
 * Shared by the libFuzzer targets: the first bytes of an input choose
 * split points, so one input is fed both whole and in pieces, and the
 * results must agree (the parsers are resumable at any byte).
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Take up to 4 split sizes (1..64) from the front of the input. */
static inline size_t fuzz_splits(const uint8_t **data, size_t *size, size_t *cuts)
{
    size_t n = 0;
    while (n < 4 && *size > 0) {
        cuts[n++] = (size_t)((*data)[0] % 64u) + 1u;
        (*data)++;
        (*size)--;
    }
    return n;
}

/* The next piece length when feeding in pieces. */
static inline size_t fuzz_piece(const size_t *cuts, size_t n_cuts, size_t i,
                         size_t left)
{
    size_t k = n_cuts ? cuts[i % n_cuts] : left;
    return k < left ? k : left;
}

/* a test that runs a target's checks may report them its own way */
#ifndef FUZZ_ASSERT
#define FUZZ_ASSERT(c)                                                     \
    do {                                                                   \
        if (!(c))                                                          \
            abort();                                                       \
    } while (0)
#endif

#endif
