/*
 * Licence-key normalisation (src/keys.c) on any bytes: never a crash, and a
 * key it accepts is in canonical form, which it accepts again unchanged.
 */
#include "../src/keys.c"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		key[LICENSE_KEY_LEN + 1];
	char		again[LICENSE_KEY_LEN + 1];

	if (license_key_normalize((const char *) data, size, key))
	{
		FUZZ_REQUIRE(strlen(key) == LICENSE_KEY_LEN);
		FUZZ_REQUIRE(license_key_normalize(key, LICENSE_KEY_LEN, again));
		FUZZ_REQUIRE(strcmp(key, again) == 0);
	}
	fuzz_reset();
	return 0;
}
