/*
 * identity_email.c: jobspy.normalize_email, the one form of an address
 * that identifies an account.  An address is trimmed of spaces, tabs and
 * line breaks, lower-cased, and accepted when it is local@domain.tld in
 * ASCII: a local part of 1 to 64 of the characters RFC 5322 allows
 * unquoted, not starting or ending with a dot nor holding two in a row;
 * labels of 1 to 63 letters, digits and inner hyphens; a top-level label
 * of 2 to 63 letters; at most 254 characters.  Bytes outside ASCII are
 * refused, whatever a collation's lower-casing would make of them (the
 * Kelvin sign is not a k here).
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "identity.h"

#define EMAIL_MAX 254
#define LOCAL_MAX 64
#define LABEL_MAX 63

static inline bool
is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static inline bool
is_local_char(char c)
{
	return is_alnum(c) || (c != '\0' && strchr(".!#$%&'*+/=?^_`{|}~-", c) != NULL);
}

/* The domain after the "@": labels and a top-level label of letters. */
static bool
domain_ok(const char *d, size_t len)
{
	size_t		start = 0;
	int			labels = 0;

	for (;;)
	{
		const char *dot = memchr(d + start, '.', len - start);
		size_t		end = dot ? (size_t) (dot - d) : len;
		size_t		n = end - start;

		if (n == 0 || n > LABEL_MAX)
			return false;
		if (dot == NULL)
		{
			/* The top-level label, after at least one other. */
			if (labels == 0 || n < 2)
				return false;
			for (size_t i = start; i < end; i++)
				if (d[i] < 'a' || d[i] > 'z')
					return false;
			return true;
		}
		if (!is_alnum(d[start]) || !is_alnum(d[end - 1]))
			return false;
		for (size_t i = start; i < end; i++)
			if (!is_alnum(d[i]) && d[i] != '-')
				return false;
		labels++;
		start = end + 1;
	}
}

bool
email_normalize(const char *in, size_t len, char *out)
{
	size_t		n;
	const char *at;
	size_t		local;

	while (len > 0 && strchr(" \t\r\n", in[0]) != NULL && in[0] != '\0')
		in++, len--;
	while (len > 0 && strchr(" \t\r\n", in[len - 1]) != NULL && in[len - 1] != '\0')
		len--;
	if (len > EMAIL_MAX)
		return false;
	for (n = 0; n < len; n++)
	{
		char		c = in[n];

		if ((unsigned char) c >= 0x80)
			return false;
		out[n] = (c >= 'A' && c <= 'Z') ? (char) (c + ('a' - 'A')) : c;
	}
	out[n] = '\0';

	at = memchr(out, '@', n);
	if (at == NULL)
		return false;
	local = at - out;
	if (local == 0 || local > LOCAL_MAX || out[0] == '.' || out[local - 1] == '.')
		return false;
	for (size_t i = 0; i < local; i++)
		if (!is_local_char(out[i]) || (out[i] == '.' && out[i + 1] == '.'))
			return false;
	return domain_ok(at + 1, n - local - 1);
}

PG_FUNCTION_INFO_V1(jobspy_normalize_email);
Datum
jobspy_normalize_email(PG_FUNCTION_ARGS)
{
	text	   *email;
	char		out[EMAIL_MAX + 1];

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("email must not be null")));
	email = PG_GETARG_TEXT_PP(0);
	if (!email_normalize(VARDATA_ANY(email), VARSIZE_ANY_EXHDR(email), out))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("email address is not valid"),
				 errdetail("An address is local@domain.tld in ASCII, at most 254 characters."),
				 errhint("Give an internationalised domain in its punycode (xn--) form.")));
	PG_RETURN_TEXT_P(cstring_to_text(out));
}
