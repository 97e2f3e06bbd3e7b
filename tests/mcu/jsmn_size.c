/*
 * jsmn alone, as src/llmc_json.c configures it (parent links; not strict:
 * llmc's validator has checked every value jsmn sees) but with external
 * linkage, so that scripts/size.sh can show how much of llmc_json.o is
 * jsmn. Not linked into anything.
 */
#define JSMN_PARENT_LINKS
#include <jsmn.h>
