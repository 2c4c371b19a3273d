/*
 * base64url.c: unpadded base64url (RFC 4648 section 5), decoded in C for
 * jobspy.base64url_decode, which reads the parts of offline licence tokens
 * (outside text).  The rule is the one the SQL version had: the alphabet
 * A-Z a-z 0-9 - _ only, no padding, no whitespace, a length that is not 1
 * more than a multiple of 4; the unused low bits of the last character are
 * ignored (callers that need the one spelling compare the re-encoding).
 */
#include "postgres.h"

#include "fmgr.h"

#include "base64url.h"

/* The 6-bit value of a base64url character, -1 for any other byte. */
static inline int
sextet(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

int64
base64url_decode_bytes(const char *in, size_t len, uint8 *out)
{
	uint32		acc = 0;
	int			bits = 0;
	int64		n = 0;

	if (len % 4 == 1)
		return -1;
	for (size_t i = 0; i < len; i++)
	{
		int			v = sextet((unsigned char) in[i]);

		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32) v;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			out[n++] = (uint8) (acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	return n;
}

PG_FUNCTION_INFO_V1(jobspy_base64url_decode);
Datum
jobspy_base64url_decode(PG_FUNCTION_ARGS)
{
	text	   *in = PG_GETARG_TEXT_PP(0);
	size_t		len = VARSIZE_ANY_EXHDR(in);
	bytea	   *out = palloc(VARHDRSZ + BASE64URL_DECODED_MAX(len));
	int64		n = base64url_decode_bytes(VARDATA_ANY(in), len, (uint8 *) VARDATA(out));

	if (n < 0)
		PG_RETURN_NULL();
	SET_VARSIZE(out, VARHDRSZ + n);
	PG_RETURN_BYTEA_P(out);
}
