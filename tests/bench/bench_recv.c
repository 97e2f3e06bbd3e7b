/*
 * One streamed request through the whole client (socket reads, HTTP,
 * chunked, SSE, JSON, unescape, callback) against a local replay server.
 * Prints the content bytes received and an FNV-1a hash of them, so the
 * benchmark checks the answer before its cost counts.
 *   bench-recv BASE_URL
 */
#include <stdio.h>
#include <string.h>

#include "llmc/llmc_client.h"

static llmc_client_t g_client;
static unsigned long long g_bytes;
static unsigned int g_hash = 2166136261u;

static void on_delta(void *user, const char *text, size_t len)
{
    size_t i;
    (void)user;
    g_bytes += len;
    for (i = 0; i < len; i++)
        g_hash = (g_hash ^ (unsigned char)text[i]) * 16777619u;
}

int main(int argc, char **argv)
{
    llmc_provider_t prov;
    llmc_config_t cfg;
    llmc_request_t req;
    llmc_message_t msg = {"user", "benchmark", 0};
    llmc_callbacks_t cb;
    int rc;

    if (argc < 2)
        return 2;
    memset(&prov, 0, sizeof(prov));
    prov.name = "replay";
    prov.base_url = argv[1];
    memset(&cfg, 0, sizeof(cfg));
    cfg.providers = &prov;
    cfg.n_providers = 1;
    llmc_policy_default(&cfg.policy);
    if (llmc_client_init(&g_client, &cfg) != LLMC_OK)
        return 1;
    llmc_request_init(&req);
    req.model = "bench";
    req.messages = &msg;
    req.n_messages = 1;
    memset(&cb, 0, sizeof(cb));
    cb.on_delta = on_delta;
    rc = llmc_chat(&g_client, &req, &cb, NULL, NULL);
    llmc_client_shutdown(&g_client);
    printf("%llu %08x\n", g_bytes, g_hash);
    return rc == LLMC_OK ? 0 : 1;
}
