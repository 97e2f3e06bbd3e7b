/*
 * llmc: OpenAI-compatible chat completions for microcontrollers and Linux,
 * through several providers with failover and retry, many requests in flight
 * on one thread, streamed answers, and no heap.
 *
 * Model of use:
 *   llmc_client_init(&client, &config);        caller owns llmc_client_t
 *   h = llmc_submit(&client, &req, &cb, user);  queue a request (non-blocking)
 *   while (llmc_poll(&client, 1000) > 0) {}     the only place time passes
 *   llmc_client_shutdown(&client);
 * or, blocking: llmc_chat(&client, &req, &cb, user, &result).
 *
 * Every pointer handed to llmc (providers, messages, strings) is caller-owned
 * and must stay valid while llmc uses it: providers for the client's life,
 * a request until its on_done callback has run.
 *
 * Threads: one task owns the client. It calls llmc_client_init(),
 * llmc_poll(), llmc_poll_with(), llmc_chat() and llmc_client_shutdown().
 * llmc_submit() and llmc_cancel() may also come from other tasks when the
 * port has a lock (port/posix, port/freertos and port/esp-idf do).
 * llmc_strerror(), llmc_result_format(), llmc_policy_default(),
 * llmc_request_init() and llmc_client_size() touch no client and may be
 * called anywhere.
 */
#ifndef LLMC_H
#define LLMC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llmc_config_defaults.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LLMC_VERSION "0.1.0"

/* One status enum for the whole library. 0 is success; errors are negative
 * so that a handle (>= 1) and an error share one return value. */
typedef enum {
    LLMC_OK = 0,
    LLMC_ERR_ARG = -1,          /* invalid argument */
    LLMC_ERR_URL = -2,          /* base_url not http(s)://host[:port][/path] */
    LLMC_ERR_DNS = -3,          /* host name did not resolve */
    LLMC_ERR_CONNECT = -4,      /* TCP connect failed (refused, unreachable) */
    LLMC_ERR_TLS = -5,          /* TLS handshake or record error */
    LLMC_ERR_TLS_VERIFY = -6,   /* certificate not trusted or wrong host */
    LLMC_ERR_IO = -7,           /* send/recv failed (connection reset) */
    LLMC_ERR_CLOSED = -8,       /* peer closed before the response ended */
    LLMC_ERR_TIMEOUT = -9,      /* connect, first-byte, idle or deadline */
    LLMC_ERR_HTTP = -10,        /* non-2xx HTTP status */
    LLMC_ERR_PROTOCOL = -11,    /* malformed HTTP, SSE or JSON */
    LLMC_ERR_TOO_LARGE = -12,   /* event, body or head bigger than its bound */
    LLMC_ERR_API = -13,         /* provider sent an error object */
    LLMC_ERR_EMPTY = -14,       /* response ended without any content */
    LLMC_ERR_CANCELLED = -15,   /* llmc_cancel() or shutdown */
    LLMC_ERR_NO_PROVIDER = -16, /* no eligible provider */
    LLMC_ERR_QUEUE_FULL = -17,  /* every slot busy and the queue full */
    LLMC_ERR_HEADER = -18,      /* CR, LF or control byte in a header value */
    LLMC_ERR_AUTH = -19,        /* IAM token could not be obtained */
    LLMC_ERR_CONFIG = -20,      /* invalid client configuration */
    LLMC_ERR_STATE = -21        /* call not allowed now (e.g. shut down) */
} llmc_status_t;

/* Short lower-case name of a status, e.g. "timeout". Never NULL. */
const char *llmc_strerror(int status);

/* ---- providers --------------------------------------------------------- */

typedef enum {
    LLMC_AUTH_NONE = 0,
    LLMC_AUTH_BEARER,       /* Authorization: Bearer api_key */
    LLMC_AUTH_EVOLUTION_IAM /* key_id + secret exchanged for a bearer token */
} llmc_auth_t;

/* A provider: one OpenAI-compatible endpoint. All-zero fields mean the
 * defaults, so `disabled`, `no_stream` and `no_stream_options` are the
 * negatives of the config file's "working", "stream" and
 * "stream_options"; `max_completion_tokens` is its namesake. */
typedef struct {
    const char *name;     /* shown in results and logs */
    const char *base_url; /* "https://api.openai.com/v1"; /chat/completions
                             is appended */
    llmc_auth_t auth;
    const char *api_key;    /* LLMC_AUTH_BEARER; not empty */
    const char *key_id;     /* LLMC_AUTH_EVOLUTION_IAM; not empty */
    const char *secret;     /* LLMC_AUTH_EVOLUTION_IAM; not empty */
    const char *project_id; /* optional, IAM: sent as x-project-id */
    const char *token_url;  /* optional IAM endpoint (default cloud.ru's) */
    const char *model;      /* overrides the request's model when set */
    bool disabled;          /* "working": false: never tried */
    bool no_stream;         /* "stream": false: ask for a whole JSON body */
    bool no_stream_options; /* "stream_options": false: a stream is asked
                               for without stream_options.include_usage,
                               which Mistral's API refuses (422); usage
                               then comes only if sent unasked */
    bool max_completion_tokens; /* the request's max_tokens is sent as
                                   max_completion_tokens, which OpenAI's
                                   o-series and GPT-5 models require */
    /* optional: a JSON object whose members go into every request body
     * sent to this provider, after the request's own extra_json, e.g.
     * {"reasoning_effort":"minimal"} (see llmc_request_t); one JSON
     * object or llmc_client_init() returns LLMC_ERR_CONFIG */
    const char *extra_json;
} llmc_provider_t;

/* Failover and timing policy; llmc_policy_default() fills the defaults.
 * llmc_client_init() takes a zeroed policy (a config left zeroed) as the
 * default one, and any other as given, except that a timeout or deadline
 * of 0 takes its default: 0 would end every request at once. */
typedef struct {
    bool shuffle;               /* try providers in a random order */
    bool single_provider_retry; /* first eligible provider only */
    uint8_t max_retries;        /* retries on the same provider */
    uint32_t backoff_base_ms;   /* wait min(base*2^n, max)*(1-0.25*rand) */
    uint32_t backoff_max_ms;
    uint32_t connect_timeout_ms;
    uint32_t first_byte_timeout_ms; /* request sent -> first response byte */
    uint32_t idle_timeout_ms;       /* longest gap between bytes */
    uint32_t deadline_ms;           /* whole request, failover included */
    uint8_t cooldown_after;         /* failures in a row; 0: no cooldown */
    uint32_t cooldown_ms;
} llmc_policy_t;

void llmc_policy_default(llmc_policy_t *policy);

/* ---- requests ---------------------------------------------------------- */

typedef struct {
    const char *role;    /* "system", "user", "assistant" */
    /* UTF-8, not checked: what JSON needs escaped is escaped, other bytes
     * go out as they are (providers refuse a body that is not UTF-8) */
    const char *content;
    size_t content_len;  /* 0: strlen(content) */
} llmc_message_t;

typedef struct {
    const char *model; /* used unless the provider sets its own */
    const llmc_message_t *messages;
    size_t n_messages; /* 1 to 2^23; else llmc_submit(): LLMC_ERR_ARG */
    int32_t max_tokens; /* <= 0: not sent */
    float temperature;  /* < 0: not sent */
    const char *const *ignored; /* provider names to skip */
    size_t n_ignored; /* > 0 with ignored NULL: LLMC_ERR_ARG at submit */
    /* optional: a JSON object whose members are added to the body as they
     * are, after llmc's own, e.g. {"response_format":{"type":
     * "json_object"},"seed":7,"stop":["\n\n"]}. Not one of llmc's own
     * members (model, messages, stream, stream_options, max_tokens,
     * max_completion_tokens, temperature): which of two a server takes
     * is its own. One JSON object (RFC 8259, nesting up to 32 levels), or
     * llmc_submit() returns LLMC_ERR_ARG. */
    const char *extra_json;
} llmc_request_t;

/* Initialise a request with no max_tokens and no temperature. A request
 * zeroed instead ({0}, or designated initialisers) sends "temperature": 0,
 * which some models refuse (OpenAI's o-series and GPT-5 take only 1). */
void llmc_request_init(llmc_request_t *req);

typedef struct {
    int32_t prompt_tokens, completion_tokens, total_tokens;
    bool present;
} llmc_usage_t;

/* One try on one provider. */
typedef struct {
    uint8_t provider;    /* index in the provider list */
    int8_t status;       /* llmc_status_t */
    uint16_t http_status;
    uint32_t elapsed_ms;
    char message[LLMC_MSG_LEN]; /* NUL-terminated, never holds a secret */
} llmc_attempt_t;

typedef struct {
    int status;         /* llmc_status_t of the whole request */
    int provider;       /* index that answered (or failed last); -1: none */
    const char *provider_name; /* that provider's name (the caller's
                                  string); NULL when provider is -1 */
    uint16_t http_status; /* of the last attempt's response (200 for an
                             answer); 0 when it got none */
    bool partial;       /* content was delivered before the error */
    uint8_t n_attempts; /* attempts made (may exceed the recorded); it
                           stops at 255: 255 or more */
    /* the provider's, NUL-terminated; the longest in use is DeepSeek's
     * "insufficient_system_resource" (28 bytes), a longer one is cut */
    char finish_reason[32];
    llmc_usage_t usage;
    uint32_t elapsed_ms; /* from when it took a slot (time queued is not
                            counted, as in the deadline) */
    uint32_t content_bytes; /* bytes passed to on_delta */
    llmc_attempt_t attempts[LLMC_MAX_ATTEMPTS];
    char message[LLMC_MSG_LEN]; /* the final error's message */
} llmc_result_t;

/* Callbacks run inside llmc_poll() (and llmc_chat(), and
 * llmc_client_shutdown(), which calls each on_done). They may call
 * llmc_submit() and llmc_cancel(); llmc_poll(), llmc_poll_with() and
 * llmc_chat() return LLMC_ERR_STATE there; llmc_client_shutdown() there is
 * finished by the poll running the callback before it returns;
 * llmc_client_init() must not be called there (on the client in use).
 * Each member may be NULL, and llmc_submit() takes cb NULL as all of them
 * NULL; the struct is copied at submit. See README "Callbacks". */
typedef struct {
    /* Content as it arrives: UTF-8, not NUL-terminated, never repeated;
     * text is valid during the call only. */
    void (*on_delta)(void *user, const char *text, size_t len);
    /* An attempt on a provider starts (index into the provider list). */
    void (*on_attempt)(void *user, int provider, const char *name);
    /* The request ended (its handle is gone, its room free for a submit);
     * the result is valid during the call only: copy what is kept. Runs
     * exactly once for each request llmc_submit() accepted, never for
     * one it refused. */
    void (*on_done)(void *user, const llmc_result_t *result);
} llmc_callbacks_t;

/* Write the result as text: the answer's provider on success, or
 * "all providers failed:" ("failed after partial content:") and one
 * "name: kind: message" line per attempt, then "kind: message" when the
 * request ended after its last attempt (deadline or cancel in a wait).
 * Returns the length it would need (like snprintf); always NUL-terminates
 * when cap > 0. */
size_t llmc_result_format(const llmc_result_t *r,
                          const llmc_provider_t *providers, size_t n_providers,
                          char *buf, size_t cap);

/* ---- client ------------------------------------------------------------ */

typedef struct {
    const llmc_provider_t *providers;
    size_t n_providers;
    llmc_policy_t policy;
    uint8_t max_inflight; /* 0: LLMC_SLOTS */
    /* Trust anchors for https: a PEM (NUL-terminated, len includes it, as
     * mbedTLS wants) or a file (needs MBEDTLS_FS_IO). Neither: the default
     * bundle LLMC_DEFAULT_CA_FILE, unless tls_setup is given. */
    const char *ca_pem;
    size_t ca_pem_len;
    const char *ca_file;
    /* Optional: called with the mbedtls_ssl_config* after llmc's setup, e.g.
     * esp_crt_bundle_attach. Return 0 on success. It may add trust (a CA
     * chain, a verify callback, which then has its say as the bundle's
     * does); llmc sets MBEDTLS_SSL_VERIFY_REQUIRED again after it, so it
     * cannot make verification optional or turn it off. */
    int (*tls_setup)(void *ssl_config);
} llmc_config_t;

typedef struct llmc_client llmc_client_t; /* see llmc_client.h */

/* Handles are >= 1; a negative return is an llmc_status_t. */
typedef int32_t llmc_handle_t;

/* Set up a client in the caller's storage. Returns LLMC_OK, or an error
 * and then the client must not be used (in zeroed storage, static for
 * instance, llmc_submit() and llmc_poll() return LLMC_ERR_STATE):
 *   LLMC_ERR_ARG     c, config or providers NULL; n_providers 0 or more
 *                    than LLMC_MAX_PROVIDERS;
 *   LLMC_ERR_CONFIG  a provider with no (or an empty) name, or with an
 *                    extra_json that is not one JSON object; a bearer one
 *                    with no (or an empty) api_key; an IAM one with no (or
 *                    an empty) key_id or secret, or more IAM providers
 *                    than LLMC_IAM_PROVIDERS (0: IAM compiled out); https
 *                    without LLMC_TLS, trust anchors that do not load
 *                    (ca_pem, ca_file or the default bundle), tls_setup
 *                    returning non-zero; the storage's size (below);
 *   LLMC_ERR_URL     a base_url or token_url llmc cannot use (see
 *                    LLMC_ERR_URL; also a host longer than LLMC_HOST_MAX-1
 *                    or a query);
 *   LLMC_ERR_TLS     mbedTLS's random generator could not be set up.
 * Not checked: names repeated, an auth outside llmc_auth_t (taken as
 * none). max_inflight above LLMC_SLOTS is taken as LLMC_SLOTS. A client
 * that is in use must be shut down first: init overwrites it whole, its
 * sockets and mbedTLS memory with it. Where llmc_client.h is included this
 * name is a macro that also passes the caller's sizeof(llmc_client_t) to
 * llmc_client_init_sized(): a program compiled with other knobs than its
 * libllmc.a then gets LLMC_ERR_CONFIG, not a client that llmc writes past
 * (zlib's inflateInit() checks sizeof(z_stream) the same way). */
int llmc_client_init(llmc_client_t *c, const llmc_config_t *config);
int llmc_client_init_sized(llmc_client_t *c, const llmc_config_t *config,
                           size_t client_size);

/* Queue a request; returns its handle, or an error (and then no callback
 * is called): LLMC_ERR_ARG (c or req NULL, messages NULL, n_messages out
 * of range, n_ignored without ignored, an extra_json that is not one JSON
 * object), LLMC_ERR_STATE (not initialised, shut down, or shutting down
 * from a callback), LLMC_ERR_QUEUE_FULL (max_inflight requests run and
 * LLMC_QUEUE_LEN wait). req and what it points to (messages, strings,
 * ignored, extra_json) are read until on_done; cb is copied and user is
 * passed back as it is. */
llmc_handle_t llmc_submit(llmc_client_t *c, const llmc_request_t *req,
                          const llmc_callbacks_t *cb, void *user);

/* Advance every request: wait at most timeout_ms (< 0: no limit) for I/O,
 * a timer, or a submit or cancel from another task (llmc_port_wake()),
 * then run the callbacks.
 * Returns the number of requests still queued or running, or
 * LLMC_ERR_STATE (the client is not initialised or is shut down, or the
 * call comes from a callback). */
int llmc_poll(llmc_client_t *c, int timeout_ms);

/* llmc_poll(), also waiting on the caller's sockets (at most
 * LLMC_POLL_EXTRA): set their sock and events; revents tell on return what
 * is ready. So a server can share one thread and one wait with llmc.
 * A sock that is not open gets LLMC_POLL_ERR; a negative one is left out.
 * More than LLMC_POLL_EXTRA, or n_extra > 0 with extra NULL: LLMC_ERR_ARG,
 * and nothing is done; nor with LLMC_ERR_STATE (a client not initialised
 * or shut down): no wait, and revents are not set. */
struct llmc_pollfd_s;
int llmc_poll_with(llmc_client_t *c, struct llmc_pollfd_s *extra,
                   size_t n_extra, int timeout_ms);

/* End one request with LLMC_ERR_CANCELLED (its on_done runs in the next
 * llmc_poll at the latest; from its own on_delta, nothing more of the
 * answer is delivered). Returns LLMC_OK, or LLMC_ERR_ARG for a handle that
 * is unknown or already cancelled (also while that request has not ended
 * yet). */
int llmc_cancel(llmc_client_t *c, llmc_handle_t h);

/* Submit and poll until done; copies the result to *result when non-NULL.
 * Returns the request's status (LLMC_ERR_STATE from a callback). A request
 * llmc_submit() refuses (LLMC_ERR_ARG, LLMC_ERR_QUEUE_FULL, LLMC_ERR_STATE),
 * or a call from a callback, gets a result too: that status, provider -1,
 * no attempt. An llmc_result_t is about 1 KB at the default knobs (8
 * attempts of LLMC_MSG_LEN 96): mind a small task's stack. Only the task
 * that polls may call it; other requests advance while it waits. */
int llmc_chat(llmc_client_t *c, const llmc_request_t *req,
              const llmc_callbacks_t *cb, void *user, llmc_result_t *result);

/* Cancel everything (each request gets its on_done), send TLS close_notify,
 * close every socket, free mbedTLS state. The client can be re-initialised.
 * From a callback: the poll running it does this before it returns. */
void llmc_client_shutdown(llmc_client_t *c);

/* sizeof(llmc_client_t), for callers that keep the type opaque. */
size_t llmc_client_size(void);

#ifdef __cplusplus
}
#endif

#endif /* LLMC_H */
