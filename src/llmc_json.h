/*
 * JSON decoding of what providers send: one SSE event (a chat.completion
 * chunk), a whole chat.completion body, an error body, an IAM token answer.
 * llmc checks the JSON grammar and reads the values it needs (their types
 * and keys checked) in the same pass over the text: no token array.
 * Strings are unescaped in place, to UTF-8, surrogate pairs included.
 */
#ifndef LLMC_JSON_H
#define LLMC_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llmc/llmc_client.h"

#include "llmc/llmc.h"



typedef struct {
    /* from "choices" (reset together when a later "choices" member
     * replaces an earlier one) */
    const char *content; /* choices[0].delta|message.content, unescaped */
    size_t content_len;
    size_t content_raw_len; /* its length in the JSON text, escaped */
    const char *finish_reason; /* unescaped; NULL when null/absent */
    size_t finish_len;
    uint16_t lone[2]; /* the content's lone halves at its edges, as
                         llmc_json_unescape() notes them; 0: none */
    bool has_content;
    bool rewritten; /* internal: a content before this one was unescaped
                       in place, so the bytes before it are not the
                       event's (no shape is kept from it) */
    /* from "usage" */
    llmc_usage_t usage;
    /* from "error" */
    bool has_error; /* an "error" member (object or string) */
    const char *error_msg;
    size_t error_len;
} llmc_chat_msg_t;

/* Decode a chat completion chunk or body at json[0..len) (modified in
 * place). Returns LLMC_OK or LLMC_ERR_PROTOCOL (not the JSON we expect).
 * shape: NULL, or the stream's shape cache (pre_len 0 when the stream
 * starts); the result is the same with or without it. */
int llmc_json_chat(char *json, size_t len, llmc_json_shape_t *shape,
                   llmc_chat_msg_t *out);

#if LLMC_IAM_PROVIDERS > 0
/* Decode {"access_token": "...", "expires_in": N}: token points into json;
 * *expires_in is N saturated to int32_t, or -1 when absent. Returns
 * LLMC_OK, LLMC_ERR_PROTOCOL (not a JSON object) or LLMC_ERR_EMPTY (an
 * object without a non-empty access_token string). */
int llmc_json_token(char *json, size_t len, const char **token,
                    size_t *token_len, int32_t *expires_in);
#endif

/* Unescape the JSON string body s[0..n) in place; *out_n = new length.
 * Lone surrogates become U+FFFD. lone: NULL, or where to note the lone
 * halves whose other half may be in the stream's next or last string:
 * lone[0] a low surrogate that begins s, lone[1] a high one that ends it
 * (their U+FFFD are the first and the last 3 bytes out); other entries are
 * left as they are. Returns LLMC_OK or LLMC_ERR_PROTOCOL. */
int llmc_json_unescape(char *s, size_t n, size_t *out_n, uint16_t *lone);

/* The UTF-8 of the code point the surrogates hi and lo make: 4 bytes. */
void llmc_json_pair(char *out, uint16_t hi, uint16_t lo);

/* Where the first ill-formed UTF-8 sequence in s[0..n) starts (n: none),
 * and in *bad its length: the longest start of a sequence that is valid so
 * far, at least 1 byte, each of which the WHATWG decoder reads as one
 * U+FFFD (a truncated, overlong or surrogate sequence, one beyond
 * U+10FFFF, a stray continuation byte). */
size_t llmc_utf8_check(const char *s, size_t n, size_t *bad);

/* Whether json[0..len) is one JSON object (RFC 8259, nesting up to 32
 * levels) and nothing else but whitespace: 0 or LLMC_ERR_PROTOCOL. The
 * check every event gets, for the host tools' files and requests. */
int llmc_json_valid(const char *json, size_t len);

#endif /* LLMC_JSON_H */
