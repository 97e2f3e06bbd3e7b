/*
 * llmc-chat: ask one question, stream the answer to stdout as it arrives.
 * stdout carries the answer's bytes and nothing else; status and errors go
 * to stderr. Exit status: 0 answered (and written), 1 the request failed or
 * stdout could not be written, 2 usage error.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmc/llmc_client.h"
#include "llmc_json.h" /* llmc_json_valid */
#include "llmc_tool_config.h"

static llmc_client_t g_client;
static volatile sig_atomic_t g_stop;
static int g_verbose;

static void usage(FILE *f)
{
    fputs("usage: llmc-chat [-c providers.json] [--base-url URL] "
          "[--api-key KEY]\n"
          "                 [-m MODEL] [--max-tokens N] [--temperature T] "
          "[--no-stream]\n"
          "                 [--system TEXT] [--extra JSON] [--ca-file PATH]\n"
          "                 [--ignore NAME]... [--shuffle] [--max-retries N]\n"
          "                 [--single-provider-retry] [-v] PROMPT... | -\n"
          "PROMPT words are joined with spaces; - alone reads the prompt "
          "from stdin.\n"
          "Without -c, --base-url and --api-key default to OPENAI_BASE_URL "
          "and OPENAI_API_KEY;\nwith -c, they replace the first provider's.\n"
          "Exit status: 0 answered, 1 the request failed (or stdout could "
          "not be\nwritten), 2 usage or config error.\n",
          f);
}

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
    llmc_port_wake();
}

static llmc_handle_t g_handle;
static int g_write_errno; /* stdout failed: the answer is not delivered */

static void on_delta(void *user, const char *text, size_t len)
{
    (void)user;
    if (g_write_errno != 0)
        return;
    errno = 0;
    if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0) {
        g_write_errno = errno != 0 ? errno : EIO;
        llmc_cancel(&g_client, g_handle); /* nobody reads the rest */
    }
}

static volatile int g_done;

static void on_done(void *user, const llmc_result_t *r)
{
    *(llmc_result_t *)user = *r;
    g_done = 1;
}

static void on_attempt(void *user, int provider, const char *name)
{
    (void)user;
    if (g_verbose)
        fprintf(stderr, "llmc-chat: trying %s (#%d)\n", name, provider);
}

int main(int argc, char **argv)
{
    static llmc_tool_config_t cfg;
    static const char *ignored[LLMC_MAX_PROVIDERS * 4];
    static char prompt[1 << 20];
    static char report[4096];
    const char *config = NULL, *base_url = NULL, *api_key = NULL;
    const char *model = NULL, *system_text = NULL, *ca_file = NULL;
    const char *extra = NULL;
    long max_tokens = 0, max_retries = -1;
    float temperature = -1.0f;
    bool no_stream = false, shuffle = false, single = false;
    size_t n_ignored = 0, plen = 0;
    llmc_message_t msgs[2];
    llmc_request_t req;
    llmc_callbacks_t cb;
    llmc_config_t cc;
    llmc_result_t res;
    llmc_handle_t h;
    int i, rc, done_status = 1;

    llmc_tool_std_fds(); /* before any file or socket is opened */

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_ARG()                                                        \
    do {                                                                  \
        if (next == NULL) {                                               \
            fprintf(stderr, "llmc-chat: %s needs a value\n", a);          \
            return 2;                                                     \
        }                                                                 \
        i++;                                                              \
    } while (0)
        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            NEED_ARG(); config = next;
        } else if (strcmp(a, "--base-url") == 0) {
            NEED_ARG(); base_url = next;
        } else if (strcmp(a, "--api-key") == 0) {
            NEED_ARG(); api_key = next;
        } else if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) {
            NEED_ARG(); model = next;
        } else if (strcmp(a, "--system") == 0) {
            NEED_ARG(); system_text = next;
        } else if (strcmp(a, "--extra") == 0) {
            NEED_ARG();
            if (llmc_json_valid(next, strlen(next)) != LLMC_OK) {
                fputs("llmc-chat: --extra needs one JSON object, e.g. "
                      "'{\"seed\":7}'\n", stderr);
                return 2;
            }
            extra = next;
        } else if (strcmp(a, "--ca-file") == 0) {
            NEED_ARG(); ca_file = next;
        } else if (strcmp(a, "--max-tokens") == 0) {
            NEED_ARG();
            if (llmc_tool_arg_num(next, 1, 1000000000, &max_tokens) != 0) {
                fputs("llmc-chat: --max-tokens needs a positive number\n", stderr);
                return 2;
            }
        } else if (strcmp(a, "--temperature") == 0) {
            char *end;
            NEED_ARG();
            temperature = strtof(next, &end);
            /* "" is no number, and NaN is in no range: neither may pass
             * as 0 or as "not sent" */
            if (end == next || *end != '\0' ||
                !(temperature >= 0.0f && temperature <= 2.0f)) {
                fputs("llmc-chat: --temperature needs 0..2\n", stderr);
                return 2;
            }
        } else if (strcmp(a, "--max-retries") == 0) {
            NEED_ARG();
            if (llmc_tool_arg_num(next, 0, 255, &max_retries) != 0) {
                fputs("llmc-chat: --max-retries needs 0..255\n", stderr);
                return 2;
            }
        } else if (strcmp(a, "--ignore") == 0) {
            NEED_ARG();
            if (n_ignored < sizeof(ignored) / sizeof(ignored[0]))
                ignored[n_ignored++] = next;
        } else if (strcmp(a, "--no-stream") == 0) {
            no_stream = true;
        } else if (strcmp(a, "--shuffle") == 0) {
            shuffle = true;
        } else if (strcmp(a, "--single-provider-retry") == 0) {
            single = true;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            g_verbose = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            return llmc_tool_version("llmc-chat");
        } else if (strcmp(a, "--") == 0) {
            i++;
            break;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "llmc-chat: unknown option %s\n", a);
            usage(stderr);
            return 2;
        } else {
            break;
        }
    }
    if (i == argc - 1 && strcmp(argv[i], "-") == 0) {
        /* the prompt is stdin, byte for byte (a trailing newline too) */
        size_t n;
        while ((n = fread(prompt + plen, 1, sizeof(prompt) - plen, stdin)) >
               0)
            plen += n;
        if (ferror(stdin)) {
            fprintf(stderr, "llmc-chat: stdin: %s\n", strerror(errno));
            return 2;
        }
        if (plen == sizeof(prompt) && fgetc(stdin) != EOF) {
            fputs("llmc-chat: prompt too long (1 MiB at most)\n", stderr);
            return 2;
        }
        if (plen == 0) {
            fputs("llmc-chat: the prompt on stdin is empty\n", stderr);
            return 2;
        }
        i = argc;
    }
    for (; i < argc; i++) {
        size_t n = strlen(argv[i]);
        if (plen + n + 2 > sizeof(prompt)) {
            fputs("llmc-chat: prompt too long (1 MiB at most)\n", stderr);
            return 2;
        }
        if (plen > 0)
            prompt[plen++] = ' ';
        memcpy(prompt + plen, argv[i], n);
        plen += n;
    }
    if (plen == 0) {
        usage(stderr);
        return 2;
    }
    if (!llmc_tool_utf8_ok("llmc-chat", "the prompt", prompt, plen) ||
        (system_text != NULL &&
         !llmc_tool_utf8_ok("llmc-chat", "--system", system_text,
                            strlen(system_text))) ||
        (model != NULL &&
         !llmc_tool_utf8_ok("llmc-chat", "-m", model, strlen(model))) ||
        (extra != NULL &&
         !llmc_tool_utf8_ok("llmc-chat", "--extra", extra, strlen(extra))))
        return 2;

    if (config != NULL) {
        if (llmc_tool_config_load(&cfg, config) != 0) {
            fprintf(stderr, "llmc-chat: config: %s\n", cfg.err);
            return 2;
        }
    } else {
        llmc_policy_default(&cfg.policy);
        if (base_url == NULL)
            base_url = getenv("OPENAI_BASE_URL");
        if (api_key == NULL)
            api_key = getenv("OPENAI_API_KEY");
        if (base_url == NULL) {
            fputs("llmc-chat: no provider: give -c, --base-url or "
                  "OPENAI_BASE_URL\n", stderr);
            return 2;
        }
        cfg.providers[0].name = "default";
        cfg.providers[0].base_url = base_url;
        if (api_key != NULL && api_key[0] != '\0') {
            cfg.providers[0].auth = LLMC_AUTH_BEARER;
            cfg.providers[0].api_key = api_key;
        }
        cfg.n_providers = 1;
    }
    for (i = 0; i < (int)cfg.n_providers; i++) {
        if (no_stream)
            cfg.providers[i].no_stream = true;
    }
    /* with -c, --base-url and --api-key stand for the first provider's */
    if (config != NULL && base_url != NULL)
        cfg.providers[0].base_url = base_url;
    if (config != NULL && api_key != NULL) {
        /* an empty one: no key, as without -c */
        cfg.providers[0].auth =
            api_key[0] != '\0' ? LLMC_AUTH_BEARER : LLMC_AUTH_NONE;
        cfg.providers[0].api_key = api_key[0] != '\0' ? api_key : NULL;
    }
    if (shuffle)
        cfg.policy.shuffle = true;
    if (single)
        cfg.policy.single_provider_retry = true;
    if (max_retries >= 0)
        cfg.policy.max_retries = (uint8_t)max_retries;

    memset(&cc, 0, sizeof(cc));
    cc.providers = cfg.providers;
    cc.n_providers = cfg.n_providers;
    cc.policy = cfg.policy;
    cc.max_inflight = (uint8_t)cfg.max_inflight;
    cc.ca_file = ca_file != NULL ? ca_file : cfg.ca_file;
    rc = llmc_client_init(&g_client, &cc);
    if (rc != LLMC_OK) {
        fprintf(stderr, "llmc-chat: cannot start the client: %s%s\n",
                llmc_strerror(rc), llmc_tool_init_hint(&cc, rc));
        return 2;
    }

    llmc_request_init(&req);
    i = 0;
    if (system_text != NULL) {
        msgs[i].role = "system";
        msgs[i].content = system_text;
        msgs[i].content_len = strlen(system_text);
        i++;
    }
    msgs[i].role = "user";
    msgs[i].content = prompt;
    msgs[i].content_len = plen;
    i++;
    req.messages = msgs;
    req.n_messages = (size_t)i;
    req.model = model != NULL ? model : "gpt-4o-mini";
    req.max_tokens = (int32_t)max_tokens;
    req.temperature = temperature;
    req.ignored = ignored;
    req.n_ignored = n_ignored;
    req.extra_json = extra;

    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    /* a reader that has gone (llmc-chat ... | head -c 10) is a write
     * error, reported and exit 1, not a silent death by SIGPIPE */
    signal(SIGPIPE, SIG_IGN);
    memset(&cb, 0, sizeof(cb));
    cb.on_delta = on_delta;
    cb.on_attempt = on_attempt;
    memset(&res, 0, sizeof(res));
    cb.on_done = on_done;
    g_handle = h = llmc_submit(&g_client, &req, &cb, &res);
    if (h < 0) {
        fprintf(stderr, "llmc-chat: %s\n", llmc_strerror(h));
        llmc_client_shutdown(&g_client);
        return 1;
    }
    /* llmc_chat() is submit + poll; the loop is written out here so that
     * SIGINT/SIGTERM can cancel the request cleanly. */
    while (!g_done) {
        if (g_stop)
            llmc_cancel(&g_client, h);
        if (llmc_poll(&g_client, 1000) < 0)
            break;
    }
    if (g_verbose) {
        int k;
        if (res.content_bytes > 0)
            fputc('\n', stderr); /* the answer ends without one */
        for (k = 0; k < res.n_attempts && k < LLMC_MAX_ATTEMPTS; k++) {
            const llmc_attempt_t *a = &res.attempts[k];
            fprintf(stderr, "llmc-chat:   attempt %d: %s: %s%s%s (%u ms)\n",
                    k + 1, cfg.providers[a->provider].name,
                    llmc_strerror(a->status), a->message[0] ? ": " : "",
                    a->message, (unsigned)a->elapsed_ms);
        }
    }
    if (g_write_errno != 0) {
        fprintf(stderr, "llmc-chat: stdout: %s\n", strerror(g_write_errno));
    } else if (res.status == LLMC_OK) {
        fprintf(stderr, "llmc-chat: %s answered in %u ms (finish_reason %s",
                res.provider_name ? res.provider_name : "?",
                (unsigned)res.elapsed_ms,
                res.finish_reason[0] ? res.finish_reason : "none");
        if (res.usage.present)
            fprintf(stderr, ", tokens %d+%d=%d", (int)res.usage.prompt_tokens,
                    (int)res.usage.completion_tokens,
                    (int)res.usage.total_tokens);
        fputs(")\n", stderr);
        done_status = 0;
    } else {
        fprintf(stderr, "%sllmc-chat: %s: %s%s\n",
                res.content_bytes > 0 && !g_verbose ? "\n" : "",
                llmc_strerror(res.status),
                res.message, res.partial ? " (after partial content)" : "");
        if (res.n_attempts > 1 || g_verbose) {
            llmc_result_format(&res, cfg.providers, cfg.n_providers, report,
                               sizeof(report));
            fprintf(stderr, "%s\n", report);
        }
    }
    llmc_client_shutdown(&g_client);
    return done_status;
}
