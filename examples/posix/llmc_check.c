/*
 * llmc-check: ask every working provider of a configuration the same
 * question at the same time, one request per provider, and print each
 * answer (or error) with its time as it finishes, then the total time:
 *
 *   openai: I am GPT-4o mini... 0.84 secs
 *   local: connect error: connection refused 0.00 secs
 *   slow: connection reset; partial answer: I am 1.20 secs
 *   Total: 1.20 secs
 *
 * Each request names every other provider in `ignored` and the policy's
 * single_provider_retry is set, so a request talks to its own provider only
 * (retries on it are still made, per the configuration's max_retries).
 *
 * --json prints one JSON document instead of the lines. --timeout bounds the
 * whole run: what is still running then is cancelled. SIGINT and SIGTERM
 * cancel every request the same way, so each provider still gets its line.
 *
 * Exit status: 0 at least one provider answered, 1 none did (or stdout
 * could not be written), 2 usage or configuration error.
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmc/llmc_client.h"
#include "llmc_tool_config.h"


#define DEFAULT_PROMPT "Hello, are you GPT 3.5?"
#define ANSWER_MAX (64 * 1024) /* kept bytes of one answer */

typedef struct {
    int provider;     /* index in the configuration */
    llmc_handle_t h;  /* > 0 once submitted */
    const char *ignored[LLMC_MAX_PROVIDERS];
    llmc_request_t req;
    char answer[ANSWER_MAX];
    size_t len;
    bool cut;         /* the answer was longer than ANSWER_MAX */
    bool done;
    int status;
    bool partial;
    char message[LLMC_MSG_LEN];
    double secs;
} probe_t;

static llmc_client_t g_client;
static llmc_tool_config_t g_cfg;
static probe_t g_probes[LLMC_MAX_PROVIDERS];
static volatile sig_atomic_t g_signal;
static const char *g_cancel_reason; /* why llmc-check cancelled */
static char g_reason_buf[64];
static uint64_t g_t0;
static int g_json;

static void usage(FILE *f)
{
    fputs("usage: llmc-check [-c providers.json] [--prompt TEXT] [--json]\n"
          "                  [--timeout SECONDS] [--ca-file PATH] "
          "[-m MODEL]\n"
          "Sends the prompt (default \"" DEFAULT_PROMPT "\") to every\n"
          "working provider at once and prints \"name: answer X.XX secs\" or\n"
          "\"name: kind: message X.XX secs\" as each finishes, then the "
          "total.\n"
          "Without -c, the one provider is OPENAI_BASE_URL with "
          "OPENAI_API_KEY.\n"
          "Exit status: 0 some provider answered, 1 none did (or stdout\n"
          "could not be written), 2 usage or config error.\n",
          f);
}

static void on_signal(int sig)
{
    g_signal = sig;
    llmc_port_wake();
}

static double secs_since(uint64_t t)
{
    uint64_t now = llmc_port_now_ms();
    return now > t ? (double)(now - t) / 1000.0 : 0.0;
}

static const char *pname(int i)
{
    const char *n = g_cfg.providers[i].name;
    return n != NULL ? n : "?";
}

static void on_delta(void *user, const char *text, size_t len)
{
    probe_t *p = user;
    size_t room = sizeof(p->answer) - p->len;
    if (len > room) {
        len = room;
        p->cut = true;
    }
    memcpy(p->answer + p->len, text, len);
    p->len += len;
}

static void print_line(const probe_t *p)
{
    printf("%s: ", pname(p->provider));
    if (p->status == LLMC_OK) {
        fwrite(p->answer, 1, p->len, stdout);
        if (p->cut)
            fputs("[...]", stdout);
    } else {
        fputs(llmc_strerror(p->status), stdout);
        if (p->message[0] != '\0' &&
            strcmp(p->message, llmc_strerror(p->status)) != 0)
            printf(": %s", p->message);
        if (p->partial) { /* what came before the error */
            fputs("; partial answer: ", stdout);
            fwrite(p->answer, 1, p->len, stdout);
            if (p->cut)
                fputs("[...]", stdout);
        }
    }
    printf(" %.2f secs\n", p->secs);
    (void)llmc_tool_flush(); /* the tool's last flush reports a failure */
}

static void on_done(void *user, const llmc_result_t *r)
{
    probe_t *p = user;
    p->done = true;
    p->status = r->status;
    p->partial = r->partial;
    p->secs = secs_since(g_t0);
    if (r->status == LLMC_ERR_CANCELLED && g_cancel_reason != NULL)
        snprintf(p->message, sizeof(p->message), "%s", g_cancel_reason);
    else
        snprintf(p->message, sizeof(p->message), "%s", r->message);
    if (!g_json)
        print_line(p);
}

/* {"providers":[{"name":..,"ok":..,"answer"|"error":..,"kind":..,
 *   "secs":..}, ...],"total_secs":..}, providers in configuration order. */
static void print_json(int n, double total)
{
    int i;
    fputs("{\"providers\":[", stdout);
    for (i = 0; i < n; i++) {
        const probe_t *p = &g_probes[i];
        if (i > 0)
            putchar(',');
        fputs("\n  {\"name\":", stdout);
        llmc_tool_json_cstr(stdout, pname(p->provider));
        printf(",\"ok\":%s,", p->status == LLMC_OK ? "true" : "false");
        if (p->status == LLMC_OK) {
            fputs("\"answer\":", stdout);
            llmc_tool_json_str(stdout, p->answer, p->len);
            if (p->cut)
                fputs(",\"truncated\":true", stdout);
        } else {
            fputs("\"error\":", stdout);
            llmc_tool_json_cstr(stdout, p->message[0] != '\0' ? p->message
                                            : llmc_strerror(p->status));
            if (p->partial) {
                fputs(",\"partial\":true,\"answer\":", stdout);
                llmc_tool_json_str(stdout, p->answer, p->len);
            }
        }
        fputs(",\"kind\":", stdout);
        llmc_tool_json_cstr(stdout, llmc_strerror(p->status));
        printf(",\"secs\":%.2f}", p->secs);
    }
    printf("\n],\"total_secs\":%.2f}\n", total);
    (void)llmc_tool_flush();
}

/* Cancel every request still running; on_done reports each with why. */
static void cancel_all(int n, const char *reason)
{
    int i;
    g_cancel_reason = reason;
    for (i = 0; i < n; i++)
        if (!g_probes[i].done && g_probes[i].h > 0)
            (void)llmc_cancel(&g_client, g_probes[i].h);
}

int main(int argc, char **argv)
{
    const char *config = NULL, *prompt = DEFAULT_PROMPT, *ca_file = NULL;
    const char *model = "gpt-4o-mini";
    double timeout = 0.0;
    llmc_message_t msg;
    llmc_callbacks_t cb;
    llmc_config_t cc;
    struct sigaction sa;
    uint64_t deadline = 0;
    int i, j, n = 0, rc, answered = 0, left;
    bool stopping = false;

    llmc_tool_std_fds(); /* before any file or socket is opened */

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0 ||
                     strcmp(a, "--prompt") == 0 ||
                     strcmp(a, "--timeout") == 0 ||
                     strcmp(a, "--ca-file") == 0 || strcmp(a, "-m") == 0 ||
                     strcmp(a, "--model") == 0;
        if (takes && next == NULL) {
            fprintf(stderr, "llmc-check: %s needs a value\n", a);
            return 2;
        }
        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            config = next;
        } else if (strcmp(a, "--prompt") == 0) {
            prompt = next;
        } else if (strcmp(a, "--ca-file") == 0) {
            ca_file = next;
        } else if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) {
            model = next;
        } else if (strcmp(a, "--timeout") == 0) {
            char *end;
            timeout = strtod(next, &end);
            if (*next == '\0' || *end != '\0' || !(timeout > 0.0) ||
                timeout > 86400.0) {
                fputs("llmc-check: --timeout needs seconds > 0\n", stderr);
                return 2;
            }
        } else if (strcmp(a, "--json") == 0) {
            g_json = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            return llmc_tool_version("llmc-check");
        } else {
            fprintf(stderr, "llmc-check: unknown argument %s\n", a);
            usage(stderr);
            return 2;
        }
        if (takes)
            i++;
    }
    if (prompt[0] == '\0') {
        fputs("llmc-check: --prompt needs a text\n", stderr);
        return 2;
    }
    if (!llmc_tool_utf8_ok("llmc-check", "--prompt", prompt, strlen(prompt)) ||
        !llmc_tool_utf8_ok("llmc-check", "-m", model, strlen(model)))
        return 2;

    if (config != NULL) {
        if (llmc_tool_config_load(&g_cfg, config) != 0) {
            fprintf(stderr, "llmc-check: config: %s\n", g_cfg.err);
            return 2;
        }
    } else {
        const char *url = getenv("OPENAI_BASE_URL");
        const char *key = getenv("OPENAI_API_KEY");
        if (url == NULL || url[0] == '\0') {
            fputs("llmc-check: no provider: give -c or OPENAI_BASE_URL\n",
                  stderr);
            return 2;
        }
        llmc_policy_default(&g_cfg.policy);
        g_cfg.providers[0].name = "default";
        g_cfg.providers[0].base_url = url;
        if (key != NULL && key[0] != '\0') {
            g_cfg.providers[0].auth = LLMC_AUTH_BEARER;
            g_cfg.providers[0].api_key = key;
        }
        g_cfg.n_providers = 1;
    }
    /* Each request to its own provider: no failover to the others. */
    g_cfg.policy.single_provider_retry = true;

    msg.role = "user";
    msg.content = prompt;
    msg.content_len = strlen(prompt);
    for (i = 0; i < (int)g_cfg.n_providers; i++) {
        probe_t *p;
        if (g_cfg.providers[i].disabled)
            continue;
        for (j = 0; j < n; j++)
            if (strcmp(pname(g_probes[j].provider), pname(i)) == 0) {
                fprintf(stderr, "llmc-check: two working providers are "
                                "named \"%s\"\n", pname(i));
                return 2;
            }
        p = &g_probes[n++];
        p->provider = i;
        p->status = LLMC_ERR_CANCELLED; /* until its on_done says */
        llmc_request_init(&p->req);
        p->req.model = model;
        p->req.messages = &msg;
        p->req.n_messages = 1;
        p->req.ignored = p->ignored;
        for (j = 0; j < (int)g_cfg.n_providers; j++)
            if (j != i && strcmp(pname(j), pname(i)) != 0)
                p->ignored[p->req.n_ignored++] = pname(j);
    }
    if (n == 0) {
        fputs("llmc-check: no working provider in the configuration\n",
              stderr);
        return 1;
    }

    memset(&cc, 0, sizeof(cc));
    cc.providers = g_cfg.providers;
    cc.n_providers = g_cfg.n_providers;
    cc.policy = g_cfg.policy;
    cc.max_inflight = (uint8_t)g_cfg.max_inflight; /* 0: every slot */
    cc.ca_file = ca_file != NULL ? ca_file : g_cfg.ca_file;
    rc = llmc_client_init(&g_client, &cc);
    if (rc != LLMC_OK) {
        fprintf(stderr, "llmc-check: cannot start the client: %s%s\n",
                llmc_strerror(rc), llmc_tool_init_hint(&cc, rc));
        return 2;
    }

    memset(&cb, 0, sizeof(cb));
    cb.on_delta = on_delta;
    cb.on_done = on_done;
    g_t0 = llmc_port_now_ms();
    if (timeout > 0.0)
        deadline = g_t0 + (uint64_t)(timeout * 1000.0 + 0.5);
    /* asyncio.gather: every request is submitted before any is polled */
    for (i = 0; i < n; i++) {
        probe_t *p = &g_probes[i];
        p->h = llmc_submit(&g_client, &p->req, &cb, p);
        if (p->h < 0) { /* the callbacks are not called for a refusal */
            p->status = p->h;
            snprintf(p->message, sizeof(p->message), "not submitted");
            p->done = true;
            if (!g_json)
                print_line(p);
        }
    }

    /* Installed after the first submit has set up the port's wake-up. */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a closed stdout: an error, exit 1 */

    for (;;) {
        uint64_t now = llmc_port_now_ms();
        int wait = 1000;
        for (left = 0, i = 0; i < n; i++)
            left += !g_probes[i].done;
        if (left == 0)
            break;
        if (!stopping && g_signal != 0) {
            snprintf(g_reason_buf, sizeof(g_reason_buf),
                     "interrupted by %s",
                     g_signal == SIGINT ? "SIGINT" : "SIGTERM");
            cancel_all(n, g_reason_buf);
            stopping = true;
        } else if (!stopping && deadline != 0 && now >= deadline) {
            snprintf(g_reason_buf, sizeof(g_reason_buf),
                     "still running after --timeout %g s", timeout);
            cancel_all(n, g_reason_buf);
            stopping = true;
        }
        if (!stopping && deadline != 0 && deadline - now < (uint64_t)wait)
            wait = (int)(deadline - now);
        if (llmc_poll(&g_client, wait) < 0)
            break;
    }
    /* Ends whatever is left (each gets its on_done) and closes every
     * connection. */
    if (g_cancel_reason == NULL)
        g_cancel_reason = "client shut down";
    llmc_client_shutdown(&g_client);

    for (i = 0; i < n; i++)
        answered += g_probes[i].status == LLMC_OK;
    if (g_json) {
        print_json(n, secs_since(g_t0));
    } else {
        printf("Total: %.2f secs\n", secs_since(g_t0));
        (void)llmc_tool_flush();
    }
    if (!llmc_tool_stdout_ok("llmc-check"))
        return 1; /* the answers did not get out */
    return answered > 0 ? 0 : 1;
}
