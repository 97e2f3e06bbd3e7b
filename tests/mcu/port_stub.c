/*
 * A bare-metal llmc port for the unit tests on emulated MCUs: no network
 * (every socket call fails with LLMC_PORT_ERROR, resolve finds nothing), a
 * millisecond clock that advances by one on each read, an xorshift32 for
 * random bytes (NOT cryptographic: tests only), logging to stdout, and no
 * lock (one task).
 */
#include "llmc/llmc_port.h"

#include <stdio.h>

static uint64_t g_now_ms;
static uint32_t g_rng = 0x9e3779b9u;

int llmc_port_resolve(const char *host, uint16_t port, llmc_addr_t *out,
                      int max)
{
    (void)host;
    (void)port;
    (void)out;
    (void)max;
    return LLMC_PORT_NOT_FOUND;
}

int llmc_port_connect(const llmc_addr_t *addr, llmc_sock_t *sock)
{
    (void)addr;
    *sock = LLMC_SOCK_INVALID;
    return LLMC_PORT_ERROR;
}

int llmc_port_listen(llmc_addr_t *addr, int backlog, llmc_sock_t *sock)
{
    (void)addr;
    (void)backlog;
    *sock = LLMC_SOCK_INVALID;
    return LLMC_PORT_ERROR;
}

int llmc_port_connect_result(llmc_sock_t sock)
{
    (void)sock;
    return LLMC_PORT_ERROR;
}

long llmc_port_send(llmc_sock_t sock, const void *buf, size_t len)
{
    (void)sock;
    (void)buf;
    (void)len;
    return LLMC_PORT_ERROR;
}

long llmc_port_recv(llmc_sock_t sock, void *buf, size_t len)
{
    (void)sock;
    (void)buf;
    (void)len;
    return LLMC_PORT_ERROR;
}

void llmc_port_close(llmc_sock_t sock)
{
    (void)sock;
}

int llmc_port_poll(llmc_pollfd_t *fds, size_t n, int timeout_ms)
{
    size_t i;
    for (i = 0; i < n; i++)
        fds[i].revents = LLMC_POLL_ERR;
    if (timeout_ms > 0)
        g_now_ms += (uint64_t)timeout_ms; /* time passes while "waiting" */
    return n > 0 ? (int)n : 0;
}

void llmc_port_wake(void)
{
}

uint64_t llmc_port_now_ms(void)
{
    return ++g_now_ms;
}

int llmc_port_random(void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len-- > 0) {
        g_rng ^= g_rng << 13;
        g_rng ^= g_rng >> 17;
        g_rng ^= g_rng << 5;
        *p++ = (unsigned char)g_rng;
    }
    return 0;
}

void llmc_port_log(int level, const char *msg, size_t len)
{
    printf("llmc %d: %.*s\n", level, (int)len, msg);
}

void llmc_port_lock(void)
{
}

void llmc_port_unlock(void)
{
}
