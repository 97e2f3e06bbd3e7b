/*
 * llmc port, OS half, for ESP-IDF (4.4, 5.x and 6.0): esp_timer for time,
 * esp_fill_random for random bytes, ESP_LOG for logging, a recursive
 * _lock_t of ESP-IDF's libc layer (statically initialised, safe to take
 * from any task; <sys/lock.h> with newlib and with 6.0's picolibc alike) for
 * llmc_port_lock. The network half is port/lwip/llmc_port_lwip.c on
 * ESP-IDF's lwIP; llmc_port_wake hands over to it.
 *
 * esp_fill_random gives true random numbers while Wi-Fi or Bluetooth is
 * running (or the bootloader's entropy source is enabled); start Wi-Fi
 * before the first https request, as examples/esp32 does.
 */
#include "llmc/llmc_port.h"
#include "llmc_port_lwip.h"

#include <sys/lock.h>

#include "esp_log.h"
#include "esp_timer.h"
#if __has_include("esp_random.h")
#include "esp_random.h" /* ESP-IDF 5 */
#else
#include "esp_system.h" /* ESP-IDF 4.4 */
#endif

static const char *const TAG = "llmc";

static _lock_t g_lock; /* 0: initialised on first use by ESP-IDF */

uint64_t llmc_port_now_ms(void)
{
    return (uint64_t)(esp_timer_get_time() / 1000);
}

int llmc_port_random(void *buf, size_t len)
{
    esp_fill_random(buf, len);
    return 0;
}

void llmc_port_log(int level, const char *msg, size_t len)
{
    switch (level) {
    case 1:
        ESP_LOGE(TAG, "%.*s", (int)len, msg);
        break;
    case 2:
        ESP_LOGW(TAG, "%.*s", (int)len, msg);
        break;
    case 3:
        ESP_LOGI(TAG, "%.*s", (int)len, msg);
        break;
    default:
        ESP_LOGD(TAG, "%.*s", (int)len, msg);
        break;
    }
}

void llmc_port_lock(void)
{
    _lock_acquire_recursive(&g_lock);
}

void llmc_port_unlock(void)
{
    _lock_release_recursive(&g_lock);
}

void llmc_port_wake(void)
{
    llmc_port_lwip_wake();
}

uint32_t llmc_port_lwip_min_wait_ms(void)
{
    return 1; /* ESP-IDF's sys_arch rounds a wait up to whole ticks */
}
