#include "llmc_sse.h"

#include <string.h>

#include "llmc/llmc.h"
#include "llmc_internal.h"

/* S_FIELD: a line's field name, matched against "data" or "error" (in
 * k_fields) as it arrives: field_len is where the next byte must match
 * there, or FIELD_OTHER once one did not; a line starts as S_FIELD with
 * field_len 0 (so ':' there, a comment, is just another field to skip).
 * Then up to the line end: S_DATA_LEAD and S_DATA keep a data value,
 * S_SKIP ignores the rest. */
enum { S_BOM, S_FIELD, S_DATA_LEAD, S_DATA, S_SKIP };
/* S_BOM: where the stream starts, which may be a UTF-8 byte order mark
 * (WHATWG: the decoder strips it); field_len counts its bytes so far. */
#define FIELD_OTHER UINT8_MAX
/* The names read: "data" from 0, "error" from 7, each up to FIELD_DATA or
 * FIELD_ERROR; an error line's value goes into the event after
 * k_fields[5..14), {"error":, and a '}' (HAS_WRAP in has_data). Then, all
 * in one string: that '}' (14; no name reaches it, as ':' ends one), the
 * "\n" that joins data lines (15), and the byte order mark (16..18). */
static const char k_fields[] = "data\0{\"error\":}\n\xEF\xBB\xBF";
#define FIELD_DATA 4
#define FIELD_ERROR 12
#define HAS_WRAP 2

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

    for (; p < e; p++) {
        char c = *p;
        if (s->state == S_BOM) {
            if (c == k_fields[16 + s->field_len]) {
                if (++s->field_len == 3) {
                    s->state = S_FIELD;
                    s->field_len = 0;
                }
                continue;
            }
            /* no BOM; the part of one seen starts a field llmc does not
             * read */
            s->state = S_FIELD;
            s->field_len = s->field_len != 0 ? FIELD_OTHER : 0;
        }
        /* the LF of a CRLF is skipped, and any byte ends the wait for
         * it (after_cr > (c != LF), not &&, which would have gcc copy
         * the paths below for a known LF) */
        if (s->after_cr > (c != '\n')) {
            s->after_cr = false;
            continue;
        }
        s->after_cr = false;
        if (s->state == S_FIELD) {
            bool data;
            /* & rather than &&: one test of all three, not a branch per
             * byte value that gcc would then follow with copies */
            if ((c != '\n') & (c != '\r') & (c != ':')) {
                unsigned k = s->field_len == 0 && c == 'e' ? 7u
                                                           : s->field_len;
                s->field_len = k < sizeof(k_fields) && c != '\0' &&
                                       c == k_fields[k]
                                   ? (uint8_t)(k + 1)
                                   : FIELD_OTHER;
                continue;
            }
            if (s->field_len == 0 && c != ':') {
                /* a blank line dispatches the event */
                s->after_cr = c == '\r';
                rc = s->has_data & HAS_WRAP ? append(s, k_fields + 14, 1) : 0;
                if (rc == 0 && s->has_data)
                    rc = cb(ctx, s->buf, s->len);
                s->len = 0;
                s->has_data = 0;
                if (rc != 0)
                    return rc;
                continue;
            }
            /* the field name ends: "data" alone is an empty data line,
             * lines after the first are joined with "\n". An "error"
             * line (not WHATWG's: llama.cpp's server sends an error that
             * comes while it streams so, then [DONE]) is read as data
             * wrapped in {"error":...}, which the decoder takes for the
             * error it is; joined with another line, it is no JSON and
             * fails as such */
            data = s->field_len == FIELD_DATA || s->field_len == FIELD_ERROR;
            if (data) {
                rc = 0;
                if (s->has_data) {
                    rc = append(s, k_fields + 15, 1);
                } else if (s->field_len == FIELD_ERROR) {
                    s->has_data = HAS_WRAP;
                    rc = append(s, k_fields + 5, 9);
                }
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
