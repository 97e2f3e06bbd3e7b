#include "llmc_failover.h"

#include <string.h>

uint32_t llmc_rand(llmc_client_t *c)
{
    /* xorshift32, seeded from the port's random source at init: enough for
     * jitter and shuffling, which need spread, not secrecy. */
    uint32_t x = c->rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c->rng = x;
    return x;
}

static bool ignored(const llmc_request_t *r, const char *name)
{
    size_t i;
    if (name == NULL)
        return false;
    for (i = 0; i < r->n_ignored; i++)
        if (r->ignored[i] != NULL && strcmp(r->ignored[i], name) == 0)
            return true;
    return false;
}

static bool cooling(const llmc_client_t *c, unsigned provider)
{
    return c->prov[provider].cool_until > c->now;
}

/* s's provider is cooling down, and another one follows it in s's order */
static LLMC_NOINLINE bool cooling_not_last(const llmc_client_t *c,
                                           const llmc_slot_t *s)
{
    return s->pos + 1u < s->n_order && cooling(c, s->order[s->pos]);
}

int llmc_fo_plan(llmc_client_t *c, llmc_slot_t *s, llmc_buf_t *msg)
{
    /* the words after each count of the message when none is eligible */
    static const char words[] =
        " configured, \0 not working, \0 ignored, \0 cooling down";
    const llmc_request_t *r = s->job.req;
    const char *w = words;
    /* eligible, not working, ignored, cooling down: a byte each, from
     * the lowest (at most 250 providers: no carry) */
    uint32_t cnt = 0;
    unsigned coolest = LLMC_NONE, n, i, k;

    for (i = 0; i < c->n_providers; i++) {
        const llmc_provider_t *p = &c->providers[i];
        k = 0;
        if (p->disabled) {
            k = 1;
        } else if (ignored(r, p->name)) {
            k = 2;
        } else if (cooling(c, i)) {
            k = 3;
            if (coolest == LLMC_NONE ||
                c->prov[i].cool_until < c->prov[coolest].cool_until)
                coolest = i;
        } else {
            s->order[(uint8_t)cnt] = (uint8_t)i;
        }
        cnt += 1u << (8 * k);
    }
    n = (uint8_t)cnt;
    /* all cooling: the first to recover */
    if (n == 0 && coolest != LLMC_NONE)
        s->order[n++] = (uint8_t)coolest;
    if (n == 0) {
        cnt |= c->n_providers; /* the message counts the configured */
        for (i = 0; i < 4; i++, cnt >>= 8) {
            llmc_buf_uint(msg, cnt & 0xFFu);
            llmc_buf_str(msg, w);
            while (*w++ != '\0')
                ;
        }
        return 0;
    }
    /* with one provider there is nothing to shuffle, and gcc's array
     * bounds check would take the loop for a read of order[1] */
#if LLMC_MAX_PROVIDERS > 1
    if (c->policy.shuffle) {
        for (i = n - 1u; i > 0; i--) {
            unsigned j = llmc_rand(c) % (i + 1u);
            uint8_t t = s->order[i];
            s->order[i] = s->order[j];
            s->order[j] = t;
        }
    }
#endif
    if (c->policy.single_provider_retry)
        n = 1;
    s->n_order = (uint8_t)n;
    s->pos = 0;
    s->tries = 0;
    return (int)n;
}

/* The failures worth another try whatever the answer said: resolving,
 * connecting, TLS (not verification), I/O, a close and a timeout. */
#define RETRY_BIT(e) (1u << (0u - (unsigned)(e)))
#define RETRY_ALWAYS                                                        \
    (RETRY_BIT(LLMC_ERR_DNS) | RETRY_BIT(LLMC_ERR_CONNECT) |                \
     RETRY_BIT(LLMC_ERR_TLS) | RETRY_BIT(LLMC_ERR_IO) |                     \
     RETRY_BIT(LLMC_ERR_CLOSED) | RETRY_BIT(LLMC_ERR_TIMEOUT))

bool llmc_fo_retryable(int status, uint16_t http_status, int8_t should_retry)
{
    unsigned k = 0u - (unsigned)status;
    /* an answer: its status and X-Should-Retry decide (an IAM token
     * request's failure is an auth error with the token endpoint's status;
     * an error object came with a 2xx), also when the body of an error
     * answer then failed (cut, timed out): its head said what it is */
    if (status == LLMC_ERR_HTTP || status == LLMC_ERR_API ||
        status == LLMC_ERR_AUTH || http_status >= 300) {
        if (should_retry >= 0)
            return should_retry == 1;
        return status != LLMC_ERR_API &&
               (http_status - 408u <= 1u || http_status == 429 ||
                http_status >= 500);
    }
    return k < 32 && ((RETRY_ALWAYS >> k) & 1u) != 0;
}

/* 32 bits suffice: the wait never exceeds backoff_max_ms, and
 * d * r / 4000 is split as (d / 4000) * r + (d % 4000) * r / 4000, which
 * is exact and cannot overflow with r < 1000. */
static uint32_t backoff(llmc_client_t *c, unsigned retry)
{
    const llmc_policy_t *p = &c->policy;
    uint32_t d = p->backoff_base_ms, max = p->backoff_max_ms, r;
    for (; retry > 0 && d < max; retry--)
        d = d > max - d ? max : d * 2;
    if (d > max)
        d = max;
    /* jitter: d * (1 - 0.25 * rand) */
    r = llmc_rand(c) % 1000u;
    return d - (d / 4000u * r + d % 4000u * r / 4000u);
}

int llmc_fo_decide(llmc_client_t *c, llmc_slot_t *s, int status)
{
    uint32_t now = (uint32_t)c->now;
    int32_t retry_after_ms = s->http.retry_after_ms;
    /* retries made so far on this provider: compared before the count
     * moves, so that max_retries 255 cannot be passed by a wrap to 0 */
    uint8_t n = s->tries++;
    llmc_set_timer(c, s, 0); /* the next provider starts at once */
    if (llmc_fo_retryable(status, s->http.status, s->http.should_retry) &&
        n < c->policy.max_retries &&
        /* a provider that began cooling down while this request ran (its
         * failures, or other requests') is not retried, nor tried later,
         * while another provider remains; the last one is always tried */
        !cooling_not_last(c, s)) {
        /* Retry-After is honoured up to 60 s and within the deadline; the
         * server asking for longer than we would wait moves on */
        bool backing_off = retry_after_ms <= 0;
        /* the clock counts whole ms and was read up to 1 ms past its tick:
         * one more makes a server's wait at least what it asked */
        uint32_t wait = backing_off ? backoff(c, n)
                                    : (uint32_t)retry_after_ms + 1u;
        if (backing_off ||
            (retry_after_ms <= 60000 &&
             wait < llmc_left(now, s->t_start, c->policy.deadline_ms))) {
            s->timer_ms = wait;
            return LLMC_FO_RETRY;
        }
    }
    s->tries = 0;
    /* per provider: the one refresh after 401/403, and the token fetched
     * for this request */
    s->token_retry = false;
    s->token_fresh = false;
    do
        s->pos++;
    while (cooling_not_last(c, s));
    if (s->pos >= s->n_order)
        return LLMC_FO_STOP;
    return LLMC_FO_NEXT;
}

void llmc_fo_wait_over(llmc_client_t *c, llmc_slot_t *s)
{
    /* decided again, it moves on: a cooling provider is retried only as
     * the last one */
    if (s->tries > 0 && cooling_not_last(c, s))
        (void)llmc_fo_decide(c, s, LLMC_OK);
}

/* The 4xx answers that say a provider cannot serve us now (as LiteLLM
 * cools on them): 401, 403, 404, 408, 429, by their distance from 400 */
#define HEALTH_4XX                                                          \
    ((1u << 1) | (1u << 3) | (1u << 4) | (1u << 8) | (1u << 29))

void llmc_fo_failed(llmc_client_t *c, llmc_slot_t *s)
{
    unsigned k = s->http.status - 400u;
    /* another 4xx (400, 413, 422...) refused the request itself: that
     * says nothing of the provider's health and counts neither way, also
     * when its body then fails, as the head decides; a token endpoint's
     * refusal does count */
    if (!s->fetching_token && k < 100u &&
        (k >= 32u || !((HEALTH_4XX >> k) & 1u)))
        return;
    llmc_fo_record(c, s->provider, false);
}

void llmc_fo_record(llmc_client_t *c, uint8_t provider, bool ok)
{
    llmc_provider_state_t *ps = &c->prov[provider];
    if (ok) {
        ps->fails = 0;
        ps->cool_until = 0;
        return;
    }
    ps->fails = (uint8_t)(ps->fails + (ps->fails < UINT8_MAX)); /* saturates */
    /* cooldown_after 0 (never) wraps to 255, above any count */
    if ((uint8_t)(c->policy.cooldown_after - 1u) < ps->fails)
        ps->cool_until = c->now + c->policy.cooldown_ms;
}
