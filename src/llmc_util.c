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
    size_t room = b->cap > b->len ? b->cap - b->len - 1 : 0;
    size_t k = n < room ? n : room;
    if (k > 0) {
        memcpy(b->p + b->len, s, k);
        b->len += k;
        b->p[b->len] = '\0';
    }
    b->need += n;
}

void llmc_buf_str(llmc_buf_t *b, const char *s)
{
    if (s != NULL)
        llmc_buf_put(b, s, strlen(s));
}

size_t llmc_u64_to_dec(uint64_t v, char *out)
{
    char tmp[20];
    size_t n = 0, i;
    do {
        tmp[n++] = (char)('0' + (v % 10u));
        v /= 10u;
    } while (v != 0);
    for (i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

void llmc_buf_u64(llmc_buf_t *b, uint64_t v)
{
    char d[20];
    llmc_buf_put(b, d, llmc_u64_to_dec(v, d));
}

void llmc_buf_i64(llmc_buf_t *b, int64_t v)
{
    if (v < 0) {
        llmc_buf_put(b, "-", 1);
        llmc_buf_u64(b, (uint64_t)0 - (uint64_t)v);
    } else {
        llmc_buf_u64(b, (uint64_t)v);
    }
}

void llmc_buf_text(llmc_buf_t *b, const char *s, size_t n)
{
    size_t i, start = 0;
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f) {
            llmc_buf_put(b, s + start, i - start);
            llmc_buf_put(b, " ", 1);
            start = i + 1;
        }
    }
    llmc_buf_put(b, s + start, n - start);
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

bool llmc_ieq(const char *a, const char *b, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (lower(a[i]) != lower(b[i]))
            return false;
    return true;
}

bool llmc_has_ctl(const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f)
            return true;
    }
    return false;
}

size_t llmc_strlen(const char *s)
{
    return s != NULL ? strlen(s) : 0;
}

int llmc_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}
