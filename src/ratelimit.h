/*
 * ratelimit.h: the shared-memory rate limiter (GCRA) and rate-limit rules.
 *
 * Other modules limit something by calling ratelimit_take() with a key of
 * their own (prefix it with the module's name, e.g. "license:<id>"), so
 * that their limits share the store, its sizing and its observability.
 */
#ifndef JOBSPY_RATELIMIT_H
#define JOBSPY_RATELIMIT_H

#include "postgres.h"

/* SQLSTATEs of the rate limiter (docs/errors.md, "Rate limits"). */
#define ERRCODE_JS_RATELIMIT_STORE_FULL	MAKE_SQLSTATE('J','S','3','0','1')
#define ERRCODE_JS_RATELIMIT_CLOCK_RANGE MAKE_SQLSTATE('J','S','3','0','2')

typedef struct RateLimitAnswer
{
	bool		allowed;
	int32		limit;
	int32		remaining;
	int64		retry_after_ms; /* -1 when allowed */
	int64		reset_after_ms;
} RateLimitAnswer;

/*
 * Apply GCRA to key (any bytes; longer than the store keeps inline means a
 * digest is kept instead) and fill *out.  quantity 0 reads without
 * consuming.  Raises 22023 on bad parameters and 55000 when the library was
 * not preloaded.
 */
extern void ratelimit_take(const char *key, size_t keylen, int64 max_burst, int64 count,
						   int64 period_us, int64 quantity, RateLimitAnswer *out);

#endif							/* JOBSPY_RATELIMIT_H */
