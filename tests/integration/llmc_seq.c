/*
 * Integration helper: N sequential requests on ONE client, through the
 * library API (llmc_chat). Prints each answer on its own line, then
 * "done N". Used to check keep-alive reuse (the server counts connections)
 * and TLS over a reused connection.
 *   llmc-seq BASE_URL N MODEL [CA_FILE | pem:CA_FILE]
 * "pem:" loads the file into memory and passes it as ca_pem instead.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmc/llmc_client.h"

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
