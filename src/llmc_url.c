#include "llmc_url.h"

#include <string.h>

#include "llmc/llmc.h"
#include "llmc_util.h"

/* A host name's characters, or an IPv6 literal's within [] */
static bool host_char(char c, bool v6)
{
    char l = (char)(c | 0x20); /* letters to lower case; nothing else
                                  lands on 'a'..'z' */
    if (c == '.' || (c >= '0' && c <= '9'))
        return true;
    if (v6)
        return c == ':' || (l >= 'a' && l <= 'f');
    return (l >= 'a' && l <= 'z') || c == '-' || c == '_';
}

/* Path characters allowed as they are in a request line. */
static bool path_char(char c)
{
    return (unsigned char)c > 0x20 && (unsigned char)c < 0x7f &&
           strchr("?#\"<>\\", c) == NULL;
}

int llmc_url_parse(const char *url, llmc_url_t *u)
{
    const char *p, *h, *he;
    size_t hl;
    bool tls, v6;

    memset(u, 0, sizeof(*u));
    /* llmc_ieq stops at the first difference, so it never reads past the
     * end of a shorter url */
    if (url == NULL)
        return LLMC_ERR_URL;
    tls = llmc_ieq(url, "https://", 8);
    if (!tls && !llmc_ieq(url, "http://", 7))
        return LLMC_ERR_URL;
    p = url + 7 + tls;
    u->tls = tls;
    u->port = tls ? 443 : 80;
    u->default_port = true;
    v6 = *p == '['; /* an IPv6 literal */
    p += v6;
    h = p;
    while (host_char(*p, v6))
        p++;
    he = p;
    hl = (size_t)(he - h);
    /* an IPv6 literal has a ':' (RFC 3986 3.2.2): no name nor IPv4 in [] */
    if (v6 && (*p++ != ']' || memchr(h, ':', hl) == NULL))
        return LLMC_ERR_URL;
    if (hl == 0 || hl >= sizeof(u->host))
        return LLMC_ERR_URL;
    memcpy(u->host, h, hl); /* NUL-ended: u was zeroed */
    if (*p == ':') {
        /* the digits end at the first other byte, the NUL at the latest */
        uint64_t r = llmc_parse_dec(++p, (size_t)-1);
        uint32_t port = (uint32_t)r;
        p += (size_t)(r >> 32);
        if (port == 0 || port > 65535) /* also when no digit follows */
            return LLMC_ERR_URL;
        u->default_port = port == u->port;
        u->port = (uint16_t)port;
    }
    if (*p != '\0' && *p != '/')
        return LLMC_ERR_URL;
    u->path = h = p;
    for (; *p != '\0'; p++)
        if (!path_char(*p))
            return LLMC_ERR_URL;
    while (p > h && p[-1] == '/')
        p--;
    u->path_len = (size_t)(p - h);
    return LLMC_OK;
}
