/*
 * Many streamed requests at once on one thread: submit N requests (one per
 * slot), poll until every one has ended, count the content events and bytes
 * and hash each request's content (FNV-1a), so the benchmark can check every
 * answer before its cost counts.
 *   bench-concurrent BASE_URL N
 * Prints one line:
 *   OK EVENTS BYTES HASH MISMATCHED SECONDS
 * OK: requests that ended with LLMC_OK; EVENTS: on_delta calls (one per
 * content event); BYTES: content bytes; HASH: FNV-1a of request 0's content;
 * MISMATCHED: requests whose byte count or hash differ from request 0's;
 * SECONDS: first submit to last on_done. Exit status 0 when every request
 * succeeded, 1 otherwise.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llmc/llmc_client.h"

#define MAX_REQ LLMC_SLOTS
#define RUN_LIMIT_MS 60000u /* the whole run; every request's deadline */

typedef struct {
    unsigned long long bytes, events;
    unsigned int hash;
    int status;
    int done;
} req_stat_t;

static llmc_client_t g_client;
static req_stat_t g_req[MAX_REQ];
static int g_left;

static void on_delta(void *user, const char *text, size_t len)
{
    req_stat_t *r = user;
    unsigned int h = r->hash;
    size_t i;
    r->events++;
    r->bytes += len;
    for (i = 0; i < len; i++)
        h = (h ^ (unsigned char)text[i]) * 16777619u;
    r->hash = h;
}

static void on_done(void *user, const llmc_result_t *res)
{
    req_stat_t *r = user;
    r->status = res->status;
    r->done = 1;
    g_left--;
    if (res->status != LLMC_OK)
        fprintf(stderr, "bench-concurrent: request %d: %s: %s\n",
                (int)(r - g_req), llmc_strerror(res->status), res->message);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    llmc_provider_t prov;
    llmc_config_t cfg;
    llmc_request_t req;
    llmc_message_t msg = {"user", "benchmark", 0};
    llmc_callbacks_t cb;
    unsigned long long events = 0, bytes = 0;
    int n, i, ok = 0, mismatched = 0;
    double t0, t1;

    if (argc < 3 || (n = atoi(argv[2])) < 1 || n > MAX_REQ) {
        fprintf(stderr, "usage: bench-concurrent BASE_URL N (1..%d)\n",
                MAX_REQ);
        return 2;
    }
    memset(&prov, 0, sizeof(prov));
    prov.name = "replay";
    prov.base_url = argv[1];
    memset(&cfg, 0, sizeof(cfg));
    cfg.providers = &prov;
    cfg.n_providers = 1;
    llmc_policy_default(&cfg.policy);
    cfg.policy.max_retries = 0; /* a failure must show, not be retried */
    cfg.policy.cooldown_after = 0;
    cfg.policy.deadline_ms = RUN_LIMIT_MS;
    if (llmc_client_init(&g_client, &cfg) != LLMC_OK) {
        fprintf(stderr, "bench-concurrent: client init failed\n");
        return 1;
    }
    llmc_request_init(&req);
    req.model = "bench";
    req.messages = &msg;
    req.n_messages = 1;
    memset(&cb, 0, sizeof(cb));
    cb.on_delta = on_delta;
    cb.on_done = on_done;

    t0 = now_s();
    for (i = 0; i < n; i++) {
        llmc_handle_t h;
        g_req[i].hash = 2166136261u;
        g_req[i].status = 1;
        h = llmc_submit(&g_client, &req, &cb, &g_req[i]);
        if (h < 0) {
            fprintf(stderr, "bench-concurrent: submit %d: %s\n", i,
                    llmc_strerror(h));
            return 1;
        }
        g_left++;
    }
    /* Bounded: every request has a deadline, and so has the loop. */
    while (g_left > 0 && now_s() - t0 < RUN_LIMIT_MS / 1000.0 + 5.0)
        llmc_poll(&g_client, 1000);
    t1 = now_s();
    llmc_client_shutdown(&g_client);

    for (i = 0; i < n; i++) {
        events += g_req[i].events;
        bytes += g_req[i].bytes;
        if (g_req[i].done && g_req[i].status == LLMC_OK)
            ok++;
        if (g_req[i].bytes != g_req[0].bytes ||
            g_req[i].hash != g_req[0].hash)
            mismatched++;
    }
    printf("%d %llu %llu %08x %d %.6f\n", ok, events, bytes, g_req[0].hash,
           mismatched, t1 - t0);
    return ok == n ? 0 : 1;
}
