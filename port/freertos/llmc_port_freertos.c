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

/* The tick count wraps (after 49 days at 1 kHz with 32-bit ticks, after
 * 65 s with configUSE_16_BIT_TICKS): extend it to 64 bits. Correct as long
 * as it is read at least once per wrap period, which llmc_poll does. */
static uint64_t g_ticks;
static TickType_t g_last_tick;

uint64_t llmc_port_now_ms(void)
{
    uint64_t ticks;
    ENTER_CRITICAL();
    {
        TickType_t now = xTaskGetTickCount();
        g_ticks += (TickType_t)(now - g_last_tick);
        g_last_tick = now;
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

int llmc_port_random(void *buf, size_t len)
{
    return llmc_port_freertos_random(buf, len) == 0 ? 0 : -1;
}

void llmc_port_log(int level, const char *msg, size_t len)
{
    LLMC_FREERTOS_LOG(level, msg, len);
}
