/*
 * LD_PRELOAD shim for the plain (non-sanitizer) tools: calloc() returns NULL
 * for any block of LLMC_FAIL_CALLOC_MIN bytes or more, as a board's heap
 * does once it is short. mbedTLS (Debian's build, without
 * MBEDTLS_PLATFORM_MEMORY) allocates through calloc; its 16 KB record
 * buffers are the largest blocks a tool asks for, so a limit below them
 * fails exactly those. glibc's own __libc_calloc does the rest.
 */
#include <stdlib.h>

extern void *__libc_calloc(size_t n, size_t size);

void *calloc(size_t n, size_t size)
{
    static size_t min;
    if (min == 0) {
        const char *v = getenv("LLMC_FAIL_CALLOC_MIN");
        min = v != NULL ? strtoul(v, NULL, 10) : 0;
        if (min == 0)
            min = (size_t)-1;
    }
    /* an overflowing n * size is glibc's to refuse */
    if (size != 0 && n <= (size_t)-1 / size && n * size >= min)
        return NULL;
    return __libc_calloc(n, size);
}
