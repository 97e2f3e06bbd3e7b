/* Debian's lwIP options without IPv4 (see mk/lwip.mk, lwip-variants). */
#include_next <lwipopts.h>
#undef LWIP_IPV4
#define LWIP_IPV4 0
