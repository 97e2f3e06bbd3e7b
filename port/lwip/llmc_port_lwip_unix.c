/*
 * llmc port, OS half, for running the lwIP port on Linux (Debian's liblwip
 * with its pthread sys_arch): CLOCK_MONOTONIC, getrandom(), stderr, a
 * pthread mutex. On a board, port/freertos or port/esp-idf play this part.
 * The network half is llmc_port_lwip.c; llmc_port_wake() hands over to it.
 */
#define _GNU_SOURCE
#include "llmc/llmc_port.h"
#include "llmc_port_lwip.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

void llmc_port_wake(void)
{
    llmc_port_lwip_wake(); /* a flag: safe from signal handlers too */
}

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
