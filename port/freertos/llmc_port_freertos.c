/*
 * llmc port, OS half, for FreeRTOS (see llmc_port_freertos.h): ticks,
 * a recursive mutex, the wake hand-over to the lwIP half, logging and the
 * application's RNG. The network half is port/lwip/llmc_port_lwip.c.
 */
#include "llmc/llmc_port.h"
#include "llmc_port_freertos.h"
#include "llmc_port_lwip.h"

#ifdef ESP_PLATFORM
/* ESP-IDF exports its kernel headers under freertos/ only */
#include "freertos/FreeRTOS.h"
#include "freertos/semphr.h"
#include "freertos/task.h"
#else
#include "FreeRTOS.h"
#include "semphr.h"
#include "task.h"
#endif

#if !configSUPPORT_STATIC_ALLOCATION || !configUSE_RECURSIVE_MUTEXES
#error "llmc's FreeRTOS port needs configSUPPORT_STATIC_ALLOCATION and configUSE_RECURSIVE_MUTEXES"
#endif

/* ESP-IDF's kernel takes a spinlock in taskENTER_CRITICAL(), on one core
 * as on two; upstream FreeRTOS takes no argument. */
#ifdef ESP_PLATFORM
static portMUX_TYPE g_mux = portMUX_INITIALIZER_UNLOCKED;
#define ENTER_CRITICAL() taskENTER_CRITICAL(&g_mux)
#define EXIT_CRITICAL() taskEXIT_CRITICAL(&g_mux)
#else
#define ENTER_CRITICAL() taskENTER_CRITICAL()
#define EXIT_CRITICAL() taskEXIT_CRITICAL()
#endif

#ifndef LLMC_FREERTOS_LOG
#include <stdio.h>
#define LLMC_FREERTOS_LOG(level, msg, len)                                   \
    printf("llmc %c: %.*s\n", "?EWID"[(level) >= 1 && (level) <= 4 ? (level) : 0], \
           (int)(len), (msg))
#endif

/* ---- time --------------------------------------------------------------- */

/* The tick count wraps: after 49.7 days at 1 kHz with 32-bit ticks, after
 * 65.5 s with 16-bit ticks. Counting the wraps here, from the differences
 * between two reads, would lose one whenever llmc goes unread for longer
 * than that, and it does: an application polls only while requests run
 * (llmc.h), and an idle llmc_poll(c, -1) waits without reading the clock.
 * The clock would then run behind: an expired IAM token would still look
 * valid, a provider's finished cooldown would still run. The kernel counts
 * the wraps itself, in the tick interrupt; vTaskSetTimeOutState() reads
 * that count together with the tick count. The pair is a count that wraps
 * only after 2^(bits of BaseType_t + bits of TickType_t) ticks, 2^64 with
 * 32-bit BaseType_t and TickType_t; its differences are summed in 64 bits,
 * so a port with a narrower BaseType_t still needs just one read per that
 * longer period. Ticks are counted from tick count 0, as before. */
#define TICK_BITS (8u * (unsigned)sizeof(TickType_t))
#define PAIR_BITS (TICK_BITS + 8u * (unsigned)sizeof(BaseType_t))

static uint64_t g_ticks;
static uint64_t g_last_pair;

uint64_t llmc_port_now_ms(void)
{
    uint64_t ticks;
    ENTER_CRITICAL();
    {
        TimeOut_t t;
        uint64_t pair, mask;
        vTaskSetTimeOutState(&t);
        pair = (uint64_t)t.xTimeOnEntering;
        if (TICK_BITS < 64u)
            pair += (uint64_t)(UBaseType_t)t.xOverflowCount
                    << (TICK_BITS & 63u);
        mask = PAIR_BITS >= 64u ? UINT64_MAX
                                : ((uint64_t)1 << (PAIR_BITS & 63u)) - 1u;
        g_ticks += (pair - g_last_pair) & mask;
        g_last_pair = pair;
        ticks = g_ticks;
    }
    EXIT_CRITICAL();
    return ticks * 1000u / (uint64_t)configTICK_RATE_HZ;
}

/* ---- lock ----------------------------------------------------------------- */

static StaticSemaphore_t g_lock_buf;
static SemaphoreHandle_t g_lock;

static SemaphoreHandle_t lock_handle(void)
{
    /* created on first use; the critical section makes the creation
     * happen once even when two tasks get here together */
    if (g_lock == NULL) {
        ENTER_CRITICAL();
        if (g_lock == NULL)
            g_lock = xSemaphoreCreateRecursiveMutexStatic(&g_lock_buf);
        EXIT_CRITICAL();
    }
    return g_lock;
}

void llmc_port_lock(void)
{
    (void)xSemaphoreTakeRecursive(lock_handle(), portMAX_DELAY);
}

void llmc_port_unlock(void)
{
    (void)xSemaphoreGiveRecursive(lock_handle());
}

/* ---- wake, random, log ---------------------------------------------------- */

void llmc_port_wake(void)
{
    llmc_port_lwip_wake();
}

uint32_t llmc_port_lwip_min_wait_ms(void)
{
#ifdef ESP_PLATFORM
    return 1; /* ESP-IDF's sys_arch rounds a wait up to whole ticks */
#else
    /* lwIP's FreeRTOS sys_arch turns ms into ticks by dividing by
     * portTICK_PERIOD_MS, rounding down: that many ms is one tick */
    uint32_t ms = (uint32_t)portTICK_PERIOD_MS;
    return ms > 0 ? ms : 1;
#endif
}

int llmc_port_random(void *buf, size_t len)
{
    return llmc_port_freertos_random(buf, len) == 0 ? 0 : -1;
}

void llmc_port_log(int level, const char *msg, size_t len)
{
    LLMC_FREERTOS_LOG(level, msg, len);
}
