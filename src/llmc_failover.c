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

int llmc_fo_plan(llmc_client_t *c, llmc_slot_t *s, uint64_t now,
                 llmc_buf_t *msg)
{
    const llmc_request_t *r = s->job.req;
    uint8_t i, n = 0, n_off = 0, n_ign = 0, n_cool = 0, coolest = LLMC_NONE;

    for (i = 0; i < c->n_providers; i++) {
        const llmc_provider_t *p = &c->providers[i];
        if (p->disabled) {
            n_off++;
        } else if (ignored(r, p->name)) {
            n_ign++;
        } else if (c->prov[i].cool_until > now) {
            n_cool++;
            if (coolest == LLMC_NONE ||
                c->prov[i].cool_until < c->prov[coolest].cool_until)
                coolest = i;
        } else {
            s->order[n++] = i;
        }
    }
    if (n == 0 && coolest != LLMC_NONE)
        s->order[n++] = coolest; /* all cooling: the first to recover */
    if (n == 0) {
        llmc_buf_u64(msg, c->n_providers);
        llmc_buf_str(msg, " configured, ");
        llmc_buf_u64(msg, n_off);
        llmc_buf_str(msg, " not working, ");
        llmc_buf_u64(msg, n_ign);
        llmc_buf_str(msg, " ignored, ");
        llmc_buf_u64(msg, n_cool);
        llmc_buf_str(msg, " cooling down");
        return 0;
    }
    if (c->policy.shuffle) {
        for (i = n - 1; i > 0; i--) {
            uint8_t j = (uint8_t)(llmc_rand(c) % (i + 1u)), t = s->order[i];
            s->order[i] = s->order[j];
            s->order[j] = t;
        }
    }
    if (c->policy.single_provider_retry)
        n = 1;
    s->n_order = n;
    s->pos = 0;
    s->tries = 0;
    return n;
}

bool llmc_fo_retryable(int status, uint16_t http_status, int8_t should_retry)
{
    if (should_retry >= 0 && (status == LLMC_ERR_HTTP || status == LLMC_ERR_API))
        return should_retry == 1;
    switch (status) {
    case LLMC_ERR_DNS:
    case LLMC_ERR_CONNECT:
    case LLMC_ERR_TLS:
    case LLMC_ERR_IO:
    case LLMC_ERR_CLOSED:
    case LLMC_ERR_TIMEOUT:
        return true;
    case LLMC_ERR_HTTP:
        return http_status == 408 || http_status == 409 ||
               http_status == 429 || http_status >= 500;
    default:
        return false;
    }
}

static uint32_t backoff(llmc_client_t *c, uint8_t retry)
{
    const llmc_policy_t *p = &c->policy;
    uint64_t d = p->backoff_base_ms;
    uint8_t i;
    for (i = 0; i < retry && d < p->backoff_max_ms; i++)
        d *= 2;
    if (d > p->backoff_max_ms)
        d = p->backoff_max_ms;
    /* jitter: d * (1 - 0.25 * rand) */
    return (uint32_t)(d - d * (llmc_rand(c) % 1000u) / 4000u);
}

int llmc_fo_decide(llmc_client_t *c, llmc_slot_t *s, int status,
                   uint16_t http_status, int8_t should_retry,
                   int64_t retry_after_ms, uint64_t now)
{
    uint64_t deadline = s->t_start + c->policy.deadline_ms;

    s->tries++;
    if (llmc_fo_retryable(status, http_status, should_retry) &&
        s->tries <= c->policy.max_retries) {
        if (retry_after_ms > 0) {
            if (retry_after_ms <= 60000 &&
                now + (uint64_t)retry_after_ms < deadline) {
                s->t_wake = now + (uint64_t)retry_after_ms;
                return LLMC_FO_RETRY;
            }
            /* the server asks for longer than we would wait: move on */
        } else {
            s->t_wake = now + backoff(c, (uint8_t)(s->tries - 1));
            return LLMC_FO_RETRY;
        }
    }
    s->tries = 0;
    s->pos++;
    if (s->pos >= s->n_order)
        return LLMC_FO_STOP;
    s->t_wake = now;
    return LLMC_FO_NEXT;
}

void llmc_fo_record(llmc_client_t *c, uint8_t provider, bool ok, uint64_t now)
{
    llmc_provider_state_t *ps = &c->prov[provider];
    if (ok) {
        ps->fails = 0;
        ps->cool_until = 0;
        return;
    }
    if (ps->fails < UINT8_MAX)
        ps->fails++;
    if (c->policy.cooldown_after > 0 && ps->fails >= c->policy.cooldown_after)
        ps->cool_until = now + c->policy.cooldown_ms;
}
