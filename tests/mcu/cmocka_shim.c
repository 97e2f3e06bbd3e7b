/*
 * The runner behind tests/mcu/cmocka.h. Prints cmocka's own report lines so
 * that one parser reads host and MCU runs, and an end marker after main()
 * returns (linked with -Wl,--wrap=main): QEMU's RISC-V and picolibc's ARM
 * semihosting exit do not end the emulator, so scripts/check.d/mcu.sh stops
 * it when the marker appears.
 */
#include "cmocka.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum { RES_OK, RES_FAILED, RES_SKIPPED };

static jmp_buf g_jmp;
static int g_in_test;

static void vreport(const char *file, int line, const char *fmt, va_list ap)
{
    printf("%s:%d: error: ", file, line);
    vprintf(fmt, ap);
    printf("\n");
}

void _llmc_mcu_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(file, line, fmt, ap);
    va_end(ap);
    if (g_in_test)
        longjmp(g_jmp, RES_FAILED);
    printf("check failed outside a test\n");
    for (;;) {
    }
}

void _llmc_mcu_skip(const char *file, int line)
{
    (void)file;
    (void)line;
    if (g_in_test)
        longjmp(g_jmp, RES_SKIPPED);
    for (;;) {
    }
}

void _llmc_mcu_int_equal(LargestIntegralType a, LargestIntegralType b,
                         int want_equal, const char *file, int line)
{
    if ((a == b) == (want_equal != 0))
        return;
    _llmc_mcu_fail(file, line, "%lld (%#llx) %s %lld (%#llx)", (long long)a,
                   (unsigned long long)a, want_equal ? "!=" : "==",
                   (long long)b, (unsigned long long)b);
}

void _llmc_mcu_in_range(LargestIntegralType v, LargestIntegralType lo,
                        LargestIntegralType hi, int want_in, const char *file,
                        int line)
{
    int in = v >= lo && v <= hi;
    if (in == (want_in != 0))
        return;
    _llmc_mcu_fail(file, line, "%llu is %s range [%llu, %llu]",
                   (unsigned long long)v, want_in ? "not in" : "in",
                   (unsigned long long)lo, (unsigned long long)hi);
}

void _llmc_mcu_string_equal(const char *a, const char *b, int want_equal,
                            const char *file, int line)
{
    int eq = a != NULL && b != NULL ? strcmp(a, b) == 0 : a == b;
    if (eq == (want_equal != 0))
        return;
    _llmc_mcu_fail(file, line, "\"%s\" %s \"%s\"", a ? a : "(null)",
                   want_equal ? "!=" : "==", b ? b : "(null)");
}

void _llmc_mcu_memory_equal(const void *a, const void *b, size_t n,
                            int want_equal, const char *file, int line)
{
    const unsigned char *x = a, *y = b;
    size_t i;
    if (!want_equal) {
        if (memcmp(a, b, n) != 0)
            return;
        _llmc_mcu_fail(file, line, "%u bytes are equal", (unsigned)n);
    }
    for (i = 0; i < n; i++)
        if (x[i] != y[i])
            _llmc_mcu_fail(file, line,
                           "difference at byte %u: 0x%02x != 0x%02x",
                           (unsigned)i, x[i], y[i]);
}

int print_message(const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vprintf(fmt, ap);
    va_end(ap);
    return n;
}

int print_error(const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vprintf(fmt, ap);
    va_end(ap);
    return n;
}

/* Runs one fixture or test under the jump buffer; returns RES_*. */
static int guarded(CMUnitTestFunction test, CMFixtureFunction fixture,
                   void **state)
{
    volatile int res;
    g_in_test = 1;
    res = setjmp(g_jmp);
    if (res == 0) {
        if (test != NULL)
            test(state);
        else if (fixture(state) != 0)
            res = RES_FAILED;
    }
    g_in_test = 0;
    return res;
}

int _cmocka_run_group_tests(const char *group_name,
                            const struct CMUnitTest *tests, size_t n,
                            CMFixtureFunction group_setup,
                            CMFixtureFunction group_teardown)
{
    size_t i, passed = 0, failed = 0, skipped = 0;
    void *group_state = NULL;
    static unsigned char failed_mark[1024];

    printf("[==========] Running %u test(s).\n", (unsigned)n);
    if (group_setup != NULL &&
        guarded(NULL, group_setup, &group_state) != RES_OK) {
        printf("[  ERROR   ] %s: group setup failed\n", group_name);
        return (int)n;
    }
    for (i = 0; i < n; i++) {
        const struct CMUnitTest *t = &tests[i];
        void *state = t->initial_state != NULL ? t->initial_state : group_state;
        int res = RES_OK;

        printf("[ RUN      ] %s\n", t->name);
        if (t->setup_func != NULL)
            res = guarded(NULL, t->setup_func, &state);
        if (res == RES_OK)
            res = guarded(t->test_func, NULL, &state);
        if (t->teardown_func != NULL &&
            guarded(NULL, t->teardown_func, &state) != RES_OK &&
            res == RES_OK)
            res = RES_FAILED;
        if (res == RES_OK) {
            passed++;
            printf("[       OK ] %s\n", t->name);
        } else if (res == RES_SKIPPED) {
            skipped++;
            printf("[  SKIPPED ] %s\n", t->name);
        } else {
            failed++;
            if (i < sizeof(failed_mark))
                failed_mark[i] = 1;
            printf("[  FAILED  ] %s\n", t->name);
        }
    }
    if (group_teardown != NULL)
        (void)guarded(NULL, group_teardown, &group_state);
    printf("[==========] %u test(s) run.\n", (unsigned)n);
    printf("[  PASSED  ] %u test(s).\n", (unsigned)passed);
    if (skipped > 0)
        printf("[  SKIPPED ] %u test(s).\n", (unsigned)skipped);
    if (failed > 0) {
        printf("[  FAILED  ] %u test(s), listed below:\n", (unsigned)failed);
        for (i = 0; i < n && i < sizeof(failed_mark); i++)
            if (failed_mark[i])
                printf("[  FAILED  ] %s\n", tests[i].name);
    }
    (void)group_name;
    return (int)failed;
}

int __real_main(void);
int __wrap_main(void);

int __wrap_main(void)
{
    int rc = __real_main();
    printf("\n[ MCU-END  ] exit %d\n", rc);
    fflush(stdout);
    return rc;
}
