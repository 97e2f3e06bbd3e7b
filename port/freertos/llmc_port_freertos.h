/*
 * The FreeRTOS half of an llmc port, for boards with FreeRTOS and lwIP's
 * socket API. Link port/freertos/llmc_port_freertos.c with
 * port/lwip/llmc_port_lwip.c (the network half: sockets, poll, resolve).
 *
 * This half gives llmc_port_now_ms (the tick count with the kernel's own
 * count of its wraps, so no wrap is lost however long llmc goes unread),
 * llmc_port_lock / llmc_port_unlock (a statically allocated recursive
 * mutex), llmc_port_wake (hands over to llmc_port_lwip_wake: a flag that the
 * polling task sees within one wake slice), llmc_port_log,
 * llmc_port_random, and llmc_port_lwip_min_wait_ms (one tick, the shortest
 * wait of lwIP's FreeRTOS sys_arch, so that port/lwip never spins on waits
 * that sys_arch rounds down to none).
 *
 * FreeRTOS has no random source and no console of its own, so the
 * application supplies both:
 *   int llmc_port_freertos_random(void *buf, size_t len);
 *       Fill buf from the MCU's hardware RNG; 0 on success. It seeds TLS:
 *       a counter or rand() is not acceptable.
 *   LLMC_FREERTOS_LOG(level, msg, len)
 *       Optional macro (define it when compiling this file); by default
 *       a line goes to printf() as "llmc E: message". Only used when
 *       LLMC_LOG_LEVEL > 0 (it is 0 by default).
 *
 * FreeRTOSConfig.h needs configSUPPORT_STATIC_ALLOCATION 1 and
 * configUSE_RECURSIVE_MUTEXES 1. Call llmc_port_lock / llmc (any llmc
 * function) after the scheduler has started.
 *
 * Seen when linking with lwIP's own FreeRTOS port (lwIP 2.2.1,
 * contrib/ports/freertos/sys_arch.c, on FreeRTOS V11): that sys_arch needs
 * configENABLE_BACKWARD_COMPATIBILITY 1 (it uses portTICK_RATE_MS), and
 * port/lwip reads errno, which with picolibc is per task only with
 * configUSE_PICOLIBC_TLS 1 (newlib: configUSE_NEWLIB_REENTRANT 1).
 */
#ifndef LLMC_PORT_FREERTOS_H
#define LLMC_PORT_FREERTOS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Supplied by the application: hardware random bytes, 0 on success. */
int llmc_port_freertos_random(void *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* LLMC_PORT_FREERTOS_H */
