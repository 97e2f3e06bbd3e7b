#include "llmc_sse.h"

#include <string.h>

#include "llmc/llmc.h"

/* S_FIELD: a line's field name, matched against "data" as it arrives:
 * field_len counts the bytes that matched so far, or is FIELD_OTHER once
 * one did not; a line starts as S_FIELD with field_len 0 (so ':' there,
 * a comment, is just another field to skip). Then up to the line end:
 * S_DATA_LEAD and S_DATA keep a data value, S_SKIP ignores the rest. */
enum { S_BOM, S_FIELD, S_DATA_LEAD, S_DATA, S_SKIP };
/* S_BOM: where the stream starts, which may be a UTF-8 byte order mark
 * (WHATWG: the decoder strips it); field_len counts its bytes so far. */
#define FIELD_OTHER UINT8_MAX

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
    const char *stop;
    int rc;

    while (s->state == S_BOM && p < e) {
        if (*p != "\xEF\xBB\xBF"[s->field_len]) {
            /* no BOM; the part of one seen starts a field llmc does not
             * read */
            s->state = S_FIELD;
            s->field_len = s->field_len != 0 ? FIELD_OTHER : 0;
            break;
        }
        p++;
        if (++s->field_len == 3) {
            s->state = S_FIELD;
            s->field_len = 0;
        }
    }
    for (; p < e; p++) {
        char c = *p;
        if (s->after_cr) {
            s->after_cr = false;
            if (c == '\n') /* the LF of a CRLF */
                continue;
        }
        if (s->state == S_FIELD) {
            bool data;
            if (c != '\n' && c != '\r' && c != ':') {
                s->field_len = s->field_len < 4 && c == "data"[s->field_len]
                                   ? (uint8_t)(s->field_len + 1)
                                   : FIELD_OTHER;
                continue;
            }
            if (s->field_len == 0 && c != ':') {
                /* a blank line dispatches the event */
                s->after_cr = c == '\r';
                rc = s->has_data ? cb(ctx, s->buf, s->len) : 0;
                s->len = 0;
                s->has_data = false;
                if (rc != 0)
                    return rc;
                continue;
            }
            /* the field name ends: "data" alone is an empty data line,
             * lines after the first are joined with "\n" */
            data = s->field_len == 4;
            if (data && s->has_data) {
                rc = append(s, "\n", 1);
                if (rc != 0)
                    return rc;
            }
            s->has_data |= data;
            /* skip event, id, retry, unknown fields and comments */
            s->state = data ? S_DATA_LEAD : S_SKIP;
            if (c == ':')
                continue;
            /* else the line ends at c, below */
        } else if (s->state == S_DATA_LEAD) {
            s->state = S_DATA;
            if (c == ' ')
                continue; /* one leading space is not part of the value */
        }
        /* up to the line's end */
        stop = line_stop(p, e);
        if (s->state == S_DATA) {
            rc = append(s, p, (size_t)(stop - p));
            if (rc != 0)
                return rc;
        }
        p = stop;
        if (p == e)
            break;
        s->after_cr = *p == '\r';
        s->state = S_FIELD;
        s->field_len = 0;
    }
    return 0;
}
