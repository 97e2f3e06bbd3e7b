/*
 * llmc port, network half, over lwIP's socket API: non-blocking TCP
 * sockets, lwip_poll() (or lwip_select() where lwIP is built without poll),
 * numeric addresses or lwip_getaddrinfo(). Time, randomness, logging, the
 * lock and llmc_port_wake() come from the OS half; see llmc_port_lwip.h for
 * the split, the wake-up design and what resolves without LWIP_DNS.
 *
 * Needs an lwIP with NO_SYS=0 and LWIP_SOCKET=1 (lwIP 2.1 or later).
 */
#include "llmc/llmc_port.h"
#include "llmc_port_lwip.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

#include "lwip/opt.h"
#include "lwip/def.h"
#include "lwip/sockets.h"
#include "lwip/sys.h"
#if LWIP_DNS
#include "lwip/netdb.h"
#endif

#include "llmc/llmc_config_defaults.h"

#if NO_SYS || !LWIP_SOCKET
#error "the llmc lwIP port needs lwIP's socket API (NO_SYS=0, LWIP_SOCKET=1)"
#endif
#if !LWIP_TCP
#error "the llmc lwIP port needs LWIP_TCP"
#endif
#if !LWIP_SOCKET_POLL && !LWIP_SOCKET_SELECT
#error "the llmc lwIP port needs LWIP_SOCKET_POLL or LWIP_SOCKET_SELECT"
#endif
/* every socket result is read from errno (EINPROGRESS, EWOULDBLOCK...);
 * lwIP 2.2 can leave it unset (lwIP 2.1 always sets it) */
#if defined(LWIP_SOCKET_SET_ERRNO) && !LWIP_SOCKET_SET_ERRNO
#error "the llmc lwIP port reads errno: it needs LWIP_SOCKET_SET_ERRNO 1"
#endif

/* llmc polls at most one socket per connection. */
#define MAX_POLL (LLMC_CONNS + LLMC_POLL_EXTRA)

static volatile sig_atomic_t g_woken;

void llmc_port_lwip_wake(void)
{
    g_woken = 1;
}

/* Consume a pending wake. */
static int take_wake(void)
{
    if (!g_woken)
        return 0;
    g_woken = 0;
    return 1;
}

static int map_errno(int e)
{
    switch (e) {
    case EAGAIN:
#if defined(EWOULDBLOCK) && EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
    case EINPROGRESS:
    case EINTR:
        return LLMC_PORT_WOULD_BLOCK;
    case ECONNREFUSED:
        return LLMC_PORT_REFUSED;
    case ECONNRESET:
    case EPIPE:
    case ENOTCONN: /* lwIP, once a reset connection's error was reported */
        return LLMC_PORT_RESET;
    case ENETUNREACH:
    case EHOSTUNREACH:
        return LLMC_PORT_UNREACHABLE;
    case ENOMEM: /* pbufs, segments */
    case ENOBUFS:
    case ENFILE: /* no free socket: MEMP_NUM_NETCONN, LWIP_MAX_SOCKETS */
        return LLMC_PORT_NO_MEMORY;
    default:
        return LLMC_PORT_ERROR;
    }
}

/* ---- resolve ------------------------------------------------------------ */

#if LWIP_DNS

/* Blocks the calling task until lwIP's DNS client answers. lwIP returns at
 * most one address (LWIP_DNS_ADDRTYPE_DEFAULT decides which family is asked
 * first); numeric hosts are parsed without a query. */
int llmc_port_resolve(const char *host, uint16_t port, llmc_addr_t *out,
                      int max)
{
    struct addrinfo hints, *res = NULL, *ai;
    int n = 0, pass, rc;

    if (host == NULL || out == NULL || max < 1)
        return LLMC_PORT_ERROR;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    rc = lwip_getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 || res == NULL)
        return rc == EAI_MEMORY ? LLMC_PORT_ERROR : LLMC_PORT_NOT_FOUND;
    for (pass = 0; pass < 2; pass++) {
        for (ai = res; ai != NULL && n < max; ai = ai->ai_next) {
#if LWIP_IPV4
            if (pass == 0 && ai->ai_family == AF_INET) {
                const struct sockaddr_in *s =
                    (const struct sockaddr_in *)(const void *)ai->ai_addr;
                out[n].family = 4;
                memcpy(out[n].addr, &s->sin_addr, 4);
                out[n].port = port;
                n++;
            }
#endif
#if LWIP_IPV6
            if (pass == 1 && ai->ai_family == AF_INET6) {
                const struct sockaddr_in6 *s =
                    (const struct sockaddr_in6 *)(const void *)ai->ai_addr;
                out[n].family = 6;
                memcpy(out[n].addr, &s->sin6_addr, 16);
                out[n].port = port;
                n++;
            }
#endif
        }
    }
    lwip_freeaddrinfo(res);
    return n > 0 ? n : LLMC_PORT_NOT_FOUND;
}

#else /* !LWIP_DNS */

/* Numeric addresses only: without LWIP_DNS there is nobody to ask. */
int llmc_port_resolve(const char *host, uint16_t port, llmc_addr_t *out,
                      int max)
{
    if (host == NULL || out == NULL || max < 1)
        return LLMC_PORT_ERROR;
    memset(&out[0], 0, sizeof(out[0]));
    out[0].port = port;
#if LWIP_IPV4
    {
        struct in_addr a4;
        if (lwip_inet_pton(AF_INET, host, &a4) == 1) {
            out[0].family = 4;
            memcpy(out[0].addr, &a4, 4);
            return 1;
        }
    }
#endif
#if LWIP_IPV6
    {
        struct in6_addr a6;
        if (lwip_inet_pton(AF_INET6, host, &a6) == 1) {
            out[0].family = 6;
            memcpy(out[0].addr, &a6, 16);
            return 1;
        }
    }
#endif
    return LLMC_PORT_NOT_FOUND;
}

#endif /* LWIP_DNS */

/* ---- connect, send, recv, close ----------------------------------------- */

typedef union {
    struct sockaddr sa;
#if LWIP_IPV4
    struct sockaddr_in in4;
#endif
#if LWIP_IPV6
    struct sockaddr_in6 in6;
#endif
} sockaddr_any_t;

/* llmc_addr_t -> sockaddr; the domain, or -1 for a family not built in. */
static int to_sockaddr(const llmc_addr_t *a, sockaddr_any_t *ss,
                       socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    if (0) {
#if LWIP_IPV4
    } else if (a->family == 4) {
        ss->in4.sin_family = AF_INET;
        ss->in4.sin_port = lwip_htons(a->port);
        memcpy(&ss->in4.sin_addr, a->addr, 4);
        *len = sizeof(ss->in4);
        return AF_INET;
#endif
#if LWIP_IPV6
    } else if (a->family == 6) {
        ss->in6.sin6_family = AF_INET6;
        ss->in6.sin6_port = lwip_htons(a->port);
        memcpy(&ss->in6.sin6_addr, a->addr, 16);
        *len = sizeof(ss->in6);
        return AF_INET6;
#endif
    }
    return -1;
}

/* A non-blocking TCP socket without Nagle, or -1. */
static int nb_socket(int domain)
{
    int s = lwip_socket(domain, SOCK_STREAM, 0), one = 1;
    if (s < 0)
        return -1; /* out of sockets: MEMP_NUM_NETCONN */
    if (lwip_fcntl(s, F_SETFL, O_NONBLOCK) != 0) {
        lwip_close(s);
        return -1;
    }
    /* requests are written in pieces; don't let Nagle hold the last one */
    (void)lwip_setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return s;
}

int llmc_port_connect(const llmc_addr_t *a, llmc_sock_t *sock)
{
    sockaddr_any_t ss;
    socklen_t len;
    int s, domain, rc;

    if (a == NULL || sock == NULL)
        return LLMC_PORT_ERROR;
    *sock = LLMC_SOCK_INVALID;
    domain = to_sockaddr(a, &ss, &len);
    if (domain < 0)
        return LLMC_PORT_UNREACHABLE; /* family not built into this lwIP */
    s = nb_socket(domain);
    if (s < 0)
        return map_errno(errno) == LLMC_PORT_NO_MEMORY ? LLMC_PORT_NO_MEMORY
                                                       : LLMC_PORT_ERROR;
    *sock = s;
    rc = lwip_connect(s, &ss.sa, len);
    /* lwIP (2.1.3 to 2.2.1) takes the local port after the last one it
     * gave; the first comes after a random start in 0xC000..0xFFFF, and
     * after 0xFFFF it wraps to 0, which it reads as "no free port": that
     * connect fails with ERR_BUF (ENOBUFS), one boot in 16,384. The next
     * port is 1, so one more try connects; with every port taken, it
     * fails again. */
    if (rc != 0 && errno == ENOBUFS)
        rc = lwip_connect(s, &ss.sa, len);
    if (rc == 0)
        return LLMC_PORT_OK;
    rc = map_errno(errno);
    if (rc == LLMC_PORT_WOULD_BLOCK)
        return rc;
    lwip_close(s);
    *sock = LLMC_SOCK_INVALID;
    return rc;
}

int llmc_port_listen(llmc_addr_t *addr, int backlog, llmc_sock_t *sock)
{
    sockaddr_any_t ss;
    socklen_t len;
    int s, domain = to_sockaddr(addr, &ss, &len);

    if (domain < 0 || (s = nb_socket(domain)) < 0)
        return LLMC_PORT_ERROR;
#if SO_REUSE
    {
        /* as the POSIX port: a server restarted on its port is not kept
         * off it by the TIME_WAIT pcbs of connections it closed first
         * (tcp_bind() checks tcp_tw_pcbs unless SOF_REUSEADDR is set) */
        int one = 1;
        (void)lwip_setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    }
#endif
    if (lwip_bind(s, &ss.sa, len) != 0 || lwip_listen(s, backlog) != 0 ||
        lwip_getsockname(s, &ss.sa, &len) != 0) {
        lwip_close(s);
        return LLMC_PORT_ERROR;
    }
#if LWIP_IPV4
    if (domain == AF_INET)
        addr->port = lwip_ntohs(ss.in4.sin_port);
#endif
#if LWIP_IPV6
    if (domain == AF_INET6)
        addr->port = lwip_ntohs(ss.in6.sin6_port);
#endif
    *sock = s;
    return LLMC_PORT_OK;
}

int llmc_port_accept(llmc_sock_t listener, llmc_sock_t *sock)
{
    int s = lwip_accept(listener, NULL, NULL), one = 1;
    if (s < 0) {
        int rc = map_errno(errno);
        return rc == LLMC_PORT_ERROR && errno == ECONNABORTED
                   ? LLMC_PORT_WOULD_BLOCK
                   : rc;
    }
    if (lwip_fcntl(s, F_SETFL, O_NONBLOCK) != 0) {
        lwip_close(s);
        return LLMC_PORT_ERROR;
    }
    (void)lwip_setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    *sock = s;
    return LLMC_PORT_OK;
}

int llmc_port_connect_result(llmc_sock_t sock)
{
    int err = 0, rc;
    socklen_t len = sizeof(err);

    if (lwip_getsockopt(sock, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        return LLMC_PORT_ERROR;
    if (err == 0)
        return LLMC_PORT_OK;
    /* lwIP reports a RST answering the SYN as ERR_RST (ECONNRESET); before
     * the connection exists that is a refusal */
    if (err == ECONNRESET)
        return LLMC_PORT_REFUSED;
    rc = map_errno(err);
    return rc == LLMC_PORT_WOULD_BLOCK ? LLMC_PORT_ERROR : rc;
}

long llmc_port_send(llmc_sock_t sock, const void *buf, size_t len)
{
    ssize_t n = lwip_send(sock, buf, len, MSG_DONTWAIT);
    return n >= 0 ? (long)n : map_errno(errno);
}

long llmc_port_recv(llmc_sock_t sock, void *buf, size_t len)
{
    ssize_t n = lwip_recv(sock, buf, len, MSG_DONTWAIT);
    if (n > 0)
        return (long)n;
    if (n == 0)
        return LLMC_PORT_EOF;
    /* lwIP answers 0 for the peer's FIN once; every later recv fails with
     * ENOTCONN (netconn_recv_data_tcp(): the receive mailbox is gone), as
     * every recv after a reset's ECONNRESET does. A connection closed in
     * order still has its pcb (CLOSE_WAIT) and so a peer address; a reset
     * one has none. */
    if (errno == ENOTCONN) {
        sockaddr_any_t peer;
        socklen_t plen = sizeof(peer);
        return lwip_getpeername(sock, &peer.sa, &plen) == 0 ? LLMC_PORT_EOF
                                                            : LLMC_PORT_RESET;
    }
    return map_errno(errno);
}

void llmc_port_close(llmc_sock_t sock)
{
    if (sock >= 0)
        lwip_close(sock);
}

/* ---- poll --------------------------------------------------------------- */

/* In revents while a wait runs: the socket is not open (closed, or no
 * socket number); it is left out of the wait. */
#define NOT_OPEN 0x80u

#if LWIP_SOCKET_POLL

/* One lwip_poll() of up to ms milliseconds (0: don't wait) of the sockets
 * not marked NOT_OPEN; sets their revents when some are ready. Returns how
 * many are, or -1 (errno). */
static int scan(llmc_pollfd_t *fds, size_t n, int ms)
{
    struct pollfd pfd[MAX_POLL];
    size_t i;
    int rc, ready = 0;

    for (i = 0; i < n; i++) {
        /* lwip_poll() leaves out a negative fd */
        pfd[i].fd = (fds[i].revents & NOT_OPEN) ? -1 : fds[i].sock;
        pfd[i].events = (short)(((fds[i].events & LLMC_POLL_IN) ? POLLIN : 0) |
                                ((fds[i].events & LLMC_POLL_OUT) ? POLLOUT : 0));
        pfd[i].revents = 0;
    }
    rc = lwip_poll(pfd, (nfds_t)n, ms);
    if (rc <= 0)
        return rc;
    for (i = 0; i < n; i++) {
        uint8_t r = 0;
        if (pfd[i].fd < 0)
            continue;
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
    return ready;
}

#else /* lwip_select() */

static int scan(llmc_pollfd_t *fds, size_t n, int ms)
{
    fd_set rd, wr, ex;
    struct timeval tv;
    size_t i;
    int rc, maxfd = -1, ready = 0;

    FD_ZERO(&rd);
    FD_ZERO(&wr);
    FD_ZERO(&ex);
    for (i = 0; i < n; i++) {
        int s = fds[i].sock;
        if (s < 0 || (fds[i].revents & NOT_OPEN))
            continue; /* left out, as poll() leaves out a negative fd */
        if (fds[i].events & LLMC_POLL_IN)
            FD_SET(s, &rd);
        if (fds[i].events & LLMC_POLL_OUT)
            FD_SET(s, &wr);
        FD_SET(s, &ex);
        if (s > maxfd)
            maxfd = s;
    }
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    rc = lwip_select(maxfd + 1, &rd, &wr, &ex, &tv);
    if (rc <= 0)
        return rc;
    for (i = 0; i < n; i++) {
        int s = fds[i].sock;
        uint8_t r = 0;
        if (s < 0 || (fds[i].revents & NOT_OPEN))
            continue;
        if ((fds[i].events & LLMC_POLL_IN) && FD_ISSET(s, &rd))
            r |= LLMC_POLL_IN;
        if ((fds[i].events & LLMC_POLL_OUT) && FD_ISSET(s, &wr))
            r |= LLMC_POLL_OUT;
        if (FD_ISSET(s, &ex))
            r |= LLMC_POLL_ERR;
        fds[i].revents = r;
        if (r)
            ready++;
    }
    return ready;
}

#endif /* LWIP_SOCKET_POLL */

/* One wait of up to ms milliseconds. lwIP fails a whole lwip_poll() or
 * lwip_select() when one socket in it is not open, where POSIX poll()
 * reports that one alone (POLLNVAL): a caller's socket passed to
 * llmc_poll_with() after it closed it must not stop llmc's own. So on a
 * failure, each socket that is not open is found, reported as
 * LLMC_POLL_ERR, and the others are looked at without waiting. A negative
 * socket is left out, as poll() leaves it out. */
static int wait_once(llmc_pollfd_t *fds, size_t n, int ms)
{
    size_t i;
    int rc = scan(fds, n, ms), bad = 0;

    if (rc >= 0)
        return rc;
    if (errno == EINTR)
        return 0;
    for (i = 0; i < n; i++)
        if (fds[i].sock >= 0 && lwip_fcntl(fds[i].sock, F_GETFL, 0) < 0) {
            fds[i].revents = NOT_OPEN;
            bad++;
        }
    rc = bad > 0 ? scan(fds, n, 0) : -1;
    for (i = 0; i < n; i++)
        if (fds[i].revents & NOT_OPEN)
            fds[i].revents = LLMC_POLL_ERR;
    return rc < 0 ? LLMC_PORT_ERROR : rc + bad;
}

/* Waits in slices of at most LLMC_LWIP_WAKE_SLICE_MS so that
 * llmc_port_lwip_wake() (a flag) is seen within one slice. No slice is
 * shorter than the OS half's llmc_port_lwip_min_wait_ms(): a sys_arch that
 * rounds a wait down to whole ticks would not wait at all for less than a
 * tick, and the end of a timed wait would be spent polling. */
int llmc_port_poll(llmc_pollfd_t *fds, size_t n, int timeout_ms)
{
    uint64_t start = 0;
    uint32_t shortest = llmc_port_lwip_min_wait_ms();
    size_t i;

    if (fds == NULL)
        n = 0;
    if (n > MAX_POLL)
        n = MAX_POLL;
    for (i = 0; i < n; i++)
        fds[i].revents = 0;
    if (timeout_ms > 0)
        start = llmc_port_now_ms();
    for (;;) {
        int slice = LLMC_LWIP_WAKE_SLICE_MS, rc;

        if (take_wake())
            return 0;
        if (timeout_ms >= 0) {
            uint64_t spent = timeout_ms > 0 ? llmc_port_now_ms() - start : 0;
            if (spent >= (uint64_t)timeout_ms) {
                slice = 0; /* one last look without waiting */
            } else if ((uint64_t)timeout_ms - spent < (uint64_t)slice) {
                slice = (int)((uint64_t)timeout_ms - spent);
            }
        }
        if (slice > 0 && (uint32_t)slice < shortest)
            slice = (int)shortest;
        if (n == 0) {
            if (slice > 0)
                sys_msleep((u32_t)slice);
            rc = 0;
        } else {
            rc = wait_once(fds, n, slice);
        }
        if (rc != 0 || slice == 0)
            return rc;
    }
}
