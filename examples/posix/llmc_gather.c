/*
 * llmc-gather: the library's counterpart of asyncio.gather(). Every prompt
 * is submitted at once; llmc_poll() then drives all of them on this one
 * thread until the last has finished, and the answers are printed in the
 * order of the prompts, whatever order they finished in.
 *
 *   llmc-gather [-c providers.json] [-j MAX_INFLIGHT] [--ca-file PATH]
 *               [--] PROMPT...
 *
 * -j limits how many requests run at once (the semaphore of the asyncio
 * version); the others wait in the client's FIFO queue. Without -c, the one
 * provider is OPENAI_BASE_URL with OPENAI_API_KEY.
 *
 * Output, for each prompt i:  "[i] answer" or "[i] error: kind: message",
 * the latter with "; partial answer: TEXT" after it when part of the
 * answer came before the error.
 * Exit status: 0 every prompt answered, 1 some failed (or stdout could not
 * be written), 2 usage or config error.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmc/llmc_client.h"
#include "llmc_tool_config.h"

#define MAX_PROMPTS 64
#define ANSWER_MAX 8192

/* One prompt's request and what came back. The request and its message
 * must stay valid until on_done has run: they live here, not on a stack
 * frame that returns before the poll loop ends. */
typedef struct {
    llmc_message_t msg;
    llmc_request_t req;
    char answer[ANSWER_MAX];
    size_t len;
    llmc_handle_t handle;
    bool cut; /* the answer outgrew answer[]: the request was cancelled */
    bool done;
    bool partial; /* the request failed after some of its answer came */
    int status;
    /* the result's message, or llmc-gather's own when the answer was cut
     * (its 40 bytes must fit at the smallest LLMC_MSG_LEN too) */
    char message[LLMC_MSG_LEN > 64 ? LLMC_MSG_LEN : 64];
} task_t;

static llmc_client_t g_client;
static llmc_tool_config_t g_cfg;
static task_t g_tasks[MAX_PROMPTS];

/* Content arrives in pieces, interleaved with the other requests'. */
static void on_delta(void *user, const char *text, size_t len)
{
    task_t *t = user;
    if (t->cut)
        return;
    if (len > sizeof(t->answer) - t->len) {
        /* never a silently shortened answer: this one fails, and the
         * provider stops spending tokens on it */
        t->cut = true;
        llmc_cancel(&g_client, t->handle);
        return;
    }
    memcpy(t->answer + t->len, text, len);
    t->len += len;
}

/* Called exactly once per accepted request, from llmc_poll(). */
static void on_done(void *user, const llmc_result_t *r)
{
    task_t *t = user;
    t->done = true;
    t->status = r->status;
    t->partial = r->partial;
    snprintf(t->message, sizeof(t->message), "%s", r->message);
    if (t->cut) {
        t->status = LLMC_ERR_TOO_LARGE;
        snprintf(t->message, sizeof(t->message),
                 "answer longer than %d bytes (ANSWER_MAX)", ANSWER_MAX);
    }
}

static void usage(FILE *f)
{
    fprintf(f, "usage: llmc-gather [-c providers.json] [-j MAX_INFLIGHT] "
               "[--ca-file PATH] [--] PROMPT...\n"
               "Submits every prompt (1 to %d) at once, at most MAX_INFLIGHT "
               "running,\n"
               "and prints \"[i] answer\" or \"[i] error: kind: message\" "
               "in prompt order.\n"
               "Without -c, the one provider is OPENAI_BASE_URL with "
               "OPENAI_API_KEY.\n"
               "Exit status: 0 every prompt answered, 1 some failed (or "
               "stdout could\n"
               "not be written), 2 usage or config error.\n", MAX_PROMPTS);
}

int main(int argc, char **argv)
{
    const char *config = NULL, *ca_file = NULL;
    long inflight = 0;
    llmc_callbacks_t cb = {on_delta, NULL, on_done};
    llmc_config_t cc;
    int i, k, n = 0, failed = 0, rc;

    llmc_tool_std_fds(); /* before any file or socket is opened */

    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--") == 0) { /* prompts from here on */
            i++;
            break;
        }
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0)
            return llmc_tool_version("llmc-gather");
        if (i + 1 >= argc) {
            fprintf(stderr, "llmc-gather: %s needs a value\n", argv[i]);
            return 2;
        }
        if (strcmp(argv[i], "-c") == 0) {
            config = argv[++i];
        } else if (strcmp(argv[i], "--ca-file") == 0) {
            ca_file = argv[++i];
        } else if (strcmp(argv[i], "-j") == 0) {
            if (llmc_tool_arg_num(argv[++i], 1, 255, &inflight) != 0) {
                fputs("llmc-gather: -j needs 1..255\n", stderr);
                return 2;
            }
        } else {
            fprintf(stderr, "llmc-gather: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (i >= argc || argc - i > MAX_PROMPTS) {
        usage(stderr);
        return 2;
    }
    for (k = i; k < argc; k++) { /* prompt k - i, as [i] prints it */
        char what[32];
        snprintf(what, sizeof(what), "prompt %d", k - i);
        if (!llmc_tool_utf8_ok("llmc-gather", what, argv[k], strlen(argv[k])))
            return 2;
    }

    if (config != NULL) {
        if (llmc_tool_config_load(&g_cfg, config) != 0) {
            fprintf(stderr, "llmc-gather: config: %s\n", g_cfg.err);
            return 2;
        }
    } else {
        const char *key = getenv("OPENAI_API_KEY");
        g_cfg.providers[0].name = "default";
        g_cfg.providers[0].base_url = getenv("OPENAI_BASE_URL");
        if (g_cfg.providers[0].base_url == NULL) {
            fputs("llmc-gather: give -c or OPENAI_BASE_URL\n", stderr);
            return 2;
        }
        if (key != NULL && key[0] != '\0') {
            g_cfg.providers[0].auth = LLMC_AUTH_BEARER;
            g_cfg.providers[0].api_key = key;
        }
        g_cfg.n_providers = 1;
        llmc_policy_default(&g_cfg.policy);
    }
    signal(SIGPIPE, SIG_IGN); /* a closed stdout: an error, exit 1 */
    memset(&cc, 0, sizeof(cc));
    cc.providers = g_cfg.providers;
    cc.n_providers = g_cfg.n_providers;
    cc.policy = g_cfg.policy;
    cc.max_inflight = (uint8_t)(inflight > 0 ? (unsigned long)inflight
                                             : g_cfg.max_inflight);
    cc.ca_file = ca_file != NULL ? ca_file : g_cfg.ca_file;
    rc = llmc_client_init(&g_client, &cc);
    if (rc != LLMC_OK) {
        fprintf(stderr, "llmc-gather: init: %s%s\n", llmc_strerror(rc),
                llmc_tool_init_hint(&cc, rc));
        return 2;
    }

    /* gather(*tasks): submit everything first ... */
    for (; i < argc; i++, n++) {
        task_t *t = &g_tasks[n];
        llmc_handle_t h;
        t->msg.role = "user";
        t->msg.content = argv[i];
        llmc_request_init(&t->req);
        t->req.model = "gpt-4o-mini"; /* a provider's "model" overrides it */
        t->req.messages = &t->msg;
        t->req.n_messages = 1;
        h = llmc_submit(&g_client, &t->req, &cb, t);
        t->handle = h;
        if (h < 0) { /* refused: no callback will come for it */
            t->done = true;
            t->status = h;
            snprintf(t->message, sizeof(t->message), "not submitted");
        }
    }
    /* ... then poll: llmc_poll() returns how many are queued or running. */
    while (llmc_poll(&g_client, 1000) > 0) {
    }

    for (i = 0; i < n; i++) {
        const task_t *t = &g_tasks[i];
        if (t->status == LLMC_OK) {
            printf("[%d] ", i);
            fwrite(t->answer, 1, t->len, stdout); /* a NUL is content too */
            putchar('\n');
        } else {
            failed++;
            printf("[%d] error: %s: %s", i, llmc_strerror(t->status),
                   t->message);
            /* what came before the error; an answer cut for its size is
             * never printed */
            if (t->partial && !t->cut) {
                fputs("; partial answer: ", stdout);
                fwrite(t->answer, 1, t->len, stdout);
            }
            putchar('\n');
        }
        if (!llmc_tool_flush())
            break; /* the rest would not get out either */
    }
    llmc_client_shutdown(&g_client);
    if (!llmc_tool_stdout_ok("llmc-gather"))
        return 1; /* the answers did not get out */
    return failed == 0 ? 0 : 1;
}
