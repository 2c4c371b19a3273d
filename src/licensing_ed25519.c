/*
 * licensing_ed25519.c: Ed25519 key pairs, signatures and their check, for
 * the signed offline licence tokens that sql/licensing.sql builds
 * (license_token, verify_license_token); libsodium does the work.
 */
#include "postgres.h"

#include <sodium.h>

#include "fmgr.h"
#include "funcapi.h"
#include "access/htup_details.h"

static bytea *
bytes_to_bytea(const unsigned char *data, size_t len)
{
	bytea	   *b = palloc(VARHDRSZ + len);

	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(VARDATA(b), data, len);
	return b;
}

PG_FUNCTION_INFO_V1(jobspy_ed25519_keypair);
Datum
jobspy_ed25519_keypair(PG_FUNCTION_ARGS)
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	unsigned char sk[crypto_sign_SECRETKEYBYTES];
	TupleDesc	desc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	crypto_sign_keypair(pk, sk);
	values[0] = PointerGetDatum(bytes_to_bytea(pk, sizeof(pk)));
	values[1] = PointerGetDatum(bytes_to_bytea(sk, sizeof(sk)));
	sodium_memzero(sk, sizeof(sk));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

PG_FUNCTION_INFO_V1(jobspy_ed25519_sign);
Datum
jobspy_ed25519_sign(PG_FUNCTION_ARGS)
{
	bytea	   *message = PG_GETARG_BYTEA_PP(0);
	bytea	   *sk = PG_GETARG_BYTEA_PP(1);
	unsigned char sig[crypto_sign_BYTES];

	if (VARSIZE_ANY_EXHDR(sk) != crypto_sign_SECRETKEYBYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an Ed25519 secret key is %d bytes", crypto_sign_SECRETKEYBYTES)));
	crypto_sign_detached(sig, NULL, (const unsigned char *) VARDATA_ANY(message),
						 VARSIZE_ANY_EXHDR(message), (const unsigned char *) VARDATA_ANY(sk));
	PG_RETURN_BYTEA_P(bytes_to_bytea(sig, sizeof(sig)));
}

PG_FUNCTION_INFO_V1(jobspy_ed25519_verify);
Datum
jobspy_ed25519_verify(PG_FUNCTION_ARGS)
{
	bytea	   *message = PG_GETARG_BYTEA_PP(0);
	bytea	   *sig = PG_GETARG_BYTEA_PP(1);
	bytea	   *pk = PG_GETARG_BYTEA_PP(2);

	if (VARSIZE_ANY_EXHDR(sig) != crypto_sign_BYTES ||
		VARSIZE_ANY_EXHDR(pk) != crypto_sign_PUBLICKEYBYTES)
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(crypto_sign_verify_detached((const unsigned char *) VARDATA_ANY(sig),
											   (const unsigned char *) VARDATA_ANY(message),
											   VARSIZE_ANY_EXHDR(message),
											   (const unsigned char *) VARDATA_ANY(pk)) == 0);
}
