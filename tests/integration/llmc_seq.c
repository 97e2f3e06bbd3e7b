/*
 * Integration helper: N sequential requests on ONE client, through the
 * library API (llmc_chat). Prints each answer on its own line, then
 * "done N". Used to check keep-alive reuse (the server counts connections)
 * and TLS over a reused connection.
 *   llmc-seq BASE_URL N MODEL [CA_FILE]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmc/llmc_client.h"

static llmc_client_t g_client;

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
