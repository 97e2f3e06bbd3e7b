/*
 * llmc port for POSIX systems (Linux), network half: BSD sockets with
 * poll(), and a self-pipe in the poll set so that llmc_port_wake() from
 * another thread (or a signal handler) ends a blocked poll. The OS half is
 * llmc_port_posix_os.c.
 */
#define _GNU_SOURCE
#include "llmc/llmc_port.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "llmc/llmc_config_defaults.h"

#define MAX_POLL (LLMC_CONNS + LLMC_POLL_EXTRA)

static pthread_once_t g_wake_once = PTHREAD_ONCE_INIT;
static int g_wake[2] = {-1, -1};

static void wake_init(void)
{
    if (pipe2(g_wake, O_NONBLOCK | O_CLOEXEC) != 0)
        g_wake[0] = g_wake[1] = -1;
}

static void to_sockaddr(const llmc_addr_t *a, struct sockaddr_storage *ss,
                        socklen_t *len);

static int map_errno(int e)
{
    switch (e) {
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
    case EINPROGRESS:
    case EINTR:
        return LLMC_PORT_WOULD_BLOCK;
    case ECONNREFUSED:
        return LLMC_PORT_REFUSED;
    case ECONNRESET:
    case EPIPE:
        return LLMC_PORT_RESET;
    case ENETUNREACH:
    case EHOSTUNREACH:
        return LLMC_PORT_UNREACHABLE;
    case EMFILE: /* out of file descriptors */
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
        return LLMC_PORT_NO_MEMORY;
    default:
        return LLMC_PORT_ERROR;
    }
}

int llmc_port_resolve(const char *host, uint16_t port, llmc_addr_t *out,
                      int max)
{
    struct addrinfo hints, *res, *ai;
    int n = 0, pass;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, NULL, &hints, &res) != 0)
        return LLMC_PORT_NOT_FOUND;
    /* IPv4 first: a loopback name often resolves to ::1 where only
     * 127.0.0.1 listens. */
    for (pass = 0; pass < 2; pass++) {
        for (ai = res; ai != NULL && n < max; ai = ai->ai_next) {
            if (pass == 0 && ai->ai_family == AF_INET) {
                const struct sockaddr_in *s = (const void *)ai->ai_addr;
                out[n].family = 4;
                memcpy(out[n].addr, &s->sin_addr, 4);
            } else if (pass == 1 && ai->ai_family == AF_INET6) {
                const struct sockaddr_in6 *s = (const void *)ai->ai_addr;
                out[n].family = 6;
                memcpy(out[n].addr, &s->sin6_addr, 16);
            } else {
                continue;
            }
            out[n].port = port;
            n++;
        }
    }
    freeaddrinfo(res);
    return n > 0 ? n : LLMC_PORT_NOT_FOUND;
}

int llmc_port_connect(const llmc_addr_t *a, llmc_sock_t *sock)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd, rc, one = 1;

    to_sockaddr(a, &ss, &len);
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return map_errno(errno) == LLMC_PORT_NO_MEMORY ? LLMC_PORT_NO_MEMORY
                                                       : LLMC_PORT_ERROR;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    *sock = fd;
    if (connect(fd, (struct sockaddr *)&ss, len) == 0)
        return LLMC_PORT_OK;
    if (errno == EINPROGRESS) {
#if LLMC_POSIX_CONNECT_WAIT_MS > 0
        /* A port whose connect has finished when it returns, as blocking
         * stacks (modems' AT sockets) do: the integration tests build one
         * so that the engine's handling of LLMC_PORT_OK is tested for
         * real. Past the wait, the connect goes on as usual. */
        struct pollfd p = {fd, POLLOUT, 0};
        if (poll(&p, 1, LLMC_POSIX_CONNECT_WAIT_MS) != 1)
            return LLMC_PORT_WOULD_BLOCK;
        rc = llmc_port_connect_result(fd);
        if (rc == LLMC_PORT_OK)
            return rc;
#else
        return LLMC_PORT_WOULD_BLOCK;
#endif
    } else {
        rc = map_errno(errno);
        if (rc == LLMC_PORT_WOULD_BLOCK)
            rc = LLMC_PORT_ERROR;
    }
    close(fd);
    *sock = LLMC_SOCK_INVALID;
    return rc;
}

int llmc_port_connect_result(llmc_sock_t sock)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(sock, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        return LLMC_PORT_ERROR;
    if (err == 0)
        return LLMC_PORT_OK;
    err = map_errno(err);
    return err == LLMC_PORT_WOULD_BLOCK ? LLMC_PORT_ERROR : err;
}

static void to_sockaddr(const llmc_addr_t *a, struct sockaddr_storage *ss,
                        socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    if (a->family == 4) {
        struct sockaddr_in *s = (void *)ss;
        s->sin_family = AF_INET;
        s->sin_port = htons(a->port);
        memcpy(&s->sin_addr, a->addr, 4);
        *len = sizeof(*s);
    } else {
        struct sockaddr_in6 *s = (void *)ss;
        s->sin6_family = AF_INET6;
        s->sin6_port = htons(a->port);
        memcpy(&s->sin6_addr, a->addr, 16);
        *len = sizeof(*s);
    }
}

int llmc_port_listen(llmc_addr_t *addr, int backlog, llmc_sock_t *sock)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd, one = 1;

    to_sockaddr(addr, &ss, &len);
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return LLMC_PORT_ERROR;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, backlog) != 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        close(fd);
        return LLMC_PORT_ERROR;
    }
    addr->port = ntohs(ss.ss_family == AF_INET
                           ? ((struct sockaddr_in *)(void *)&ss)->sin_port
                           : ((struct sockaddr_in6 *)(void *)&ss)->sin6_port);
    *sock = fd;
    return LLMC_PORT_OK;
}

int llmc_port_accept(llmc_sock_t listener, llmc_sock_t *sock)
{
    int one = 1;
    int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
                       errno == ECONNABORTED
                   ? LLMC_PORT_WOULD_BLOCK
                   : map_errno(errno);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    *sock = fd;
    return LLMC_PORT_OK;
}

long llmc_port_send(llmc_sock_t sock, const void *buf, size_t len)
{
    ssize_t n = send(sock, buf, len, MSG_NOSIGNAL);
    return n >= 0 ? (long)n : map_errno(errno);
}

long llmc_port_recv(llmc_sock_t sock, void *buf, size_t len)
{
    ssize_t n = recv(sock, buf, len, 0);
    if (n > 0)
        return (long)n;
    return n == 0 ? LLMC_PORT_EOF : map_errno(errno);
}

void llmc_port_close(llmc_sock_t sock)
{
    if (sock >= 0)
        close(sock);
}

int llmc_port_poll(llmc_pollfd_t *fds, size_t n, int timeout_ms)
{
    struct pollfd pfd[MAX_POLL + 1];
    size_t i;
    int rc, ready = 0;
    char drain[64];

    pthread_once(&g_wake_once, wake_init);
    if (n > MAX_POLL)
        n = MAX_POLL;
    for (i = 0; i < n; i++) {
        pfd[i].fd = fds[i].sock;
        pfd[i].events = (short)(((fds[i].events & LLMC_POLL_IN) ? POLLIN : 0) |
                                ((fds[i].events & LLMC_POLL_OUT) ? POLLOUT : 0));
        pfd[i].revents = 0;
        fds[i].revents = 0;
    }
    pfd[n].fd = g_wake[0];
    pfd[n].events = POLLIN;
    pfd[n].revents = 0;
    rc = poll(pfd, (nfds_t)(n + 1), timeout_ms);
    if (rc < 0)
        return errno == EINTR ? 0 : LLMC_PORT_ERROR;
    for (i = 0; i < n; i++) {
        uint8_t r = 0;
        if (pfd[i].revents & POLLIN)
            r |= LLMC_POLL_IN;
        if (pfd[i].revents & POLLOUT)
            r |= LLMC_POLL_OUT;
        if (pfd[i].revents & (POLLERR | POLLHUP | POLLNVAL))
            r |= LLMC_POLL_ERR;
        fds[i].revents = r;
        if (r)
            ready++;
    }
    if (pfd[n].revents & POLLIN)
        while (read(g_wake[0], drain, sizeof(drain)) > 0) {
        }
    return ready;
}

void llmc_port_wake(void)
{
    pthread_once(&g_wake_once, wake_init);
    if (g_wake[1] >= 0) {
        ssize_t r = write(g_wake[1], "w", 1);
        (void)r; /* a full pipe already wakes the poller */
    }
}
