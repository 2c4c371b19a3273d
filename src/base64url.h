/*
 * base64url.h: unpadded base64url decoding (base64url.c), for the SQL
 * function and the fuzz target of offline licence tokens.
 */
#ifndef JOBSPY_BASE64URL_H
#define JOBSPY_BASE64URL_H

#include "c.h"

/* The most bytes len characters of base64url decode to. */
#define BASE64URL_DECODED_MAX(len) ((len) / 4 * 3 + 2)

/* Decodes in[0..len) into out (room for BASE64URL_DECODED_MAX(len)): the byte count, -1 when not base64url. */
extern int64 base64url_decode_bytes(const char *in, size_t len, uint8 *out);

#endif
