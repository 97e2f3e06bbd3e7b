/*
 * The run-time helpers that an ESP8266 program takes from the chip's mask
 * ROM, and that Debian's libgcc for xtensa-lx106 therefore leaves out:
 * 32-bit division (the LX106 has no divider), 64-bit multiply and divide,
 * and the single-precision add, multiply and conversions that src/ and the
 * tests use. Written here for the unit tests on qemu's LX106 only; no
 * operator below may compile back into a call of the helper it defines, so
 * everything is shifts, adds and 32-bit multiplies (MULL).
 *
 * Floats round to nearest, ties to even, with subnormals, infinities and
 * NaNs, as IEEE 754 and every other target here do. scripts/check.d/mcu.sh
 * compares these helpers with the host's hardware on edge cases and
 * millions of random operands (tests/mcu/xtensa_rom_check.c) before the
 * tests run on them.
 */
#include <stdint.h>

#ifndef ROM
#define ROM(name) name /* the host check renames them */
#endif

/* ---- integers ------------------------------------------------------- */

/* n / d, or with rem set n % d, by shift and subtract (the 32-bit helpers
 * too: speed does not matter here) */
static uint64_t udivmod(uint64_t n, uint64_t d, int rem)
{
    uint64_t q = 0, r = 0;
    int i;
    if (d == 0) /* undefined in C */
        return rem ? n : UINT64_MAX;
    for (i = 63; i >= 0; i--) {
        uint32_t top = (uint32_t)(r >> 63);
        r = r << 1 | (n >> i & 1u);
        if (top || r >= d) {
            r -= d;
            q |= (uint64_t)1 << i;
        }
    }
    return rem ? r : q;
}

uint32_t ROM(__udivsi3)(uint32_t n, uint32_t d);
uint32_t ROM(__umodsi3)(uint32_t n, uint32_t d);
int32_t ROM(__divsi3)(int32_t n, int32_t d);

uint32_t ROM(__udivsi3)(uint32_t n, uint32_t d)
{
    return (uint32_t)udivmod(n, d, 0);
}

uint32_t ROM(__umodsi3)(uint32_t n, uint32_t d)
{
    return (uint32_t)udivmod(n, d, 1);
}

static uint32_t abs32(int32_t v)
{
    return v < 0 ? 0u - (uint32_t)v : (uint32_t)v;
}

int32_t ROM(__divsi3)(int32_t n, int32_t d)
{
    uint32_t q = (uint32_t)udivmod(abs32(n), abs32(d), 0);
    return (int32_t)((n < 0) != (d < 0) ? 0u - q : q);
}

/* a * b, 32 x 32 -> 64 bits, from 16-bit halves */
static uint64_t mul32x32(uint32_t a, uint32_t b)
{
    uint32_t al = a & 0xFFFFu, ah = a >> 16, bl = b & 0xFFFFu, bh = b >> 16;
    uint32_t ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
    uint32_t mid = (ll >> 16) + (lh & 0xFFFFu) + (hl & 0xFFFFu);
    uint32_t lo = (ll & 0xFFFFu) | mid << 16;
    uint32_t hi = hh + (lh >> 16) + (hl >> 16) + (mid >> 16);
    return (uint64_t)hi << 32 | lo;
}

uint64_t ROM(__muldi3)(uint64_t a, uint64_t b);
uint64_t ROM(__udivdi3)(uint64_t n, uint64_t d);
uint64_t ROM(__umoddi3)(uint64_t n, uint64_t d);

uint64_t ROM(__muldi3)(uint64_t a, uint64_t b)
{
    uint32_t al = (uint32_t)a, ah = (uint32_t)(a >> 32);
    uint32_t bl = (uint32_t)b, bh = (uint32_t)(b >> 32);
    uint64_t p = mul32x32(al, bl);
    uint32_t hi = (uint32_t)(p >> 32) + (uint32_t)mul32x32(al, bh) +
                  (uint32_t)mul32x32(ah, bl);
    return (uint64_t)hi << 32 | (uint32_t)p;
}

uint64_t ROM(__udivdi3)(uint64_t n, uint64_t d)
{
    return udivmod(n, d, 0);
}

uint64_t ROM(__umoddi3)(uint64_t n, uint64_t d)
{
    return udivmod(n, d, 1);
}

/* ---- single precision ------------------------------------------------ */

typedef union {
    float f;
    uint32_t u;
} fbits;

#define QNAN 0x7FC00000u
#define INF 0x7F800000u

/* Sign, exponent and a 32-bit significand s in [2^26, 2^27) whose two
 * lowest bits are guard and round and whose lost bits are ORed into bit 0
 * (sticky), for the value s * 2^(e - 26 - 127 + ...): packs it, rounding to
 * nearest even. e is the biased exponent the leading bit has. */
static uint32_t pack(uint32_t sign, int32_t e, uint32_t s)
{
    uint32_t low, m;
    if (e <= 0) { /* subnormal: shift right into place, keeping sticky */
        int32_t sh = 1 - e;
        if (sh > 27)
            s = s != 0;
        else
            s = s >> sh | ((s & ((1u << sh) - 1u)) != 0);
        e = 0;
    }
    low = s & 7u;
    m = s >> 3;
    if (low > 4u || (low == 4u && (m & 1u)))
        m++; /* may carry into the exponent, which is then right */
    if (e == 0)
        return sign | m; /* m's bit 23 set after rounding: the smallest normal */
    if (m >> 24) { /* rounding carried out of the significand */
        m >>= 1;
        e++;
    }
    if (e >= 255)
        return sign | INF;
    return sign | (uint32_t)e << 23 | (m & 0x7FFFFFu);
}

/* x's exponent and significand with the hidden bit; subnormals come out
 * normalised (exponent <= 0) */
static void unpack(uint32_t x, int32_t *e, uint32_t *m)
{
    *e = (int32_t)(x >> 23 & 0xFFu);
    *m = x & 0x7FFFFFu;
    if (*e == 0) {
        *e = 1;
        while (*m != 0 && !(*m & 0x800000u)) {
            *m <<= 1;
            (*e)--;
        }
    } else {
        *m |= 0x800000u;
    }
}

float ROM(__mulsf3)(float a, float b);
float ROM(__addsf3)(float a, float b);
uint32_t ROM(__fixunssfsi)(float a);
double ROM(__extendsfdf2)(float a);

float ROM(__mulsf3)(float a, float b)
{
    fbits x = {a}, y = {b}, z;
    uint32_t sign = (x.u ^ y.u) & 0x80000000u;
    uint32_t ax = x.u & 0x7FFFFFFFu, ay = y.u & 0x7FFFFFFFu, ma, mb, s;
    int32_t ea, eb, e;
    uint64_t p;

    if (ax > INF || ay > INF) {
        z.u = QNAN;
    } else if (ax == INF || ay == INF) {
        z.u = ax == 0 || ay == 0 ? QNAN : sign | INF;
    } else if (ax == 0 || ay == 0) {
        z.u = sign;
    } else {
        unpack(ax, &ea, &ma);
        unpack(ay, &eb, &mb);
        p = mul32x32(ma, mb); /* [2^46, 2^48) */
        e = ea + eb - 127;
        if (p >> 47) {
            e++;
        } else {
            p <<= 1;
        }
        /* p in [2^47, 2^48): keep 27 bits, the rest sticky */
        s = (uint32_t)(p >> 21) | (((uint32_t)p & 0x1FFFFFu) != 0);
        z.u = pack(sign, e, s);
    }
    return z.f;
}

float ROM(__addsf3)(float a, float b)
{
    fbits x = {a}, y = {b}, z;
    uint32_t ax = x.u & 0x7FFFFFFFu, ay = y.u & 0x7FFFFFFFu, sa, sb, ma, mb,
             s, t;
    int32_t ea, eb, d;

    if (ax > INF || ay > INF) {
        z.u = QNAN;
        return z.f;
    }
    if (ax == INF || ay == INF) {
        if (ax == INF && ay == INF && x.u != y.u)
            z.u = QNAN; /* inf - inf */
        else
            z.u = ax == INF ? x.u : y.u;
        return z.f;
    }
    if (ax == 0 && ay == 0) {
        z.u = x.u & y.u; /* -0 only when both are -0 */
        return z.f;
    }
    if (ax == 0)
        return b;
    if (ay == 0)
        return a;
    if (ax < ay) { /* x the larger in magnitude */
        fbits tmp = x;
        x = y;
        y = tmp;
        t = ax;
        ax = ay;
        ay = t;
    }
    sa = x.u & 0x80000000u;
    sb = y.u & 0x80000000u;
    unpack(ax, &ea, &ma);
    unpack(ay, &eb, &mb);
    ma <<= 3; /* guard, round, sticky */
    mb <<= 3;
    d = ea - eb;
    if (d > 27)
        mb = mb != 0;
    else if (d > 0)
        mb = mb >> d | ((mb & ((1u << d) - 1u)) != 0);
    if (sa == sb) {
        s = ma + mb; /* < 2^28 */
        if (s >> 27) {
            s = s >> 1 | (s & 1u);
            ea++;
        }
    } else {
        s = ma - mb;
        if (s == 0) {
            z.u = 0; /* x - x is +0 when rounding to nearest */
            return z.f;
        }
        while (!(s >> 26)) {
            s <<= 1;
            ea--;
        }
    }
    z.u = pack(sa, ea, s);
    return z.f;
}

uint32_t ROM(__fixunssfsi)(float a)
{
    fbits x = {a};
    int32_t e = (int32_t)(x.u >> 23 & 0xFFu) - 127;
    uint32_t m = (x.u & 0x7FFFFFu) | 0x800000u;
    if (x.u >> 31 || e < 0)
        return 0; /* negative (undefined in C) or below 1 */
    if (e >= 32)
        return UINT32_MAX; /* out of range (undefined in C): saturate */
    return e >= 23 ? m << (e - 23) : m >> (23 - e);
}

double ROM(__extendsfdf2)(float a)
{
    fbits x = {a};
    union {
        double d;
        uint64_t u;
    } r;
    uint64_t sign = (uint64_t)(x.u >> 31) << 63;
    uint32_t ex = x.u >> 23 & 0xFFu, m = x.u & 0x7FFFFFu;
    if (ex == 0xFFu) {
        r.u = sign | (uint64_t)0x7FF << 52 | (uint64_t)m << 29 |
              (m != 0 ? (uint64_t)1 << 51 : 0); /* NaNs come out quiet */
    } else if (ex == 0 && m == 0) {
        r.u = sign;
    } else {
        int32_t e;
        uint32_t mm;
        unpack(x.u & 0x7FFFFFFFu, &e, &mm);
        r.u = sign | (uint64_t)(uint32_t)(e - 127 + 1023) << 52 |
              (uint64_t)(mm & 0x7FFFFFu) << 29;
    }
    return r.d;
}
