/*
 * Email normalisation (src/identity_email.c) on any bytes.  Never a crash,
 * and an accepted address is at most 254 bytes of lower-case ASCII with
 * one "@", and is accepted again unchanged.
 */
#include "../src/identity_email.c"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		out[255];
	char		again[255];
	size_t		n;

	if (email_normalize((const char *) data, size, out))
	{
		n = strlen(out);
		FUZZ_REQUIRE(n >= 6 && n <= 254);
		for (size_t i = 0; i < n; i++)
			FUZZ_REQUIRE((unsigned char) out[i] < 0x80 && !(out[i] >= 'A' && out[i] <= 'Z'));
		FUZZ_REQUIRE(strchr(out, '@') != NULL && strchr(out, '@') == strrchr(out, '@'));
		FUZZ_REQUIRE(email_normalize(out, n, again) && strcmp(out, again) == 0);
	}
	fuzz_reset();
	return 0;
}
