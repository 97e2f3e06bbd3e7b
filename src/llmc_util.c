#include "llmc_util.h"

#include <string.h>

void llmc_buf_init(llmc_buf_t *b, char *p, size_t cap)
{
    b->p = p;
    b->cap = cap;
    b->len = 0;
    b->need = 0;
    if (cap > 0)
        p[0] = '\0';
}

void llmc_buf_put(llmc_buf_t *b, const char *s, size_t n)
{
    size_t room = b->cap - b->len - 1; /* len < cap: the NUL fits */
    size_t k = n, i;
    if (n > room) {
        /* cut short: between characters, not inside one (a text cut is
         * still UTF-8 when it came as UTF-8), so back past at most 3
         * continuation bytes */
        for (k = room, i = 0; k > 0 && i < 3 &&
                              ((unsigned char)s[k] & 0xC0u) == 0x80u; i++)
            k--;
        b->cap = b->len + k + 1; /* nothing more after the cut */
    }
    if (k > 0) {
        memcpy(b->p + b->len, s, k);
        b->len += k;
        b->p[b->len] = '\0';
    }
    b->need += n;
}

void llmc_buf_str(llmc_buf_t *b, const char *s)
{
    llmc_buf_put(b, s, llmc_strlen(s)); /* NULL appends nothing */
}

/* size_t: the native word, one division instruction on a 32-bit MCU;
 * every number llmc prints fits it */
size_t llmc_uint_to_dec(size_t v, char *out)
{
    char tmp[20], *p = tmp + sizeof(tmp);
    size_t n;
    do {
        *--p = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0);
    n = (size_t)(tmp + sizeof(tmp) - p);
    memcpy(out, p, n);
    return n;
}

/* 32-bit arithmetic is what a 32-bit MCU does in one instruction. */
uint64_t llmc_parse_dec(const char *s, size_t n)
{
    uint32_t v = 0;
    size_t i;
    unsigned d;
    for (i = 0; i < n && (d = (unsigned)(s[i] - '0')) <= 9; i++)
        v = v > (UINT32_MAX - d) / 10 ? UINT32_MAX : v * 10 + d;
    return (uint64_t)i << 32 | v;
}

void llmc_buf_uint(llmc_buf_t *b, size_t v)
{
    char d[20];
    llmc_buf_put(b, d, llmc_uint_to_dec(v, d));
}

static bool is_ctl(char c)
{
    unsigned char ch = (unsigned char)c;
    return ch < 0x20 || ch == 0x7f;
}

/* Copied, then its control bytes in the buffer turned into spaces. */
void llmc_buf_text(llmc_buf_t *b, const char *s, size_t n)
{
    size_t k = b->len;
    llmc_buf_put(b, s, n);
    for (; k < b->len; k++)
        if (is_ctl(b->p[k]))
            b->p[k] = ' ';
}

bool llmc_ieq(const char *a, const char *b, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        /* equal, or equal letters in other cases */
        unsigned x = (unsigned char)a[i], d = x ^ (unsigned char)b[i];
        x |= 0x20;
        if (d != 0 && (d != 0x20 || x < 'a' || x > 'z'))
            return false;
    }
    return true;
}

bool llmc_has_ctl(const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (is_ctl(s[i]))
            return true;
    return false;
}

size_t llmc_strlen(const char *s)
{
    return s != NULL ? strlen(s) : 0;
}

const char *llmc_text_at(const char *texts, unsigned k)
{
    for (; k > 0; k--)
        while (*texts++ != '\0')
            ;
    return texts;
}

int llmc_hexval(char c)
{
    unsigned d = (unsigned char)c - (unsigned)'0';
    if (d < 10)
        return (int)d;
    /* 'A'..'F' to 'a'..'f', and no other byte */
    d = ((unsigned char)c | 0x20u) - (unsigned)'a';
    return d < 6 ? (int)d + 10 : -1;
}
