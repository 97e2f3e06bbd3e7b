/*
 * LD_PRELOAD shim for the plain (non-sanitizer) tools: socket() fails, as
 * it does for a process at its file descriptor limit.
 *
 *   LLMC_FAIL_SOCKET=E   every socket() fails with errno E (24: EMFILE,
 *                        out of file descriptors); unset or empty: the
 *                        real socket()
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

int socket(int domain, int type, int protocol)
{
    static int (*real)(int, int, int);
    const char *e = getenv("LLMC_FAIL_SOCKET");

    if (e != NULL && *e != '\0') {
        errno = atoi(e);
        return -1;
    }
    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "socket");
    return real(domain, type, protocol);
}
