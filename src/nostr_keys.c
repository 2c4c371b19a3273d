/*
 * nostr_keys.c: Nostr public keys as users type them, normalised to the 32
 * bytes of a BIP-340 x-only key.
 *
 * Two forms are accepted: 64 hex digits (NIP-01) and NIP-19's bech32
 * "npub1..." (BIP-173 bech32, not bech32m).  A bech32 string is all lower or
 * all upper case, its checksum is verified, and its 5-bit groups must end in
 * zero padding.  Either form must name a point of secp256k1.  No message
 * ever repeats the input: a user may paste a secret key (nsec) by mistake.
 */
#include "postgres.h"

#include <ctype.h>

#include "fmgr.h"
#include "utils/builtins.h"

#include "nostr.h"

#define NPUB_HRP "npub"
#define NPUB_DATA_CHARS 52		/* 256 bits in 5-bit groups, 4 bits of padding */
#define BECH32_CHECKSUM_CHARS 6
#define NPUB_CHARS (sizeof(NPUB_HRP) - 1 + 1 + NPUB_DATA_CHARS + BECH32_CHECKSUM_CHARS)

static const char bech32_charset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

/* BIP-173's checksum: a BCH code over GF(32), generator constants below. */
static uint32
bech32_step(uint32 chk, uint8 v)
{
	static const uint32 gen[5] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3};
	uint32		top = chk >> 25;

	chk = ((chk & 0x1ffffff) << 5) ^ v;
	for (int g = 0; g < 5; g++)
		if ((top >> g) & 1)
			chk ^= gen[g];
	return chk;
}

/* The checksum over hrp's high bits, a zero, hrp's low bits and the data. */
static uint32
bech32_polymod(const char *hrp, const uint8 *data, int ndata)
{
	uint32		chk = 1;
	int			hrplen = strlen(hrp);

	for (int i = 0; i < hrplen; i++)
		chk = bech32_step(chk, (uint8) hrp[i] >> 5);
	chk = bech32_step(chk, 0);
	for (int i = 0; i < hrplen; i++)
		chk = bech32_step(chk, hrp[i] & 31);
	for (int i = 0; i < ndata; i++)
		chk = bech32_step(chk, data[i]);
	return chk;
}

static void
bad_key(const char *msg, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s", msg),
			 detail ? errdetail("%s", detail) : 0,
			 errhint("Give 64 hex digits or an npub1... key (NIP-19).")));
}

static int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower((unsigned char) c);
	return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

static void
decode_hex_key(const char *s, unsigned char *out)
{
	for (int i = 0; i < 2 * NOSTR_PUBKEY_BYTES; i++)
	{
		int			d = hex_digit(s[i]);

		if (d < 0)
			bad_key("nostr public key is not valid hex", NULL);
		out[i / 2] = (i % 2 == 0) ? d << 4 : out[i / 2] | d;
	}
}

static void
decode_npub(const char *s, int len, unsigned char *out)
{
	bool		lower = false, upper = false;
	uint8		data[NPUB_DATA_CHARS + BECH32_CHECKSUM_CHARS];
	uint32		acc = 0;
	int			bits = 0, nout = 0;

	for (int i = 0; i < len; i++)
	{
		lower |= islower((unsigned char) s[i]);
		upper |= isupper((unsigned char) s[i]);
	}
	if (lower && upper)
		bad_key("npub key mixes upper and lower case",
				"A bech32 string is all lower case or all upper case.");
	if (len != NPUB_CHARS)
		bad_key("npub key has the wrong length",
				psprintf("An npub key is %d characters; this one is %d.", (int) NPUB_CHARS, len));
	for (int i = 0; i < (int) sizeof(data); i++)
	{
		const char *p = strchr(bech32_charset, tolower((unsigned char) s[sizeof(NPUB_HRP) + i]));

		if (p == NULL || *p == '\0')
			bad_key("npub key has a character outside the bech32 alphabet", NULL);
		data[i] = p - bech32_charset;
	}
	if (bech32_polymod(NPUB_HRP, data, sizeof(data)) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_JS_NOSTR_KEY_CHECKSUM),
				 errmsg("npub key checksum does not match"),
				 errdetail("A character was mistyped or the key was cut short."),
				 errhint("Copy the key again from its source.")));
	for (int i = 0; i < NPUB_DATA_CHARS; i++)
	{
		acc = (acc << 5) | data[i];
		bits += 5;
		if (bits >= 8)
		{
			bits -= 8;
			out[nout++] = (acc >> bits) & 0xff;
		}
	}
	if ((acc & ((1 << bits) - 1)) != 0)
		bad_key("npub key has non-zero padding bits", NULL);
}

/* The 32 bytes of a Nostr public key given as hex or npub; raises otherwise. */
static void
parse_public_key(const char *s, int len, unsigned char *out)
{
	while (len > 0 && isspace((unsigned char) s[len - 1]))
		len--;
	while (len > 0 && isspace((unsigned char) *s))
		s++, len--;
	if (len >= 5 && pg_strncasecmp(s, NPUB_HRP "1", 5) == 0)
		decode_npub(s, len, out);
	else if (len >= 5 && pg_strncasecmp(s, "nsec1", 5) == 0)
		bad_key("this is a nostr secret key, not a public key",
				"An nsec key must never leave its owner; it was not stored.");
	else if (len == 2 * NOSTR_PUBKEY_BYTES)
		decode_hex_key(s, out);
	else if (len > 0 && strspn(s, "0123456789abcdefABCDEF") >= (size_t) len)
		bad_key("nostr public key in hex has the wrong length",
				psprintf("A hex key is 64 digits; this one is %d.", len));
	else
		bad_key("not a nostr public key", NULL);
	if (!nostr_pubkey_on_curve(out))
		bad_key("nostr public key is not a point of secp256k1", NULL);
}

PG_FUNCTION_INFO_V1(jobspy_nostr_public_key);
Datum
jobspy_nostr_public_key(PG_FUNCTION_ARGS)
{
	text	   *key = PG_GETARG_TEXT_PP(0);
	bytea	   *result = palloc(VARHDRSZ + NOSTR_PUBKEY_BYTES);

	SET_VARSIZE(result, VARHDRSZ + NOSTR_PUBKEY_BYTES);
	parse_public_key(VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key), (unsigned char *) VARDATA(result));
	PG_RETURN_BYTEA_P(result);
}

PG_FUNCTION_INFO_V1(jobspy_nostr_npub);
Datum
jobspy_nostr_npub(PG_FUNCTION_ARGS)
{
	bytea	   *key = PG_GETARG_BYTEA_PP(0);
	const unsigned char *k = (unsigned char *) VARDATA_ANY(key);
	uint8		data[NPUB_DATA_CHARS + BECH32_CHECKSUM_CHARS];
	char		out[NPUB_CHARS + 1];
	uint32		acc = 0, mod;
	int			bits = 0, n = 0;

	if (VARSIZE_ANY_EXHDR(key) != NOSTR_PUBKEY_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a nostr public key must be 32 bytes"),
				 errdetail("It is %d bytes.", (int) VARSIZE_ANY_EXHDR(key))));
	for (int i = 0; i < NOSTR_PUBKEY_BYTES; i++)
	{
		acc = (acc << 8) | k[i];
		bits += 8;
		while (bits >= 5)
		{
			bits -= 5;
			data[n++] = (acc >> bits) & 31;
		}
	}
	data[n++] = (acc << (5 - bits)) & 31;	/* the last 4 bits, zero-padded */
	memset(data + n, 0, BECH32_CHECKSUM_CHARS);
	mod = bech32_polymod(NPUB_HRP, data, sizeof(data)) ^ 1;
	for (int i = 0; i < BECH32_CHECKSUM_CHARS; i++)
		data[n + i] = (mod >> (5 * (BECH32_CHECKSUM_CHARS - 1 - i))) & 31;
	strcpy(out, NPUB_HRP "1");
	for (int i = 0; i < (int) sizeof(data); i++)
		out[sizeof(NPUB_HRP) + i] = bech32_charset[data[i]];
	out[NPUB_CHARS] = '\0';
	PG_RETURN_TEXT_P(cstring_to_text(out));
}
