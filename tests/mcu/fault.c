/*
 * A crash in a test on the emulated MCU ends the run at once with a report
 * and the end marker (exit 1), instead of hanging until the runner's
 * timeout. Cortex-M: replaces picolibc's weak fault handlers. RISC-V:
 * points mtvec at a handler before main (picolibc installs none). Xtensa:
 * the vectors of xtensa_start.S call the handler below.
 */
#include <stdint.h>
#include <stdio.h>

static void crashed(const char *what, unsigned long a, unsigned long b,
                    unsigned long c)
{
    printf("\n[  ERROR   ] %s (0x%08lx 0x%08lx 0x%08lx)\n", what, a, b, c);
    printf("[ MCU-END  ] exit 1\n");
    fflush(stdout);
    for (;;) {
    }
}

#if defined(__arm__)

#define REG(a) (*(volatile uint32_t *)(a))
static void fault(const char *what)
{
    /* CFSR, HFSR, BFAR */
    crashed(what, REG(0xE000ED28u), REG(0xE000ED2Cu), REG(0xE000ED38u));
}

void arm_hardfault_isr(void);
void arm_memmanage_isr(void);
void arm_busfault_isr(void);
void arm_usagefault_isr(void);
void arm_hardfault_isr(void) { fault("hard fault (CFSR HFSR BFAR)"); }
void arm_memmanage_isr(void) { fault("memmanage fault (CFSR HFSR BFAR)"); }
void arm_busfault_isr(void) { fault("bus fault (CFSR HFSR BFAR)"); }
void arm_usagefault_isr(void) { fault("usage fault (CFSR HFSR BFAR)"); }

#elif defined(__riscv)

/* CSR access spelled with .insn: the toolchain's -march=rv32imc has no
 * zicsr. csrrs rd, csr, x0 reads; csrrw x0, csr, rs writes. */
#define CSR_READ(csr, v) \
    __asm__ volatile(".insn i 0x73, 2, %0, x0, " #csr : "=r"(v))

__attribute__((aligned(4))) static void trap(void)
{
    unsigned long cause, epc, tval;
    CSR_READ(0x342, cause); /* mcause */
    CSR_READ(0x341, epc);   /* mepc */
    CSR_READ(0x343, tval);  /* mtval */
    crashed("trap (mcause mepc mtval)", cause, epc, tval);
}

__attribute__((constructor)) static void trap_install(void)
{
    __asm__ volatile(".insn i 0x73, 1, x0, %0, 0x305" : : "r"(trap)); /* mtvec */
}

#elif defined(__XTENSA__)

void llmc_mcu_xtensa_exception(void);
void llmc_mcu_xtensa_exception(void)
{
    unsigned long cause, epc, vaddr;
    __asm__ volatile("rsr %0, exccause" : "=r"(cause));
    __asm__ volatile("rsr %0, epc1" : "=r"(epc));
    __asm__ volatile("rsr %0, excvaddr" : "=r"(vaddr));
    crashed("exception (EXCCAUSE EPC1 EXCVADDR)", cause, epc, vaddr);
}

#endif
