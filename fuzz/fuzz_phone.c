/*
 * Phone normalisation (src/loyalty.c: any spacing and punctuation, "+",
 * "00" or a trunk prefix) on any bytes, under no country calling code or
 * one of a few chosen by the input's first byte (39 among them, whose
 * leading 0, also written "(0)", is kept).  Never a crash, and an
 * accepted number is E.164 ("+", 8 to 15 digits, no leading 0) and is
 * accepted again unchanged with no country code at all.
 */
#include "../src/loyalty.c"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const codes[] = {NULL, "1", "7", "44", "380", "998", "39"};
	char		out[17];
	char		again[17];
	const char *cc;
	char	   *copy;
	size_t		n;

	if (size == 0)
		return 0;
	cc = codes[data[0] % (sizeof(codes) / sizeof(codes[0]))];
	copy = palloc(size - 1 ? size - 1 : 1);	/* a text's bytes, not NUL-terminated */
	memcpy(copy, data + 1, size - 1);
	if (phone_normalize(copy, size - 1, cc, out))
	{
		n = strlen(out);
		FUZZ_REQUIRE(out[0] == '+' && n >= 9 && n <= 16 && out[1] != '0');
		FUZZ_REQUIRE(strspn(out + 1, "0123456789") == n - 1);
		FUZZ_REQUIRE(phone_normalize(out, n, NULL, again) && strcmp(out, again) == 0);
	}
	fuzz_reset();
	return 0;
}
