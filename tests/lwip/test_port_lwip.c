/*
 * The lwIP port's functions called directly, over a TAP device (run by
 * scripts/check.d/lwip.sh inside its network namespace, lwIP brought up by
 * lwip_boot.c): name resolution without DNS, connect/refuse/reset/EOF (a
 * second recv after either too), the poll timeout and wake-up, and a
 * listener made again on a port held by a TIME_WAIT pcb. The peer is a Linux socket in the same
 * process, listening on the host side of the TAP device.
 *   test-port-lwip HOST_IP      prints one line per check, then
 *                               "port: N passed, M failed"
 *   test-port-lwip HOST_IP wrap the first connect when lwIP's random
 *                               initial local port is 0xFFFF (run with
 *                               the LLMC_LWIP_SEED that makes it so), then
 *                               "port-wrap: N passed, M failed"
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "llmc/llmc_port.h"
#include "llmc_port_lwip.h"

static int g_passed, g_failed;

#define CHECK(name, cond)                                                  \
    do {                                                                   \
        if (cond) {                                                        \
            g_passed++;                                                    \
            printf("ok   %s\n", name);                                     \
        } else {                                                           \
            g_failed++;                                                    \
            printf("FAIL %s (%s:%d)\n", name, __FILE__, __LINE__);         \
        }                                                                  \
        fflush(stdout);                                                    \
    } while (0)

/* A listening Linux socket on host:0; returns its fd and port. */
static int listen_on(const char *host, uint16_t *port)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    inet_pton(AF_INET, host, &sa.sin_addr);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(fd, 8) != 0) {
        perror("listen_on");
        exit(1);
    }
    getsockname(fd, (struct sockaddr *)&sa, &len);
    *port = ntohs(sa.sin_port);
    return fd;
}

/* Wait (polling) until sock is connected; returns connect_result. */
static int connected(llmc_sock_t sock, int rc)
{
    llmc_pollfd_t p;
    if (rc != LLMC_PORT_WOULD_BLOCK)
        return rc;
    p.sock = sock;
    p.events = LLMC_POLL_OUT;
    if (llmc_port_poll(&p, 1, 5000) != 1)
        return LLMC_PORT_ERROR;
    return llmc_port_connect_result(sock);
}

/* Read until n bytes arrived, EOF or error; returns the last recv result. */
static long recv_all(llmc_sock_t sock, char *buf, size_t n, size_t *got)
{
    llmc_pollfd_t p;
    long r = 0;
    *got = 0;
    while (*got < n) {
        p.sock = sock;
        p.events = LLMC_POLL_IN;
        if (llmc_port_poll(&p, 1, 5000) != 1)
            return LLMC_PORT_ERROR;
        r = llmc_port_recv(sock, buf + *got, n - *got);
        if (r == LLMC_PORT_WOULD_BLOCK)
            continue;
        if (r < 0)
            return r;
        *got += (size_t)r;
    }
    return r;
}

/* This program is its own OS half's lwIP hand-over (instead of
 * port/lwip/llmc_port_lwip_unix.c), so that it can play a sys_arch whose
 * shortest wait is longer than 1 ms, as a FreeRTOS tick is. */
static uint32_t g_min_wait = 1;

uint32_t llmc_port_lwip_min_wait_ms(void)
{
    return g_min_wait;
}

void llmc_port_wake(void)
{
    llmc_port_lwip_wake();
}

static void *wake_later(void *arg)
{
    (void)arg;
    usleep(100 * 1000);
    llmc_port_wake();
    return NULL;
}

static void test_resolve(void)
{
    llmc_addr_t a[2];
    static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                                   0, 0, 0, 0, 0, 0, 0, 1};

    CHECK("resolve IPv4 literal",
          llmc_port_resolve("192.0.2.7", 443, a, 2) == 1 &&
              a[0].family == 4 && a[0].port == 443 && a[0].addr[0] == 192 &&
              a[0].addr[1] == 0 && a[0].addr[2] == 2 && a[0].addr[3] == 7);
    CHECK("resolve IPv6 literal",
          llmc_port_resolve("2001:db8::1", 80, a, 2) == 1 &&
              a[0].family == 6 && memcmp(a[0].addr, v6, 16) == 0);
    CHECK("resolve name without LWIP_DNS is not found",
          llmc_port_resolve("localhost", 80, a, 2) == LLMC_PORT_NOT_FOUND &&
              llmc_port_resolve("api.example.com", 443, a, 2) ==
                  LLMC_PORT_NOT_FOUND);
    CHECK("resolve empty host is not found",
          llmc_port_resolve("", 80, a, 2) == LLMC_PORT_NOT_FOUND);
}

static void test_exchange(const char *host)
{
    uint16_t port;
    int lfd = listen_on(host, &port), cfd;
    llmc_addr_t a;
    llmc_sock_t s;
    char buf[64 * 1024];
    static char big[200 * 1000];
    size_t got = 0, sent = 0, i;
    long r;

    llmc_port_resolve(host, port, &a, 1);
    s = LLMC_SOCK_INVALID;
    r = llmc_port_connect(&a, &s);
    r = connected(s, (int)r);
    CHECK("connect to a listening peer", s >= 0 && r == LLMC_PORT_OK);
    cfd = accept(lfd, NULL, NULL);
    CHECK("recv with nothing to read would block",
          llmc_port_recv(s, buf, sizeof(buf)) == LLMC_PORT_WOULD_BLOCK);
    {
        /* lwip_poll() too is given no wait shorter than the shortest */
        llmc_pollfd_t p = {s, LLMC_POLL_IN, 0};
        uint64_t t0;
        int n;
        g_min_wait = 60;
        t0 = llmc_port_now_ms();
        n = llmc_port_poll(&p, 1, 5);
        t0 = llmc_port_now_ms() - t0;
        g_min_wait = 1;
        CHECK("a short socket wait is made as the shortest wait",
              n == 0 && p.revents == 0 && t0 >= 45 && t0 < 400);
    }

    /* 200 kB lwIP -> Linux: partial sends and POLL_OUT on the way */
    for (i = 0; i < sizeof(big); i++)
        big[i] = (char)('a' + i % 26);
    while (sent < sizeof(big)) {
        llmc_pollfd_t p = {s, LLMC_POLL_OUT, 0};
        ssize_t n;
        r = llmc_port_send(s, big + sent, sizeof(big) - sent);
        if (r > 0)
            sent += (size_t)r;
        else if (r != LLMC_PORT_WOULD_BLOCK)
            break;
        while ((n = recv(cfd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
            got += (size_t)n;
        if (r == LLMC_PORT_WOULD_BLOCK)
            llmc_port_poll(&p, 1, 100);
    }
    while (got < sizeof(big)) {
        ssize_t n = recv(cfd, buf, sizeof(buf), 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    CHECK("send 200 kB in pieces", sent == sizeof(big) && got == sent);

    /* Linux -> lwIP, then an orderly close: EOF */
    if (write(cfd, big, 100000) != 100000)
        perror("write");
    shutdown(cfd, SHUT_WR);
    r = recv_all(s, big, 100000, &got);
    CHECK("recv 100 kB", got == 100000 && big[99999] == (char)('a' + 99999 % 26));
    r = recv_all(s, buf, 1, &got);
    CHECK("recv after the peer's FIN is EOF", r == LLMC_PORT_EOF && got == 0);
    llmc_port_close(s);
    close(cfd);

    /* a peer that resets */
    s = LLMC_SOCK_INVALID;
    r = llmc_port_connect(&a, &s);
    r = connected(s, (int)r);
    cfd = accept(lfd, NULL, NULL);
    {
        struct linger lg = {1, 0};
        setsockopt(cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        close(cfd);
    }
    r = recv_all(s, buf, 1, &got);
    CHECK("recv after the peer's RST is reset", r == LLMC_PORT_RESET);
    llmc_port_close(s);
    close(lfd);

    /* a closed port: refused, reported through poll and connect_result */
    lfd = listen_on(host, &port);
    close(lfd);
    llmc_port_resolve(host, port, &a, 1);
    s = LLMC_SOCK_INVALID;
    r = llmc_port_connect(&a, &s);
    if (r == LLMC_PORT_WOULD_BLOCK) {
        llmc_pollfd_t p = {s, LLMC_POLL_OUT, 0};
        int n = llmc_port_poll(&p, 1, 5000);
        CHECK("refused connect wakes poll", n == 1 && p.revents != 0);
        r = llmc_port_connect_result(s);
        llmc_port_close(s);
    }
    CHECK("refused connect is LLMC_PORT_REFUSED", r == LLMC_PORT_REFUSED);
}

/* A socket number that is no open socket (one just closed), beside a
 * ready socket and an unused entry (LLMC_SOCK_INVALID), as a caller of
 * llmc_poll_with() may pass: as POSIX poll() does it, the closed one is
 * reported (LLMC_POLL_ERR, for POLLNVAL), the unused one is skipped, and
 * the ready one still is ready: the wait as a whole does not fail. (lwIP
 * may let go of a closed socket a moment after lwip_close() returns, when
 * its tcpip thread was using it then; until it has, the socket is still
 * polled, and its peer's close makes it readable as well.) */
static void test_poll_with_a_closed_socket(const char *host)
{
    uint16_t port;
    int lfd = listen_on(host, &port), cfd;
    llmc_addr_t a;
    llmc_sock_t s = LLMC_SOCK_INVALID, gone = LLMC_SOCK_INVALID;
    llmc_pollfd_t p[3];
    uint64_t t0;
    int n;

    llmc_port_resolve(host, port, &a, 1);
    n = llmc_port_connect(&a, &s);
    n = connected(s, n);
    cfd = accept(lfd, NULL, NULL);
    (void)connected(gone, llmc_port_connect(&a, &gone));
    close(accept(lfd, NULL, NULL));
    llmc_port_close(gone);
    if (s < 0 || gone < 0 || n != LLMC_PORT_OK) {
        CHECK("two connects for the closed-socket poll", 0);
        return;
    }
    p[0].sock = gone;
    p[0].events = LLMC_POLL_IN;
    p[1].sock = LLMC_SOCK_INVALID;
    p[1].events = LLMC_POLL_IN;
    p[2].sock = s;
    p[2].events = LLMC_POLL_OUT;
    p[0].revents = p[1].revents = p[2].revents = 0xFF;
    t0 = llmc_port_now_ms();
    n = llmc_port_poll(p, 3, 3000);
    t0 = llmc_port_now_ms() - t0;
    printf("     poll: %d, revents %u %u %u, %u ms\n", n, p[0].revents,
           p[1].revents, p[2].revents, (unsigned)t0);
    CHECK("a closed socket in a poll is reported, the rest still polled",
          n == 2 && (p[0].revents & LLMC_POLL_ERR) && p[1].revents == 0 &&
              p[2].revents == LLMC_POLL_OUT && t0 < 1000);
    /* only the closed one and the unused one: the closed one at once */
    p[0].revents = p[1].revents = 0xFF;
    n = llmc_port_poll(p, 2, 3000);
    CHECK("a poll of a closed socket alone returns at once",
          n == 1 && (p[0].revents & LLMC_POLL_ERR) && p[1].revents == 0);
    llmc_port_close(s);
    close(cfd);
    close(lfd);
}

/* llmc_port_poll(NULL, 0, timeout_ms), with llmc_port_wake() from another
 * thread 100 ms in if woken; returns its result, *dt the ms it took. */
static int timed_poll(int timeout_ms, int woken, uint64_t *dt)
{
    pthread_t th;
    uint64_t t0;
    int rc;

    if (woken)
        pthread_create(&th, NULL, wake_later, NULL);
    t0 = llmc_port_now_ms();
    rc = llmc_port_poll(NULL, 0, timeout_ms);
    *dt = llmc_port_now_ms() - t0;
    if (woken)
        pthread_join(th, NULL);
    return rc;
}

static void test_poll_timing(void)
{
    /* The last three play a sys_arch whose shortest wait is 60 ms (a
     * 16 Hz tick): a 5 ms wait is made as one of 60 ms (Debian's sys_arch
     * waits exactly what it is asked), not as 5 ms of polling. */
    static const struct {
        const char *name;
        uint32_t min_wait;  /* llmc_port_lwip_min_wait_ms() */
        int wake_first;     /* llmc_port_wake() before the poll */
        int timeout_ms, woken;
        uint64_t lo, hi;    /* the ms it may take: lo <= dt < hi */
    } t[] = {
        {"poll times out after timeout_ms", 1, 0, 120, 0, 120, 400},
        {"poll with timeout 0 returns at once", 1, 0, 0, 0, 0, 50},
        {"a wake before poll makes it return at once", 1, 1, 2000, 0, 0, 50},
        {"wake from another thread ends poll(-1)", 1, 0, -1, 1, 90, 600},
        {"a wait shorter than the sys_arch's shortest is made as that", 60,
         0, 5, 0, 45, 400},
        {"poll with timeout 0 still does not wait", 60, 0, 0, 0, 0, 30},
        {"wake ends poll(-1) when the shortest wait exceeds the slice", 60,
         0, -1, 1, 90, 600},
    };
    size_t i;

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        uint64_t dt;
        int rc;
        g_min_wait = t[i].min_wait;
        if (t[i].wake_first)
            llmc_port_wake();
        rc = timed_poll(t[i].timeout_ms, t[i].woken, &dt);
        CHECK(t[i].name, rc == 0 && dt >= t[i].lo && dt < t[i].hi);
    }
    g_min_wait = 1;
}

/* lwIP's socket call, with Linux's types: Debian's lwIP uses them */
int lwip_getsockname(int s, struct sockaddr *name, socklen_t *namelen);

/* lwIP (2.1.3 to 2.2.1) starts its local TCP ports at a random one in
 * 0xC000..0xFFFF and takes the next one for each connect; from 0xFFFF,
 * the next is 0, which it reads as "no free port" and fails that connect
 * with ERR_BUF (ENOBUFS). One boot in 16,384 starts there. */
static void test_first_port_after_wrap(const char *host)
{
    uint16_t port;
    int lfd = listen_on(host, &port);
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    llmc_addr_t a;
    llmc_sock_t s = LLMC_SOCK_INVALID;
    int r;

    llmc_port_resolve(host, port, &a, 1);
    r = llmc_port_connect(&a, &s); /* sets s: not in connected()'s args */
    r = connected(s, r);
    CHECK("first connect when lwIP's ports start at 0xFFFF", r == LLMC_PORT_OK);
    memset(&sa, 0, sizeof(sa));
    if (s >= 0 && lwip_getsockname(s, (struct sockaddr *)&sa, &len) == 0)
        printf("     its local port: %u\n", ntohs(sa.sin_port));
    CHECK("... from the port after the wrap, 1", ntohs(sa.sin_port) == 1);
    llmc_port_close(s);
    close(lfd);
}

/* lwIP's lwip_socket(), which fails with g_socket_errno when that is set,
 * as lwIP's does once its socket table is full (ENFILE) or a netconn
 * cannot be allocated (ENOBUFS). Debian's lwIP grows its table, so it is
 * never full here. */
static int g_socket_errno;

int lwip_socket(int domain, int type, int protocol)
{
    static int (*real)(int, int, int);
    if (g_socket_errno != 0) {
        errno = g_socket_errno;
        return -1;
    }
    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "lwip_socket");
    return real(domain, type, protocol);
}

static void test_out_of_sockets(const char *host)
{
    static const int errs[] = {ENFILE, ENOBUFS, ENOMEM};
    llmc_addr_t a;
    llmc_sock_t s;
    size_t i;
    int ok = 1;

    llmc_port_resolve(host, 9, &a, 1);
    for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
        g_socket_errno = errs[i];
        s = LLMC_SOCK_INVALID;
        ok &= llmc_port_connect(&a, &s) == LLMC_PORT_NO_MEMORY &&
              s == LLMC_SOCK_INVALID;
    }
    g_socket_errno = EACCES;
    ok &= llmc_port_connect(&a, &s) == LLMC_PORT_ERROR;
    g_socket_errno = 0;
    CHECK("no socket left (ENFILE, ENOBUFS, ENOMEM) is out of sockets", ok);
}

/* The peer ends the connection (reset: an RST, else a FIN); two recvs
 * after it must both say want. */
static void second_recv(const char *host, int reset, long want,
                        const char *what)
{
    uint16_t port;
    int lfd = listen_on(host, &port), cfd;
    llmc_addr_t a;
    llmc_sock_t s = LLMC_SOCK_INVALID;
    struct linger lg = {1, 0};
    char buf[16];
    size_t got;
    long r1, r2;
    int r;

    llmc_port_resolve(host, port, &a, 1);
    r = llmc_port_connect(&a, &s);
    r = connected(s, r);
    cfd = accept(lfd, NULL, NULL);
    if (reset) {
        setsockopt(cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        close(cfd); /* an RST */
    } else {
        shutdown(cfd, SHUT_WR);
    }
    r1 = recv_all(s, buf, 1, &got);
    r2 = llmc_port_recv(s, buf, sizeof(buf));
    printf("     first recv %ld, second recv %ld\n", r1, r2);
    CHECK(what, r == LLMC_PORT_OK && r1 == want && r2 == want);
    llmc_port_close(s);
    if (!reset)
        close(cfd);
    close(lfd);
}

/* EOF stays EOF: a second recv after the peer's FIN is EOF again, as on
 * POSIX (lwIP's own second recv fails with ENOTCONN). After a reset, every
 * later recv says reset too (lwIP: ECONNRESET, then ENOTCONN): the EOF
 * rule must not turn a reset into an EOF. */
static void test_second_recv(const char *host)
{
    second_recv(host, 0, LLMC_PORT_EOF, "recv after EOF is EOF again");
    second_recv(host, 1, LLMC_PORT_RESET, "recv after a reset is reset again");
}

/* lwIP's list of TIME_WAIT pcbs (lwip/priv/tcp_priv.h); only read here */
extern struct tcp_pcb *tcp_tw_pcbs;

/* A listener made again on the port of one whose connection lwIP closed
 * first, so that a TIME_WAIT pcb holds the port: as on POSIX (whose listen
 * sets SO_REUSEADDR), a server restarts on its port at once. */
static void test_relisten(const char *lwip_ip)
{
    llmc_addr_t la, again;
    llmc_sock_t lst = LLMC_SOCK_INVALID, acc = LLMC_SOCK_INVALID;
    struct sockaddr_in sa;
    int fd, rc, i;
    char c;

    memset(&la, 0, sizeof(la));
    llmc_port_resolve(lwip_ip, 0, &la, 1);
    if (llmc_port_listen(&la, 4, &lst) != LLMC_PORT_OK) {
        CHECK("listen", 0);
        return;
    }
    fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(la.port);
    inet_pton(AF_INET, lwip_ip, &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        perror("connect to the lwIP listener");
    for (i = 0; i < 500 && llmc_port_accept(lst, &acc) != LLMC_PORT_OK; i++)
        usleep(10 * 1000);
    llmc_port_close(acc); /* lwIP closes first: TIME_WAIT on its side */
    (void)read(fd, &c, 1); /* its FIN */
    close(fd);             /* ours, which takes lwIP's pcb to TIME_WAIT */
    for (i = 0; i < 500 && *(struct tcp_pcb *volatile *)&tcp_tw_pcbs == NULL;
         i++)
        usleep(10 * 1000);
    CHECK("a TIME_WAIT pcb holds the port",
          *(struct tcp_pcb *volatile *)&tcp_tw_pcbs != NULL);
    llmc_port_close(lst);
    again = la;
    rc = llmc_port_listen(&again, 4, &lst);
    printf("     listen again on port %u: %d\n", la.port, rc);
    CHECK("listen again on the port of a listener just closed",
          rc == LLMC_PORT_OK && again.port == la.port);
    if (rc == LLMC_PORT_OK)
        llmc_port_close(lst);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[2], "wrap") == 0) {
        test_first_port_after_wrap(argv[1]);
        printf("port-wrap: %d passed, %d failed\n", g_passed, g_failed);
        return g_failed == 0 && g_passed > 0 ? 0 : 1;
    }
    if (argc != 2) {
        fputs("usage: test-port-lwip HOST_IP [wrap]\n", stderr);
        return 2;
    }
    test_resolve();
    test_poll_timing();
    test_exchange(argv[1]);
    test_poll_with_a_closed_socket(argv[1]);
    test_out_of_sockets(argv[1]);
    test_second_recv(argv[1]);
    test_relisten(getenv("LLMC_LWIP_IP") ? getenv("LLMC_LWIP_IP")
                                         : "192.0.2.2");
    printf("port: %d passed, %d failed\n", g_passed, g_failed);
    return g_failed == 0 && g_passed > 0 ? 0 : 1;
}
