/*
 * Authentication: a static bearer key, or Evolution IAM (Cloud.ru), where
 * key_id + secret are exchanged at token_url for an access token that is
 * cached with its expiry, refreshed when less than 30 s remain, and
 * refreshed once more when the API answers 401 or 403. The token request
 * runs in the same slot and engine as the chat request it precedes.
 */
#ifndef LLMC_AUTH_H
#define LLMC_AUTH_H

#include "llmc_internal.h"

#define LLMC_IAM_DEFAULT_TOKEN_URL "https://iam.api.cloud.ru/api/v1/auth/token"
#define LLMC_IAM_REFRESH_MARGIN_MS 30000u

/* LLMC_IAM_PROVIDERS 0 compiles Evolution IAM out: only the bearer key
 * remains, and an IAM provider is a configuration error. */
#define LLMC_IAM (LLMC_IAM_PROVIDERS > 0)

/* The attempt is the IAM token request (never, without IAM). */
#define LLMC_FETCHING_TOKEN(s) (LLMC_IAM && (s)->fetching_token)

/* The time is c->now. */

/* At client init, for providers 0, 1, ... in turn: give an IAM provider
 * the next token storage entry. Returns an error, LLMC_OK, or 1 when its
 * token endpoint needs TLS. */
int llmc_auth_init_provider(llmc_client_t *c, uint8_t i);

/* The connection target whose id is id: a provider's base_url, or with
 * IAM (LLMC_TARGET_IAM) an entry's token_url. */
#if LLMC_IAM
llmc_target_t *llmc_auth_target(llmc_client_t *c, uint8_t id);
#else
#define llmc_auth_target(c, id) (&(c)->prov[id].t)
#endif

/* Before an attempt's request is written (s->w cleared, s->fetching_token
 * false): set the writer's credentials and return 0, or turn the attempt
 * into the token request (s->fetching_token) and return 0, or return 1
 * when another request is fetching the token the attempt needs: it waits
 * for that one fetch, which requests that start together share. */
int llmc_auth_prepare(llmc_client_t *c, llmc_slot_t *s);

#if LLMC_IAM
/* The token entry of s's provider (an IAM one). */
llmc_iam_t *llmc_auth_iam(llmc_client_t *c, const llmc_slot_t *s);

/* The token answer is in s->buf: keep it. LLMC_OK or an error. */
int llmc_auth_store(llmc_client_t *c, llmc_slot_t *s);

/* Body bytes of a token answer (a JSON one): into s->buf, without the
 * characters of string values llmc does not read. False: too large. */
bool llmc_auth_body(llmc_slot_t *s, const char *p, size_t n);

/* When the API said 401/403 to an IAM token not refreshed yet for this
 * request: forget the token it sent unless a newer one has replaced it
 * (the next prepare fetches one, or sends the newer one), note the
 * refresh in s->token_retry and return true. */
bool llmc_auth_refresh(llmc_client_t *c, llmc_slot_t *s);

/* The token request failed: say so in the message; HTTP and format errors
 * become LLMC_ERR_AUTH. */
void llmc_auth_token_failed(llmc_slot_t *s, int *status);
#endif

#endif /* LLMC_AUTH_H */
