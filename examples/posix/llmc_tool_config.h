/*
 * The JSON configuration file of the llmc host tools (llmc-chat, llmc-check,
 * llmc-gateway): providers, policy, CA file. Strings of the form
 * "env:NAME" are read from the environment, so secrets stay out of files.
 */
#ifndef LLMC_TOOL_CONFIG_H
#define LLMC_TOOL_CONFIG_H

#include <stdio.h>

#include "llmc/llmc.h"

typedef struct {
    llmc_provider_t providers[LLMC_MAX_PROVIDERS];
    size_t n_providers;
    llmc_policy_t policy;
    unsigned max_inflight;
    const char *ca_file;
    char err[256];
} llmc_tool_config_t;

/* Load path into cfg (policy defaults first). Returns 0, or -1 with a
 * message in cfg->err that never contains a secret. The strings point into
 * a static buffer: one configuration per process. */
int llmc_tool_config_load(llmc_tool_config_t *cfg, const char *path);

/* What to add to llmc_strerror(rc) when llmc_client_init() refused cfg:
 * the likely cause, or "". */
const char *llmc_tool_init_hint(const llmc_config_t *cfg, int rc);

/* The value of "env:NAME" strings, else s itself; NULL when NAME is unset. */
const char *llmc_tool_env_value(const char *s);

/* Write s[0..n) as a JSON string (quotes included) to f, escaped the way
 * llmc escapes request bodies; NULL writes null. */
/* llmc_json_escape() that also writes each byte that is not part of a
 * well-formed UTF-8 character as \ufffd, so that the JSON is UTF-8. */
size_t llmc_tool_json_escape(const char *s, size_t n, char *out, size_t cap,
                             size_t *consumed);
void llmc_tool_json_str(FILE *f, const char *s, size_t n);
void llmc_tool_json_cstr(FILE *f, const char *s); /* NUL-terminated */

/* JSON text is UTF-8, so a message that is not would make a body every
 * provider refuses. The length of the well-formed UTF-8 that s[0..n)
 * starts with (n: all of it). */
size_t llmc_tool_utf8_span(const char *s, size_t n);
/* true when s[0..n) is well-formed UTF-8; else false, after "tool: what
 * is not UTF-8 (byte N)" on stderr (N counts from 1). */
bool llmc_tool_utf8_ok(const char *tool, const char *what, const char *s,
                       size_t n);

/* A command-line number: all of s is a decimal integer in [lo, hi]; 0 and
 * *out set, else -1. */
int llmc_tool_arg_num(const char *s, long lo, long hi, long *out);

/* First thing in main(): each of descriptors 0, 1 and 2 that is closed
 * (`llmc-chat ... <&- >&-`) is given /dev/null, opened the wrong way
 * round (stdin for writing, stdout and stderr for reading), so that using
 * it fails as a closed one does. Left closed, its number would go to the
 * next pipe or socket opened (the port's wake-up pipe, a provider's
 * connection), and what is written to stdout would go there. */
void llmc_tool_std_fds(void);

/* Flush stdout: true when everything written to it so far got out; the
 * reason of the first failure is kept for llmc_tool_stdout_ok(). */
bool llmc_tool_flush(void);
/* The last flush: true when everything written to stdout got out;
 * otherwise "tool: stdout: reason" (the first failure's) goes to stderr. */
bool llmc_tool_stdout_ok(const char *tool);

/* --version: "tool: llmc X.Y.Z, mbedTLS A.B.C (TLS 1.2[, 1.3])" (the
 * mbedTLS built against; "TLS off" without TLS) on stdout. Returns the
 * exit status: 0, or 1 when stdout could not be written. */
int llmc_tool_version(const char *tool);

#endif /* LLMC_TOOL_CONFIG_H */
