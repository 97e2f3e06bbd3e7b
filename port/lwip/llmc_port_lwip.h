/*
 * The lwIP half of an llmc port: the network functions of llmc_port.h over
 * lwIP's socket API (lwip_socket, lwip_connect, lwip_poll or lwip_select,
 * lwip_recv, lwip_send, lwip_close, lwip_getsockopt(SO_ERROR)). This is the
 * code path of ESP-IDF and of FreeRTOS + lwIP boards.
 *
 * port/lwip/llmc_port_lwip.c implements exactly these functions of
 * llmc_port.h:
 *   llmc_port_resolve, llmc_port_connect, llmc_port_connect_result,
 *   llmc_port_send, llmc_port_recv, llmc_port_close, llmc_port_poll
 * The OS half (port/freertos, port/esp-idf, or llmc_port_lwip_unix.c for the
 * Linux test build) implements the rest:
 *   llmc_port_now_ms, llmc_port_random, llmc_port_log,
 *   llmc_port_lock, llmc_port_unlock, llmc_port_wake,
 *   llmc_port_lwip_min_wait_ms (below)
 * and its llmc_port_wake() must call llmc_port_lwip_wake() below, which is
 * how a wake reaches a task blocked in llmc_port_poll().
 *
 * Wake-up: llmc_port_poll() waits in slices of at most
 * LLMC_LWIP_WAKE_SLICE_MS and returns early once llmc_port_lwip_wake() has
 * been called. The alternative, a UDP socket that poll also watches, was not
 * taken: it costs one of lwIP's few sockets (MEMP_NUM_NETCONN, 4 in Debian's
 * build, CONFIG_LWIP_MAX_SOCKETS = 10 on ESP-IDF), needs a loopback netif,
 * and lwip_sendto() may not be called from a signal handler or an ISR,
 * whereas setting a flag may. The price is a wake-up of the polling task
 * every slice while it waits, and a wake latency of up to one slice.
 *
 * Name resolution: with LWIP_DNS (and the socket API) llmc_port_resolve()
 * calls lwip_getaddrinfo(), which blocks the calling task until the DNS
 * answer (llmc caches the result per provider). Without LWIP_DNS only
 * numeric addresses are accepted ("192.0.2.1", "2001:db8::1"); a name, even
 * "localhost", returns LLMC_PORT_NOT_FOUND, which llmc reports as a dns
 * error. Debian's liblwip is built that way.
 */
#ifndef LLMC_PORT_LWIP_H
#define LLMC_PORT_LWIP_H

#include <stdint.h>

#include "llmc/llmc_config_defaults.h" /* Kconfig / sdkconfig values */

#ifdef __cplusplus
extern "C" {
#endif

/* Longest single wait inside llmc_port_poll(), in ms: the wake latency.
 * Costs no RAM; smaller means more wake-ups of an idle polling task. */
#ifndef LLMC_LWIP_WAKE_SLICE_MS
#ifdef CONFIG_LLMC_LWIP_WAKE_SLICE_MS
#define LLMC_LWIP_WAKE_SLICE_MS CONFIG_LLMC_LWIP_WAKE_SLICE_MS
#else
#define LLMC_LWIP_WAKE_SLICE_MS 10
#endif
#endif

/* Supplied by the OS half: the shortest wait, in ms (1 to 1000), that
 * lwIP's sys_arch makes when asked for one. llmc_port_poll() asks lwIP for
 * no timed wait shorter than this, so its task sleeps rather than spins.
 * lwIP's FreeRTOS sys_arch (contrib/ports/freertos) turns ms into ticks by
 * rounding down: a wait shorter than a tick returns at once, so there this
 * is one tick (port/freertos returns it). ESP-IDF's sys_arch rounds up and
 * the Unix one waits in ms: 1. A timed llmc_port_poll() may then end up to
 * this much late; with a clock that counts ticks, as port/freertos's does,
 * its deadline falls on a tick and a wait of one tick ends on that tick. */
uint32_t llmc_port_lwip_min_wait_ms(void);

/* Make a concurrent (or the next) llmc_port_poll() return 0 within one
 * slice: LLMC_LWIP_WAKE_SLICE_MS, or llmc_port_lwip_min_wait_ms() if that
 * is longer. Only stores to a flag: safe from any task, from
 * a signal handler and from an ISR. */
void llmc_port_lwip_wake(void);

#ifdef __cplusplus
}
#endif

#endif /* LLMC_PORT_LWIP_H */
