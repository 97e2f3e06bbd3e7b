/*
 * llmc compile-time configuration: every knob, #ifndef-guarded.
 *
 * Precedence: a value defined before this header (compiler -D) wins; then a
 * Kconfig-generated header (CONFIG_LLMC_* from `make defconfig` /
 * `make menuconfig`, or ESP-IDF's sdkconfig.h), or with LLMC_INSTALLED
 * (pkg-config's flags) the knobs `make install` wrote beside this header;
 * then the defaults below.
 * The root Kconfig lists the same knobs one-to-one, each with its RAM cost.
 */
#ifndef LLMC_CONFIG_DEFAULTS_H
#define LLMC_CONFIG_DEFAULTS_H

#if defined(LLMC_CONFIG_FILE)
#include LLMC_CONFIG_FILE
#elif defined(LLMC_INSTALLED)
#include "llmc_knobs.h" /* make install: the installed libllmc.a's knobs */
#elif defined(ESP_PLATFORM)
#include "sdkconfig.h"
#endif

/* ---- memory ------------------------------------------------------------ */

/* Requests that can run at once; each slot costs sizeof(llmc_slot_t). */
#ifndef LLMC_SLOTS
#ifdef CONFIG_LLMC_SLOTS
#define LLMC_SLOTS CONFIG_LLMC_SLOTS
#else
#define LLMC_SLOTS 4
#endif
#endif

/* Requests that may wait for a slot (FIFO); 28 bytes each on 32-bit. */
#ifndef LLMC_QUEUE_LEN
#ifdef CONFIG_LLMC_QUEUE_LEN
#define LLMC_QUEUE_LEN CONFIG_LLMC_QUEUE_LEN
#else
#define LLMC_QUEUE_LEN 8
#endif
#endif

/* Providers one client can hold; each costs sizeof(llmc_provider_state_t). */
#ifndef LLMC_MAX_PROVIDERS
#ifdef CONFIG_LLMC_MAX_PROVIDERS
#define LLMC_MAX_PROVIDERS CONFIG_LLMC_MAX_PROVIDERS
#else
#define LLMC_MAX_PROVIDERS 8
#endif
#endif

/* Connections (busy + idle keep-alive); must be >= LLMC_SLOTS. Each costs a
 * socket and, for https, an mbedtls_ssl_context plus mbedTLS's own I/O
 * buffers on its heap. */
#ifndef LLMC_CONNS
#ifdef CONFIG_LLMC_CONNS
#define LLMC_CONNS CONFIG_LLMC_CONNS
#else /* 6, raised to LLMC_SLOTS as Kconfig's range raises it */
#define LLMC_CONNS (LLMC_SLOTS > 6 ? LLMC_SLOTS : 6)
#endif
#endif

/* Caller sockets llmc_poll_with() can wait on beside llmc's own (a server
 * built on llmc, such as llmc-gateway); 16 bytes of stack each in a poll
 * (llmc's poll array and the port's). */
#ifndef LLMC_POLL_EXTRA
#ifdef CONFIG_LLMC_POLL_EXTRA
#define LLMC_POLL_EXTRA CONFIG_LLMC_POLL_EXTRA
#else
#define LLMC_POLL_EXTRA 4
#endif
#endif

/* Per-slot buffer: holds one SSE event, or a whole non-streamed body, or an
 * error body; also the transmit buffer while the request is being sent.
 * An event larger than this ends the request with LLMC_ERR_TOO_LARGE. */
#ifndef LLMC_EVENT_BUF_SIZE
#ifdef CONFIG_LLMC_EVENT_BUF_SIZE
#define LLMC_EVENT_BUF_SIZE CONFIG_LLMC_EVENT_BUF_SIZE
#else
#define LLMC_EVENT_BUF_SIZE 2048
#endif
#endif

/* Receive scratch buffer, one per client (parsers consume it entirely). */
#ifndef LLMC_RECV_BUF_SIZE
#ifdef CONFIG_LLMC_RECV_BUF_SIZE
#define LLMC_RECV_BUF_SIZE CONFIG_LLMC_RECV_BUF_SIZE
#else
#define LLMC_RECV_BUF_SIZE 2048
#endif
#endif

/* Per slot: the previous event's bytes around its content string, so an
 * event that differs from it only inside that string is decoded without
 * validating and walking those bytes again (the "shape cache" of
 * src/llmc_json.c). 0: off. */
#ifndef LLMC_JSON_SHAPE_SIZE
#ifdef CONFIG_LLMC_JSON_SHAPE_SIZE
#define LLMC_JSON_SHAPE_SIZE CONFIG_LLMC_JSON_SHAPE_SIZE
#else
#define LLMC_JSON_SHAPE_SIZE 320
#endif
#endif

/* Attempts recorded per request (later ones are counted, not recorded). */
#ifndef LLMC_MAX_ATTEMPTS
#ifdef CONFIG_LLMC_MAX_ATTEMPTS
#define LLMC_MAX_ATTEMPTS CONFIG_LLMC_MAX_ATTEMPTS
#else
#define LLMC_MAX_ATTEMPTS 8
#endif
#endif

/* Bytes of message kept per attempt, NUL included (provider's
 * error.message, truncated). */
#ifndef LLMC_MSG_LEN
#ifdef CONFIG_LLMC_MSG_LEN
#define LLMC_MSG_LEN CONFIG_LLMC_MSG_LEN
#else
#define LLMC_MSG_LEN 96
#endif
#endif

/* Room for a host name of a base_url or token_url with its NUL: at most
 * LLMC_HOST_MAX - 1 bytes (kept per provider and per IAM entry, for SNI /
 * Host); a longer one is LLMC_ERR_URL. */
#ifndef LLMC_HOST_MAX
#ifdef CONFIG_LLMC_HOST_MAX
#define LLMC_HOST_MAX CONFIG_LLMC_HOST_MAX
#else
#define LLMC_HOST_MAX 64
#endif
#endif

/* Longest response head accepted (status line + headers); costs no RAM. */
#ifndef LLMC_HEAD_MAX
#ifdef CONFIG_LLMC_HEAD_MAX
#define LLMC_HEAD_MAX CONFIG_LLMC_HEAD_MAX
#else
#define LLMC_HEAD_MAX 16384
#endif
#endif

/* Bearer tokens obtained by Evolution IAM auth: storage per provider, with
 * the token's NUL (a token of LLMC_TOKEN_MAX bytes or more is an auth
 * error). */
#ifndef LLMC_TOKEN_MAX
#ifdef CONFIG_LLMC_TOKEN_MAX
#define LLMC_TOKEN_MAX CONFIG_LLMC_TOKEN_MAX
#else /* 1536, lowered to LLMC_EVENT_BUF_SIZE as Kconfig's range lowers it:
       * a Cloud.ru access token (a signed JWT) is about 1,130 bytes */
#define LLMC_TOKEN_MAX \
    (LLMC_EVENT_BUF_SIZE < 1536 ? LLMC_EVENT_BUF_SIZE : 1536)
#endif
#endif

/* Providers that may use IAM auth at once (each holds LLMC_TOKEN_MAX).
 * 0 compiles Evolution IAM out (about 1.3 KB of code on Cortex-M4):
 * llmc_client_init() then refuses an LLMC_AUTH_EVOLUTION_IAM provider with
 * LLMC_ERR_CONFIG. */
#ifndef LLMC_IAM_PROVIDERS
#ifdef CONFIG_LLMC_IAM_PROVIDERS
#define LLMC_IAM_PROVIDERS CONFIG_LLMC_IAM_PROVIDERS
#else
#define LLMC_IAM_PROVIDERS 2
#endif
#endif

/* ---- TLS --------------------------------------------------------------- */

/* 1: https:// through mbedTLS. 0: plain http only, no mbedTLS needed. */
#ifndef LLMC_TLS
#if defined(CONFIG_LLMC_TLS)
#define LLMC_TLS 1
#elif defined(CONFIG_LLMC_SLOTS) /* Kconfig in use and TLS switched off */
#define LLMC_TLS 0
#else
#define LLMC_TLS 1
#endif
#endif

/* CA bundle used when the client config names none (needs MBEDTLS_FS_IO). */
#ifndef LLMC_DEFAULT_CA_FILE
#ifdef CONFIG_LLMC_DEFAULT_CA_FILE
#define LLMC_DEFAULT_CA_FILE CONFIG_LLMC_DEFAULT_CA_FILE
#else
#define LLMC_DEFAULT_CA_FILE "/etc/ssl/certs/ca-certificates.crt"
#endif
#endif

/* ---- policy defaults (runtime-overridable in llmc_policy_t) ------------ */

#ifndef LLMC_DEFAULT_MAX_RETRIES
#ifdef CONFIG_LLMC_DEFAULT_MAX_RETRIES
#define LLMC_DEFAULT_MAX_RETRIES CONFIG_LLMC_DEFAULT_MAX_RETRIES
#else
#define LLMC_DEFAULT_MAX_RETRIES 2
#endif
#endif

#ifndef LLMC_DEFAULT_BACKOFF_BASE_MS
#ifdef CONFIG_LLMC_DEFAULT_BACKOFF_BASE_MS
#define LLMC_DEFAULT_BACKOFF_BASE_MS CONFIG_LLMC_DEFAULT_BACKOFF_BASE_MS
#else
#define LLMC_DEFAULT_BACKOFF_BASE_MS 500
#endif
#endif

#ifndef LLMC_DEFAULT_BACKOFF_MAX_MS
#ifdef CONFIG_LLMC_DEFAULT_BACKOFF_MAX_MS
#define LLMC_DEFAULT_BACKOFF_MAX_MS CONFIG_LLMC_DEFAULT_BACKOFF_MAX_MS
#else
#define LLMC_DEFAULT_BACKOFF_MAX_MS 8000
#endif
#endif

#ifndef LLMC_DEFAULT_CONNECT_TIMEOUT_MS
#ifdef CONFIG_LLMC_DEFAULT_CONNECT_TIMEOUT_MS
#define LLMC_DEFAULT_CONNECT_TIMEOUT_MS CONFIG_LLMC_DEFAULT_CONNECT_TIMEOUT_MS
#else
#define LLMC_DEFAULT_CONNECT_TIMEOUT_MS 5000
#endif
#endif

#ifndef LLMC_DEFAULT_FIRST_BYTE_TIMEOUT_MS
#ifdef CONFIG_LLMC_DEFAULT_FIRST_BYTE_TIMEOUT_MS
#define LLMC_DEFAULT_FIRST_BYTE_TIMEOUT_MS CONFIG_LLMC_DEFAULT_FIRST_BYTE_TIMEOUT_MS
#else
#define LLMC_DEFAULT_FIRST_BYTE_TIMEOUT_MS 30000
#endif
#endif

#ifndef LLMC_DEFAULT_IDLE_TIMEOUT_MS
#ifdef CONFIG_LLMC_DEFAULT_IDLE_TIMEOUT_MS
#define LLMC_DEFAULT_IDLE_TIMEOUT_MS CONFIG_LLMC_DEFAULT_IDLE_TIMEOUT_MS
#else
#define LLMC_DEFAULT_IDLE_TIMEOUT_MS 30000
#endif
#endif

#ifndef LLMC_DEFAULT_DEADLINE_MS
#ifdef CONFIG_LLMC_DEFAULT_DEADLINE_MS
#define LLMC_DEFAULT_DEADLINE_MS CONFIG_LLMC_DEFAULT_DEADLINE_MS
#else
#define LLMC_DEFAULT_DEADLINE_MS 120000
#endif
#endif

#ifndef LLMC_DEFAULT_COOLDOWN_AFTER
#ifdef CONFIG_LLMC_DEFAULT_COOLDOWN_AFTER
#define LLMC_DEFAULT_COOLDOWN_AFTER CONFIG_LLMC_DEFAULT_COOLDOWN_AFTER
#else
#define LLMC_DEFAULT_COOLDOWN_AFTER 3
#endif
#endif

#ifndef LLMC_DEFAULT_COOLDOWN_MS
#ifdef CONFIG_LLMC_DEFAULT_COOLDOWN_MS
#define LLMC_DEFAULT_COOLDOWN_MS CONFIG_LLMC_DEFAULT_COOLDOWN_MS
#else
#define LLMC_DEFAULT_COOLDOWN_MS 30000
#endif
#endif

/* ---- logging ----------------------------------------------------------- */

/* 0 none, 1 error (failed requests), 2 warning (failed attempts), 3 info
 * (answered attempts, cancels), 4 debug (each attempt's start and
 * connection), through llmc_port_log(). Disabled levels compile to
 * nothing. Secrets are never logged at any level. */
#ifndef LLMC_LOG_LEVEL
#ifdef CONFIG_LLMC_LOG_LEVEL
#define LLMC_LOG_LEVEL CONFIG_LLMC_LOG_LEVEL
#else
#define LLMC_LOG_LEVEL 0
#endif
#endif

#if LLMC_CONNS < LLMC_SLOTS
#error "LLMC_CONNS must be at least LLMC_SLOTS"
#endif
#if LLMC_EVENT_BUF_SIZE < 256
#error "LLMC_EVENT_BUF_SIZE must be at least 256"
#endif
#if LLMC_IAM_PROVIDERS > 0 && LLMC_TOKEN_MAX > LLMC_EVENT_BUF_SIZE
#error "LLMC_TOKEN_MAX must be at most LLMC_EVENT_BUF_SIZE (a token is sent from one buffer fill)"
#endif
#if LLMC_RECV_BUF_SIZE < 64
#error "LLMC_RECV_BUF_SIZE must be at least 64"
#endif
/* the policy's fields: uint8_t counts, uint32_t milliseconds */
#if LLMC_DEFAULT_MAX_RETRIES < 0 || LLMC_DEFAULT_MAX_RETRIES > 255 || \
    LLMC_DEFAULT_COOLDOWN_AFTER < 0 || LLMC_DEFAULT_COOLDOWN_AFTER > 255
#error "LLMC_DEFAULT_MAX_RETRIES and LLMC_DEFAULT_COOLDOWN_AFTER are 0 to 255"
#endif
#if LLMC_DEFAULT_CONNECT_TIMEOUT_MS < 1 || \
    LLMC_DEFAULT_FIRST_BYTE_TIMEOUT_MS < 1 || \
    LLMC_DEFAULT_IDLE_TIMEOUT_MS < 1 || LLMC_DEFAULT_DEADLINE_MS < 1
#error "a default timeout or deadline of 0 would end every request at once"
#endif
#if LLMC_DEFAULT_BACKOFF_BASE_MS < 0 || LLMC_DEFAULT_BACKOFF_MAX_MS < 0 || \
    LLMC_DEFAULT_COOLDOWN_MS < 0 || \
    LLMC_DEFAULT_BACKOFF_BASE_MS > 0xFFFFFFFF || \
    LLMC_DEFAULT_BACKOFF_MAX_MS > 0xFFFFFFFF || \
    LLMC_DEFAULT_CONNECT_TIMEOUT_MS > 0xFFFFFFFF || \
    LLMC_DEFAULT_FIRST_BYTE_TIMEOUT_MS > 0xFFFFFFFF || \
    LLMC_DEFAULT_IDLE_TIMEOUT_MS > 0xFFFFFFFF || \
    LLMC_DEFAULT_DEADLINE_MS > 0xFFFFFFFF || LLMC_DEFAULT_COOLDOWN_MS > 0xFFFFFFFF
#error "default policy times are 32-bit milliseconds"
#endif
#if LLMC_MAX_PROVIDERS > 250 || LLMC_SLOTS > 250 || LLMC_CONNS > 250 || \
    LLMC_QUEUE_LEN + LLMC_SLOTS > 255
#error "llmc counts providers, slots and connections in bytes"
#endif
/* the rest of Kconfig's ranges, for knobs given by hand (-D): a
 * connection's target is a byte (the providers, then the IAM token
 * endpoints, then LLMC_NONE); shape and token lengths are 16-bit */
#if LLMC_SLOTS < 1 || LLMC_MAX_PROVIDERS < 1 || LLMC_QUEUE_LEN < 0 || \
    LLMC_IAM_PROVIDERS < 0 || LLMC_MAX_PROVIDERS + LLMC_IAM_PROVIDERS > 254
#error "LLMC_SLOTS and LLMC_MAX_PROVIDERS at least 1, LLMC_QUEUE_LEN and LLMC_IAM_PROVIDERS at least 0, providers and IAM providers 254 at most"
#endif
#if LLMC_MSG_LEN < 16 || LLMC_HOST_MAX < 16 || LLMC_HEAD_MAX < 512 || \
    LLMC_JSON_SHAPE_SIZE < 0 || LLMC_JSON_SHAPE_SIZE > 65535 || \
    (LLMC_IAM_PROVIDERS > 0 && (LLMC_TOKEN_MAX < 64 || LLMC_TOKEN_MAX > 65536))
#error "a knob below the lowest value of its Kconfig range (or a 16-bit length beyond its bound)"
#endif

#endif /* LLMC_CONFIG_DEFAULTS_H */
