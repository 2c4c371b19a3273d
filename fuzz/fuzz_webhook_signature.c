/*
 * Webhook signature headers (src/webhooks_verify.c: Stripe's
 * "t=...,v1=..." and plain HMAC-SHA256 in hex or base64) on any bytes.
 *
 * The input is a header, a newline and a body.  Never a crash; a verdict
 * is one of the four; a header the fuzzer writes is never VERIFIED under a
 * secret it does not know; and the header a provider would send for that
 * body, under that secret, is VERIFIED by both schemes.
 */
#include "../src/webhooks_verify.c"
#include "fuzz.h"

static const uint8 secret_key[] = "whsec_fuzz_secret_the_fuzzer_never_reads";

static void
require_verdict(WebhookVerdict v)
{
	FUZZ_REQUIRE(v == WEBHOOK_VERIFIED || v == WEBHOOK_BAD_SIGNATURE ||
				 v == WEBHOOK_STALE_TIMESTAMP || v == WEBHOOK_MALFORMED);
	FUZZ_REQUIRE(v != WEBHOOK_VERIFIED);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	WebhookSecret secrets[2] = {{(const uint8 *) "another", 7}, {secret_key, sizeof(secret_key) - 1}};
	const char *text = (const char *) data;
	const char *nl = memchr(text, '\n', size);
	size_t		header_len = nl ? (size_t) (nl - text) : size;
	const char *body = nl ? nl + 1 : text + size;
	size_t		body_len = size - (body - text);
	/* the parsers get exactly the header's bytes, not a NUL-terminated copy */
	char	   *header = palloc(header_len ? header_len : 1);
	uint8		mac[MAC_BYTES];
	char		hex[2 * MAC_BYTES + 1];
	char	   *signed_header;
	int64		now = 1700000000;

	memcpy(header, text, header_len);
	require_verdict(webhook_verify_stripe(header, header_len, body, body_len, secrets, 2, now, 300));
	require_verdict(webhook_verify_hmac(header, header_len, body, body_len, secrets, 2));

	/* What the provider sends for this body verifies. */
	mac_of(&secrets[1], "1700000000.", 11, body, body_len, mac);
	sodium_bin2hex(hex, sizeof(hex), mac, MAC_BYTES);
	signed_header = psprintf("t=1700000000,v1=%s", hex);
	FUZZ_REQUIRE(webhook_verify_stripe(signed_header, strlen(signed_header), body, body_len,
									   secrets, 2, now, 300) == WEBHOOK_VERIFIED);
	FUZZ_REQUIRE(webhook_verify_stripe(signed_header, strlen(signed_header), body, body_len,
									   secrets, 2, now + 301, 300) == WEBHOOK_STALE_TIMESTAMP);
	mac_of(&secrets[1], NULL, 0, body, body_len, mac);
	sodium_bin2hex(hex, sizeof(hex), mac, MAC_BYTES);
	signed_header = psprintf("sha256=%s", hex);
	FUZZ_REQUIRE(webhook_verify_hmac(signed_header, strlen(signed_header), body, body_len,
									 secrets, 2) == WEBHOOK_VERIFIED);
	fuzz_reset();
	return 0;
}
