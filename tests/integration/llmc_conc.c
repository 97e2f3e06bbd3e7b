/*
 * Integration helper for tests/integration/test_concurrency.py: many
 * requests in flight on ONE client through llmc_submit/llmc_poll/llmc_cancel
 * and llmc_client_shutdown, against one provider (BASE_URL, named "local").
 *
 *   llmc-conc [-j MAX_INFLIGHT] [--ca FILE] CMD BASE_URL MODEL [ARGS]
 *
 * CMD
 *   run N          submit N requests at once (prompt "stream I: ...", I the
 *                  index), poll until all are done
 *   queue N [MODEL2]  submit N requests before any poll and report which
 *                  were refused; poll once and submit one more (refused
 *                  while the queue is still full); then run everything to
 *                  the end. The first MAX_INFLIGHT requests (the ones the
 *                  poll starts) use MODEL, the others MODEL2 (default MODEL),
 *                  so that a slow MODEL keeps the slots busy meanwhile
 *   cancel MODEL2  three requests: #0 (MODEL) is cancelled from its first
 *                  on_delta, #1 (MODEL2) is queued behind it, #2 (MODEL2)
 *                  is cancelled while still queued. With --cancel-wait MS,
 *                  that on_delta waits MS first, so that what the server
 *                  sent after the event (a close, a reset) has arrived
 *   dcancel        #0 and #1 at once; #1's on_done cancels #0 (if it has
 *                  not ended): the summary says what llmc_cancel returned
 *   acancel        #0 runs to its end (its connection is pooled); then #1,
 *                  whose on_attempt cancels it: the pooled connection is
 *                  there at once, and the request must not go out on it
 *   shutdown N     submit N requests; once every running one has delivered
 *                  content, llmc_client_shutdown(); then print the socket
 *                  count and wait for a line on stdin before exiting, so that
 *                  the server's view can be checked while the process lives
 *   thread         the main thread polls with a 10 s timeout; a second
 *                  thread submits one request while the poll is blocked
 *   refill         -j 1: submit until the queue is full; the on_done of #0
 *                  submits one more, which must find room (#0 has ended)
 *   tcancel        one request that gets no answer; a second thread cancels
 *                  it while the main thread's llmc_poll(10000) is blocked
 *   tstress N      a second thread submits N requests one after another,
 *                  at most 12 outstanding, and cancels every third one 4
 *                  submits later; the main thread polls until all N are
 *                  done. Built with ThreadSanitizer, this checks
 *                  the engine's locking
 *   tshutdown N    a second thread submits one request after another,
 *                  at most 12 outstanding, until one is refused; the
 *                  main thread polls until N are done, then calls
 *                  llmc_client_shutdown(). Once that has returned, the
 *                  second thread submits once more (told so by a relaxed
 *                  atomic, which orders nothing: only the library's lock
 *                  orders the two threads, as in firmware). Built with
 *                  ThreadSanitizer, this checks the shutdown's locking
 *   qcancel MODEL2 three requests, one at a time (-j 1): #0 (MODEL) runs,
 *                  #1 and #2 (MODEL2) are queued; #2 is cancelled and one
 *                  llmc_poll(0) follows: reports whether #2's on_done came
 *                  in that poll, with #1 still queued
 *   late N         -j 1: #0 (MODEL) runs, #1 (the same MODEL, or ARG) is
 *                  queued; the application is busy for N ms, then calls
 *                  llmc_poll(5000) once: reports how long that took, what
 *                  it returned and whether #1 started in it. --reenter
 *                  delta|done: #0's first on_delta or its on_done makes
 *                  reenter's calls (llmc_client_shutdown() among them)
 *   stale MODEL2 MODEL3  #0 (MODEL) and #1 (MODEL2) at once, until both are
 *                  done; then a line is read from stdin (the test lets the
 *                  server close the idle connections meanwhile) and #2
 *                  (MODEL3) runs on the same client
 llmc_port_listen() on
 *                  $LLMC_LISTEN_HOST (an IPv4 address, default 127.0.0.1;
 *                  host and port are printed first), one request
 *                  submitted, then llmc_poll_with() waits on the listener,
 *                  the accepted socket and llmc's sockets together; the
 *                  accepted client's "ping\n" is answered "pong\n"; the
 *                  waits also hold socket 1000, which is not open, until
 *                  one reports it: its revents are "not_open"
 *
 * Output: one JSON line per request,
 *   {"i":0,"status":"ok","content":"...","partial":false,"deltas":7,
 *    "attempt_seq":3,"done_seq":41,"ms":12}
 * where *_seq are positions in one event counter shared by all callbacks
 * (on_attempt, on_delta, on_done), then one "summary" line with the
 * command's own facts (see each command).
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "llmc/llmc_client.h"
#include "../../examples/posix/llmc_tool_config.h"
#ifdef LLMC_CONC_LWIP
#include "lwip/sockets.h"
#endif

#define MAX_REQ 256
#define CONTENT_MAX 4096

typedef struct {
    int i;
    llmc_handle_t h;
    llmc_message_t msg;
    llmc_request_t req;
    char prompt[128];
    char content[CONTENT_MAX];
    size_t len;
    int deltas;
    int attempts;
    long attempt_seq, done_seq;
    int done_calls;
    int status;
    bool partial;
    uint32_t ms;
    bool cancel_on_delta;
    bool cancel_on_attempt;
    int cancel_on_done; /* 1 + the item its on_done cancels; 0: none */
    char message[LLMC_MSG_LEN]; /* the result's */
} item_t;

static llmc_client_t g_client;
static item_t g_items[MAX_REQ];
static long g_seq;
static int g_last_delta = -1; /* item of the previous on_delta */
static int g_switches;        /* on_delta of another item than the last */
static int g_running, g_max_running; /* on_attempt .. on_done */
static int g_done;
static int g_done_any; /* g_done, for other threads (atomic accesses) */
static int g_with_content; /* items that got content */
static int g_refill = -1;  /* refill: the item #0's on_done submits */
static int g_cancel_rc = 1; /* dcancel: what that cancel returned */
static int g_cancel_wait_ms; /* --cancel-wait */
/* reenter: item #0's first on_delta (1) or its on_done (2) calls what a
 * callback must not, and records what those calls returned */
static int g_reenter;
static int g_reenter_poll = 1, g_reenter_chat = 1, g_reenter_submit = 1;

static void reenter(void)
{
    llmc_result_t r;
    int n = g_reenter;
    g_reenter = 0;
    if (n == 0)
        return;
    g_reenter_poll = llmc_poll(&g_client, 0);
    g_reenter_chat = llmc_chat(&g_client, &g_items[MAX_REQ - 1].req, NULL,
                               NULL, &r);
    llmc_client_shutdown(&g_client);
    /* refused at once: the shutdown has begun */
    g_reenter_submit = llmc_submit(&g_client, &g_items[MAX_REQ - 1].req,
                                   NULL, NULL);
}

static void on_attempt(void *user, int provider, const char *name)
{
    item_t *it = user;
    (void)provider;
    (void)name;
    if (it->attempts++ == 0) {
        it->attempt_seq = g_seq;
        g_running++;
        if (g_running > g_max_running)
            g_max_running = g_running;
    }
    g_seq++;
    if (it->cancel_on_attempt)
        (void)llmc_cancel(&g_client, it->h); /* allowed in a callback */
}

static void on_delta(void *user, const char *text, size_t len)
{
    item_t *it = user;
    if (len > sizeof(it->content) - it->len)
        len = sizeof(it->content) - it->len;
    memcpy(it->content + it->len, text, len);
    it->len += len;
    if (it->deltas++ == 0)
        g_with_content++;
    if (g_last_delta >= 0 && g_last_delta != it->i)
        g_switches++;
    g_last_delta = it->i;
    g_seq++;
    if (it->i == 0 && g_reenter == 1)
        reenter();
    if (it->cancel_on_delta && it->deltas == 1) {
        struct timespec ts;
        ts.tv_sec = g_cancel_wait_ms / 1000;
        ts.tv_nsec = (long)(g_cancel_wait_ms % 1000) * 1000000L;
        nanosleep(&ts, NULL);
        (void)llmc_cancel(&g_client, it->h); /* allowed in a callback */
    }
}

static const llmc_callbacks_t g_cb;

static void on_done(void *user, const llmc_result_t *r)
{
    item_t *it = user;
    if (it->done_calls++ == 0) {
        it->done_seq = g_seq;
        it->status = r->status;
        it->partial = r->partial;
        it->ms = r->elapsed_ms;
        memcpy(it->message, r->message, sizeof(it->message));
        g_done++;
        __atomic_fetch_add(&g_done_any, 1, __ATOMIC_RELAXED);
        if (it->attempts > 0)
            g_running--;
    }
    g_seq++;
    if (it->i == 0 && g_reenter == 2)
        reenter();
    if (it->cancel_on_done > 0) { /* allowed in a callback */
        g_cancel_rc = llmc_cancel(&g_client,
                                  g_items[it->cancel_on_done - 1].h);
        it->cancel_on_done = 0;
    }
    if (it->i == 0 && g_refill >= 0) { /* allowed in a callback */
        int k = g_refill;
        g_refill = -1;
        g_items[k].h = llmc_submit(&g_client, &g_items[k].req, &g_cb,
                                   &g_items[k]);
    }
}

static const llmc_callbacks_t g_cb = {on_delta, on_attempt, on_done};

static void print_item(const item_t *it)
{
    printf("{\"i\":%d,\"status\":", it->i);
    llmc_tool_json_cstr(stdout, llmc_strerror(it->status));
    fputs(",\"content\":", stdout);
    llmc_tool_json_str(stdout, it->content, it->len);
    fputs(",\"message\":", stdout);
    llmc_tool_json_cstr(stdout, it->message);
    printf(",\"partial\":%s,\"deltas\":%d,\"attempts\":%d,"
           "\"attempt_seq\":%ld,\"done_seq\":%ld,\"done_calls\":%d,"
           "\"ms\":%u}\n",
           it->partial ? "true" : "false", it->deltas, it->attempts,
           it->attempt_seq, it->done_seq, it->done_calls, (unsigned)it->ms);
}

static void print_items(int n)
{
    int i;
    for (i = 0; i < n; i++)
        print_item(&g_items[i]);
}

static void prepare(int i, const char *model)
{
    item_t *it = &g_items[i];
    memset(it, 0, sizeof(*it));
    it->i = i;
    it->attempt_seq = it->done_seq = -1;
    it->status = 1; /* not done */
    snprintf(it->prompt, sizeof(it->prompt),
             "stream %02d: alpha %02d bravo %02d charlie %02d delta %02d", i,
             i, i, i, i);
    it->msg.role = "user";
    it->msg.content = it->prompt;
    llmc_request_init(&it->req);
    it->req.model = model;
    it->req.messages = &it->msg;
    it->req.n_messages = 1;
}

static int submit(int i)
{
    g_items[i].h = llmc_submit(&g_client, &g_items[i].req, &g_cb,
                               &g_items[i]);
    return g_items[i].h;
}

static int poll_until_done(int n)
{
    while (g_done < n)
        if (llmc_poll(&g_client, 1000) < 0)
            return -1;
    return 0;
}

static uint64_t now_ms(void)
{
    return llmc_port_now_ms();
}

#ifdef LLMC_CONC_LWIP
/* Built over the lwIP port (make lwip): its sockets are entries of lwIP's
 * own table, not file descriptors. lwIP hands out the lowest free entry,
 * so the open ones are near the bottom of the table. */
static int count_sockets(void)
{
    int s, n = 0;
    for (s = LWIP_SOCKET_OFFSET; s < LWIP_SOCKET_OFFSET + 1024; s++) {
        int type;
        socklen_t len = sizeof(type);
        if (lwip_getsockopt(s, SOL_SOCKET, SO_TYPE, &type, &len) == 0)
            n++;
    }
    return n;
}
#else
/* Open sockets of this process, from /proc/self/fd. */
static int count_sockets(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        char path[300], target[64];
        ssize_t len;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
        len = readlink(path, target, sizeof(target) - 1);
        if (len <= 0)
            continue;
        target[len] = '\0';
        if (strncmp(target, "socket:", 7) == 0)
            n++;
    }
    closedir(d);
    return n;
}
#endif

/* ---- commands --------------------------------------------------------- */

static int cmd_run(const char *model, int n)
{
    int i;
    for (i = 0; i < n; i++) {
        prepare(i, model);
        if (submit(i) < 0) {
            fprintf(stderr, "llmc-conc: submit %d: %s\n", i,
                    llmc_strerror(g_items[i].h));
            return 1;
        }
    }
    if (poll_until_done(n) != 0)
        return 1;
    print_items(n);
    printf("{\"summary\":\"run\",\"switches\":%d,\"max_running\":%d}\n",
           g_switches, g_max_running);
    return 0;
}

static int cmd_queue(const char *model, int n, const char *model2,
                     int inflight)
{
    int i, accepted = 0, refused = 0, first_refused = -1, refusal = 0;
    int after_poll, pending;
    uint64_t t, worst = 0;
    for (i = 0; i < n; i++) {
        prepare(i, i < inflight ? model : model2);
        t = now_ms();
        if (submit(i) > 0) {
            accepted++;
        } else {
            if (now_ms() - t > worst)
                worst = now_ms() - t;
            if (first_refused < 0) {
                first_refused = i;
                refusal = g_items[i].h;
            }
            refused++;
            g_items[i].status = g_items[i].h;
        }
    }
    /* One poll starts the first request(s): the queue is still full. */
    pending = llmc_poll(&g_client, 0);
    prepare(n, model2);
    after_poll = submit(n);
    if (after_poll > 0)
        accepted++;
    while (g_done < accepted)
        if (llmc_poll(&g_client, 1000) < 0)
            return 1;
    /* Space again once the queue has drained. */
    prepare(n + 1, model2);
    i = submit(n + 1);
    if (i > 0)
        poll_until_done(accepted + 1);
    for (i = 0; i < n + 2; i++)
        if (g_items[i].h > 0)
            print_item(&g_items[i]);
    printf("{\"summary\":\"queue\",\"queue_len\":%d,\"slots\":%d,"
           "\"accepted\":%d,\"refused\":%d,\"first_refused\":%d,"
           "\"refusal\":\"%s\",\"refusal_ms\":%u,\"pending_after_poll\":%d,"
           "\"after_poll\":\"%s\",\"after_drain\":\"%s\",\"done\":%d}\n",
           LLMC_QUEUE_LEN, LLMC_SLOTS, accepted, refused, first_refused,
           llmc_strerror(refusal), (unsigned)worst, pending,
           after_poll > 0 ? "accepted" : llmc_strerror(after_poll),
           g_items[n + 1].h > 0 ? "accepted"
                                : llmc_strerror(g_items[n + 1].h),
           g_done);
    return 0;
}

static int cmd_refill(const char *model)
{
    int n = 0, last;
    while (n < MAX_REQ - 1) {
        prepare(n, model);
        if (submit(n) < 0)
            break;
        n++;
    }
    last = n; /* refused: it is the one #0's on_done submits again */
    prepare(last, model);
    g_refill = last;
    while (llmc_poll(&g_client, 1000) > 0)
        ;
    print_items(g_items[last].h > 0 ? n + 1 : n);
    printf("{\"summary\":\"refill\",\"accepted\":%d,\"from_on_done\":\"%s\","
           "\"done\":%d}\n",
           n, g_items[last].h > 0 ? "accepted" : llmc_strerror(g_items[last].h),
           g_done);
    return 0;
}

static int cmd_cancel(const char *model, const char *model2)
{
    uint64_t t0 = now_ms();
    prepare(0, model);
    prepare(1, model2);
    snprintf(g_items[1].prompt, sizeof(g_items[1].prompt),
             "the second request");
    prepare(2, model2);
    g_items[0].cancel_on_delta = true;
    if (submit(0) < 0 || submit(1) < 0 || submit(2) < 0)
        return 1;
    /* #2 is cancelled while it waits in the queue */
    if (llmc_cancel(&g_client, g_items[2].h) != LLMC_OK)
        return 1;
    if (poll_until_done(3) != 0)
        return 1;
    print_items(3);
    printf("{\"summary\":\"cancel\",\"total_ms\":%u}\n",
           (unsigned)(now_ms() - t0));
    return 0;
}

static int cmd_acancel(const char *model)
{
    prepare(0, model);
    prepare(1, model);
    g_items[1].cancel_on_attempt = true;
    if (submit(0) < 0 || poll_until_done(1) != 0 || submit(1) < 0 ||
        poll_until_done(2) != 0)
        return 1;
    print_items(2);
    printf("{\"summary\":\"acancel\"}\n");
    return 0;
}

static int cmd_shutdown(const char *model, int n, int inflight)
{
    int i, running = n < inflight ? n : inflight, before, cancelled = 0;
    char line[16];
    for (i = 0; i < n; i++) {
        prepare(i, model);
        if (submit(i) < 0)
            return 1;
    }
    /* every running request is mid-stream */
    while (g_with_content < running)
        if (llmc_poll(&g_client, 1000) < 0)
            return 1;
    before = count_sockets();
    llmc_client_shutdown(&g_client);
    for (i = 0; i < n; i++)
        cancelled += g_items[i].status == LLMC_ERR_CANCELLED;
    print_items(n);
    printf("{\"summary\":\"shutdown\",\"done\":%d,\"cancelled\":%d,"
           "\"sockets_before\":%d,\"sockets_after\":%d,"
           "\"submit_after\":\"%s\"}\n",
           g_done, cancelled, before, count_sockets(),
           llmc_strerror(llmc_submit(&g_client, &g_items[0].req, &g_cb,
                                     &g_items[0])));
    fflush(stdout);
    (void)fgets(line, sizeof(line), stdin); /* the test has looked */
    return 0;
}

/* n requests (#0 of model, the others of model2); item #0's callback
 * (where: delta or done) calls
 * llmc_poll(), llmc_chat() and llmc_client_shutdown(). */
static int cmd_reenter(const char *model, int n, const char *where,
                       const char *model2)
{
    int i, last = 1, polls = 0, cancelled = 0, ok = 0, calls = 0;
    for (i = 0; i < n; i++) {
        prepare(i, i == 0 ? model : model2);
        if (submit(i) < 0)
            return 1;
    }
    g_reenter = strcmp(where, "done") == 0 ? 2 : 1;
    while (last > 0) {
        last = llmc_poll(&g_client, 1000);
        polls++;
    }
    for (i = 0; i < n; i++) {
        cancelled += g_items[i].status == LLMC_ERR_CANCELLED;
        ok += g_items[i].status == LLMC_OK;
        calls += g_items[i].done_calls;
    }
    print_items(n);
    printf("{\"summary\":\"reenter\",\"poll_in_cb\":\"%s\","
           "\"chat_in_cb\":\"%s\",\"submit_after\":\"%s\","
           "\"last_poll\":%d,\"polls\":%d,\"done\":%d,\"done_calls\":%d,"
           "\"ok\":%d,\"cancelled\":%d,\"sockets_after\":%d,"
           "\"poll_after\":\"%s\"}\n",
           llmc_strerror(g_reenter_poll), llmc_strerror(g_reenter_chat),
           llmc_strerror(g_reenter_submit), last, polls, g_done, calls, ok,
           cancelled, count_sockets(),
           llmc_strerror(llmc_poll(&g_client, 0)));
    return 0;
}

/* Two IAM requests start together: #0 fetches the token, #1 waits for that
 * fetch; #0 is cancelled while it fetches. */
static int cmd_tokcancel(const char *model)
{
    prepare(0, model);
    prepare(1, model);
    if (submit(0) < 0 || submit(1) < 0)
        return 1;
    if (llmc_poll(&g_client, 0) < 0) /* both start */
        return 1;
    if (llmc_cancel(&g_client, g_items[0].h) != LLMC_OK)
        return 1;
    if (poll_until_done(2) != 0)
        return 1;
    print_items(2);
    printf("{\"summary\":\"tokcancel\"}\n");
    return 0;
}

static int cmd_dcancel(const char *model)
{
    prepare(0, model);
    prepare(1, model);
    g_items[1].cancel_on_done = 1;
    if (submit(0) < 0 || submit(1) < 0 || poll_until_done(2) != 0)
        return 1;
    print_items(2);
    fputs("{\"summary\":\"dcancel\",\"cancel_rc\":", stdout);
    llmc_tool_json_cstr(stdout, llmc_strerror(g_cancel_rc));
    fputs("}\n", stdout);
    return 0;
}

static int cmd_qcancel(const char *model, const char *model2)
{
    int in_that_poll;
    prepare(0, model);
    prepare(1, model2);
    prepare(2, model2);
    if (submit(0) < 0 || submit(1) < 0 || submit(2) < 0)
        return 1;
    if (llmc_poll(&g_client, 0) < 0) /* #0 starts; #1 and #2 wait */
        return 1;
    if (llmc_cancel(&g_client, g_items[2].h) != LLMC_OK)
        return 1;
    if (llmc_poll(&g_client, 0) < 0)
        return 1;
    in_that_poll = g_items[2].done_calls;
    llmc_client_shutdown(&g_client);
    print_items(3);
    printf("{\"summary\":\"qcancel\",\"done_in_next_poll\":%d,"
           "\"second_attempts\":%d}\n",
           in_that_poll, g_items[1].attempts);
    return 0;
}

static int cmd_late(const char *model, const char *model2, int busy_ms)
{
    struct timespec ts;
    uint64_t t;
    int started, rc;
    prepare(0, model);
    prepare(1, model2);
    if (submit(0) < 0 || submit(1) < 0)
        return 1;
    if (llmc_poll(&g_client, 0) < 0) /* #0 starts, #1 waits */
        return 1;
    ts.tv_sec = busy_ms / 1000;
    ts.tv_nsec = (long)(busy_ms % 1000) * 1000000L;
    nanosleep(&ts, NULL); /* the application's own work */
    t = now_ms();
    rc = llmc_poll(&g_client, 5000);
    if (rc < 0)
        return 1;
    t = now_ms() - t;
    started = g_items[1].attempts > 0;
    if (poll_until_done(2) != 0)
        return 1;
    print_items(2);
    printf("{\"summary\":\"late\",\"poll_ms\":%u,\"poll_rc\":%d,"
           "\"started_in_poll\":%d}\n",
           (unsigned)t, rc, started);
    return 0;
}

/* #0 starts; wait_ms later (polling meanwhile) #1 is submitted. */
static int cmd_after(const char *model, const char *model2, int wait_ms)
{
    uint64_t t0 = now_ms(), t;
    prepare(0, model);
    prepare(1, model2);
    if (submit(0) < 0)
        return 1;
    while ((t = now_ms() - t0) < (uint64_t)wait_ms)
        if (llmc_poll(&g_client, (int)((uint64_t)wait_ms - t)) < 0)
            return 1;
    if (submit(1) < 0 || poll_until_done(2) != 0)
        return 1;
    print_items(2);
    printf("{\"summary\":\"after\"}\n");
    return 0;
}

static int cmd_stale(const char *model, const char *model2,
                     const char *model3)
{
    char line[16];
    prepare(0, model);
    prepare(1, model2);
    if (submit(0) < 0 || submit(1) < 0 || poll_until_done(2) != 0)
        return 1;
    printf("{\"ready\":2}\n");
    fflush(stdout);
    (void)fgets(line, sizeof(line), stdin); /* the server has closed them */
    prepare(2, model3);
    if (submit(2) < 0 || poll_until_done(3) != 0)
        return 1;
    print_items(3);
    printf("{\"summary\":\"stale\"}\n");
    return 0;
}

static volatile int g_polling;
static uint64_t g_poll_start_ms, g_submit_ms;

static void *submitter(void *arg)
{
    struct timespec ts = {0, 20 * 1000000L};
    (void)arg;
    while (!g_polling)
        nanosleep(&ts, NULL);
    ts.tv_nsec = 300 * 1000000L;
    nanosleep(&ts, NULL); /* the poller is blocked by now: nothing else
                             is pending, its poll waits 10 s */
    g_submit_ms = now_ms();
    g_items[0].h = llmc_submit(&g_client, &g_items[0].req, &g_cb,
                               &g_items[0]);
    return NULL;
}

/* The main thread polls with a 10 s timeout and nothing pending, so only
 * the other thread's submit can end its first poll early. */
static int cmd_thread(const char *model)
{
    pthread_t th;
    int polls = 0;
    uint64_t first_end = 0, done_ms;
    prepare(0, model);
    if (pthread_create(&th, NULL, submitter, NULL) != 0)
        return 1;
    g_poll_start_ms = now_ms();
    while (g_done < 1) {
        g_polling = 1;
        if (llmc_poll(&g_client, 10000) < 0)
            break;
        if (polls++ == 0)
            first_end = now_ms();
    }
    done_ms = now_ms();
    pthread_join(th, NULL);
    print_items(1);
    printf("{\"summary\":\"thread\",\"poll_timeout_ms\":10000,"
           "\"submit_at_ms\":%u,\"first_poll_ms\":%u,"
           "\"submit_to_done_ms\":%u,\"polls\":%d}\n",
           (unsigned)(g_submit_ms - g_poll_start_ms),
           (unsigned)(first_end - g_poll_start_ms),
           (unsigned)(done_ms - g_submit_ms), polls);
    return 0;
}

static uint64_t g_cancel_ms;
static int g_cancel_rc;

static void *canceller(void *arg)
{
    struct timespec ts = {0, 20 * 1000000L};
    (void)arg;
    while (g_items[0].attempts == 0)
        nanosleep(&ts, NULL);
    ts.tv_nsec = 300 * 1000000L;
    nanosleep(&ts, NULL); /* the poller waits for an answer that never
                             comes: its poll is blocked */
    g_cancel_ms = now_ms();
    g_cancel_rc = llmc_cancel(&g_client, g_items[0].h);
    return NULL;
}

/* The request hangs (no answer, first-byte timeout 30 s); a second thread
 * cancels it while the main thread's llmc_poll(10000) is blocked. */
static int cmd_tcancel(const char *model)
{
    pthread_t th;
    uint64_t done_ms;
    prepare(0, model);
    if (submit(0) < 0)
        return 1;
    if (pthread_create(&th, NULL, canceller, NULL) != 0)
        return 1;
    while (g_done < 1)
        if (llmc_poll(&g_client, 10000) < 0)
            break;
    done_ms = now_ms();
    pthread_join(th, NULL);
    print_items(1);
    printf("{\"summary\":\"tcancel\",\"cancel_rc\":\"%s\","
           "\"cancel_to_done_ms\":%u,\"cancel_again\":\"%s\"}\n",
           llmc_strerror(g_cancel_rc), (unsigned)(done_ms - g_cancel_ms),
           llmc_strerror(llmc_cancel(&g_client, g_items[0].h)));
    return 0;
}

static int g_stress_n, g_stress_cancelled;
static const char *g_stress_model;

static void *stress_submitter(void *arg)
{
    struct timespec ts = {0, 1000000L};
    int i;
    (void)arg;
    for (i = 0; i < g_stress_n; i++) {
        /* at most 12 outstanding: with -j 8, a request submitted 4 before
         * is most likely running, not queued */
        while (i - __atomic_load_n(&g_done_any, __ATOMIC_RELAXED) >= 12)
            nanosleep(&ts, NULL);
        prepare(i, g_stress_model);
        if (submit(i) < 0) {
            fprintf(stderr, "llmc-conc: submit %d: %s\n", i,
                    llmc_strerror(g_items[i].h));
            _exit(1);
        }
        /* every third request, cancelled 4 submits later: running,
         * queued or ended by then */
        if (i >= 4 && (i - 4) % 3 == 2 &&
            llmc_cancel(&g_client, g_items[i - 4].h) == LLMC_OK)
            g_stress_cancelled++;
    }
    return NULL;
}

static int cmd_tstress(const char *model, int n)
{
    pthread_t th;
    g_stress_n = n;
    g_stress_model = model;
    if (pthread_create(&th, NULL, stress_submitter, NULL) != 0)
        return 1;
    while (g_done < n)
        if (llmc_poll(&g_client, 100) < 0)
            break;
    pthread_join(th, NULL);
    print_items(n);
    printf("{\"summary\":\"tstress\",\"cancel_ok\":%d}\n",
           g_stress_cancelled);
    return 0;
}

static int g_shut_done;     /* relaxed atomic accesses only */
static int g_shut_accepted; /* read by the main thread after the join */
static int g_shut_after;    /* what the submit after the shutdown returned */

static void *shut_submitter(void *arg)
{
    struct timespec ts = {0, 1000000L};
    int i = 0, h;
    (void)arg;
    for (;;) {
        while (i - __atomic_load_n(&g_done_any, __ATOMIC_RELAXED) >= 12)
            nanosleep(&ts, NULL);
        if (i == MAX_REQ - 2) {
            fputs("llmc-conc: tshutdown: no refusal\n", stderr);
            _exit(1);
        }
        prepare(i, g_stress_model);
        h = submit(i);
        if (h > 0)
            i++;
        else if (h == LLMC_ERR_QUEUE_FULL)
            nanosleep(&ts, NULL);
        else
            break;
    }
    g_shut_accepted = i;
    while (!__atomic_load_n(&g_shut_done, __ATOMIC_RELAXED))
        nanosleep(&ts, NULL);
    prepare(i, g_stress_model);
    g_shut_after = submit(i);
    return NULL;
}

static int cmd_tshutdown(const char *model, int n)
{
    pthread_t th;
    g_stress_model = model;
    if (pthread_create(&th, NULL, shut_submitter, NULL) != 0)
        return 1;
    while (g_done < n)
        if (llmc_poll(&g_client, 100) < 0)
            break;
    llmc_client_shutdown(&g_client);
    __atomic_store_n(&g_shut_done, 1, __ATOMIC_RELAXED);
    pthread_join(th, NULL);
    print_items(g_shut_accepted);
    printf("{\"summary\":\"tshutdown\",\"accepted\":%d,\"done\":%d,"
           "\"after\":\"%s\"}\n",
           g_shut_accepted, g_done, llmc_strerror(g_shut_after));
    return 0;
}

/* A server and a request on one thread, in one wait. */
static int cmd_serve(const char *model)
{
    llmc_addr_t a;
    llmc_pollfd_t fds[3];
    llmc_sock_t lst, cl = LLMC_SOCK_INVALID;
    char buf[16];
    size_t got = 0;
    int ponged = 0, pong_before_done = 0, accepted = 0, rounds = 0;
    int not_open = -1; /* how the socket that is not open was reported */
    unsigned b[4];
    const char *host = getenv("LLMC_LISTEN_HOST");

    if (host == NULL || *host == '\0')
        host = "127.0.0.1";
    if (sscanf(host, "%u.%u.%u.%u", &b[0], &b[1], &b[2], &b[3]) != 4 ||
        b[0] > 255 || b[1] > 255 || b[2] > 255 || b[3] > 255) {
        fprintf(stderr, "llmc-conc: LLMC_LISTEN_HOST: not an IPv4 address\n");
        return 1;
    }
    memset(&a, 0, sizeof(a));
    a.family = 4;
    a.addr[0] = (uint8_t)b[0];
    a.addr[1] = (uint8_t)b[1];
    a.addr[2] = (uint8_t)b[2];
    a.addr[3] = (uint8_t)b[3];
    if (llmc_port_listen(&a, 4, &lst) != LLMC_PORT_OK)
        return 1;
    printf("{\"listen\":%u,\"host\":\"%s\"}\n", (unsigned)a.port, host);
    fflush(stdout);
    prepare(0, model);
    if (submit(0) < 0)
        return 1;
    while (g_done < 1 || !ponged) {
        size_t n = 0, cl_at = 0, gone_at = 0; /* 0: not in this wait */
        fds[n].sock = lst;
        fds[n++].events = LLMC_POLL_IN;
        if (cl != LLMC_SOCK_INVALID) {
            cl_at = n;
            fds[n].sock = cl;
            fds[n++].events = LLMC_POLL_IN;
        }
        if (not_open <= 0 && rounds++ < 100) {
            /* a socket number that is not open (as a caller's socket
             * closed before the wait), until a wait reports it (a wait
             * may end at once for the wake the submit left): it is
             * reported alone, and the wait goes on for the rest */
            gone_at = n;
            fds[n].sock = 1000;
            fds[n++].events = LLMC_POLL_IN;
        }
        if (llmc_poll_with(&g_client, fds, n, 10000) < 0)
            return 1;
        if (gone_at > 0)
            not_open = fds[gone_at].revents;
        if ((fds[0].revents & LLMC_POLL_IN) && cl == LLMC_SOCK_INVALID &&
            llmc_port_accept(lst, &cl) == LLMC_PORT_OK)
            accepted++;
        if (cl_at > 0 && fds[cl_at].revents) {
            long r = llmc_port_recv(cl, buf + got, sizeof(buf) - got);
            if (r > 0)
                got += (size_t)r;
            if (got >= 5 && memcmp(buf, "ping\n", 5) == 0 && !ponged) {
                llmc_port_send(cl, "pong\n", 5);
                ponged = 1;
                pong_before_done = g_done == 0;
            }
            if (r == LLMC_PORT_EOF || (r < 0 && r != LLMC_PORT_WOULD_BLOCK)) {
                llmc_port_close(cl); /* the client left; the request goes on */
                cl = LLMC_SOCK_INVALID;
            }
        }
    }
    print_items(1);
    printf("{\"summary\":\"serve\",\"accepted\":%d,\"ponged\":%d,"
           "\"pong_before_done\":%d,\"not_open\":%d}\n",
           accepted, ponged, pong_before_done, not_open);
    llmc_port_close(cl);
    llmc_port_close(lst);
    return 0;
}

int main(int argc, char **argv)
{
    llmc_provider_t prov;
    llmc_config_t cfg;
    const char *ca = NULL, *cmd, *model;
    const char *key_id = NULL, *secret = NULL, *token_url = NULL;
    int argi = 1, inflight = 0, deadline = 0, retries = 0, connect_ms = 0;
    int rc;

    while (argi + 1 < argc && argv[argi][0] == '-') {
        if (strcmp(argv[argi], "-j") == 0)
            inflight = atoi(argv[argi + 1]);
        else if (strcmp(argv[argi], "--ca") == 0)
            ca = argv[argi + 1];
        else if (strcmp(argv[argi], "--deadline") == 0)
            deadline = atoi(argv[argi + 1]);
        else if (strcmp(argv[argi], "--reenter") == 0) /* as reenter's */
            g_reenter = strcmp(argv[argi + 1], "done") == 0 ? 2 : 1;
        else if (strcmp(argv[argi], "--retries") == 0)
            retries = atoi(argv[argi + 1]);
        else if (strcmp(argv[argi], "--connect-timeout") == 0)
            connect_ms = atoi(argv[argi + 1]);
        else if (strcmp(argv[argi], "--cancel-wait") == 0)
            g_cancel_wait_ms = atoi(argv[argi + 1]);
        else if (strcmp(argv[argi], "--key-id") == 0)
            key_id = argv[argi + 1];
        else if (strcmp(argv[argi], "--secret") == 0)
            secret = argv[argi + 1];
        else if (strcmp(argv[argi], "--token-url") == 0)
            token_url = argv[argi + 1];
        else
            break;
        argi += 2;
    }
    if (argc - argi < 3) {
        fputs("usage: llmc-conc [-j MAX_INFLIGHT] [--ca FILE] [--deadline MS]"
              " [--cancel-wait MS] [--retries N]\n"
              "       [--connect-timeout MS]\n"
              "       [--reenter delta|done]\n"
              "       [--key-id ID --secret S --token-url URL]\n"
              "       run|queue|cancel|qcancel|late|stale|shutdown|thread|"
              "tcancel|tstress|tshutdown|reenter|tokcancel|after|serve\n"
              "       BASE_URL MODEL"
              " [ARG...]\n",
              stderr);
        return 2;
    }
    cmd = argv[argi];
    model = argv[argi + 2];
    prepare(MAX_REQ - 1, model); /* what reenter() submits */
    memset(&prov, 0, sizeof(prov));
    prov.name = "local";
    prov.base_url = argv[argi + 1];
    if (key_id != NULL) { /* Evolution IAM */
        prov.auth = LLMC_AUTH_EVOLUTION_IAM;
        prov.key_id = key_id;
        prov.secret = secret;
        prov.token_url = token_url;
    }
    memset(&cfg, 0, sizeof(cfg));
    cfg.providers = &prov;
    cfg.n_providers = 1;
    llmc_policy_default(&cfg.policy);
    cfg.policy.max_retries = (uint8_t)retries;
    cfg.policy.cooldown_after = 0;
    if (deadline > 0)
        cfg.policy.deadline_ms = (uint32_t)deadline;
    if (connect_ms > 0)
        cfg.policy.connect_timeout_ms = (uint32_t)connect_ms;
    cfg.max_inflight = (uint8_t)inflight;
    cfg.ca_file = ca;
    rc = llmc_client_init(&g_client, &cfg);
    if (rc != LLMC_OK) {
        fprintf(stderr, "llmc-conc: init: %s\n", llmc_strerror(rc));
        return 2;
    }
#define ARG_N (argc - argi > 3 ? atoi(argv[argi + 3]) : 0)
    if (strcmp(cmd, "serve") == 0)
        rc = cmd_serve(model);
    else if (strcmp(cmd, "run") == 0 && ARG_N > 0 && ARG_N <= MAX_REQ)
        rc = cmd_run(model, ARG_N);
    else if (strcmp(cmd, "queue") == 0 && ARG_N > 0 && ARG_N <= MAX_REQ - 2)
        rc = cmd_queue(model, ARG_N, argc - argi > 4 ? argv[argi + 4] : model,
                       inflight > 0 ? inflight : LLMC_SLOTS);
    else if (strcmp(cmd, "cancel") == 0 && argc - argi > 3)
        rc = cmd_cancel(model, argv[argi + 3]);
    else if (strcmp(cmd, "acancel") == 0)
        rc = cmd_acancel(model);
    else if (strcmp(cmd, "qcancel") == 0 && argc - argi > 3)
        rc = cmd_qcancel(model, argv[argi + 3]);
    else if (strcmp(cmd, "late") == 0 && ARG_N > 0)
        rc = cmd_late(model, argc - argi > 4 ? argv[argi + 4] : model, ARG_N);
    else if (strcmp(cmd, "stale") == 0 && argc - argi > 4)
        rc = cmd_stale(model, argv[argi + 3], argv[argi + 4]);
    else if (strcmp(cmd, "shutdown") == 0 && ARG_N > 0 && ARG_N <= MAX_REQ)
        return cmd_shutdown(model, ARG_N,
                            inflight > 0 ? inflight : LLMC_SLOTS);
    else if (strcmp(cmd, "reenter") == 0 && ARG_N > 0 &&
             ARG_N < MAX_REQ && argc - argi > 4)
        rc = cmd_reenter(model, ARG_N, argv[argi + 4],
                         argc - argi > 5 ? argv[argi + 5] : model);
    else if (strcmp(cmd, "after") == 0 && ARG_N > 0 && argc - argi > 4)
        rc = cmd_after(model, argv[argi + 4], ARG_N);
    else if (strcmp(cmd, "dcancel") == 0)
        rc = cmd_dcancel(model);
    else if (strcmp(cmd, "tokcancel") == 0)
        rc = cmd_tokcancel(model);
    else if (strcmp(cmd, "thread") == 0)
        rc = cmd_thread(model);
    else if (strcmp(cmd, "refill") == 0)
        rc = cmd_refill(model);
    else if (strcmp(cmd, "tcancel") == 0)
        rc = cmd_tcancel(model);
    else if (strcmp(cmd, "tstress") == 0 && ARG_N > 0 && ARG_N <= MAX_REQ)
        rc = cmd_tstress(model, ARG_N);
    else if (strcmp(cmd, "tshutdown") == 0 && ARG_N > 0 && ARG_N <= MAX_REQ)
        rc = cmd_tshutdown(model, ARG_N);
    else {
        fprintf(stderr, "llmc-conc: bad command line\n");
        rc = 2;
    }
    llmc_client_shutdown(&g_client);
    fflush(stdout);
    return rc;
}
