/*
 * Shared helpers for the unit tests: a growable text transcript and the
 * split checker, which feeds one input to a resumable parser whole, split
 * in two at every byte boundary, and byte by byte, and requires the same
 * transcript from each run.
 *
 * Every segment handed to a runner is a heap copy of exactly its length, so
 * that ASan catches a parser reading past the bytes it was given.
 */
#ifndef LLMC_TEST_SPLIT_H
#define LLMC_TEST_SPLIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* ---- transcript ------------------------------------------------------- */

typedef struct {
    char *p;
    size_t len, cap;
} tbuf_t;

static inline void tb_put(tbuf_t *t, const void *p, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (t->len + n + 1 > cap)
            cap *= 2;
        t->p = (char *)realloc(t->p, cap);
        assert_non_null(t->p);
        t->cap = cap;
    }
    if (n > 0)
        memcpy(t->p + t->len, p, n);
    t->len += n;
    t->p[t->len] = '\0';
}

static inline void tb_str(tbuf_t *t, const char *s)
{
    tb_put(t, s, strlen(s));
}

static inline void tb_printf(tbuf_t *t, const char *fmt, ...)
{
    char tmp[512];
    int k;
    va_list ap;
    va_start(ap, fmt);
    k = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    assert_true(k >= 0 && (size_t)k < sizeof(tmp));
    tb_put(t, tmp, (size_t)k);
}

/* Bytes as readable text: printable ASCII as is (backslash doubled),
 * everything else as \xNN. */
static inline void tb_bytes(tbuf_t *t, const char *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\\')
            tb_str(t, "\\\\");
        else if (c >= 0x20 && c < 0x7f)
            tb_put(t, &c, 1);
        else
            tb_printf(t, "\\x%02x", c);
    }
}

static inline void tb_reset(tbuf_t *t)
{
    t->len = 0;
    if (t->p != NULL)
        t->p[0] = '\0';
}

static inline void tb_free(tbuf_t *t)
{
    free(t->p);
    t->p = NULL;
    t->len = t->cap = 0;
}

static inline const char *tb_cstr(const tbuf_t *t)
{
    return t->p != NULL ? t->p : "";
}

/* ---- split checker ---------------------------------------------------- */

typedef struct {
    const char *p;
    size_t n;
} seg_t;

/* Runs a fresh parser over segs[0..nseg) in order and writes everything
 * observable (callbacks, return codes, consumed offsets, final fields) to
 * out. Must not depend on where the segments are cut. */
typedef void (*split_run_fn)(void *ctx, const seg_t *segs, size_t nseg,
                             tbuf_t *out);

static inline void split_run_copy(split_run_fn fn, void *ctx,
                                  const char *in, const size_t *cuts,
                                  size_t ncuts, size_t n, tbuf_t *out)
{
    /* cuts: ncuts increasing offsets inside [0, n]; segments between */
    seg_t *segs = (seg_t *)calloc(ncuts + 1, sizeof(seg_t));
    size_t i, start = 0;
    assert_non_null(segs);
    for (i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : n;
        char *copy = (char *)malloc(end - start > 0 ? end - start : 1);
        assert_non_null(copy);
        if (end > start)
            memcpy(copy, in + start, end - start);
        segs[i].p = copy;
        segs[i].n = end - start;
        start = end;
    }
    tb_reset(out);
    fn(ctx, segs, ncuts + 1, out);
    for (i = 0; i <= ncuts; i++)
        free((void *)segs[i].p);
    free(segs);
}

static inline void split_fail(const char *how, size_t k, const tbuf_t *want,
                              const tbuf_t *got)
{
    fail_msg("%s (k=%zu) differs from the whole feed:\n  whole: %s\n  split: "
             "%s",
             how, k, tb_cstr(want), tb_cstr(got));
}

/* Feeds in[0..n) whole, then [0,k)+[k,n) for every k in 0..n (for long
 * inputs, every k within 64 bytes of either end and every stride-th one
 * between; stride 1 = all), then byte by byte. Fails the test on any
 * difference. *whole receives the whole feed's transcript (caller frees). */
static inline void split_check_stride(const char *in, size_t n,
                                      split_run_fn fn, void *ctx,
                                      size_t stride, tbuf_t *whole)
{
    tbuf_t got = {0};
    size_t k, *cuts;

    memset(whole, 0, sizeof(*whole));
    split_run_copy(fn, ctx, in, NULL, 0, n, whole);
    for (k = 0; k <= n; k++) {
        if (stride > 1 && k >= 64 && k + 64 <= n && k % stride != 0)
            continue;
        split_run_copy(fn, ctx, in, &k, 1, n, &got);
        if (got.len != whole->len || memcmp(got.p, whole->p, got.len) != 0)
            split_fail("split at k", k, whole, &got);
    }
    if (n > 1) {
        cuts = (size_t *)malloc((n - 1) * sizeof(size_t));
        assert_non_null(cuts);
        for (k = 1; k < n; k++)
            cuts[k - 1] = k;
        split_run_copy(fn, ctx, in, cuts, n - 1, n, &got);
        free(cuts);
        if (got.len != whole->len || memcmp(got.p, whole->p, got.len) != 0)
            split_fail("byte by byte", 0, whole, &got);
    }
    tb_free(&got);
}

static inline void split_check(const char *in, size_t n, split_run_fn fn,
                               void *ctx, tbuf_t *whole)
{
    split_check_stride(in, n, fn, ctx, 1, whole);
}

/* Shorthand: n is strlen(in). */
#define SPLIT_CHECK_STR(in, fn, ctx, whole) \
    split_check((in), strlen(in), (fn), (ctx), (whole))

#endif /* LLMC_TEST_SPLIT_H */
