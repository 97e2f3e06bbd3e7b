/* Debian's lwIP options with DNS on: compiles llmc_port_lwip.c's
 * lwip_getaddrinfo() path (see mk/lwip.mk, lwip-variants). */
#include_next <lwipopts.h>
#undef LWIP_DNS
#define LWIP_DNS 1
