/*
 * gcra.c: the generic cell rate algorithm (GCRA) in integer nanoseconds.
 *
 * A key's whole state is one number, its theoretical arrival time (TAT):
 * the time at which the key would be full again if nothing more arrived.
 * With emission interval T = period / count and tolerance tau = T * limit,
 * a request of q units passes when max(TAT, now) + q*T - tau <= now, and
 * then TAT becomes max(TAT, now) + q*T.  remaining is how many more single
 * units would pass now: floor((tau - (TAT - now)) / T).
 *
 * Everything is integer: T is truncated to whole nanoseconds once and tau
 * is computed from that same T, so a fresh key admits exactly limit units
 * at once whatever the period; the rate drifts from count per period by
 * less than one part in T (a billionth of a second per emission).
 * Intermediate values are computed in 128 bits, so no parameters the
 * caller accepted can overflow.
 */
#include "postgres.h"

#include "gcra.h"

bool
gcra_params(int64 max_burst, int64 count, int64 period_ns, GcraParams *out, const char **why)
{
	int128		tau;

	if (max_burst < 0)
	{
		*why = "max_burst must be zero or more.";
		return false;
	}
	if (max_burst >= PG_INT32_MAX)
	{
		*why = "max_burst + 1 must fit in an integer.";
		return false;
	}
	if (count <= 0)
	{
		*why = "count must be greater than zero.";
		return false;
	}
	if (period_ns <= 0)
	{
		*why = "period must be longer than zero.";
		return false;
	}
	if (period_ns / count < 1)
	{
		*why = "count per period is more than one per nanosecond.";
		return false;
	}
	out->emission_ns = period_ns / count;
	out->limit = (int32) (max_burst + 1);
	tau = (int128) out->emission_ns * out->limit;
	if (tau > GCRA_MAX_SPAN)
	{
		*why = "period / count * (max_burst + 1) must be under 146 years.";
		return false;
	}
	out->tolerance_ns = (int64) tau;
	return true;
}

void
gcra_decide(const GcraParams *p, int64 tat, int64 now_ns, int64 quantity, GcraResult *r)
{
	int128		base = (tat == GCRA_EMPTY || tat < now_ns) ? now_ns : tat;
	int128		increment = (int128) p->emission_ns * quantity;
	int128		new_tat = base + increment;
	int128		diff = (int128) now_ns - (new_tat - p->tolerance_ns);
	int128		ttl;
	int128		rem;

	r->limit = p->limit;
	if (diff < 0)
	{
		r->allowed = false;
		/* A request larger than the whole bucket never fits: no retry. */
		r->retry_after_ns = (increment <= p->tolerance_ns) ? (int64) (-diff) : -1;
		ttl = base - now_ns;
		r->new_tat = tat;
	}
	else
	{
		r->allowed = true;
		r->retry_after_ns = -1;
		ttl = new_tat - now_ns;
		/* base - now <= tau and increment <= tau: fits in int64. */
		r->new_tat = (int64) new_tat;
	}
	/*
	 * ttl can exceed tau only when the clock went backwards or the key was
	 * last used with a longer tolerance; remaining is then 0.
	 */
	rem = ((int128) p->tolerance_ns - ttl) / p->emission_ns;
	if (rem < 0)
		rem = 0;
	if (rem > p->limit)
		rem = p->limit;
	r->remaining = (int32) rem;
	r->reset_after_ns = ttl > PG_INT64_MAX ? PG_INT64_MAX : (int64) ttl;
}

int64
gcra_ns_to_ms_ceil(int64 ns)
{
	if (ns <= 0)
		return ns < 0 ? ns : 0;
	return ns / 1000000 + (ns % 1000000 != 0);
}
