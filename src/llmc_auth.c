#include "llmc_auth.h"

#include <string.h>

#include "llmc_json.h"
#include "llmc_url.h"

int llmc_auth_init_provider(llmc_client_t *c, uint8_t i)
{
    const llmc_provider_t *p = &c->providers[i];
#if LLMC_IAM
    llmc_target_t *t;
    uint8_t k = c->n_iam; /* the next free entry */
#endif

    /* an empty key would go out as "Bearer " with no token */
    if (p->auth == LLMC_AUTH_BEARER && (p->api_key == NULL || !*p->api_key))
        return LLMC_ERR_CONFIG;
    /* an auth that is none of llmc_auth_t's: a config gone wrong, which
     * would otherwise send no credentials at all */
    if (p->auth != LLMC_AUTH_EVOLUTION_IAM)
        return (unsigned)p->auth > LLMC_AUTH_EVOLUTION_IAM ? LLMC_ERR_CONFIG
                                                           : LLMC_OK;
#if !LLMC_IAM
    return LLMC_ERR_CONFIG; /* compiled out: LLMC_IAM_PROVIDERS is 0 */
#else
    if (p->key_id == NULL || p->secret == NULL || !*p->key_id || !*p->secret)
        return LLMC_ERR_CONFIG;
    if (k == LLMC_IAM_PROVIDERS)
        return LLMC_ERR_CONFIG; /* raise LLMC_IAM_PROVIDERS */
    t = &c->iam[k].t;
    if (llmc_url_parse(p->token_url ? p->token_url : LLMC_IAM_DEFAULT_TOKEN_URL,
                       &t->url) != LLMC_OK)
        return LLMC_ERR_URL;
    /* POST {token_url}: its path as it is, a trailing slash too */
    t->url.path_len = strlen(t->url.path);
    c->prov[i].iam = k;
    c->n_iam++;
    return t->url.tls; /* 1: the token endpoint needs TLS */
#endif
}

#if LLMC_IAM
LLMC_NOINLINE llmc_iam_t *llmc_auth_iam(llmc_client_t *c,
                                        const llmc_slot_t *s)
{
    return &c->iam[c->prov[s->provider].iam];
}

/* The stored token is good for more than the refresh margin. */
static bool lasts(const llmc_client_t *c, const llmc_iam_t *iam)
{
    return iam->len != 0 && c->now + LLMC_IAM_REFRESH_MARGIN_MS < iam->expires;
}
#endif

int llmc_auth_prepare(llmc_client_t *c, llmc_slot_t *s)
{
    const llmc_provider_t *p = &c->providers[s->provider];
#if LLMC_IAM
    llmc_iam_t *iam;
#endif

    if (p->auth == LLMC_AUTH_BEARER) {
        s->w.bearer = p->api_key;
        s->w.bearer_len = strlen(p->api_key);
    }
#if LLMC_IAM
    if (p->auth != LLMC_AUTH_EVOLUTION_IAM)
        return 0;
    iam = llmc_auth_iam(c, s);
    /* refresh when less than the margin remains; a token fetched for this
     * very request is used by all of its attempts on this provider, even
     * if it is that short-lived */
    if ((iam->len != 0 && s->token_fresh) ||
        lasts(c, iam)) {
        s->w.project_id = p->project_id;
        s->w.bearer = iam->token;
        s->w.bearer_len = iam->len;
        return 0;
    }
    /* no usable token: another request's fetch brings one, or this
     * attempt first fetches one */
    if (iam->fetching)
        return 1;
    iam->fetching = true;
    s->fetching_token = true;
    s->w.key_id = p->key_id;
    s->w.secret = p->secret;
    s->w.stream = false;
#endif
    return 0;
}

#if LLMC_IAM

llmc_target_t *llmc_auth_target(llmc_client_t *c, uint8_t id)
{
    if (id >= LLMC_MAX_PROVIDERS)
        return &c->iam[id - LLMC_MAX_PROVIDERS].t;
    return &c->prov[id].t;
}

int llmc_auth_store(llmc_client_t *c, llmc_slot_t *s)
{
    llmc_iam_t *iam = llmc_auth_iam(c, s);
    const char *t, *tok;
    size_t n, len;
    int32_t expires_in;
    uint32_t life; /* seconds */
    int rc = llmc_json_token(s->buf, s->body_len, &t, &n, &expires_in);
    llmc_buf_t b;

    llmc_buf_init(&b, s->result.message, sizeof(s->result.message));
    /* an empty token is none (llmc_json_token()): a stored token's len
     * is not 0 */
    if (rc != LLMC_OK) {
        llmc_buf_str(&b, rc == LLMC_ERR_EMPTY
                              ? "no access_token in the answer"
                              : "answer is not JSON");
        return LLMC_ERR_AUTH;
    }
    /* the token in locals whose address is not taken: registers */
    tok = t;
    len = n;
    if (len >= sizeof(iam->token) || llmc_has_ctl(tok, len)) {
        llmc_buf_str(&b, len >= sizeof(iam->token)
                              ? "access_token longer than LLMC_TOKEN_MAX"
                              : "access_token has control bytes");
        return LLMC_ERR_AUTH;
    }
    /* no other token is stored meanwhile: a provider's token is fetched
     * by one request at a time (llmc_auth_prepare()), and only when the
     * one stored does not last */
    memcpy(iam->token, tok, len);
    iam->token[len] = '\0';
    iam->len = (uint16_t)len;
    /* unknown (-1): 0, use once, then fetch again; at most 30 days: the
     * milliseconds fit 32 bits */
    life = expires_in < 0 ? 0u
           : expires_in > 86400 * 30 ? 86400u * 30u
                                     : (uint32_t)expires_in;
    iam->expires = c->now + life * 1000u;
    iam->gen++;
    s->token_fresh = true;
    return LLMC_OK;
}

/* The token answer's bytes, as they come, into s->buf. Cloud.ru's answer
 * holds two signed JWTs, access_token and id_token, of about 1.1 KB each
 * (2.4 KB in all), more than a board's 2 KB buffer; llmc reads only
 * access_token and expires_in. So the characters of every other string
 * value are left out ("id_token": ""): the text stays JSON, and what llmc
 * reads of it is the same. The state lives in the slot's SSE framer,
 * which a JSON body does not use (llmc_sse_init() zeroes it as the body
 * starts): state holds the F_ bits below, len and cap where the last
 * string that may be a key starts and ends. Returns false when what is
 * kept does not fit. */
enum {
    F_COLON = 1, /* outside strings, the last byte but blanks was ':' */
    F_STR = 2,   /* in a string ... */
    F_DROP = 4,  /* ... a value that is left out */
    F_ESC = 8    /* ... just after a backslash */
};

bool llmc_auth_body(llmc_slot_t *s, const char *p, size_t n)
{
    /* the names of the members read, end to end */
    static const char k_read[] = "access_tokenexpires_in";
    llmc_sse_t *f = &s->sse;
    const char *e = p + n;
    unsigned st = f->state;

    for (; p < e; p++) {
        char c = *p;
        if (st & F_STR) {
            if (st & F_ESC)
                st &= ~(unsigned)F_ESC;
            else if (c == '\\')
                st |= F_ESC;
            else if (c == '"') {
                if (!(st & F_DROP))
                    f->cap = s->body_len; /* a key, maybe: it ends */
                st = 0;
            }
            if (st & F_DROP)
                continue;
        } else if (c == '"') {
            /* a member's value: kept if its key is one llmc reads; any
             * other string may be a key */
            if (st & F_COLON) {
                size_t kn = f->cap - f->len;
                /* access_token (12) at 0, expires_in (10) at 12 */
                st = ((kn - 10) & ~(size_t)2) == 0 &&
                             memcmp(s->buf + f->len, k_read + (12 - kn) * 6,
                                    kn) == 0
                         ? F_STR
                         : F_STR | F_DROP;
            } else {
                st = F_STR;
                f->len = s->body_len + 1;
            }
        } else if ((unsigned char)c > ' ') { /* not a blank (nor, in
                                                 JSON, a control byte) */
            st = c == ':' ? F_COLON : 0;
        }
        if (s->body_len == sizeof(s->buf))
            return false;
        s->buf[s->body_len++] = c;
    }
    f->state = (uint8_t)st;
    return true;
}

bool llmc_auth_refresh(llmc_client_t *c, llmc_slot_t *s)
{
    llmc_iam_t *iam = llmc_auth_iam(c, s);
    if (c->providers[s->provider].auth != LLMC_AUTH_EVOLUTION_IAM ||
        s->fetching_token || s->token_retry ||
        (s->http.status != 401 && s->http.status != 403))
        return false;
    /* a refusal that comes after another request's refusal has brought a
     * newer token is not the newer token's: that one stays */
    if (iam->gen == s->sent_gen)
        iam->len = 0;
    s->token_fresh = false; /* refused: the next attempt fetches another */
    s->token_retry = true;
    return true;
}

void llmc_auth_token_failed(llmc_slot_t *s, int *status)
{
    char tmp[LLMC_MSG_LEN];
    llmc_buf_t b;
    memcpy(tmp, s->result.message, sizeof(tmp));
    llmc_buf_init(&b, s->result.message, sizeof(s->result.message));
    llmc_buf_str(&b, "IAM token: ");
    llmc_buf_str(&b, tmp);
    if (*status == LLMC_ERR_HTTP || *status == LLMC_ERR_PROTOCOL ||
        *status == LLMC_ERR_EMPTY || *status == LLMC_ERR_API)
        *status = LLMC_ERR_AUTH;
}
#endif /* LLMC_IAM */
