/*
 * jsmn alone, as src/llmc_json.c configures it (strict, parent links) but
 * with external linkage, so that scripts/size.sh can show how much of
 * llmc_json.o is jsmn. Not linked into anything.
 */
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jsmn.h>
