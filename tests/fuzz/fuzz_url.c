/* URL parser: any string; an accepted URL has a host that fits and a
 * path inside the input. */
#include "fuzz_common.h"
#include "llmc_url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[512];
    llmc_url_t u;
    if (size >= sizeof(s))
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (llmc_url_parse(s, &u) == 0) {
        FUZZ_ASSERT(strlen(u.host) > 0 && strlen(u.host) < sizeof(u.host));
        FUZZ_ASSERT(u.path >= s && u.path + u.path_len <= s + size);
        FUZZ_ASSERT(u.port != 0);
    }
    return 0;
}
