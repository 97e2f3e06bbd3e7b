/*
 * Declarations shared by the engine's files: connections and TLS
 * (llmc_conn.c), the failover policy (llmc_failover.c), IAM auth
 * (llmc_auth.c) and the request engine (llmc_client.c).
 */
#ifndef LLMC_INTERNAL_H
#define LLMC_INTERNAL_H

#include "llmc/llmc_client.h"
#include "llmc_util.h"

/* Log lines are "a: b: z" (b and z left out when NULL or empty), at
 * LLMC_LOG_LEVEL and below; a disabled level compiles to nothing. What is
 * logged: E a request that failed, W an attempt that failed, I an attempt
 * that answered and a cancelled request, D each attempt's start and its
 * connection. Messages are the results' own, with secrets masked. */
#if LLMC_LOG_LEVEL >= 1
void llmc_log_(int level, const char *a, const char *b, const char *z);
#define LLMC_LOGE(a, b, z) llmc_log_(1, (a), (b), (z))
#else
#define LLMC_LOGE(a, b, z) ((void)0)
#endif
#if LLMC_LOG_LEVEL >= 2
#define LLMC_LOGW(a, b, z) llmc_log_(2, (a), (b), (z))
#else
#define LLMC_LOGW(a, b, z) ((void)0)
#endif
#if LLMC_LOG_LEVEL >= 3
#define LLMC_LOGI(a, b, z) llmc_log_(3, (a), (b), (z))
#else
#define LLMC_LOGI(a, b, z) ((void)0)
#endif
#if LLMC_LOG_LEVEL >= 4
#define LLMC_LOGD(a, b, z) llmc_log_(4, (a), (b), (z))
#else
#define LLMC_LOGD(a, b, z) ((void)0)
#endif

/* Kept out of line: a call is shorter than its inlined body at each of
 * its callers. */
#if defined(__GNUC__)
#define LLMC_NOINLINE __attribute__((noinline))
#else
#define LLMC_NOINLINE
#endif

/* A request's cancelled flag is set by llmc_cancel(), under the port lock,
 * from any task, and read by the polling task without the lock: relaxed
 * atomic accesses where the compiler has them (the same one-byte load or
 * store on every target), so that this is no data race in C's terms, nor
 * to ThreadSanitizer. */
#if defined(__GNUC__)
#define LLMC_CANCELLED(j) __atomic_load_n(&(j)->cancelled, __ATOMIC_RELAXED)
#define LLMC_SET_CANCELLED(j) \
    __atomic_store_n(&(j)->cancelled, true, __ATOMIC_RELAXED)
#else
#define LLMC_CANCELLED(j) ((j)->cancelled)
#define LLMC_SET_CANCELLED(j) ((j)->cancelled = true)
#endif

enum { CONN_FREE, CONN_CONNECTING, CONN_HANDSHAKE, CONN_BUSY, CONN_IDLE };

/* Milliseconds left until base + len at now (0 when that is past), on the
 * low 32 bits of the clock: exact for any len while now - base < 2^32. */
static inline uint32_t llmc_left(uint32_t now, uint32_t base, uint32_t len)
{
    uint32_t d = now - base;
    return d < len ? len - d : 0;
}

/* The slot's timer fires ms from now (the clock's low 32 bits): the
 * phase's timeout while active, the next attempt's start while waiting. */
static inline void llmc_set_timer(const llmc_client_t *c, llmc_slot_t *s,
                                  uint32_t ms)
{
    s->t_timer = (uint32_t)c->now;
    s->timer_ms = ms;
}

/* A connection target: a provider, or the token endpoint of an IAM entry. */
#define LLMC_TARGET_IAM(i) ((uint8_t)(LLMC_MAX_PROVIDERS + (i)))

#if LLMC_TLS
int llmc_tls_init(llmc_client_t *c, const llmc_config_t *cfg);
void llmc_tls_free(llmc_client_t *c);
#else
/* inline, no call: an https target is a configuration error, and there
 * is nothing to free */
static inline int llmc_tls_init(llmc_client_t *c, const llmc_config_t *cfg)
{
    (void)c;
    (void)cfg;
    return LLMC_ERR_CONFIG; /* https needs LLMC_TLS */
}

static inline void llmc_tls_free(llmc_client_t *c)
{
    (void)c;
}
#endif

/* An idle connection to target (most recently used first), or -1. */
int llmc_conn_find_idle(llmc_client_t *c, uint8_t target);
/* A free connection, evicting the least recently used idle one; or -1. */
int llmc_conn_alloc(llmc_client_t *c);
/* Start connecting to t (t->addr[t->first], then the next ones on
 * failure), whose id is target (llmc_auth_target()). Returns 1: ready to
 * send (the port's connect finished at once), 0: in progress
 * (llmc_conn_step() goes on), or an error with a message in *msg;
 * LLMC_ERR_CONNECT (no address connects) also sets t->n_addr to 0:
 * resolve again next time. */
int llmc_conn_open(llmc_client_t *c, int ci, uint8_t target,
                   llmc_target_t *t, llmc_buf_t *msg);
/* Advance connect + TLS handshake: 1 ready, 0 waiting (conn->want set),
 * 2 waiting for the target's next address (the last one failed or timed
 * out: it gets a connect timeout of its own), < 0 error with *msg.
 * revents LLMC_CONN_TIMED_OUT: the connect timeout passed; a TCP connect
 * goes on to its target's next address if it has one, else (and in the
 * handshake) LLMC_ERR_TIMEOUT, with no message. An
 * address that connects after others failed is then the target's only
 * one; when none connects, the target's name is resolved again next
 * time. */
int llmc_conn_step(llmc_client_t *c, int ci, uint8_t revents,
                   llmc_buf_t *msg);
/* Also from llmc_conn_step(): the TLS handshake found no heap, and an idle
 * connection was closed to give its heap back; connect again. */
#define LLMC_CONN_AGAIN 3
#define LLMC_CONN_TIMED_OUT 0x80u
/* Bytes moved, or LLMC_PORT_WOULD_BLOCK (conn->want set), LLMC_PORT_EOF,
 * another LLMC_PORT_* error, or LLMC_CONN_TLS_FAILED. */
long llmc_conn_send(llmc_client_t *c, int ci, const char *p, size_t n);
long llmc_conn_recv(llmc_client_t *c, int ci, char *p, size_t n);
/* What send and recv return when TLS failed on its own, with no socket
 * error: a record that does not decrypt, an alert from the peer.
 * llmc_conn_tls_failed() writes its text, with mbedTLS's code. */
#define LLMC_CONN_TLS_FAILED (-16)
void llmc_conn_tls_failed(const llmc_client_t *c, int ci, llmc_buf_t *msg);
/* Let go of a connection in use, as how says: */
enum {
    LLMC_CONN_BROKEN, /* closed (no TLS close_notify) */
    LLMC_CONN_DONE,   /* closed, TLS with close_notify */
    LLMC_CONN_POOL    /* back to the pool, unless the client shuts down */
};
void llmc_conn_release(llmc_client_t *c, int ci, unsigned how);
/* Close; notify (not 0) sends TLS close_notify first. */
void llmc_conn_close(llmc_client_t *c, int ci, unsigned notify);
/* Whether an idle pooled connection is still fit for a request: if
 * anything came on it since its response (the server closed it, or sent
 * what nobody asked for, such as a 408 before its close, or bytes TLS had
 * decrypted already), it is closed; what TLS takes all of (a TLS 1.3
 * session ticket, a key update) leaves it in the pool. Asked when poll
 * finds it readable, and before it is reused, as no poll may have run
 * since (llmc_chat() after llmc_chat()). */
bool llmc_conn_idle_ok(llmc_client_t *c, int ci);
/* Text for an LLMC_PORT_* error. */
const char *llmc_port_errstr(int err);

#endif /* LLMC_INTERNAL_H */
