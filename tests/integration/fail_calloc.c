/*
 * LD_PRELOAD shim for the plain (non-sanitizer) tools: a heap short of
 * large blocks, as a board's is once a few TLS connections are open.
 * mbedTLS (Debian's build, without MBEDTLS_PLATFORM_MEMORY) allocates with
 * calloc and gives back with free; its 16 KB record buffers, two per
 * connection, are the largest blocks a tool asks for.
 *
 *   LLMC_FAIL_CALLOC_MIN=B   a block of B bytes or more is large
 *   LLMC_FAIL_CALLOC_KEEP=N  calloc hands out at most N large blocks at a
 *                            time (0, the default: none); free gives one
 *                            back
 *   LLMC_FAIL_CALLOC_HANDSHAKE=1
 *                            each mbedtls_ssl_handshake() call also holds
 *                            one large block while it runs, and fails with
 *                            MBEDTLS_ERR_SSL_ALLOC_FAILED when none is
 *                            left: mbedTLS 4's handshake allocates such a
 *                            block beyond the record buffers that
 *                            mbedtls_ssl_setup() took, 2.28's does not
 *
 * glibc's own __libc_calloc and __libc_free do the rest.
 */
#define _GNU_SOURCE /* RTLD_NEXT */
#include <dlfcn.h>
#include <stddef.h>
#include <stdlib.h>

extern void *__libc_calloc(size_t n, size_t size);
extern void __libc_free(void *p);

enum { MAX_KEPT = 64 };
static void *kept[MAX_KEPT]; /* the large blocks handed out */
static size_t min_size, keep;

static size_t env_size(const char *name, size_t dflt)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? (size_t)strtoul(v, NULL, 10) : dflt;
}

void *calloc(size_t n, size_t size)
{
    size_t i, held = 0;
    void *p;
    if (min_size == 0) {
        min_size = env_size("LLMC_FAIL_CALLOC_MIN", (size_t)-1);
        keep = env_size("LLMC_FAIL_CALLOC_KEEP", 0);
        if (keep > MAX_KEPT)
            keep = MAX_KEPT;
    }
    /* an overflowing n * size is glibc's to refuse */
    if (size == 0 || n > (size_t)-1 / size || n * size < min_size)
        return __libc_calloc(n, size);
    for (i = 0; i < MAX_KEPT; i++)
        held += kept[i] != NULL;
    if (held >= keep)
        return NULL;
    p = __libc_calloc(n, size);
    for (i = 0; p != NULL && i < MAX_KEPT; i++)
        if (kept[i] == NULL) {
            kept[i] = p;
            break;
        }
    return p;
}

void free(void *p)
{
    size_t i;
    for (i = 0; p != NULL && i < MAX_KEPT; i++)
        if (kept[i] == p)
            kept[i] = NULL;
    __libc_free(p);
}

int mbedtls_ssl_handshake(void *ssl)
{
    static int (*real)(void *);
    const char *v = getenv("LLMC_FAIL_CALLOC_HANDSHAKE");
    void *block;
    int rc;
    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "mbedtls_ssl_handshake");
    if (v == NULL || *v != '1')
        return real(ssl);
    if (min_size == 0)
        free(calloc(1, 1)); /* reads the settings */
    block = calloc(1, min_size);
    if (block == NULL)
        return -0x7F00; /* MBEDTLS_ERR_SSL_ALLOC_FAILED */
    rc = real(ssl);
    free(block);
    return rc;
}
