/*
 * The port interface: everything llmc needs from the system, and nothing
 * more. src/ calls only these functions; port/<name>/ implements them
 * (posix, lwip, esp-idf, freertos). All socket calls are non-blocking except
 * llmc_port_resolve(), which may block (getaddrinfo does); llmc caches its
 * answer per provider.
 *
 * Return convention for I/O: a byte count >= 0, or one of LLMC_PORT_*.
 * "Would block", end of stream and error are distinct returns.
 */
#ifndef LLMC_PORT_H
#define LLMC_PORT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int llmc_sock_t; /* BSD and lwIP sockets are small ints */
#define LLMC_SOCK_INVALID (-1)

enum {
    LLMC_PORT_OK = 0,
    LLMC_PORT_WOULD_BLOCK = -1, /* try again when poll says so */
    LLMC_PORT_EOF = -2,         /* orderly close by the peer */
    LLMC_PORT_ERROR = -3,       /* any other failure */
    LLMC_PORT_REFUSED = -4,     /* connection refused */
    LLMC_PORT_RESET = -5,       /* connection reset by peer */
    LLMC_PORT_UNREACHABLE = -6, /* network or host unreachable */
    LLMC_PORT_NOT_FOUND = -7,   /* name did not resolve */
    LLMC_PORT_NO_MEMORY = -8    /* out of sockets or network buffers */
};

/* An IPv4 or IPv6 socket address, port-neutral. */
typedef struct {
    uint8_t family; /* 4 or 6 */
    uint16_t port;  /* host order */
    uint8_t addr[16];
} llmc_addr_t;

/* Resolve host (name or literal) into at most max addresses, IPv4 first.
 * Returns the count (>= 1) or LLMC_PORT_NOT_FOUND / LLMC_PORT_ERROR. */
int llmc_port_resolve(const char *host, uint16_t port, llmc_addr_t *out,
                      int max);

/* Open a non-blocking TCP socket and start connecting. Returns LLMC_PORT_OK
 * (connected), LLMC_PORT_WOULD_BLOCK (in progress: poll for writable, then
 * llmc_port_connect_result) or an error; *sock is set in the first two. */
int llmc_port_connect(const llmc_addr_t *addr, llmc_sock_t *sock);
int llmc_port_connect_result(llmc_sock_t sock);

/* For servers on llmc (not used by src/): a non-blocking TCP socket
 * listening on addr (port 0: any; the chosen port is written back), and
 * accepting one connection (LLMC_PORT_OK, LLMC_PORT_WOULD_BLOCK, error);
 * accepted sockets are non-blocking. */
int llmc_port_listen(llmc_addr_t *addr, int backlog, llmc_sock_t *sock);
int llmc_port_accept(llmc_sock_t listener, llmc_sock_t *sock);

/* Send / receive up to len bytes. recv returns LLMC_PORT_EOF on close.
 * close of LLMC_SOCK_INVALID does nothing (llmc closes a connection whose
 * connect failed without asking whether a socket was made). */
long llmc_port_send(llmc_sock_t sock, const void *buf, size_t len);
long llmc_port_recv(llmc_sock_t sock, void *buf, size_t len);
void llmc_port_close(llmc_sock_t sock);

#define LLMC_POLL_IN 1u
#define LLMC_POLL_OUT 2u
#define LLMC_POLL_ERR 4u /* error or hang-up; reported even if not asked */

typedef struct llmc_pollfd_s {
    llmc_sock_t sock;
    uint8_t events;  /* LLMC_POLL_IN | LLMC_POLL_OUT */
    uint8_t revents; /* set by llmc_port_poll */
} llmc_pollfd_t;

/* Wait up to timeout_ms (-1: forever) until a socket is ready or
 * llmc_port_wake() is called. Returns the number of ready sockets (0 on
 * timeout or wake) or LLMC_PORT_ERROR. */
int llmc_port_poll(llmc_pollfd_t *fds, size_t n, int timeout_ms);

/* Make a concurrent llmc_port_poll() return early (from another task).
 * Ports without threads may do nothing. */
void llmc_port_wake(void);

/* Monotonic milliseconds. */
uint64_t llmc_port_now_ms(void);

/* Fill buf with random bytes (cryptographic quality: it seeds TLS).
 * Returns 0 on success. */
int llmc_port_random(void *buf, size_t len);

/* One log line (no newline), level 1 error .. 4 debug. */
void llmc_port_log(int level, const char *msg, size_t len);

/* Lock that guards submit/cancel against poll in another task. Ports
 * without threads implement both as no-ops. */
void llmc_port_lock(void);
void llmc_port_unlock(void);

#ifdef __cplusplus
}
#endif

#endif /* LLMC_PORT_H */
