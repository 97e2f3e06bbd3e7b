#define _POSIX_C_SOURCE 200809L /* fcntl, open */
#include "llmc_tool_config.h"

#include "llmc_json.h"   /* llmc_json_valid, llmc_json_unescape, llmc_utf8_check */
#include "llmc_url.h"    /* llmc_url_parse: which URL was refused */
#include "llmc_writer.h" /* llmc_json_escape */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define JSMN_STATIC
#define JSMN_STRICT
#include <jsmn.h>

#define FILE_MAX (256 * 1024)
#define TOKENS 4096

static char g_text[FILE_MAX + 1];
static jsmntok_t g_tok[TOKENS];

const char *llmc_tool_env_value(const char *s)
{
    if (s != NULL && strncmp(s, "env:", 4) == 0)
        return getenv(s + 4);
    return s;
}

static int skip(int i, int n)
{
    int end = g_tok[i].end;
    i++;
    while (i < n && g_tok[i].start < end)
        i++;
    return i;
}

static bool key_is(int k, const char *name)
{
    size_t n = strlen(name);
    return g_tok[k].type == JSMN_STRING &&
           (size_t)(g_tok[k].end - g_tok[k].start) == n &&
           memcmp(g_text + g_tok[k].start, name, n) == 0;
}

/* Unescape in place (llmc's decoder: surrogate pairs, a lone surrogate
 * U+FFFD) and NUL-terminate at the closing quote's place, or before it;
 * NULL for a string holding U+0000, which a C string cannot carry. */
static const char *str_at(int t)
{
    char *s = g_text + g_tok[t].start;
    size_t n = (size_t)(g_tok[t].end - g_tok[t].start), o;
    if (llmc_json_unescape(s, n, &o, NULL) != LLMC_OK ||
        memchr(s, '\0', o) != NULL)
        return NULL;
    s[o] = '\0';
    return s;
}

static int fail(llmc_tool_config_t *cfg, const char *what, const char *detail)
{
    snprintf(cfg->err, sizeof(cfg->err), "%s%s%s", what, detail ? ": " : "",
             detail ? detail : "");
    return -1;
}

/* A key given twice in the object at token obj (as written: a key that
 * differs by its escapes is an unknown one): which of the two counts
 * would be a guess ("providers" twice would join both lists), and the
 * first one's setting lost without a word. */
static int dup_key(llmc_tool_config_t *cfg, int obj, int n, const char *where)
{
    int end = skip(obj, n), k, j;
    for (k = obj + 1; k < end; k = skip(k + 1, n))
        for (j = obj + 1; j < k; j = skip(j + 1, n))
            if (g_tok[j].end - g_tok[j].start ==
                    g_tok[k].end - g_tok[k].start &&
                memcmp(g_text + g_tok[j].start, g_text + g_tok[k].start,
                       (size_t)(g_tok[k].end - g_tok[k].start)) == 0) {
                int m = g_tok[k].end - g_tok[k].start;
                snprintf(cfg->err, sizeof(cfg->err),
                         "key \"%.*s%s\" given twice in %s",
                         m > 40 ? 40 : m, g_text + g_tok[k].start,
                         m > 40 ? "..." : "", where);
                return -1;
            }
    return 0;
}

/* A key the loader does not know: most likely a misspelt one, whose
 * setting would otherwise be silently left at its default. */
static int unknown_key(llmc_tool_config_t *cfg, int k, const char *where)
{
    int n = g_tok[k].end - g_tok[k].start;
    snprintf(cfg->err, sizeof(cfg->err), "unknown key \"%.*s%s\" in %s",
             n > 40 ? 40 : n, g_text + g_tok[k].start, n > 40 ? "..." : "",
             where);
    return -1;
}

static int bool_at(int t, bool *out)
{
    const char *s = g_text + g_tok[t].start;
    if (g_tok[t].type != JSMN_PRIMITIVE || (s[0] != 't' && s[0] != 'f'))
        return -1;
    *out = s[0] == 't';
    return 0;
}

static int num_at(int t, long long *out)
{
    char tmp[32], *end;
    const char *s = g_text + g_tok[t].start;
    int n = g_tok[t].end - g_tok[t].start, i;
    if (g_tok[t].type != JSMN_PRIMITIVE || n <= 0)
        return -1;
    /* digits alone, however many: saturated, so that a value too large
     * for its field takes the largest it holds whatever its length */
    for (i = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++)
        ;
    if (i == n) {
        long long v = 0;
        for (i = 0; i < n; i++)
            v = v > (LLONG_MAX - 9) / 10 ? LLONG_MAX : v * 10 + (s[i] - '0');
        *out = v;
        return 0;
    }
    if (n >= (int)sizeof(tmp)) /* another form ("-0"), of a usual length */
        return -1;
    memcpy(tmp, g_text + g_tok[t].start, (size_t)n);
    tmp[n] = '\0';
    *out = strtoll(tmp, &end, 10);
    return *end == '\0' && *out >= 0 ? 0 : -1;
}

/* "env:NAME" (raw) is not set or empty, for field: the variable's name
 * and where it was asked for, never a value. */
static int env_fail(llmc_tool_config_t *cfg, const char *raw,
                    const char *field)
{
    size_t n = strlen(raw + 4);
    snprintf(cfg->err, sizeof(cfg->err),
             "environment variable %.*s%s not set or empty for: %s",
             n > 64 ? 64 : (int)n, raw + 4, n > 64 ? "..." : "", field);
    return -1;
}

/* A secret or setting that may be "env:NAME". A variable that is not set,
 * or set empty, is an error; with unset, it is left to the caller (the
 * first such "env:NAME" in *unset and its field in unset_field, *out
 * untouched). A variable's value is UTF-8, as the file is, unless the
 * field is a file's path (ca_file): a model or key id in another encoding
 * would make request bodies that providers refuse. */
static int secret_at(llmc_tool_config_t *cfg, int t, const char *field,
                     const char **out, const char **unset, char *unset_field,
                     size_t unset_cap)
{
    const char *raw, *v;
    if (g_tok[t].type != JSMN_STRING)
        return fail(cfg, "expected a string for", field);
    raw = str_at(t);
    if (raw == NULL)
        return fail(cfg, "a string holds U+0000 in", field);
    v = llmc_tool_env_value(raw);
    if (v != NULL && v != raw && strcmp(field, "ca_file") != 0 &&
        llmc_tool_utf8_span(v, strlen(v)) != strlen(v)) {
        /* where, never the value (nor where in it) */
        size_t n = strlen(raw + 4);
        snprintf(cfg->err, sizeof(cfg->err),
                 "environment variable %.*s%s is not UTF-8 for: %s",
                 n > 64 ? 64 : (int)n, raw + 4, n > 64 ? "..." : "", field);
        return -1;
    }
    if (v != NULL && (*v != '\0' || v == raw)) {
        *out = v;
        return 0;
    }
    if (unset == NULL)
        return env_fail(cfg, raw, field);
    if (*unset == NULL) {
        *unset = raw;
        snprintf(unset_field, unset_cap, "%s", field);
    }
    return 0;
}

/* prefix.key, with at most 24 bytes of key k's text: never the rest of
 * the file, which may hold secrets. */
static void key_text(char *out, size_t cap, const char *prefix, int k)
{
    int n = g_tok[k].end - g_tok[k].start;
    snprintf(out, cap, "%s.%.*s", prefix, n > 24 ? 24 : n,
             g_text + g_tok[k].start);
}

static int provider(llmc_tool_config_t *cfg, int i, int n)
{
    llmc_provider_t *p;
    int k, end = skip(i, n);
    bool b;
    char where[24]; /* "providers[N]": errors say which one */
    const char *unset = NULL; /* the first "env:NAME" not set or empty */
    char unset_field[sizeof(where) + 26]; /* and where it was */

    snprintf(where, sizeof(where), "providers[%u]",
             (unsigned)cfg->n_providers);
    if (g_tok[i].type != JSMN_OBJECT)
        return fail(cfg, "a provider must be an object", where);
    if (cfg->n_providers >= LLMC_MAX_PROVIDERS)
        return fail(cfg, "too many providers (LLMC_MAX_PROVIDERS)", NULL);
    if (dup_key(cfg, i, n, where) != 0)
        return -1;
    p = &cfg->providers[cfg->n_providers++];
    for (k = i + 1; k < end; k = skip(k + 1, n)) {
        int v = k + 1;
        const char **dst = NULL;
        bool *flag = NULL, negated = true; /* negated: *flag = !value */
        if (key_is(k, "name")) dst = &p->name;
        else if (key_is(k, "base_url")) dst = &p->base_url;
        else if (key_is(k, "api_key")) dst = &p->api_key;
        else if (key_is(k, "key_id")) dst = &p->key_id;
        else if (key_is(k, "secret")) dst = &p->secret;
        else if (key_is(k, "project_id")) dst = &p->project_id;
        else if (key_is(k, "token_url")) dst = &p->token_url;
        else if (key_is(k, "model")) dst = &p->model;
        else if (key_is(k, "working")) flag = &p->disabled;
        else if (key_is(k, "stream")) flag = &p->no_stream;
        else if (key_is(k, "stream_options")) flag = &p->no_stream_options;
        else if (key_is(k, "max_completion_tokens"))
            flag = &p->max_completion_tokens, negated = false;
        char field[sizeof(where) + 26]; /* providers[N].key */
        key_text(field, sizeof(field), where, k);
        if (dst != NULL) {
            /* a provider not working is still named, and its URL still
             * parsed: only what it would send may be missing */
            bool needed = dst == &p->name || dst == &p->base_url;
            if (secret_at(cfg, v, field, dst, needed ? NULL : &unset,
                          unset_field, sizeof(unset_field)) != 0)
                return -1;
            /* written empty: as "env:NAME" set empty, no value at all (a
             * key would go out as "Bearer " with no token); an empty
             * name has its own message below */
            if (dst != &p->name && *dst != NULL && **dst == '\0')
                return fail(cfg, "expected a non-empty string for", field);
        } else if (flag != NULL) {
            if (bool_at(v, &b) != 0)
                return fail(cfg, "expected true or false for", field);
            *flag = negated ? !b : b;
        } else if (key_is(k, "extra")) {
            /* its members go into every request body as they are: the
             * object's text, ended where the object ends (the byte after
             * it is a separator, which no later token's span holds) */
            if (g_tok[v].type != JSMN_OBJECT)
                return fail(cfg, "expected an object for", field);
            g_text[g_tok[v].end] = '\0';
            p->extra_json = g_text + g_tok[v].start;
        } else {
            return unknown_key(cfg, k, where);
        }
    }
    if (unset != NULL) {
        /* a provider that is not working is never contacted: what it
         * would have taken from the environment is not needed (a key the
         * user does not have is a common reason to switch one off) */
        if (!p->disabled)
            return env_fail(cfg, unset, unset_field);
        p->api_key = p->key_id = p->secret = NULL;
    }
    if (p->name == NULL || p->base_url == NULL)
        return fail(cfg, "every provider needs \"name\" and \"base_url\"; "
                         "this one lacks one", where);
    if (p->name[0] == '\0') /* errors, --ignore and results name it */
        return fail(cfg, "a provider's \"name\" is empty", where);
    /* ... and could not tell two of one name apart: --ignore would take
     * both away, results and /health would list them alike */
    for (k = 0; k + 1 < (int)cfg->n_providers; k++)
        if (strcmp(cfg->providers[k].name, p->name) == 0) {
            snprintf(cfg->err, sizeof(cfg->err),
                     "duplicate provider name: %s.name", where);
            return -1;
        }
    /* Evolution IAM takes both; one alone is a half-written provider */
    if ((p->key_id == NULL) != (p->secret == NULL))
        return fail(cfg, "Evolution IAM needs both \"key_id\" and "
                         "\"secret\"; this one has one", where);
    if (p->key_id != NULL || p->secret != NULL)
        p->auth = LLMC_AUTH_EVOLUTION_IAM;
    else if (p->api_key != NULL)
        p->auth = LLMC_AUTH_BEARER;
    return 0;
}

static int policy(llmc_tool_config_t *cfg, int i, int n)
{
    llmc_policy_t *p = &cfg->policy;
    int k, end = skip(i, n);
    long long v;
    bool b;

    if (g_tok[i].type != JSMN_OBJECT)
        return fail(cfg, "\"policy\" must be an object", NULL);
    if (dup_key(cfg, i, n, "policy") != 0)
        return -1;
    for (k = i + 1; k < end; k = skip(k + 1, n)) {
        int t = k + 1;
        uint8_t *p8 = NULL;
        uint32_t *p32 = NULL;
        char field[40];
        key_text(field, sizeof(field), "policy", k);
        if (key_is(k, "shuffle") || key_is(k, "single_provider_retry")) {
            if (bool_at(t, &b) != 0)
                return fail(cfg, "expected true or false for", field);
            if (key_is(k, "shuffle"))
                p->shuffle = b;
            else
                p->single_provider_retry = b;
            continue;
        }
        if (key_is(k, "max_retries")) p8 = &p->max_retries;
        else if (key_is(k, "cooldown_after")) p8 = &p->cooldown_after;
        else if (key_is(k, "connect_timeout_ms")) p32 = &p->connect_timeout_ms;
        else if (key_is(k, "first_byte_timeout_ms")) p32 = &p->first_byte_timeout_ms;
        else if (key_is(k, "idle_timeout_ms")) p32 = &p->idle_timeout_ms;
        else if (key_is(k, "deadline_ms")) p32 = &p->deadline_ms;
        else if (key_is(k, "backoff_base_ms")) p32 = &p->backoff_base_ms;
        else if (key_is(k, "backoff_max_ms")) p32 = &p->backoff_max_ms;
        else if (key_is(k, "cooldown_ms")) p32 = &p->cooldown_ms;
        else return unknown_key(cfg, k, "policy");
        if (num_at(t, &v) != 0)
            return fail(cfg, "expected a non-negative integer for", field);
        /* too large for the field: the largest it holds, never a wrap */
        if (p8 != NULL)
            *p8 = (uint8_t)(v > 255 ? 255 : v);
        else
            *p32 = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
    }
    return 0;
}

int llmc_tool_config_load(llmc_tool_config_t *cfg, const char *path)
{
    FILE *f;
    size_t len, bom = 0;
    jsmn_parser jp;
    int n, k;
    char why[sizeof(cfg->err) - 16];

    memset(cfg, 0, sizeof(*cfg));
    llmc_policy_default(&cfg->policy);
    f = fopen(path, "rb");
    if (f == NULL) {
        /* the reason too: a missing file is not an unreadable one */
        snprintf(why, sizeof(why), "%s: %s", path, strerror(errno));
        return fail(cfg, "cannot open", why);
    }
    len = fread(g_text, 1, FILE_MAX + 1, f);
    if (ferror(f)) { /* a directory opens, and then fails to read */
        snprintf(why, sizeof(why), "%s: %s", path, strerror(errno));
        fclose(f);
        return fail(cfg, "cannot read", why);
    }
    fclose(f);
    if (len > FILE_MAX)
        return fail(cfg, "file too large", path);
    /* a UTF-8 byte order mark, which some Windows editors write first,
     * is no part of the JSON text (RFC 8259 8.1 lets a parser ignore it) */
    if (len >= 3 && memcmp(g_text, "\xEF\xBB\xBF", 3) == 0) {
        bom = 3;
        len -= bom;
        memmove(g_text, g_text + bom, len);
    }
    g_text[len] = '\0';
    /* JSON text is UTF-8 (RFC 8259 8.1); a model name in another
     * encoding would make request bodies that providers refuse */
    if (llmc_tool_utf8_span(g_text, len) != len) {
        /* counted in the file, the mark too */
        snprintf(why, sizeof(why), "not UTF-8 (byte %zu)",
                 llmc_tool_utf8_span(g_text, len) + 1 + bom);
        return fail(cfg, why, path);
    }
    jsmn_init(&jp);
    /* jsmn alone accepts keys without values (whose value index would
     * then lie past the tokens it wrote), missing commas and words such
     * as "tx" */
    if (llmc_json_valid(g_text, len) != LLMC_OK)
        return fail(cfg, "not valid JSON (one object)", path);
    n = jsmn_parse(&jp, g_text, len, g_tok, TOKENS);
    if (n == JSMN_ERROR_NOMEM)
        return fail(cfg, "too many JSON values", path);
    if (n <= 0 || g_tok[0].type != JSMN_OBJECT)
        return fail(cfg, "not a JSON object", path);
    if (dup_key(cfg, 0, n, "the file") != 0)
        return -1;
    for (k = 1; k < n; k = skip(k + 1, n)) {
        int v = k + 1;
        if (key_is(k, "providers")) {
            int e, end = skip(v, n);
            if (g_tok[v].type != JSMN_ARRAY)
                return fail(cfg, "\"providers\" must be an array", NULL);
            for (e = v + 1; e < end; e = skip(e, n))
                if (provider(cfg, e, n) != 0)
                    return -1;
        } else if (key_is(k, "policy")) {
            if (policy(cfg, v, n) != 0)
                return -1;
        } else if (key_is(k, "ca_file")) {
            if (secret_at(cfg, v, "ca_file", &cfg->ca_file, NULL, NULL, 0) !=
                0)
                return -1;
            if (cfg->ca_file[0] == '\0')
                return fail(cfg, "expected a non-empty string for",
                            "ca_file");
        } else if (key_is(k, "max_inflight")) {
            long long m;
            if (num_at(v, &m) != 0)
                return fail(cfg, "\"max_inflight\" must be an integer", NULL);
            /* more than the slots means every slot */
            cfg->max_inflight = m > 255 ? 255u : (unsigned)m;
        } else {
            return unknown_key(cfg, k, "the file");
        }
    }
    if (cfg->n_providers == 0)
        return fail(cfg, "no providers", path);
    return 0;
}

size_t llmc_tool_utf8_span(const char *s, size_t n)
{
    size_t bad; /* RFC 3629: no overlong form, surrogate or past U+10FFFF */
    return llmc_utf8_check(s, n, &bad);
}

bool llmc_tool_utf8_ok(const char *tool, const char *what, const char *s,
                       size_t n)
{
    size_t i = llmc_tool_utf8_span(s, n);
    if (i == n)
        return true;
    fprintf(stderr, "%s: %s is not UTF-8 (byte %zu)\n", tool, what, i + 1);
    return false;
}

size_t llmc_tool_json_escape(const char *s, size_t n, char *out, size_t cap,
                             size_t *consumed)
{
    size_t o = 0, i = 0, run, k, used;
    while (i < n) {
        /* well-formed UTF-8 as it is (control bytes escaped); any other
         * byte, such as the start of a character a text was cut in, is
         * U+FFFD: JSON text is UTF-8 */
        run = llmc_tool_utf8_span(s + i, n - i);
        k = llmc_json_escape(s + i, run, out + o, cap - o, &used);
        /* out is full: end before the character it is within, whose
         * bytes (none of them escaped) the next call takes whole; else
         * that call would see a continuation byte first, not UTF-8 */
        while (used < run && used > 0 &&
               ((unsigned char)s[i + used] & 0xC0u) == 0x80u)
            used--, k--;
        o += k;
        i += used;
        if (used < run)
            break; /* out is full */
        if (i < n) {
            if (cap - o < 6)
                break;
            memcpy(out + o, "\\ufffd", 6);
            o += 6;
            i++;
        }
    }
    *consumed = i;
    return o;
}

void llmc_tool_json_str(FILE *f, const char *s, size_t n)
{
    char out[256];
    size_t used;
    if (s == NULL) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    while (n > 0) {
        size_t k = llmc_tool_json_escape(s, n, out, sizeof(out), &used);
        fwrite(out, 1, k, f);
        s += used;
        n -= used;
    }
    fputc('"', f);
}

void llmc_tool_json_cstr(FILE *f, const char *s)
{
    llmc_tool_json_str(f, s, s != NULL ? strlen(s) : 0);
}

const char *llmc_tool_init_hint(const llmc_config_t *cfg, int rc)
{
    static char hint[200];
    size_t i, iam = 0;
    llmc_url_t u;
    int n;
    if (rc == LLMC_ERR_URL) {
        n = snprintf(hint, sizeof(hint),
                     " (each base_url and token_url is http:// or https://, "
                     "with a host name of at most %d bytes: LLMC_HOST_MAX)",
                     LLMC_HOST_MAX - 1);
        /* which one, when there are several to look through (never the
         * URL itself: it may carry user info) */
        for (i = 0; cfg->n_providers > 1 && i < cfg->n_providers; i++) {
            const llmc_provider_t *p = &cfg->providers[i];
            const char *field = NULL;
            if (llmc_url_parse(p->base_url, &u) != LLMC_OK)
                field = "base_url";
            else if (p->auth == LLMC_AUTH_EVOLUTION_IAM &&
                     p->token_url != NULL &&
                     llmc_url_parse(p->token_url, &u) != LLMC_OK)
                field = "token_url";
            if (field != NULL) {
                snprintf(hint + n, sizeof(hint) - (size_t)n,
                         ": providers[%u].%s", (unsigned)i, field);
                break;
            }
        }
        return hint;
    }
    if (rc != LLMC_ERR_CONFIG)
        return "";
#if LLMC_TLS
    {
        /* the CA file an https provider needs (the default one is missing
         * on a system without Debian's ca-certificates) */
        const char *ca = cfg->ca_file != NULL ? cfg->ca_file
                                              : LLMC_DEFAULT_CA_FILE;
        FILE *f = fopen(ca, "r");
        bool https = false;
        for (i = 0; i < cfg->n_providers; i++) {
            const llmc_provider_t *p = &cfg->providers[i];
            https |= llmc_url_parse(p->base_url, &u) == LLMC_OK && u.tls;
            https |= p->auth == LLMC_AUTH_EVOLUTION_IAM &&
                     (p->token_url == NULL ||
                      (llmc_url_parse(p->token_url, &u) == LLMC_OK &&
                       u.tls));
        }
        if (f != NULL) {
            fclose(f);
        } else if (https && cfg->ca_pem == NULL &&
                   (cfg->ca_file != NULL || cfg->tls_setup == NULL)) {
            snprintf(hint, sizeof(hint), " (cannot read the CA file %s: %s)",
                     ca, strerror(errno));
            return hint;
        }
    }
#endif
    for (i = 0; i < cfg->n_providers; i++)
        iam += cfg->providers[i].auth == LLMC_AUTH_EVOLUTION_IAM;
    if (iam > 0 && LLMC_IAM_PROVIDERS == 0)
        return " (Evolution IAM is not built in (LLMC_IAM_PROVIDERS=0))";
    if (iam > LLMC_IAM_PROVIDERS) {
        snprintf(hint, sizeof(hint),
                 " (%u providers have key_id and secret, those not working "
                 "included; this build holds tokens for %d: "
                 "LLMC_IAM_PROVIDERS)", (unsigned)iam, LLMC_IAM_PROVIDERS);
        return hint;
    }
    return " (CA bundle or provider settings)";
}

int llmc_tool_arg_num(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno != 0 || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

void llmc_tool_std_fds(void)
{
    int fd, k;
    for (fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
            continue;
        /* the lowest free number, fd itself: those below it are open */
        k = open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY);
        if (k >= 0 && k != fd) {
            (void)dup2(k, fd);
            (void)close(k);
        }
    }
}

/* the errno of stdout's first failed flush: later calls (the client's
 * sockets among them) overwrite errno before the tool's last flush */
static int g_stdout_errno;

bool llmc_tool_flush(void)
{
    errno = 0;
    if (fflush(stdout) == 0 && !ferror(stdout))
        return true;
    if (g_stdout_errno == 0)
        g_stdout_errno = errno != 0 ? errno : EIO;
    return false;
}

bool llmc_tool_stdout_ok(const char *tool)
{
    if (llmc_tool_flush())
        return true;
    fprintf(stderr, "%s: stdout: %s\n", tool, strerror(g_stdout_errno));
    return false;
}

#if LLMC_TLS
#include <mbedtls/ssl.h>
#include <mbedtls/version.h>
#ifdef MBEDTLS_SSL_PROTO_TLS1_3
#define TLS_VERSIONS "TLS 1.2, 1.3"
#else
#define TLS_VERSIONS "TLS 1.2"
#endif
#endif

int llmc_tool_version(const char *tool)
{
#if LLMC_TLS
    printf("%s: llmc %s, mbedTLS %s (" TLS_VERSIONS ")\n", tool, LLMC_VERSION,
           MBEDTLS_VERSION_STRING);
#else
    printf("%s: llmc %s, TLS off (http:// only)\n", tool, LLMC_VERSION);
#endif
    return llmc_tool_stdout_ok(tool) ? 0 : 1;
}
