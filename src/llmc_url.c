#include "llmc_url.h"

#include <string.h>

#include "llmc/llmc.h"
#include "llmc_util.h"

static bool host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

/* Path characters allowed as they are in a request line. */
static bool path_char(char c)
{
    return (unsigned char)c > 0x20 && (unsigned char)c < 0x7f && c != '?' &&
           c != '#' && c != '"' && c != '<' && c != '>' && c != '\\';
}

int llmc_url_parse(const char *url, llmc_url_t *u)
{
    const char *p, *h, *he;
    size_t hl;

    memset(u, 0, sizeof(*u));
    if (url == NULL)
        return LLMC_ERR_URL;
    if (llmc_ieq(url, "https://", 8) && strlen(url) >= 8) {
        u->tls = true;
        u->port = 443;
        p = url + 8;
    } else if (llmc_ieq(url, "http://", 7) && strlen(url) >= 7) {
        u->port = 80;
        p = url + 7;
    } else {
        return LLMC_ERR_URL;
    }
    u->default_port = true;
    if (*p == '[') { /* IPv6 literal */
        h = ++p;
        while (*p && *p != ']') {
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
                  (*p >= 'A' && *p <= 'F') || *p == ':' || *p == '.'))
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
        if (*p < '0' || *p > '9')
            return LLMC_ERR_URL;
        while (*p >= '0' && *p <= '9') {
            port = port * 10 + (uint32_t)(*p - '0');
            if (port > 65535)
                return LLMC_ERR_URL;
            p++;
        }
        if (port == 0)
            return LLMC_ERR_URL;
        u->default_port = port == (u->tls ? 443u : 80u);
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
