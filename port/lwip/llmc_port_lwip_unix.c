/*
 * For running the lwIP port on Linux (Debian's liblwip with its pthread
 * sys_arch): the OS half is port/posix/llmc_port_posix_os.c, and wake-up
 * hands over to the lwIP network half. On a board, port/freertos or
 * port/esp-idf play both parts.
 */
#include "llmc/llmc_port.h"
#include "llmc_port_lwip.h"

void llmc_port_wake(void)
{
    llmc_port_lwip_wake(); /* a flag: safe from signal handlers too */
}

uint32_t llmc_port_lwip_min_wait_ms(void)
{
    return 1; /* the Unix sys_arch waits in ms */
}
