#include "llmc_writer.h"

#include <string.h>

#include "llmc_util.h"

typedef struct {
    const char *p;
    size_t n;
    bool esc;
} piece_t;

#define HEAD_PIECES 17u
#define MSG_PIECES 5u

static size_t esc_len(unsigned char c)
{
    if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' ||
        c == '\r' || c == '\t')
        return 2;
    return c < 0x20 ? 6 : 1;
}

uint64_t llmc_json_escaped_len(const char *s, size_t n)
{
    uint64_t total = 0;
    size_t i;
    for (i = 0; i < n; i++)
        total += esc_len((unsigned char)s[i]);
    return total;
}

size_t llmc_json_escape(const char *s, size_t n, char *out, size_t cap,
                        size_t *consumed)
{
    static const char hex[] = "0123456789abcdef";
    size_t i, o = 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        size_t need = esc_len(c);
        if (o + need > cap)
            break;
        if (need == 1) {
            out[o++] = (char)c;
            continue;
        }
        out[o++] = '\\';
        switch (c) {
        case '"': out[o++] = '"'; break;
        case '\\': out[o++] = '\\'; break;
        case '\b': out[o++] = 'b'; break;
        case '\f': out[o++] = 'f'; break;
        case '\n': out[o++] = 'n'; break;
        case '\r': out[o++] = 'r'; break;
        case '\t': out[o++] = 't'; break;
        default:
            out[o++] = 'u';
            out[o++] = '0';
            out[o++] = '0';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
            break;
        }
    }
    *consumed = i;
    return o;
}

static size_t msg_len(const llmc_message_t *m)
{
    return m->content_len ? m->content_len : llmc_strlen(m->content);
}

static void lit(piece_t *pc, const char *s)
{
    pc->p = s;
    pc->n = strlen(s);
    pc->esc = false;
}

/* ",\"max_tokens\":N" and ",\"temperature\":X.YYY" are rendered into
 * w->num when their piece is asked for; rendering is deterministic, so a
 * piece resumed later renders the same bytes. */
static void render_num(llmc_writer_t *w, piece_t *pc, const char *key,
                       uint64_t ip, int frac_milli)
{
    llmc_buf_t b;
    llmc_buf_init(&b, w->num, sizeof(w->num));
    llmc_buf_str(&b, key);
    llmc_buf_u64(&b, ip);
    if (frac_milli >= 0) {
        char f[4];
        f[0] = '.';
        f[1] = (char)('0' + frac_milli / 100);
        f[2] = (char)('0' + frac_milli / 10 % 10);
        f[3] = (char)('0' + frac_milli % 10);
        llmc_buf_put(&b, f, 4);
    }
    pc->p = w->num;
    pc->n = b.len;
    pc->esc = false;
}

static bool head_piece(llmc_writer_t *w, uint32_t i, piece_t *pc)
{
    llmc_buf_t b;
    lit(pc, "");
    switch (i) {
    case 0: lit(pc, "POST "); break;
    case 1:
        pc->p = w->path;
        pc->n = w->path_len;
        if (pc->n == 0 && w->key_id != NULL)
            lit(pc, "/"); /* a token URL without a path */
        break;
    case 2:
        lit(pc, w->key_id ? " HTTP/1.1\r\nHost: "
                          : "/chat/completions HTTP/1.1\r\nHost: ");
        break;
    case 3: if (strchr(w->host, ':') != NULL) lit(pc, "["); break;
    case 4: lit(pc, w->host); break; /* an IPv6 literal goes in [] */
    case 5: if (strchr(w->host, ':') != NULL) lit(pc, "]"); break;
    case 6:
        if (w->port != 0) {
            llmc_buf_init(&b, w->num, sizeof(w->num));
            llmc_buf_put(&b, ":", 1);
            llmc_buf_u64(&b, w->port);
            pc->p = w->num;
            pc->n = b.len;
        }
        break;
    case 7:
        lit(pc, w->stream ? "\r\nUser-Agent: llmc/" LLMC_VERSION
                            "\r\nAccept: text/event-stream"
                            "\r\nContent-Type: application/json\r\n"
                          : "\r\nUser-Agent: llmc/" LLMC_VERSION
                            "\r\nAccept: application/json"
                            "\r\nContent-Type: application/json\r\n");
        break;
    case 8: if (w->bearer) lit(pc, "Authorization: Bearer "); break;
    case 9:
        if (w->bearer) {
            pc->p = w->bearer;
            pc->n = w->bearer_len;
        }
        break;
    case 10: if (w->bearer) lit(pc, "\r\n"); break;
    case 11: if (w->project_id) lit(pc, "x-project-id: "); break;
    case 12: if (w->project_id) lit(pc, w->project_id); break;
    case 13: if (w->project_id) lit(pc, "\r\n"); break;
    case 14: lit(pc, "Content-Length: "); break;
    case 15:
        pc->p = w->num;
        pc->n = llmc_u64_to_dec(w->content_length, w->num);
        break;
    default: lit(pc, "\r\n\r\n"); break;
    }
    return true;
}

static bool body_piece(llmc_writer_t *w, uint32_t i, piece_t *pc)
{
    const llmc_request_t *r = w->req;
    uint32_t nm = (uint32_t)r->n_messages, end = 3 + MSG_PIECES * nm;

    lit(pc, "");
    if (i == 0) {
        lit(pc, "{\"model\":\"");
    } else if (i == 1) {
        lit(pc, w->model ? w->model : "");
        pc->esc = true;
    } else if (i == 2) {
        lit(pc, "\",\"messages\":[");
    } else if (i < end) {
        const llmc_message_t *m = &r->messages[(i - 3) / MSG_PIECES];
        switch ((i - 3) % MSG_PIECES) {
        case 0: lit(pc, m == r->messages ? "{\"role\":\"" : ",{\"role\":\"");
            break;
        case 1: lit(pc, m->role ? m->role : "user"); pc->esc = true; break;
        case 2: lit(pc, "\",\"content\":\""); break;
        case 3:
            pc->p = m->content ? m->content : "";
            pc->n = msg_len(m);
            pc->esc = true;
            break;
        default: lit(pc, "\"}"); break;
        }
    } else if (i == end) {
        lit(pc, "]");
    } else if (i == end + 1) {
        if (r->max_tokens > 0)
            render_num(w, pc, ",\"max_tokens\":", (uint64_t)r->max_tokens, -1);
    } else if (i == end + 2) {
        if (r->temperature >= 0.0f) {
            float t = r->temperature > 100.0f ? 100.0f : r->temperature;
            uint32_t milli = (uint32_t)(t * 1000.0f + 0.5f);
            render_num(w, pc, ",\"temperature\":", milli / 1000u,
                       (int)(milli % 1000u));
        }
    } else if (i == end + 3) {
        lit(pc, w->stream ? ",\"stream\":true,\"stream_options\":"
                            "{\"include_usage\":true}}"
                          : ",\"stream\":false}");
    } else {
        return false;
    }
    return true;
}

/* {"keyId":"...","secret":"..."}: the secret goes out escaped, uncopied. */
static bool token_piece(llmc_writer_t *w, uint32_t i, piece_t *pc)
{
    switch (i) {
    case 0: lit(pc, "{\"keyId\":\""); break;
    case 1: lit(pc, w->key_id); pc->esc = true; break;
    case 2: lit(pc, "\",\"secret\":\""); break;
    case 3: lit(pc, w->secret ? w->secret : ""); pc->esc = true; break;
    case 4: lit(pc, "\"}"); break;
    default: return false;
    }
    return true;
}

static bool get_piece(llmc_writer_t *w, uint32_t i, piece_t *pc)
{
    if (i < HEAD_PIECES)
        return head_piece(w, i, pc);
    if (w->key_id != NULL)
        return token_piece(w, i - HEAD_PIECES, pc);
    return body_piece(w, i - HEAD_PIECES, pc);
}

static bool header_ok(const char *s, size_t n)
{
    return s == NULL || !llmc_has_ctl(s, n);
}

int llmc_writer_start(llmc_writer_t *w)
{
    piece_t pc;
    uint32_t i;
    uint64_t total = 0;

    if (!header_ok(w->bearer, w->bearer_len) ||
        !header_ok(w->project_id, llmc_strlen(w->project_id)) ||
        !header_ok(w->host, llmc_strlen(w->host)))
        return LLMC_ERR_HEADER;
    for (i = HEAD_PIECES; get_piece(w, i, &pc); i++)
        total += pc.esc ? llmc_json_escaped_len(pc.p, pc.n) : pc.n;
    w->content_length = total;
    w->idx = 0;
    w->off = 0;
    return LLMC_OK;
}

size_t llmc_writer_fill(llmc_writer_t *w, char *buf, size_t cap)
{
    size_t o = 0, used, k;
    piece_t pc;

    while (o < cap && get_piece(w, w->idx, &pc)) {
        if (pc.esc) {
            o += llmc_json_escape(pc.p + w->off, pc.n - w->off, buf + o,
                                  cap - o, &used);
            w->off += used;
        } else {
            k = pc.n - w->off;
            if (k > cap - o)
                k = cap - o;
            memcpy(buf + o, pc.p + w->off, k);
            o += k;
            w->off += k;
        }
        if (w->off < pc.n)
            break; /* buffer full (or an escape did not fit) */
        w->idx++;
        w->off = 0;
    }
    return o;
}
