/*
 * Checks tests/mcu/xtensa_rom.c on the host before the LX106 tests run on
 * it: each helper against the host's own arithmetic (x86-64's SSE floats
 * round to nearest even, as IEEE 754 says), on edge cases and on random
 * operands, for floats both random bit patterns (NaNs, infinities,
 * subnormals) and pairs of close exponents (carries, cancellation).
 * Prints "xtensa-rom: N checked, M wrong" and exits 1 on any difference.
 */
#define ROM(name) rom##name
#include "xtensa_rom.c"

#include <math.h>
#include <stdio.h>
#include <string.h>

static uint64_t g_state = 0x9E3779B97F4A7C15u;
static unsigned long g_checked, g_wrong;

static uint64_t rnd(void)
{
    /* xorshift64* */
    g_state ^= g_state >> 12;
    g_state ^= g_state << 25;
    g_state ^= g_state >> 27;
    return g_state * 0x2545F4914F6CDD1Du;
}

static uint32_t fbits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float float_of(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void same(int ok, const char *what, uint64_t a, uint64_t b,
                 uint64_t got, uint64_t want)
{
    g_checked++;
    if (ok)
        return;
    if (g_wrong++ < 20)
        printf("xtensa-rom: %s(%#llx, %#llx) = %#llx, want %#llx\n", what,
               (unsigned long long)a, (unsigned long long)b,
               (unsigned long long)got, (unsigned long long)want);
}

static void check_float(uint32_t a, uint32_t b)
{
    float x = float_of(a), y = float_of(b);
    uint32_t got = fbits_of(rom__addsf3(x, y)), want = fbits_of(x + y);
    same(got == want || (isnan(float_of(got)) && isnan(x + y)), "__addsf3",
         a, b, got, want);
    got = fbits_of(rom__mulsf3(x, y));
    want = fbits_of(x * y);
    same(got == want || (isnan(float_of(got)) && isnan(x * y)), "__mulsf3",
         a, b, got, want);
}

static void check_int(uint32_t a, uint32_t b)
{
    uint64_t a64 = (uint64_t)a << 32 | (uint32_t)rnd(), b64 = rnd() >> (b & 63u);
    if (b != 0) {
        same(rom__udivsi3(a, b) == a / b, "__udivsi3", a, b, rom__udivsi3(a, b), a / b);
        same(rom__umodsi3(a, b) == a % b, "__umodsi3", a, b, rom__umodsi3(a, b), a % b);
        if (!((int32_t)a == INT32_MIN && (int32_t)b == -1))
            same(rom__divsi3((int32_t)a, (int32_t)b) == (int32_t)a / (int32_t)b,
                 "__divsi3", a, b, (uint32_t)rom__divsi3((int32_t)a, (int32_t)b),
                 (uint32_t)((int32_t)a / (int32_t)b));
    }
    same(rom__muldi3(a64, b64) == a64 * b64, "__muldi3", a64, b64,
         rom__muldi3(a64, b64), a64 * b64);
    if (b64 != 0) {
        same(rom__udivdi3(a64, b64) == a64 / b64, "__udivdi3", a64, b64,
             rom__udivdi3(a64, b64), a64 / b64);
        same(rom__umoddi3(a64, b64) == a64 % b64, "__umoddi3", a64, b64,
             rom__umoddi3(a64, b64), a64 % b64);
    }
}

static void check_convert(uint32_t a)
{
    float x = float_of(a);
    double d = rom__extendsfdf2(x), want = (double)x;
    uint64_t gd, wd;
    memcpy(&gd, &d, 8);
    memcpy(&wd, &want, 8);
    same(gd == wd || (isnan(d) && isnan(want)), "__extendsfdf2", a, 0, gd, wd);
    if (!isnan(x) && x >= 0.0f && x < 4294967296.0f)
        same(rom__fixunssfsi(x) == (uint32_t)x, "__fixunssfsi", a, 0,
             rom__fixunssfsi(x), (uint32_t)x);
}

int main(void)
{
    static const uint32_t edge[] = {
        0x00000000u, 0x80000000u, 0x00000001u, 0x80000001u, 0x007FFFFFu,
        0x00800000u, 0x00800001u, 0x3F800000u, 0xBF800000u, 0x3F7FFFFFu,
        0x3F800001u, 0x4B000000u, 0x4B7FFFFFu, 0x7F7FFFFFu, 0xFF7FFFFFu,
        0x7F800000u, 0xFF800000u, 0x7FC00000u, 0x7F800001u, 0x447A0000u,
        0x3F000000u, 0x3DCCCCCDu, 0x42C80000u, 0x4F800000u, 0x4F7FFFFFu,
        0x34000000u, 0x33800000u, 0x0C000000u, 0x1F800000u, 0x5F800000u};
    static const uint32_t iedge[] = {0u, 1u, 2u, 3u, 7u, 10u, 1000u,
                                     0x7FFFFFFFu, 0x80000000u, 0x80000001u,
                                     0xFFFFFFFFu, 0xFFFFFFFEu, 65535u, 65536u};
    size_t i, j;
    unsigned long n;

    for (i = 0; i < sizeof(edge) / sizeof(edge[0]); i++) {
        check_convert(edge[i]);
        for (j = 0; j < sizeof(edge) / sizeof(edge[0]); j++)
            check_float(edge[i], edge[j]);
    }
    for (i = 0; i < sizeof(iedge) / sizeof(iedge[0]); i++)
        for (j = 0; j < sizeof(iedge) / sizeof(iedge[0]); j++)
            check_int(iedge[i], iedge[j]);
    for (n = 0; n < 3000000ul; n++) {
        uint64_t r = rnd();
        uint32_t a = (uint32_t)r, b = (uint32_t)(r >> 32);
        check_float(a, b);
        /* the same or nearby exponents: carries and cancellation */
        b = (b & 0x807FFFFFu) |
            (((a >> 23 & 0xFFu) + (uint32_t)(r >> 61) - 3u) & 0xFFu) << 23;
        check_float(a, b);
        check_convert(a);
        check_int(a, n & 1 ? b : b >> (r >> 59));
    }
    printf("xtensa-rom: %lu checked, %lu wrong\n", g_checked, g_wrong);
    return g_wrong != 0;
}
