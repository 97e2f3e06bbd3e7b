/* Debian's lwIP options without IPv6 (see mk/lwip.mk, lwip-variants). */
#include_next <lwipopts.h>
#undef LWIP_IPV6
#define LWIP_IPV6 0
