/*
 * Start-up for the unit tests on qemu's Xtensa sim machine with an LX106
 * core (tests/mcu/xtensa-sim.ld): picolibc's crt0 does not set the stack
 * pointer, so this does, points VECBASE at vectors that report a crash
 * (an unaligned load or store, a bad address, an illegal instruction: see
 * fault.c) and then runs picolibc's _start.
 */
/* qemu's sim machine starts at the LX106's reset vector, in its sysrom at
 * 0x50000000, whatever the ELF's entry: jump from there to the start */
    .section .sim.reset, "ax"
    .global llmc_sim_reset
llmc_sim_reset:
    j       1f
    .align 4
.Lstart:   .word llmc_sim_start
1:  l32r    a0, .Lstart
    jx      a0

    .section .sim.entry.literal, "ax"
    .align 4
.Lstack:   .word __stack
.Lvectors: .word llmc_sim_vectors
.Lfault:   .word llmc_mcu_xtensa_exception

    .section .sim.entry, "ax"
    .align 4
    .global llmc_sim_start
llmc_sim_start:
    l32r    a1, .Lstack
    l32r    a2, .Lvectors
    wsr     a2, vecbase
    /* out of reset PS.EXCM is set, which would make any exception a double
     * one; clear it (interrupts stay masked: PS.INTLEVEL 15) */
    movi    a2, 0x0F
    wsr     a2, ps
    rsync
    movi    a0, 0
    j       _start

/* LX106 vector offsets from VECBASE (XEA2) */
    .section .sim.vectors, "ax"
    .align 1024
    .global llmc_sim_vectors
llmc_sim_vectors:
    .org    0x10            /* debug / level 2 */
    j       .Lcrash
    .org    0x20            /* NMI */
    j       .Lcrash
    .org    0x30            /* kernel exception */
    j       .Lcrash
    .org    0x50            /* user exception */
    j       .Lcrash
    .org    0x70            /* double exception */
    j       .Lcrash
    .org    0x80
.Lcrash:
    l32r    a0, .Lfault
    callx0  a0
1:  j       1b
