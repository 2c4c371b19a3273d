/*
 * Nostr public keys (src/nostr_keys.c: 64 hex digits or NIP-19 npub) on any
 * bytes: never a crash, only ereport(ERROR) for what is refused, and a key
 * it accepts reads back the same from its hex form.
 */
#include "../src/nostr_keys.c"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char key[NOSTR_PUBKEY_BYTES];
	unsigned char again[NOSTR_PUBKEY_BYTES];
	char		hex[2 * NOSTR_PUBKEY_BYTES + 1];
	char	   *copy = palloc(size + 1);	/* the server's text is not NUL-terminated either */
	bool		ok;

	memcpy(copy, data, size);
	FUZZ_TRY(ok, parse_public_key(copy, (int) size, key));
	if (ok)
	{
		for (int i = 0; i < NOSTR_PUBKEY_BYTES; i++)
			snprintf(hex + 2 * i, 3, "%02x", key[i]);
		FUZZ_TRY(ok, parse_public_key(hex, 2 * NOSTR_PUBKEY_BYTES, again));
		FUZZ_REQUIRE(ok && memcmp(key, again, NOSTR_PUBKEY_BYTES) == 0);
	}
	fuzz_reset();
	return 0;
}
