/*
 * A cmocka-compatible subset for bare-metal targets, where libcmocka does not
 * exist: the same tests/unit/test_*.c compile unchanged against it (they
 * include <cmocka.h>; tests/mcu comes first on the include path). It covers
 * what those tests use: cmocka_unit_test*, cmocka_run_group_tests, the
 * assert_* checks, fail, fail_msg and skip. No mocking, no leak checking.
 *
 * A failed check prints "file:line: message" and longjmps back to the
 * runner, which reports the test as cmocka does ("[  FAILED  ] name") and
 * goes on with the next one. Output goes through stdio (semihosting).
 */
#ifndef LLMC_MCU_CMOCKA_H
#define LLMC_MCU_CMOCKA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define LLMC_MCU_NORETURN __attribute__((noreturn))
#define LLMC_MCU_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LLMC_MCU_NORETURN
#define LLMC_MCU_PRINTF(a, b)
#endif

typedef uintmax_t LargestIntegralType;
typedef void (*CMUnitTestFunction)(void **state);
typedef int (*CMFixtureFunction)(void **state);

struct CMUnitTest {
    const char *name;
    CMUnitTestFunction test_func;
    CMFixtureFunction setup_func;
    CMFixtureFunction teardown_func;
    void *initial_state;
};

#define cmocka_unit_test(f) {#f, f, NULL, NULL, NULL}
#define cmocka_unit_test_setup(f, setup) {#f, f, setup, NULL, NULL}
#define cmocka_unit_test_teardown(f, teardown) {#f, f, NULL, teardown, NULL}
#define cmocka_unit_test_setup_teardown(f, setup, teardown) \
    {#f, f, setup, teardown, NULL}
#define cmocka_unit_test_prestate(f, state) {#f, f, NULL, NULL, state}
#define cmocka_unit_test_prestate_setup_teardown(f, setup, teardown, state) \
    {#f, f, setup, teardown, state}

#define cmocka_run_group_tests(tests, group_setup, group_teardown)        \
    _cmocka_run_group_tests(#tests, (tests),                              \
                            sizeof(tests) / sizeof((tests)[0]),           \
                            (group_setup), (group_teardown))
#define cmocka_run_group_tests_name(name, tests, group_setup, group_teardown) \
    _cmocka_run_group_tests((name), (tests),                                 \
                            sizeof(tests) / sizeof((tests)[0]),              \
                            (group_setup), (group_teardown))

int _cmocka_run_group_tests(const char *group_name,
                            const struct CMUnitTest *tests, size_t n,
                            CMFixtureFunction group_setup,
                            CMFixtureFunction group_teardown);

LLMC_MCU_NORETURN LLMC_MCU_PRINTF(3, 4) void
_llmc_mcu_fail(const char *file, int line, const char *fmt, ...);
LLMC_MCU_NORETURN void _llmc_mcu_skip(const char *file, int line);
void _llmc_mcu_int_equal(LargestIntegralType a, LargestIntegralType b,
                         int want_equal, const char *file, int line);
void _llmc_mcu_in_range(LargestIntegralType v, LargestIntegralType lo,
                        LargestIntegralType hi, int want_in,
                        const char *file, int line);
void _llmc_mcu_string_equal(const char *a, const char *b, int want_equal,
                            const char *file, int line);
void _llmc_mcu_memory_equal(const void *a, const void *b, size_t n,
                            int want_equal, const char *file, int line);

#define LLMC_MCU_CAST(v) ((LargestIntegralType)(v))

#define assert_true(c) \
    ((c) ? (void)0 : _llmc_mcu_fail(__FILE__, __LINE__, "%s", #c))
#define assert_false(c) \
    (!(c) ? (void)0 : _llmc_mcu_fail(__FILE__, __LINE__, "%s", #c))
#define assert_null(p)                                               \
    ((const void *)(p) == NULL ? (void)0                             \
                               : _llmc_mcu_fail(__FILE__, __LINE__,  \
                                                "%s is not NULL", #p))
#define assert_non_null(p)                                           \
    ((const void *)(p) != NULL ? (void)0                             \
                               : _llmc_mcu_fail(__FILE__, __LINE__,  \
                                                "%s is NULL", #p))
#define assert_ptr_equal(a, b)                                          \
    ((const void *)(a) == (const void *)(b)                             \
         ? (void)0                                                      \
         : _llmc_mcu_fail(__FILE__, __LINE__, "%p != %p",               \
                          (const void *)(a), (const void *)(b)))
#define assert_ptr_not_equal(a, b)                                      \
    ((const void *)(a) != (const void *)(b)                             \
         ? (void)0                                                      \
         : _llmc_mcu_fail(__FILE__, __LINE__, "%p == %p",               \
                          (const void *)(a), (const void *)(b)))
#define assert_int_equal(a, b) \
    _llmc_mcu_int_equal(LLMC_MCU_CAST(a), LLMC_MCU_CAST(b), 1, __FILE__, __LINE__)
#define assert_int_not_equal(a, b) \
    _llmc_mcu_int_equal(LLMC_MCU_CAST(a), LLMC_MCU_CAST(b), 0, __FILE__, __LINE__)
#define assert_in_range(v, lo, hi)                                       \
    _llmc_mcu_in_range(LLMC_MCU_CAST(v), LLMC_MCU_CAST(lo),              \
                       LLMC_MCU_CAST(hi), 1, __FILE__, __LINE__)
#define assert_not_in_range(v, lo, hi)                                   \
    _llmc_mcu_in_range(LLMC_MCU_CAST(v), LLMC_MCU_CAST(lo),              \
                       LLMC_MCU_CAST(hi), 0, __FILE__, __LINE__)
#define assert_string_equal(a, b) \
    _llmc_mcu_string_equal((a), (b), 1, __FILE__, __LINE__)
#define assert_string_not_equal(a, b) \
    _llmc_mcu_string_equal((a), (b), 0, __FILE__, __LINE__)
#define assert_memory_equal(a, b, n) \
    _llmc_mcu_memory_equal((a), (b), (n), 1, __FILE__, __LINE__)
#define assert_memory_not_equal(a, b, n) \
    _llmc_mcu_memory_equal((a), (b), (n), 0, __FILE__, __LINE__)
#define assert_return_code(rc, err)                                      \
    ((rc) >= 0 ? (void)0                                                 \
               : _llmc_mcu_fail(__FILE__, __LINE__, "%s < 0 (error %d)", \
                                #rc, (int)(err)))

#define fail() _llmc_mcu_fail(__FILE__, __LINE__, "%s", "fail()")
#define fail_msg(...) _llmc_mcu_fail(__FILE__, __LINE__, __VA_ARGS__)
#define skip() _llmc_mcu_skip(__FILE__, __LINE__)

int print_message(const char *fmt, ...) LLMC_MCU_PRINTF(1, 2);
int print_error(const char *fmt, ...) LLMC_MCU_PRINTF(1, 2);

#ifdef __cplusplus
}
#endif

#endif /* LLMC_MCU_CMOCKA_H */
