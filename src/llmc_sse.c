#include "llmc_sse.h"

#include <string.h>

#include "llmc/llmc.h"

enum { S_LINE, S_FIELD, S_DATA_LEAD, S_DATA, S_SKIP };

void llmc_sse_init(llmc_sse_t *s, char *buf, size_t cap)
{
    memset(s, 0, sizeof(*s));
    s->buf = buf;
    s->cap = cap;
}

static int append(llmc_sse_t *s, const char *p, size_t n)
{
    if (n > s->cap - s->len)
        return LLMC_ERR_TOO_LARGE;
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    return 0;
}

/* A data line starts: lines after the first are joined with "\n". */
static int data_line(llmc_sse_t *s)
{
    if (s->has_data)
        return append(s, "\n", 1);
    s->has_data = true;
    return 0;
}

/* The field name is matched against "data" as it arrives: field_len
 * counts the bytes that matched so far, or is FIELD_OTHER once one did not
 * (field[] is not needed). */
#define FIELD_OTHER UINT8_MAX

static bool field_is_data(const llmc_sse_t *s)
{
    return s->field_len == 4;
}

/* End of the line at hand; a blank line dispatches the event. */
static int line_end(llmc_sse_t *s, char c, llmc_sse_cb cb, void *ctx)
{
    int rc = 0;
    if (c == '\r')
        s->after_cr = true;
    if (s->state == S_LINE) {
        if (s->has_data)
            rc = cb(ctx, s->buf, s->len);
        s->len = 0;
        s->has_data = false;
    }
    s->state = S_LINE;
    return rc;
}

/* Where the line that starts at p ends: the first CR or LF, or e. */
static const char *line_stop(const char *p, const char *e)
{
    const char *lf = memchr(p, '\n', (size_t)(e - p));
    const char *stop = lf != NULL ? lf : e;
    const char *cr = memchr(p, '\r', (size_t)(stop - p));
    return cr != NULL ? cr : stop;
}

int llmc_sse_feed(llmc_sse_t *s, const char *p, size_t n, llmc_sse_cb cb,
                  void *ctx)
{
    const char *e = p + n;
    int rc;
    bool nl;

    for (; p < e; p++) {
        char c = *p;
        if (s->after_cr) {
            s->after_cr = false;
            if (c == '\n') /* the LF of a CRLF */
                continue;
        }
        if (s->state == S_DATA_LEAD) {
            s->state = S_DATA;
            if (c == ' ')
                continue; /* one leading space is not part of the value */
        }
        if (s->state >= S_DATA) { /* S_DATA or S_SKIP: up to the line end */
            const char *stop = line_stop(p, e);
            if (s->state == S_DATA) {
                rc = append(s, p, (size_t)(stop - p));
                if (rc != 0)
                    return rc;
            }
            p = stop;
            if (p == e)
                break;
            c = *p;
        }
        nl = c == '\n' || c == '\r';
        if (s->state == S_FIELD && (nl || c == ':')) {
            /* the field name ends: "data" alone is an empty data line */
            bool data = field_is_data(s);
            if (data) {
                rc = data_line(s);
                if (rc != 0)
                    return rc;
            }
            if (!nl) {
                s->state = data ? S_DATA_LEAD : S_SKIP; /* skip event, id,
                                                           retry, unknown */
                continue;
            }
        }
        if (nl) {
            rc = line_end(s, c, cb, ctx);
            if (rc != 0)
                return rc;
            continue;
        }
        if (s->state == S_LINE) {
            if (c == ':') {
                s->state = S_SKIP; /* comment, e.g. ": keep-alive" */
                continue;
            }
            s->state = S_FIELD;
            s->field_len = 0;
        }
        /* S_FIELD */
        s->field_len = s->field_len < 4 && c == "data"[s->field_len]
                           ? (uint8_t)(s->field_len + 1)
                           : FIELD_OTHER;
    }
    return 0;
}
