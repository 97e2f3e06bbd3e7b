/*
 * base_url parsing: http(s)://host[:port][/path]. The host is copied (TLS
 * needs it NUL-terminated for SNI); the path points into the caller's URL.
 */
#ifndef LLMC_URL_H
#define LLMC_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llmc/llmc_client.h"

#include "llmc/llmc_config_defaults.h"



/* Returns LLMC_OK or LLMC_ERR_URL. */
int llmc_url_parse(const char *url, llmc_url_t *out);

#endif /* LLMC_URL_H */
