/*
 * Integration helper: N sequential requests on ONE client, through the
 * library API (llmc_chat). Prints each answer on its own line, then
 * "done N". Used to check keep-alive reuse (the server counts connections)
 * and TLS over a reused connection.
 *   llmc-seq BASE_URL N MODEL [CA_FILE | pem:CA_FILE]
 * LLMC_SEQ_GAP_MS in the environment: sleep that long between requests,
 * with no llmc_poll() (as an application busy between calls). A request
 * that took more than one attempt says so on stderr.
 * "pem:" loads the file into memory and passes it as ca_pem instead;
 * "hook:" gives no CA but a tls_setup hook that puts the file's CA chain
 * in the mbedTLS config (as esp_crt_bundle_attach brings a bundle);
 * "hook-none" gives a hook that asks for no verification at all.
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llmc/llmc_client.h"

#if LLMC_TLS
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

static mbedtls_x509_crt g_hook_ca;
static const char *g_hook_file;

static int hook_ca(void *conf)
{
    mbedtls_x509_crt_init(&g_hook_ca);
    if (mbedtls_x509_crt_parse_file(&g_hook_ca, g_hook_file) != 0)
        return -1;
    mbedtls_ssl_conf_ca_chain(conf, &g_hook_ca, NULL);
    return 0;
}

static int hook_none(void *conf)
{
    mbedtls_ssl_conf_authmode(conf, MBEDTLS_SSL_VERIFY_NONE);
    return 0;
}
#endif

static llmc_client_t g_client;
static char g_pem[1 << 16];

static void on_delta(void *user, const char *text, size_t len)
{
    (void)user;
    fwrite(text, 1, len, stdout);
}

int main(int argc, char **argv)
{
    llmc_provider_t prov;
    llmc_config_t cfg;
    llmc_request_t req;
    llmc_message_t msg;
    llmc_callbacks_t cb;
    llmc_result_t res;
    char prompt[64];
    int i, n, rc;
    const char *gap_env = getenv("LLMC_SEQ_GAP_MS");
    long gap_ms = gap_env != NULL ? atol(gap_env) : 0;

    if (argc < 4) {
        fputs("usage: llmc-seq BASE_URL N MODEL [CA_FILE]\n", stderr);
        return 2;
    }
    n = atoi(argv[2]);
    memset(&prov, 0, sizeof(prov));
    prov.name = "local";
    prov.base_url = argv[1];
    memset(&cfg, 0, sizeof(cfg));
    cfg.providers = &prov;
    cfg.n_providers = 1;
    llmc_policy_default(&cfg.policy);
    cfg.ca_file = argc > 4 ? argv[4] : NULL;
#if LLMC_TLS
    if (cfg.ca_file != NULL && strncmp(cfg.ca_file, "hook", 4) == 0) {
        g_hook_file = cfg.ca_file + 5; /* after "hook:" */
        cfg.tls_setup = strcmp(cfg.ca_file, "hook-none") == 0 ? hook_none
                                                             : hook_ca;
        cfg.ca_file = NULL;
    }
#endif
    if (cfg.ca_file != NULL && strncmp(cfg.ca_file, "pem:", 4) == 0) {
        FILE *f = fopen(cfg.ca_file + 4, "rb");
        size_t got = f ? fread(g_pem, 1, sizeof(g_pem) - 1, f) : 0;
        if (f)
            fclose(f);
        g_pem[got] = 0;
        cfg.ca_pem = g_pem;
        cfg.ca_pem_len = got + 1; /* mbedTLS counts the NUL of a PEM */
        cfg.ca_file = NULL;
    }
    rc = llmc_client_init(&g_client, &cfg);
    if (rc != LLMC_OK) {
        fprintf(stderr, "init: %s\n", llmc_strerror(rc));
        return 1;
    }
    memset(&cb, 0, sizeof(cb));
    cb.on_delta = on_delta;
    for (i = 0; i < n; i++) {
        if (i > 0 && gap_ms > 0) {
            struct timespec ts = {gap_ms / 1000, gap_ms % 1000 * 1000000L};
            nanosleep(&ts, NULL);
        }
        llmc_request_init(&req);
        snprintf(prompt, sizeof(prompt), "answer %d", i);
        msg.role = "user";
        msg.content = prompt;
        msg.content_len = 0;
        req.model = argv[3];
        req.messages = &msg;
        req.n_messages = 1;
        rc = llmc_chat(&g_client, &req, &cb, NULL, &res);
        putchar('\n');
        if (res.n_attempts > 1)
            fprintf(stderr, "request %d: %u attempts\n", i,
                    (unsigned)res.n_attempts);
        if (rc != LLMC_OK) {
            fprintf(stderr, "request %d: %s: %s\n", i, llmc_strerror(rc),
                    res.message);
            llmc_client_shutdown(&g_client);
            return 1;
        }
    }
    printf("done %d\n", n);
    llmc_client_shutdown(&g_client);
    return 0;
}
