/*
 * llmc port for POSIX systems, OS half: CLOCK_MONOTONIC, getrandom(),
 * logging to stderr, a pthread mutex. Shared by port/posix and by the
 * Linux build of port/lwip (which brings its own llmc_port_wake()).
 */
#define _GNU_SOURCE
#include "llmc/llmc_port.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

uint64_t llmc_port_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int llmc_port_random(void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

void llmc_port_log(int level, const char *msg, size_t len)
{
    static const char *const names[] = {"", "E", "W", "I", "D"};
    fprintf(stderr, "llmc %s: %.*s\n",
            names[level >= 1 && level <= 4 ? level : 0], (int)len, msg);
}

void llmc_port_lock(void)
{
    pthread_mutex_lock(&g_lock);
}

void llmc_port_unlock(void)
{
    pthread_mutex_unlock(&g_lock);
}
