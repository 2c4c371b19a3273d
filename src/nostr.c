/*
 * nostr.c: BIP-340 Schnorr verification and NIP-01 event checking.
 *
 * Verification uses libsecp256k1's schnorrsig module through its static
 * context: verifying needs no precomputed tables nor randomisation, so no
 * context is allocated and nothing is shared between backends.  The
 * library's self test runs once per backend before the first use, as its
 * header asks for the static context.
 *
 * A NIP-01 event id is the SHA-256 of the event serialised as
 * [0,pubkey,created_at,kind,tags,content] in UTF-8 with no whitespace, every
 * string escaped exactly as NIP-01 lists (\n \" \\ \r \t \b \f) and every
 * other character verbatim.  The signature signs the 32 bytes of the id.
 */
#include "postgres.h"

#include <sodium.h>
#include <secp256k1.h>
#include <secp256k1_extrakeys.h>
#include <secp256k1_schnorrsig.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "nostr.h"

static bool selftest_done = false;

static const secp256k1_context *
verify_context(void)
{
	if (!selftest_done)
	{
		secp256k1_selftest();	/* aborts the process on a broken build */
		selftest_done = true;
	}
	return secp256k1_context_static;
}

bool
nostr_pubkey_on_curve(const unsigned char *pubkey32)
{
	secp256k1_xonly_pubkey pk;

	return secp256k1_xonly_pubkey_parse(verify_context(), &pk, pubkey32) == 1;
}

bool
nostr_schnorr_verify(const unsigned char *pubkey32, const unsigned char *msg,
					 size_t msglen, const unsigned char *sig64)
{
	const secp256k1_context *ctx = verify_context();
	secp256k1_xonly_pubkey pk;

	if (!secp256k1_xonly_pubkey_parse(ctx, &pk, pubkey32))
		return false;
	return secp256k1_schnorrsig_verify(ctx, sig64, msg, msglen, &pk) == 1;
}

static void
require_length(bytea *value, int expected, const char *what)
{
	if ((int) VARSIZE_ANY_EXHDR(value) != expected)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be %d bytes", what, expected),
				 errdetail("It is %d bytes.", (int) VARSIZE_ANY_EXHDR(value))));
}

PG_FUNCTION_INFO_V1(jobspy_schnorr_verify);
Datum
jobspy_schnorr_verify(PG_FUNCTION_ARGS)
{
	bytea	   *pubkey = PG_GETARG_BYTEA_PP(0);
	bytea	   *msg = PG_GETARG_BYTEA_PP(1);
	bytea	   *sig = PG_GETARG_BYTEA_PP(2);

	require_length(pubkey, NOSTR_PUBKEY_BYTES, "a BIP-340 public key");
	require_length(sig, NOSTR_SIG_BYTES, "a BIP-340 signature");
	PG_RETURN_BOOL(nostr_schnorr_verify((unsigned char *) VARDATA_ANY(pubkey),
										(unsigned char *) VARDATA_ANY(msg),
										VARSIZE_ANY_EXHDR(msg),
										(unsigned char *) VARDATA_ANY(sig)));
}

static void
malformed_event(const char *field, const char *rule)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("nostr event field \"%s\" is not valid", field),
			 errdetail("%s", rule),
			 errhint("An event is the object NIP-01 defines: id, pubkey, created_at, kind, tags, content and sig.")));
}

static JsonbValue *
event_field(Jsonb *event, const char *key, enum jbvType type, const char *rule)
{
	JsonbValue	k;
	JsonbValue *v;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	v = findJsonbValueFromContainer(&event->root, JB_FOBJECT, &k);
	if (v == NULL || v->type != type)
		malformed_event(key, rule);
	return v;
}

/* Lower-case hex of exactly nbytes bytes into out; false otherwise. */
static bool
decode_lower_hex(const JsonbValue *v, unsigned char *out, int nbytes)
{
	const char *s = v->val.string.val;

	if (v->val.string.len != 2 * nbytes)
		return false;
	for (int i = 0; i < 2 * nbytes; i++)
	{
		char		c = s[i];
		int			d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;

		if (d < 0)
			return false;
		if (i % 2 == 0)
			out[i / 2] = d << 4;
		else
			out[i / 2] |= d;
	}
	return true;
}

/* A JSON string as NIP-01 serialises it, converted to UTF-8. */
static void
append_event_string(StringInfo buf, const char *s, int len)
{
	const char *utf8 = pg_server_to_any(s, len, PG_UTF8);

	if (utf8 != s)
		len = strlen(utf8);
	appendStringInfoCharMacro(buf, '"');
	for (int i = 0; i < len; i++)
	{
		char		c = utf8[i];

		switch (c)
		{
			case '\n': appendBinaryStringInfo(buf, "\\n", 2); break;
			case '"': appendBinaryStringInfo(buf, "\\\"", 2); break;
			case '\\': appendBinaryStringInfo(buf, "\\\\", 2); break;
			case '\r': appendBinaryStringInfo(buf, "\\r", 2); break;
			case '\t': appendBinaryStringInfo(buf, "\\t", 2); break;
			case '\b': appendBinaryStringInfo(buf, "\\b", 2); break;
			case '\f': appendBinaryStringInfo(buf, "\\f", 2); break;
			default: appendStringInfoCharMacro(buf, c); break;
		}
	}
	appendStringInfoCharMacro(buf, '"');
}

/* A whole non-negative number, in its shortest decimal form, at most max. */
static void
append_event_integer(StringInfo buf, JsonbValue *v, const char *field, int64 max)
{
	char	   *digits = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	char	   *point = strchr(digits, '.');
	int			n;

	/* 5.0 is the number 5, as JSON parsers read it */
	if (point != NULL && strspn(point + 1, "0") == strlen(point + 1))
		*point = '\0';
	n = strlen(digits);

	if (n == 0 || n > 18 || (int) strspn(digits, "0123456789") != n || strtoll(digits, NULL, 10) > max)
		malformed_event(field, psprintf("It must be a whole number from 0 to " INT64_FORMAT ".", max));
	appendBinaryStringInfo(buf, digits, n);
}

/* tags: an array of arrays of strings, serialised in order. */
static void
append_event_tags(StringInfo buf, JsonbValue *tags)
{
	const char *rule = "It must be an array of arrays of strings.";
	JsonbContainer *outer = tags->val.binary.data;
	uint32		ntags;

	if (!JsonContainerIsArray(outer) || JsonContainerIsScalar(outer))
		malformed_event("tags", rule);
	ntags = JsonContainerSize(outer);
	appendStringInfoCharMacro(buf, '[');
	for (uint32 i = 0; i < ntags; i++)
	{
		JsonbValue *tag = getIthJsonbValueFromContainer(outer, i);
		JsonbContainer *inner;
		uint32		nitems;

		if (tag->type != jbvBinary || !JsonContainerIsArray(tag->val.binary.data) ||
			JsonContainerIsScalar(tag->val.binary.data))
			malformed_event("tags", rule);
		inner = tag->val.binary.data;
		nitems = JsonContainerSize(inner);
		appendStringInfoString(buf, i > 0 ? ",[" : "[");
		for (uint32 j = 0; j < nitems; j++)
		{
			JsonbValue *item = getIthJsonbValueFromContainer(inner, j);

			if (item->type != jbvString)
				malformed_event("tags", rule);
			if (j > 0)
				appendStringInfoCharMacro(buf, ',');
			append_event_string(buf, item->val.string.val, item->val.string.len);
		}
		appendStringInfoCharMacro(buf, ']');
	}
	appendStringInfoCharMacro(buf, ']');
}

PG_FUNCTION_INFO_V1(jobspy_nostr_verify_event);
Datum
jobspy_nostr_verify_event(PG_FUNCTION_ARGS)
{
	Jsonb	   *event = PG_GETARG_JSONB_P(0);
	JsonbValue *id, *pubkey, *sig, *content;
	unsigned char id_bytes[32], pubkey_bytes[NOSTR_PUBKEY_BYTES], sig_bytes[NOSTR_SIG_BYTES];
	unsigned char digest[crypto_hash_sha256_BYTES];
	StringInfoData buf;

	if (!JB_ROOT_IS_OBJECT(event))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a nostr event must be a json object")));
	id = event_field(event, "id", jbvString, "It must be 64 lower-case hex digits.");
	pubkey = event_field(event, "pubkey", jbvString, "It must be 64 lower-case hex digits.");
	sig = event_field(event, "sig", jbvString, "It must be 128 lower-case hex digits.");
	if (!decode_lower_hex(id, id_bytes, sizeof(id_bytes)))
		malformed_event("id", "It must be 64 lower-case hex digits.");
	if (!decode_lower_hex(pubkey, pubkey_bytes, sizeof(pubkey_bytes)))
		malformed_event("pubkey", "It must be 64 lower-case hex digits.");
	if (!decode_lower_hex(sig, sig_bytes, sizeof(sig_bytes)))
		malformed_event("sig", "It must be 128 lower-case hex digits.");

	initStringInfo(&buf);
	appendStringInfoString(&buf, "[0,");
	append_event_string(&buf, pubkey->val.string.val, pubkey->val.string.len);
	appendStringInfoCharMacro(&buf, ',');
	append_event_integer(&buf, event_field(event, "created_at", jbvNumeric, "It must be a number."),
						 "created_at", PG_INT64_MAX / 10);
	appendStringInfoCharMacro(&buf, ',');
	append_event_integer(&buf, event_field(event, "kind", jbvNumeric, "It must be a number."),
						 "kind", 65535);
	appendStringInfoCharMacro(&buf, ',');
	append_event_tags(&buf, event_field(event, "tags", jbvBinary, "It must be an array of arrays of strings."));
	appendStringInfoCharMacro(&buf, ',');
	content = event_field(event, "content", jbvString, "It must be a string.");
	append_event_string(&buf, content->val.string.val, content->val.string.len);
	appendStringInfoCharMacro(&buf, ']');

	crypto_hash_sha256(digest, (unsigned char *) buf.data, buf.len);
	pfree(buf.data);
	if (memcmp(digest, id_bytes, sizeof(digest)) != 0)
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(nostr_schnorr_verify(pubkey_bytes, id_bytes, sizeof(id_bytes), sig_bytes));
}
