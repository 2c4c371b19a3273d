/*
 * Offline licence tokens ("jsl1.<payload>.<signature>", both base64url):
 * the parts of any bytes split as jobspy.verify_license_token splits them,
 * decoded by base64url_decode_bytes (src/base64url.c), and the signature
 * checked with Ed25519 over the first two parts (libsodium, as
 * jobspy.ed25519_verify does) against a fixed public key.  Never a crash;
 * a decoded part is exactly as long as its characters allow, decodes the
 * same again, and only a genuine signature verifies.
 */
#include "../src/base64url.c"
#include "fuzz.h"

#include <sodium.h>

/* The key pair of the seed "jobspy fuzz": the corpus's valid token is signed with it. */
static unsigned char pk[crypto_sign_PUBLICKEYBYTES];
static unsigned char sk[crypto_sign_SECRETKEYBYTES];
static bool have_keys = false;

static int64
decode_part(const char *s, size_t len, uint8 **out)
{
	*out = palloc(BASE64URL_DECODED_MAX(len) + 1);
	return base64url_decode_bytes(s, len, *out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *) data;
	const char *dot1 = memchr(s, '.', size);
	const char *dot2;
	uint8	   *payload;
	uint8	   *sig;
	uint8	   *again;
	int64		np,
				ns;

	if (!have_keys)
	{
		unsigned char seed[crypto_sign_SEEDBYTES] = "jobspy fuzz";

		if (sodium_init() < 0)
			abort();
		crypto_sign_seed_keypair(pk, sk, seed);
		have_keys = true;
	}
	if (dot1 == NULL)
		return 0;
	dot2 = memchr(dot1 + 1, '.', size - (dot1 + 1 - s));
	if (dot2 == NULL)
		return 0;

	np = decode_part(dot1 + 1, dot2 - dot1 - 1, &payload);
	ns = decode_part(dot2 + 1, size - (dot2 + 1 - s), &sig);
	if (np >= 0)
	{
		size_t		len = dot2 - dot1 - 1;

		FUZZ_REQUIRE(np == (int64) (len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0)));
		FUZZ_REQUIRE(decode_part(dot1 + 1, len, &again) == np && memcmp(again, payload, np) == 0);
	}
	if (ns == crypto_sign_BYTES)
	{
		bool		ok = crypto_sign_verify_detached(sig, data, dot2 - s, pk) == 0;
		unsigned char expect[crypto_sign_BYTES];

		/*
		 * The signer's (deterministic) signature verifies, and no other does:
		 * a finding here would be a forgery.
		 */
		crypto_sign_detached(expect, NULL, data, dot2 - s, sk);
		FUZZ_REQUIRE(ok == (memcmp(expect, sig, crypto_sign_BYTES) == 0));
	}
	fuzz_reset();
	return 0;
}
