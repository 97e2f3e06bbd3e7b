/* Debian's lwIP options with lwip_select() instead of lwip_poll(), as some
 * board configurations have: compiles llmc_port_lwip.c's select path (see
 * mk/lwip.mk, lwip-variants). */
#include_next <lwipopts.h>
#undef LWIP_SOCKET_SELECT
#define LWIP_SOCKET_SELECT 1
#undef LWIP_SOCKET_POLL
#define LWIP_SOCKET_POLL 0
