/*
 * loyalty.c: the parts of the loyalty module that read what people type.
 *
 * Phone numbers: members are found by phone as well as by email, and the
 * same member must be found whatever the spacing, punctuation or prefix
 * ("+7 (912) 345-67-89", "8 912 345 67 89" with country code 7,
 * "0079123456789"), so every number is stored in E.164 form.
 *
 * Referral codes: 7 random symbols of the licence-key alphabet (35 bits)
 * and a check symbol, the code's value modulo the prime 37 (Crockford's
 * check).  A single substitution changes the value by d * 32^k and a swap
 * of neighbours by d * 31 * 32^k, 0 < |d| < 32, neither a multiple of 37;
 * a swap with the check symbol leaves 2(b - a) = 0 mod 37, so a = b.  Codes
 * whose check would fall on 32..36 (symbols outside the alphabet) are never
 * generated, so every check symbol is one a person can type.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "keys.h"
#include "loyalty.h"

#define PHONE_MIN_DIGITS 8
#define PHONE_MAX_DIGITS 15
#define REFERRAL_RANDOM 7
#define REFERRAL_MODULUS 37

/* Keep only digits and a leading '+'; false on anything else.  "(0)", the
 * trunk prefix some write inside an international number ("+44 (0)20 ..."),
 * is left out of the digits: *paren_zero is how many digits came before the
 * first, -1 for none, for phone_normalize to put its 0 back where it is part
 * of the number ("+39 (0)6 ..."). */
static bool
phone_digits(const char *input, size_t len, bool *plus, char *digits, int *n, int *paren_zero)
{
	*plus = false;
	*n = 0;
	*paren_zero = -1;
	for (size_t i = 0; i < len; i++)
	{
		char		c = input[i];

		if (c == '(' && i + 2 < len && input[i + 1] == '0' && input[i + 2] == ')')
		{
			if (*paren_zero < 0)
				*paren_zero = *n;
			i += 2;
		}
		else if (c >= '0' && c <= '9')
		{
			if (*n >= 20)
				return false;
			digits[(*n)++] = c;
		}
		else if (c == '+' && *n == 0 && !*plus)
			*plus = true;
		else if (c != ' ' && c != '-' && c != '.' && c != '(' && c != ')' && c != '/' && c != '\t')
			return false;
	}
	return *n > 0;
}

/* Whether the len digits at cc are a calling code whose numbers keep their
 * leading 0, which is no trunk prefix there: Italy (39), San Marino (378)
 * and the Vatican (379). */
static bool
zero_is_national(const char *cc, size_t len)
{
	return (len == 2 && memcmp(cc, "39", 2) == 0) ||
		(len == 3 && (memcmp(cc, "378", 3) == 0 || memcmp(cc, "379", 3) == 0));
}

/*
 * The lengths of the national (significant) numbers of some calling codes,
 * from their numbering plans: with them, a number written with its country
 * code but no "+" ("7 912 345-67-89") is told from a national one.
 */
static const struct
{
	const char *code;
	int			min, max;
} national_lengths[] = {
	{"1", 10, 10}, {"7", 10, 10}, {"33", 9, 9}, {"34", 9, 9}, {"39", 6, 11}, {"44", 9, 10},
	{"375", 9, 9}, {"380", 9, 9}, {"998", 9, 9},
};

/* Whether n digits can be a national number of the calling code; unknown codes take E.164's bound. */
static bool
national_length(const char *cc, int n)
{
	for (size_t i = 0; i < lengthof(national_lengths); i++)
		if (strcmp(national_lengths[i].code, cc) == 0)
			return n >= national_lengths[i].min && n <= national_lengths[i].max;
	return n >= 1 && (int) strlen(cc) + n <= PHONE_MAX_DIGITS;
}

/*
 * How many leading digits of a number written without "+" or "00" are not
 * part of its national number: the country code itself, when the number
 * starts with it and only that reading gives a national number of the
 * code's length; else one trunk prefix (0 in most countries, none where
 * zero_is_national, the 0 being part of the number; 8 before the 10 digits
 * of code 7; 1 before the 10 digits of code 1); else none.
 */
static int
national_prefix(const char *digits, int n, const char *cc)
{
	int			cc_len = strlen(cc);
	bool		trunk;

	trunk = n > 1 && ((digits[0] == '0' && !zero_is_national(cc, cc_len)) ||
					  (digits[0] == '8' && strcmp(cc, "7") == 0 && n == 11) ||
					  (digits[0] == '1' && strcmp(cc, "1") == 0 && n == 11));
	if (n > cc_len && strncmp(digits, cc, cc_len) == 0 && national_length(cc, n - cc_len) &&
		!national_length(cc, n - (trunk ? 1 : 0)))
		return cc_len;
	return trunk ? 1 : 0;
}

bool
phone_normalize(const char *input, size_t len, const char *country_code, char out[17])
{
	char		digits[21];
	const char *national = digits;
	int			n;
	int			paren_zero;
	int			cc_len = 0;
	bool		plus;
	int			o = 0;
	int			skip;

	if (!phone_digits(input, len, &plus, digits, &n, &paren_zero))
		return false;
	if (!plus && n > 2 && digits[0] == '0' && digits[1] == '0')
	{
		/* 00: the international call prefix of most countries */
		plus = true;
		national += 2;
		n -= 2;
		paren_zero -= 2;
	}

	/*
	 * A "(0)" belongs to the calling code written before it, or to the one
	 * given when it opens a national number: dropped as that code's trunk
	 * prefix, or put back where the 0 is part of the number.
	 */
	if (paren_zero > 0 ? zero_is_national(national, paren_zero)
		: paren_zero == 0 && !plus && country_code != NULL && zero_is_national(country_code, strlen(country_code)))
	{
		char	   *zero = digits + (national - digits) + paren_zero;

		memmove(zero + 1, zero, n - paren_zero);
		*zero = '0';
		n++;
	}
	if (!plus)
	{
		if (country_code == NULL)
			return false;
		cc_len = strlen(country_code);
		skip = national_prefix(national, n, country_code);
		national += skip;
		n -= skip;
	}
	if (cc_len + n < PHONE_MIN_DIGITS || cc_len + n > PHONE_MAX_DIGITS)
		return false;
	out[o++] = '+';
	for (int i = 0; i < cc_len; i++)
		out[o++] = country_code[i];
	memcpy(out + o, national, n);
	o += n;
	out[o] = '\0';
	return out[1] != '0';
}

/* A calling code as given ("7", "+7", "44"), or NULL: digits only. */
static const char *
calling_code(FunctionCallInfo fcinfo, int argno)
{
	char	   *cc;
	char	   *p;

	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return NULL;
	cc = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	p = cc[0] == '+' ? cc + 1 : cc;
	if (strlen(p) < 1 || strlen(p) > 3 || strspn(p, "0123456789") != strlen(p) || p[0] == '0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("country calling code must be 1 to 3 digits"),
				 errdetail("The code given was \"%s\".", cc)));
	return p;
}

PG_FUNCTION_INFO_V1(jobspy_normalize_phone);
Datum
jobspy_normalize_phone(PG_FUNCTION_ARGS)
{
	text	   *input;
	const char *cc;
	char		out[17];

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	input = PG_GETARG_TEXT_PP(0);
	cc = calling_code(fcinfo, 1);
	if (!phone_normalize(VARDATA_ANY(input), VARSIZE_ANY_EXHDR(input), cc, out))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("not a phone number that can be written in E.164 form"),
				 errhint(cc == NULL ? "Write it with its international prefix (+ or 00), or give the country calling code."
						 : "Expect 8 to 15 digits with the country code, and only spaces, dashes, dots or parentheses between them.")));
	PG_RETURN_TEXT_P(cstring_to_text(out));
}

static int
referral_check(const int digits[REFERRAL_RANDOM])
{
	uint64		v = 0;

	for (int i = 0; i < REFERRAL_RANDOM; i++)
		v = v * 32 + digits[i];
	return (int) (v % REFERRAL_MODULUS);
}

static void
referral_format(const int digits[REFERRAL_RANDOM], int check, char out[REFERRAL_CODE_LEN + 1])
{
	int			o = 0;

	for (int i = 0; i < REFERRAL_RANDOM; i++)
	{
		if (i == 4)
			out[o++] = '-';
		out[o++] = key_symbol(digits[i]);
	}
	out[o++] = key_symbol(check);
	out[o] = '\0';
}

void
referral_code_generate(char out[REFERRAL_CODE_LEN + 1])
{
	unsigned char bytes[REFERRAL_RANDOM];
	int			digits[REFERRAL_RANDOM];
	int			check;

	do
	{
		key_random_bytes(bytes, sizeof(bytes));
		for (int i = 0; i < REFERRAL_RANDOM; i++)
			digits[i] = bytes[i] & 31;
		check = referral_check(digits);
	} while (check >= 32);
	referral_format(digits, check, out);
}

bool
referral_code_normalize(const char *input, size_t len, char out[REFERRAL_CODE_LEN + 1])
{
	int			digits[REFERRAL_RANDOM + 1];
	int			n = 0;

	for (size_t i = 0; i < len; i++)
	{
		char		c = input[i];
		int			d;

		if (c == '-' || c == ' ' || c == '\t')
			continue;
		if (c >= 'a' && c <= 'z')
			c = c - 'a' + 'A';
		d = key_digit(c);
		if (d < 0 || n == REFERRAL_RANDOM + 1)
			return false;
		digits[n++] = d;
	}
	if (n != REFERRAL_RANDOM + 1 || referral_check(digits) != digits[REFERRAL_RANDOM])
		return false;
	referral_format(digits, digits[REFERRAL_RANDOM], out);
	return true;
}

PG_FUNCTION_INFO_V1(jobspy_generate_referral_code);
Datum
jobspy_generate_referral_code(PG_FUNCTION_ARGS)
{
	char		code[REFERRAL_CODE_LEN + 1];

	referral_code_generate(code);
	PG_RETURN_TEXT_P(cstring_to_text(code));
}

PG_FUNCTION_INFO_V1(jobspy_normalize_referral_code);
Datum
jobspy_normalize_referral_code(PG_FUNCTION_ARGS)
{
	text	   *input = PG_GETARG_TEXT_PP(0);
	char		code[REFERRAL_CODE_LEN + 1];

	if (!referral_code_normalize(VARDATA_ANY(input), VARSIZE_ANY_EXHDR(input), code))
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(code));
}
