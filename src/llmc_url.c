#include "llmc_url.h"

#include <string.h>

#include "llmc/llmc.h"
#include "llmc_util.h"

static bool host_char(char c)
{
    char l = (char)(c | 0x20); /* letters to lower case; nothing else
                                  lands on 'a'..'z' */
    return (l >= 'a' && l <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
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
    bool tls;

    memset(u, 0, sizeof(*u));
    /* llmc_ieq stops at the first difference, so it never reads past the
     * end of a shorter url */
    if (url == NULL || !llmc_ieq(url, "http", 4))
        return LLMC_ERR_URL;
    p = url + 4;
    tls = (*p | 0x20) == 's';
    p += tls;
    if (!llmc_ieq(p, "://", 3))
        return LLMC_ERR_URL;
    p += 3;
    u->tls = tls;
    u->port = tls ? 443 : 80;
    u->default_port = true;
    if (*p == '[') { /* IPv6 literal */
        h = ++p;
        while (*p && *p != ']') {
            if (llmc_hexval(*p) < 0 && *p != ':' && *p != '.')
                return LLMC_ERR_URL;
            p++;
        }
        if (*p != ']')
            return LLMC_ERR_URL;
        he = p++;
    } else {
        h = p;
        while (host_char(*p))
            p++;
        he = p;
    }
    hl = (size_t)(he - h);
    if (hl == 0 || hl >= sizeof(u->host))
        return LLMC_ERR_URL;
    memcpy(u->host, h, hl);
    u->host[hl] = '\0';
    if (*p == ':') {
        uint32_t port = 0;
        p++;
        while (*p >= '0' && *p <= '9') {
            port = port * 10 + (uint32_t)(*p - '0');
            if (port > 65535)
                return LLMC_ERR_URL;
            p++;
        }
        if (port == 0) /* also when no digit follows the ':' */
            return LLMC_ERR_URL;
        u->default_port = port == u->port;
        u->port = (uint16_t)port;
    }
    if (*p != '\0' && *p != '/')
        return LLMC_ERR_URL;
    u->path = p;
    while (*p) {
        if (!path_char(*p))
            return LLMC_ERR_URL;
        p++;
    }
    u->path_len = (size_t)(p - u->path);
    while (u->path_len > 0 && u->path[u->path_len - 1] == '/')
        u->path_len--;
    return LLMC_OK;
}
