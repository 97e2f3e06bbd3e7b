/*
 * llmc on an ESP32: join Wi-Fi, then ask one question and stream the answer
 * to the console, failing over from provider 1 to provider 2 (retries and
 * backoff as in llmc_policy_default). Certificates come from ESP-IDF's
 * bundle through llmc's tls_setup hook, with their dates checked
 * (sdkconfig.defaults), so the clock is set by SNTP first. All settings are
 * in menuconfig, menu "llmc example".
 */
#include <stdio.h>
#include <string.h>

#include "esp_crt_bundle.h"
#include "esp_event.h"
#include "esp_log.h"
#include "esp_netif.h"
#include "esp_netif_sntp.h"
#include "esp_wifi.h"
#include "freertos/FreeRTOS.h"
#include "freertos/event_groups.h"
#include "nvs_flash.h"

#include "llmc/llmc.h"
#include "llmc/llmc_client.h"

#define WIFI_UP BIT0

static const char *const TAG = "llmc-example";
static EventGroupHandle_t s_wifi;

/* The client is ~20-30 KB (see `make size`): static, not on a stack. */
static llmc_client_t s_client;
static llmc_result_t s_result;
static char s_report[1024];

static const char *or_null(const char *s)
{
    return s[0] != '\0' ? s : NULL;
}

/* provider.model is filled in app_main (empty menuconfig string: none) */
static llmc_provider_t s_providers[2] = {
    {.name = CONFIG_EXAMPLE_P1_NAME,
     .base_url = CONFIG_EXAMPLE_P1_URL,
     .auth = sizeof(CONFIG_EXAMPLE_P1_KEY) > 1 ? LLMC_AUTH_BEARER
                                               : LLMC_AUTH_NONE,
     .api_key = CONFIG_EXAMPLE_P1_KEY},
    {.name = CONFIG_EXAMPLE_P2_NAME,
     .base_url = CONFIG_EXAMPLE_P2_URL,
     .auth = sizeof(CONFIG_EXAMPLE_P2_KEY) > 1 ? LLMC_AUTH_BEARER
                                               : LLMC_AUTH_NONE,
     .api_key = CONFIG_EXAMPLE_P2_KEY},
};

static void on_wifi(void *arg, esp_event_base_t base, int32_t id, void *data)
{
    (void)arg;
    (void)data;
    if (base == WIFI_EVENT &&
        (id == WIFI_EVENT_STA_START || id == WIFI_EVENT_STA_DISCONNECTED)) {
        xEventGroupClearBits(s_wifi, WIFI_UP);
        esp_wifi_connect();
    } else if (base == IP_EVENT && id == IP_EVENT_STA_GOT_IP) {
        xEventGroupSetBits(s_wifi, WIFI_UP);
    }
}

static void wifi_connect(void)
{
    wifi_init_config_t init = WIFI_INIT_CONFIG_DEFAULT();
    wifi_config_t wc;

    s_wifi = xEventGroupCreate();
    ESP_ERROR_CHECK(esp_netif_init());
    ESP_ERROR_CHECK(esp_event_loop_create_default());
    esp_netif_create_default_wifi_sta();
    ESP_ERROR_CHECK(esp_wifi_init(&init));
    ESP_ERROR_CHECK(esp_event_handler_instance_register(
        WIFI_EVENT, ESP_EVENT_ANY_ID, on_wifi, NULL, NULL));
    ESP_ERROR_CHECK(esp_event_handler_instance_register(
        IP_EVENT, IP_EVENT_STA_GOT_IP, on_wifi, NULL, NULL));
    memset(&wc, 0, sizeof(wc));
    strlcpy((char *)wc.sta.ssid, CONFIG_EXAMPLE_WIFI_SSID, sizeof(wc.sta.ssid));
    strlcpy((char *)wc.sta.password, CONFIG_EXAMPLE_WIFI_PASSWORD,
            sizeof(wc.sta.password));
    ESP_ERROR_CHECK(esp_wifi_set_mode(WIFI_MODE_STA));
    ESP_ERROR_CHECK(esp_wifi_set_config(WIFI_IF_STA, &wc));
    ESP_ERROR_CHECK(esp_wifi_start());
    ESP_LOGI(TAG, "joining %s", CONFIG_EXAMPLE_WIFI_SSID);
    xEventGroupWaitBits(s_wifi, WIFI_UP, pdFALSE, pdTRUE, portMAX_DELAY);
}

/* Certificates are checked against the clock (CONFIG_MBEDTLS_HAVE_TIME_DATE),
 * which starts in 1970: unset, every certificate is "not yet valid". */
static void clock_sync(void)
{
    esp_sntp_config_t sc =
        ESP_NETIF_SNTP_DEFAULT_CONFIG(CONFIG_EXAMPLE_SNTP_SERVER);
    ESP_ERROR_CHECK(esp_netif_sntp_init(&sc));
    if (esp_netif_sntp_sync_wait(pdMS_TO_TICKS(CONFIG_EXAMPLE_SNTP_WAIT_MS)) !=
        ESP_OK)
        ESP_LOGW(TAG, "clock not set by %s: certificates will not verify",
                 CONFIG_EXAMPLE_SNTP_SERVER);
}

static void on_delta(void *user, const char *text, size_t len)
{
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
}

static void on_attempt(void *user, int provider, const char *name)
{
    (void)user;
    ESP_LOGI(TAG, "trying provider %d: %s", provider, name);
}

void app_main(void)
{
    llmc_config_t cfg;
    llmc_request_t req;
    llmc_message_t msg = {.role = "user", .content = CONFIG_EXAMPLE_PROMPT};
    const llmc_callbacks_t cb = {.on_delta = on_delta,
                                 .on_attempt = on_attempt};
    esp_err_t err;
    int rc;

    err = nvs_flash_init();
    if (err == ESP_ERR_NVS_NO_FREE_PAGES ||
        err == ESP_ERR_NVS_NEW_VERSION_FOUND) {
        ESP_ERROR_CHECK(nvs_flash_erase());
        err = nvs_flash_init();
    }
    ESP_ERROR_CHECK(err);
    wifi_connect();
    clock_sync();

    s_providers[0].model = or_null(CONFIG_EXAMPLE_P1_MODEL);
    s_providers[1].model = or_null(CONFIG_EXAMPLE_P2_MODEL);

    memset(&cfg, 0, sizeof(cfg));
    cfg.providers = s_providers;
    cfg.n_providers = 2;
    llmc_policy_default(&cfg.policy);
    cfg.tls_setup = esp_crt_bundle_attach;
    rc = llmc_client_init(&s_client, &cfg);
    if (rc != LLMC_OK) {
        ESP_LOGE(TAG, "llmc_client_init: %s", llmc_strerror(rc));
        return;
    }

    llmc_request_init(&req);
    req.model = CONFIG_EXAMPLE_MODEL;
    req.messages = &msg;
    req.n_messages = 1;
    printf("> %s\n", CONFIG_EXAMPLE_PROMPT);
    rc = llmc_chat(&s_client, &req, &cb, NULL, &s_result);
    printf("\n");
    llmc_result_format(&s_result, s_providers, 2, s_report, sizeof(s_report));
    if (rc == LLMC_OK)
        ESP_LOGI(TAG, "%s (%u ms)", s_report, (unsigned)s_result.elapsed_ms);
    else
        ESP_LOGE(TAG, "%s", s_report);
    llmc_client_shutdown(&s_client);
}
