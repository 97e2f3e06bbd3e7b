/*
 * The failover policy (gpt4free's RetryProvider): which providers a request
 * may use and in what order, which failures are worth a retry on the same
 * provider, how long to wait, and cooldown of providers that keep failing.
 */
#ifndef LLMC_FAILOVER_H
#define LLMC_FAILOVER_H

#include "llmc_internal.h"

enum { LLMC_FO_RETRY, LLMC_FO_NEXT, LLMC_FO_STOP };

/* The functions below take the time from c->now. */

/* Fill s->order. Returns the count; 0 means no provider, and *msg says
 * why (how many configured, not working, ignored, cooling down). */
int llmc_fo_plan(llmc_client_t *c, llmc_slot_t *s, llmc_buf_t *msg);

/* Is this failure worth another try on the same provider? */
bool llmc_fo_retryable(int status, uint16_t http_status, int8_t should_retry);

/* After a failed attempt (the answer's status, X-Should-Retry and
 * Retry-After in s->http): retry the same provider when s's timer fires
 * (LLMC_FO_RETRY), move to s->order[s->pos] (LLMC_FO_NEXT), or stop. */
int llmc_fo_decide(llmc_client_t *c, llmc_slot_t *s, int status);

/* s's wait to retry its provider is over: a provider that began cooling
 * down meanwhile (by other requests' failures) is not retried while
 * another one remains; s moves on to that one instead. */
void llmc_fo_wait_over(llmc_client_t *c, llmc_slot_t *s);

/* s's attempt failed: it counts towards its provider's cooldown
 * (llmc_fo_record), unless the provider refused the request itself with a
 * 4xx other than 401, 403, 404, 408 or 429. The answer's head decides,
 * whatever became of its body. */
void llmc_fo_failed(llmc_client_t *c, llmc_slot_t *s);

void llmc_fo_record(llmc_client_t *c, uint8_t provider, bool ok);

uint32_t llmc_rand(llmc_client_t *c);

#endif /* LLMC_FAILOVER_H */
