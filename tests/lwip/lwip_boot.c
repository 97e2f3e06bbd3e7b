/*
 * Brings up Debian's lwIP before main() of a host tool linked with the lwIP
 * port (build/lwip/llmc-chat, llmc-seq, llmc-multi), so that the tools run
 * unchanged: a constructor starts the tcpip thread and adds one Ethernet
 * netif on an existing TAP device (tapif_init, frames fed to tcpip_input)
 * with a static address. A board does the same in its startup code.
 *
 * Environment:
 *   PRECONFIGURED_TAPIF  the TAP device to attach to (required; lwIP's tapif
 *                        would otherwise create one and run ifconfig)
 *   LLMC_LWIP_IP         lwIP's address   (default 192.0.2.2)
 *   LLMC_LWIP_NETMASK    its netmask      (default 255.255.255.0)
 *   LLMC_LWIP_GW         its gateway      (default 192.0.2.1)
 *   LLMC_LWIP_SEED       the seed of rand(), lwIP's LWIP_RAND() (default:
 *                        a random one), for a run that needs lwIP's
 *                        random initial local port to be a known one
 * Any failure ends the process with status 70 and a line on stderr.
 *
 * main() starts only once the gateway has answered ARP. A TAP device has no
 * carrier while no process holds it, and Linux brings the link back with
 * up to a second's delay (linkwatch); until then it drops what it sends on
 * the device, its ARP replies included. Started at once, a tool's first
 * connect could wait for lwIP's ARP retry, a second later, and miss a short
 * connect timeout through no fault of the port.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

#include <time.h>

#include "lwip/etharp.h"
#include "lwip/priv/tcp_priv.h" /* tcp_active_pcbs, for the exit below */
#include "lwip/init.h"
#include "lwip/ip4_addr.h"
#include "lwip/netif.h"
#include "lwip/sys.h"
#include "lwip/tcpip.h"
#include "netif/tapif.h"

static struct netif g_netif;

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "lwip boot: %s%s%s\n", what, detail ? ": " : "",
            detail ? detail : "");
    exit(70);
}

static void env_addr(const char *name, const char *dflt, ip4_addr_t *out)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0')
        v = dflt;
    if (!ip4addr_aton(v, out))
        fail("not an IPv4 address", name);
}

static void on_tcpip_ready(void *arg)
{
    sys_sem_signal((sys_sem_t *)arg);
}

/* Ask for the gateway's address every 50 ms until it answers (at most
 * 5 s): then the host side of the TAP device sends again. */
static void wait_for_gateway(const ip4_addr_t *gw)
{
    const struct timespec step = {0, 50 * 1000 * 1000};
    struct eth_addr *mac;
    const ip4_addr_t *ip;
    int i;
    ssize_t found = -1;

    for (i = 0; i < 100 && found < 0; i++) {
        LOCK_TCPIP_CORE();
        found = etharp_find_addr(&g_netif, gw, &mac, &ip);
        if (found < 0)
            (void)etharp_request(&g_netif, gw);
        UNLOCK_TCPIP_CORE();
        if (found < 0)
            nanosleep(&step, NULL);
    }
    if (found < 0)
        fail("the gateway does not answer ARP", NULL);
}

/* At exit: the FIN of each connection the tool closed goes out first. On
 * a board the stack outlives the task that closed them, as Linux's does a
 * process; this one ends with the process, and a close queued in its last
 * moments would leave the peer holding the connection. Waits (up to 2 s)
 * until no connection has a FIN or data still unacknowledged. */
static void flush_closes(void)
{
    const struct timespec step = {0, 10 * 1000 * 1000};
    struct tcp_pcb *pcb;
    int i, busy = 1;

    for (i = 0; i < 200 && busy; i++) {
        busy = 0;
        LOCK_TCPIP_CORE();
        for (pcb = tcp_active_pcbs; pcb != NULL; pcb = pcb->next)
            busy |= pcb->state == FIN_WAIT_1 || pcb->state == CLOSING ||
                    pcb->state == LAST_ACK || pcb->unsent != NULL ||
                    pcb->unacked != NULL;
        UNLOCK_TCPIP_CORE();
        if (busy)
            nanosleep(&step, NULL);
    }
}

__attribute__((constructor)) static void llmc_lwip_boot(void)
{
    const char *tap = getenv("PRECONFIGURED_TAPIF");
    ip4_addr_t ip, mask, gw;
    sys_sem_t ready;
    const char *seed_env = getenv("LLMC_LWIP_SEED");
    unsigned seed = 0;

    if (tap == NULL || *tap == '\0')
        fail("PRECONFIGURED_TAPIF (the TAP device to use) is not set", NULL);
    env_addr("LLMC_LWIP_IP", "192.0.2.2", &ip);
    env_addr("LLMC_LWIP_NETMASK", "255.255.255.0", &mask);
    env_addr("LLMC_LWIP_GW", "192.0.2.1", &gw);

    /* Debian's LWIP_RAND() is rand(): seed it, or every process would
     * start from the same "random" local TCP port. */
    if (seed_env != NULL)
        seed = (unsigned)strtoul(seed_env, NULL, 10);
    else if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
        fail("getrandom failed", NULL);
    srand(seed);

    if (sys_sem_new(&ready, 0) != ERR_OK)
        fail("sys_sem_new failed", NULL);
    tcpip_init(on_tcpip_ready, &ready);
    sys_sem_wait(&ready);
    sys_sem_free(&ready);

    LOCK_TCPIP_CORE();
    if (netif_add(&g_netif, &ip, &mask, &gw, NULL, tapif_init,
                  tcpip_input) == NULL) {
        UNLOCK_TCPIP_CORE();
        fail("netif_add failed on", tap);
    }
    netif_set_default(&g_netif);
    netif_set_link_up(&g_netif);
    netif_set_up(&g_netif);
    UNLOCK_TCPIP_CORE();
    wait_for_gateway(&gw);
    if (atexit(flush_closes) != 0)
        fail("atexit failed", NULL);
}
