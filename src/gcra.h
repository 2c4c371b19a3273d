/*
 * gcra.h: the generic cell rate algorithm, pure integer arithmetic.
 *
 * Nothing here touches shared memory or the clock: callers pass the
 * theoretical arrival time (TAT) they hold for a key and the time now, both
 * in nanoseconds since the PostgreSQL epoch, and get the decision and the
 * new TAT back.  The meaning of every value follows redis-cell's
 * CL.THROTTLE.
 */
#ifndef JOBSPY_GCRA_H
#define JOBSPY_GCRA_H

#include "postgres.h"

/* A TAT that was never set: the key is full. */
#define GCRA_EMPTY PG_INT64_MIN

/*
 * Every span (tolerance, increment) and every clock reading is kept within
 * +-2^62 ns (about 146 years) so that sums of two never overflow int64.
 */
#define GCRA_MAX_SPAN (INT64CONST(1) << 62)

typedef struct GcraParams
{
	int64		emission_ns;	/* T: period / count, at least 1 ns */
	int64		tolerance_ns;	/* tau: T * limit */
	int32		limit;			/* max_burst + 1 */
} GcraParams;

typedef struct GcraResult
{
	bool		allowed;
	int32		limit;
	int32		remaining;
	int64		retry_after_ns; /* -1 when allowed or when it can never fit */
	int64		reset_after_ns; /* until the key is full again */
	int64		new_tat;		/* TAT to store when allowed */
} GcraResult;

/*
 * Check and derive the parameters; on failure returns false and sets *why
 * to a message fragment for errdetail.
 */
extern bool gcra_params(int64 max_burst, int64 count, int64 period_ns,
						GcraParams *out, const char **why);

/*
 * Decide whether quantity units may pass at now_ns for a key whose TAT is
 * tat (GCRA_EMPTY when unknown).  quantity 0 only reads the state.
 */
extern void gcra_decide(const GcraParams *p, int64 tat, int64 now_ns, int64 quantity,
						GcraResult *r);

/* Nanoseconds to whole milliseconds, rounded up (negative values kept). */
extern int64 gcra_ns_to_ms_ceil(int64 ns);

#endif							/* JOBSPY_GCRA_H */
