/*
 * What picolibc's semihosting library gives the other MCU test runs, for
 * qemu's Xtensa sim machine, which Debian's picolibc for LX106 lacks: the
 * standard streams write to qemu's stdout through SIMCALL (ISS system call
 * 4, write), and _exit ends qemu through SIMCALL 1 (exit). qemu runs with
 * -semihosting, without which SIMCALL does nothing.
 */
#include <stdint.h>
#include <stdio.h>

static int simcall(int nr, int a, int b, int c)
{
    register int a2 __asm__("a2") = nr;
    register int a3 __asm__("a3") = a;
    register int a4 __asm__("a4") = b;
    register int a5 __asm__("a5") = c;
    __asm__ volatile("simcall" : "+r"(a2), "+r"(a3) : "r"(a4), "r"(a5)
                     : "memory");
    return a2;
}

static int sim_putc(char ch, FILE *f)
{
    (void)f;
    return simcall(4, 1, (int)(intptr_t)&ch, 1) == 1 ? (unsigned char)ch
                                                     : EOF;
}

static FILE g_stdio = FDEV_SETUP_STREAM(sim_putc, NULL, NULL, _FDEV_SETUP_WRITE);
FILE *const stdin = &g_stdio;
FILE *const stdout = &g_stdio;
FILE *const stderr = &g_stdio;

void _exit(int code);
void _exit(int code)
{
    simcall(1, code, 0, 0);
    for (;;) {
    }
}
