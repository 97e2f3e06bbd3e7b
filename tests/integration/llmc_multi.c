/*
 * Integration helper: several requests on ONE client, with the providers and
 * policy of a JSON config file (examples/posix/llmc_tool_config.h), through
 * the library API (llmc_chat). For behaviours that span requests: cooldown,
 * IAM token reuse and refresh, shuffle statistics, the on_attempt callback.
 *
 *   llmc-multi [-i] CONFIG N [PROMPT]
 *
 * Each request sends PROMPT (default "answer I", I the request's index) and
 * prints one JSON line on stdout:
 *   {"i":0,"status":"ok","provider":"b","content":"...","partial":false,
 *    "message":"","elapsed_ms":12,"n_attempts":2,
 *    "called":["a","b"],                      names given to on_attempt
 *    "attempts":[{"provider":"a","kind":"connect error","http":0,
 *                 "message":"connection refused","ms":0}, ...],
 *    "format":"..."}                          llmc_result_format()
 * then, after the last request, "done N".
 *
 * -i (interactive): before each request read one line from stdin; its
 * space-separated words are provider names to ignore for that request. The
 * output is flushed after each request, so a test can act between requests
 * (revoke a token, wait). End of input ends the run early.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmc/llmc_client.h"
#include "../../examples/posix/llmc_tool_config.h"

#define MAX_CALLED 64
#define CONTENT_MAX 8192

static llmc_client_t g_client;
static llmc_tool_config_t g_cfg;

typedef struct {
    char content[CONTENT_MAX];
    size_t content_len;
    int called[MAX_CALLED];
    int n_called;
} run_t;

static void on_delta(void *user, const char *text, size_t len)
{
    run_t *r = user;
    if (len > sizeof(r->content) - r->content_len)
        len = sizeof(r->content) - r->content_len;
    memcpy(r->content + r->content_len, text, len);
    r->content_len += len;
}

static void on_attempt(void *user, int provider, const char *name)
{
    run_t *r = user;
    (void)name;
    if (r->n_called < MAX_CALLED)
        r->called[r->n_called++] = provider;
}

static const char *pname(int i)
{
    if (i < 0 || (size_t)i >= g_cfg.n_providers)
        return NULL;
    return g_cfg.providers[i].name;
}

static void print_result(int idx, const run_t *run, const llmc_result_t *res)
{
    static char report[8192];
    int i, n;

    printf("{\"i\":%d,\"status\":", idx);
    llmc_tool_json_cstr(stdout, llmc_strerror(res->status));
    fputs(",\"provider\":", stdout);
    llmc_tool_json_cstr(stdout, pname(res->provider));
    fputs(",\"content\":", stdout);
    llmc_tool_json_str(stdout, run->content, run->content_len);
    printf(",\"partial\":%s,\"message\":", res->partial ? "true" : "false");
    llmc_tool_json_cstr(stdout, res->message);
    printf(",\"http\":%u,\"elapsed_ms\":%u,\"n_attempts\":%u,\"called\":[",
           (unsigned)res->http_status, (unsigned)res->elapsed_ms,
           (unsigned)res->n_attempts);
    for (i = 0; i < run->n_called; i++) {
        if (i > 0)
            putchar(',');
        llmc_tool_json_cstr(stdout, pname(run->called[i]));
    }
    fputs("],\"attempts\":[", stdout);
    n = res->n_attempts < LLMC_MAX_ATTEMPTS ? res->n_attempts
                                            : LLMC_MAX_ATTEMPTS;
    for (i = 0; i < n; i++) {
        const llmc_attempt_t *a = &res->attempts[i];
        if (i > 0)
            putchar(',');
        fputs("{\"provider\":", stdout);
        llmc_tool_json_cstr(stdout, pname(a->provider));
        fputs(",\"kind\":", stdout);
        llmc_tool_json_cstr(stdout, llmc_strerror(a->status));
        printf(",\"http\":%u,\"message\":", (unsigned)a->http_status);
        llmc_tool_json_cstr(stdout, a->message);
        printf(",\"ms\":%u}", (unsigned)a->elapsed_ms);
    }
    fputs("],\"format\":", stdout);
    llmc_result_format(res, g_cfg.providers, g_cfg.n_providers, report,
                       sizeof(report));
    llmc_tool_json_cstr(stdout, report);
    fputs("}\n", stdout);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    static char line[1024];
    static run_t run;
    const char *ignored[LLMC_MAX_PROVIDERS * 2];
    llmc_config_t cc;
    llmc_request_t req;
    llmc_message_t msg;
    llmc_callbacks_t cb;
    llmc_result_t res;
    char prompt[64];
    int interactive = 0, argi = 1, i, n, rc;

    if (argi < argc && strcmp(argv[argi], "-i") == 0) {
        interactive = 1;
        argi++;
    }
    if (argc - argi < 2) {
        fputs("usage: llmc-multi [-i] CONFIG N [PROMPT]\n", stderr);
        return 2;
    }
    if (llmc_tool_config_load(&g_cfg, argv[argi]) != 0) {
        fprintf(stderr, "llmc-multi: config: %s\n", g_cfg.err);
        return 2;
    }
    n = atoi(argv[argi + 1]);
    memset(&cc, 0, sizeof(cc));
    cc.providers = g_cfg.providers;
    cc.n_providers = g_cfg.n_providers;
    cc.policy = g_cfg.policy;
    cc.max_inflight = (uint8_t)g_cfg.max_inflight;
    cc.ca_file = g_cfg.ca_file;
    rc = llmc_client_init(&g_client, &cc);
    if (rc != LLMC_OK) {
        fprintf(stderr, "llmc-multi: init: %s\n", llmc_strerror(rc));
        return 2;
    }
    memset(&cb, 0, sizeof(cb));
    cb.on_delta = on_delta;
    cb.on_attempt = on_attempt;
    for (i = 0; i < n; i++) {
        size_t n_ign = 0;
        llmc_request_init(&req);
        if (interactive) {
            char *w;
            if (fgets(line, sizeof(line), stdin) == NULL)
                break;
            for (w = strtok(line, " \t\r\n"); w != NULL;
                 w = strtok(NULL, " \t\r\n"))
                if (n_ign < sizeof(ignored) / sizeof(ignored[0]))
                    ignored[n_ign++] = w;
        }
        if (argc - argi > 2)
            snprintf(prompt, sizeof(prompt), "%s", argv[argi + 2]);
        else
            snprintf(prompt, sizeof(prompt), "answer %d", i);
        msg.role = "user";
        msg.content = prompt;
        msg.content_len = 0;
        req.model = "gpt-4o-mini";
        req.messages = &msg;
        req.n_messages = 1;
        req.ignored = ignored;
        req.n_ignored = n_ign;
        memset(&run, 0, sizeof(run));
        memset(&res, 0, sizeof(res));
        (void)llmc_chat(&g_client, &req, &cb, &run, &res);
        print_result(i, &run, &res);
    }
    printf("done %d\n", i);
    fflush(stdout);
    llmc_client_shutdown(&g_client);
    return 0;
}
