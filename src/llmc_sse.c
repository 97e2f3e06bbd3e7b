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

static bool field_is_data(const llmc_sse_t *s)
{
    return s->field_len == 4 && memcmp(s->field, "data", 4) == 0;
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
    } else if (s->state == S_FIELD && field_is_data(s)) {
        rc = data_line(s); /* "data" alone: an empty data line */
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

    while (p < e) {
        char c = *p;
        if (s->after_cr) {
            s->after_cr = false;
            if (c == '\n') { /* the LF of a CRLF */
                p++;
                continue;
            }
        }
        if (s->state == S_DATA || s->state == S_SKIP) {
            const char *stop = line_stop(p, e);
            if (s->state == S_DATA && stop > p) {
                rc = append(s, p, (size_t)(stop - p));
                if (rc != 0)
                    return rc;
            }
            p = stop;
            if (p == e)
                break;
            c = *p;
        }
        if (c == '\n' || c == '\r') {
            rc = line_end(s, c, cb, ctx);
            if (rc != 0)
                return rc;
            p++;
            continue;
        }
        switch (s->state) {
        case S_LINE:
            if (c == ':') {
                s->state = S_SKIP; /* comment, e.g. ": keep-alive" */
            } else {
                s->state = S_FIELD;
                s->field[0] = c;
                s->field_len = 1;
            }
            break;
        case S_FIELD:
            if (c == ':') {
                if (field_is_data(s)) {
                    rc = data_line(s);
                    if (rc != 0)
                        return rc;
                    s->state = S_DATA_LEAD;
                } else {
                    s->state = S_SKIP; /* event, id, retry, unknown */
                }
            } else if (s->field_len < sizeof(s->field)) {
                s->field[s->field_len++] = c;
            } else {
                s->field_len = UINT8_MAX; /* too long to be "data" */
            }
            break;
        case S_DATA_LEAD:
            s->state = S_DATA;
            if (c == ' ')
                break; /* one leading space is not part of the value */
            continue;  /* reprocess c as data */
        default:
            break;
        }
        p++;
    }
    return 0;
}
