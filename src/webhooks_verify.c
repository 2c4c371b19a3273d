/*
 * webhooks_verify.c: webhook signature schemes, as pure functions over
 * bytes (no SQL, no allocation that outlives the call).
 *
 * Stripe: the header is "t=<unix seconds>,v1=<hex>[,v1=<hex>...]" and v1 is
 * HMAC-SHA256(secret, "<t>." + payload).  Any v1 matching any live secret
 * passes; other schemes (v0, the test-mode fake) are ignored.  The
 * signature is checked first, so that a forged header learns nothing about
 * the clock; then the timestamp must lie within the tolerance of now, in
 * either direction.
 *
 * Plain HMAC-SHA256: the header is the MAC of the body, in hex (64 digits,
 * either case) or base64, optionally prefixed "sha256=" (GitHub's form).
 *
 * Every comparison of MACs is sodium_memcmp, constant time; every secret
 * is compared against every candidate, so the time taken does not depend
 * on which one matched.
 */
#include "postgres.h"

#include <sodium.h>

#include "webhooks.h"

#define MAC_BYTES crypto_auth_hmacsha256_BYTES
#define MAX_HEADER 4096
#define MAX_V1 8

static void
mac_of(const WebhookSecret *s, const char *prefix, size_t prefix_len,
	   const char *payload, size_t payload_len, uint8 out[MAC_BYTES])
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, s->key, s->len);
	if (prefix_len > 0)
		crypto_auth_hmacsha256_update(&st, (const uint8 *) prefix, prefix_len);
	crypto_auth_hmacsha256_update(&st, (const uint8 *) payload, payload_len);
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof(st));
}

/* True when any candidate MAC equals the MAC of the message under any secret. */
static bool
any_match(const WebhookSecret *secrets, int nsecrets, const char *prefix, size_t prefix_len,
		  const char *payload, size_t payload_len, uint8 candidates[][MAC_BYTES], int ncandidates)
{
	bool		matched = false;

	for (int i = 0; i < nsecrets; i++)
	{
		uint8		mac[MAC_BYTES];

		mac_of(&secrets[i], prefix, prefix_len, payload, payload_len, mac);
		for (int j = 0; j < ncandidates; j++)
			matched |= (sodium_memcmp(mac, candidates[j], MAC_BYTES) == 0);
		sodium_memzero(mac, sizeof(mac));
	}
	return matched;
}

/* Exactly 2 * MAC_BYTES hex digits into out; false otherwise. */
static bool
hex_mac(const char *s, size_t len, uint8 out[MAC_BYTES])
{
	size_t		got;

	if (len != 2 * MAC_BYTES)
		return false;
	return sodium_hex2bin(out, MAC_BYTES, s, len, NULL, &got, NULL) == 0 && got == MAC_BYTES;
}

WebhookVerdict
webhook_verify_stripe(const char *header, size_t header_len, const char *payload, size_t payload_len,
					  const WebhookSecret *secrets, int nsecrets, int64 now, int64 tolerance)
{
	uint8		v1[MAX_V1][MAC_BYTES];
	int			nv1 = 0;
	bool		have_t = false;
	bool		have_v1 = false;
	int64		t = 0;
	char		prefix[32];
	int			prefix_len = 0;
	size_t		pos = 0;
	bool		ok;

	if (header_len == 0 || header_len > MAX_HEADER)
		return WEBHOOK_MALFORMED;

	while (pos < header_len)
	{
		size_t		end = pos;
		size_t		eq;
		size_t		klen;
		const char *val;
		size_t		vlen;

		while (end < header_len && header[end] != ',')
			end++;
		/* One item, spaces around it and around "=" ignored. */
		while (pos < end && header[pos] == ' ')
			pos++;
		for (eq = pos; eq < end && header[eq] != '='; eq++)
			;
		if (eq == end)
		{
			if (pos != end)
				return WEBHOOK_MALFORMED;	/* an item without "=" */
			pos = end + 1;
			continue;
		}
		klen = eq - pos;
		while (klen > 0 && header[pos + klen - 1] == ' ')
			klen--;
		val = header + eq + 1;
		vlen = end - eq - 1;
		while (vlen > 0 && *val == ' ')
			val++, vlen--;
		while (vlen > 0 && val[vlen - 1] == ' ')
			vlen--;

		if (klen == 1 && header[pos] == 't')
		{
			if (have_t || vlen == 0 || vlen > 12)
				return WEBHOOK_MALFORMED;
			for (size_t i = 0; i < vlen; i++)
			{
				if (val[i] < '0' || val[i] > '9')
					return WEBHOOK_MALFORMED;
				t = t * 10 + (val[i] - '0');
			}
			memcpy(prefix, val, vlen);
			prefix[vlen] = '.';
			prefix_len = (int) vlen + 1;
			have_t = true;
		}
		else if (klen == 2 && header[pos] == 'v' && header[pos + 1] == '1')
		{
			/*
			 * A v1 that is not a MAC cannot match; it does not spoil the
			 * others.  More MACs than a rotation can explain is malformed
			 * rather than a silent drop of the ones past MAX_V1.
			 */
			uint8		mac[MAC_BYTES];

			have_v1 = true;
			if (hex_mac(val, vlen, mac))
			{
				if (nv1 == MAX_V1)
					return WEBHOOK_MALFORMED;
				memcpy(v1[nv1++], mac, MAC_BYTES);
			}
		}
		pos = end + 1;
	}
	if (!have_t || !have_v1)
		return WEBHOOK_MALFORMED;
	if (nv1 == 0)
		return WEBHOOK_BAD_SIGNATURE;

	ok = any_match(secrets, nsecrets, prefix, prefix_len, payload, payload_len, v1, nv1);
	if (!ok)
		return WEBHOOK_BAD_SIGNATURE;
	if (t < now - tolerance || t > now + tolerance)
		return WEBHOOK_STALE_TIMESTAMP;
	return WEBHOOK_VERIFIED;
}

WebhookVerdict
webhook_verify_hmac(const char *header, size_t header_len, const char *payload, size_t payload_len,
					const WebhookSecret *secrets, int nsecrets)
{
	uint8		mac[1][MAC_BYTES];
	uint8		decoded[MAC_BYTES + 3];
	size_t		got = 0;

	while (header_len > 0 && header[0] == ' ')
		header++, header_len--;
	while (header_len > 0 && header[header_len - 1] == ' ')
		header_len--;
	if (header_len >= 7 && strncmp(header, "sha256=", 7) == 0)
		header += 7, header_len -= 7;
	if (header_len == 0 || header_len > MAX_HEADER)
		return WEBHOOK_MALFORMED;

	if (!hex_mac(header, header_len, mac[0]))
	{
		/* Base64 of 32 bytes is 44 characters with padding, 43 without. */
		if ((header_len != 44 && header_len != 43) ||
			(sodium_base642bin(decoded, sizeof(decoded), header, header_len, NULL, &got, NULL,
							   header_len == 44 ? sodium_base64_VARIANT_ORIGINAL
							   : sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0 &&
			 sodium_base642bin(decoded, sizeof(decoded), header, header_len, NULL, &got, NULL,
							   header_len == 44 ? sodium_base64_VARIANT_URLSAFE
							   : sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) ||
			got != MAC_BYTES)
			return WEBHOOK_MALFORMED;
		memcpy(mac[0], decoded, MAC_BYTES);
	}
	return any_match(secrets, nsecrets, NULL, 0, payload, payload_len, mac, 1)
		? WEBHOOK_VERIFIED : WEBHOOK_BAD_SIGNATURE;
}
