/*
 * core.h: shared declarations of the core module.
 *
 * The core owns _PG_init, GUCs, the shared-memory registry the other
 * modules hook into, the extension's SQLSTATEs and the clock.
 */
#ifndef JOBSPY_CORE_H
#define JOBSPY_CORE_H

#include "postgres.h"
#include "fmgr.h"
#include "access/attnum.h"
#include "access/tupdesc.h"
#include "utils/snapshot.h"
#include "utils/timestamp.h"

/*
 * The extension's own SQLSTATE class "JS".  Every code is listed, with its
 * meaning, in docs/errors.md.  Ranges: JS0xx core/keys/ops, JS1xx identity,
 * JS2xx licensing, JS3xx rate limits, JS4xx quotas, JS5xx billing, JS7xx
 * loyalty (src/loyalty.h).
 */
#define ERRCODE_JS_NOT_PRELOADED		MAKE_SQLSTATE('J','S','0','0','1')
#define ERRCODE_JS_NO_HASH_KEY			MAKE_SQLSTATE('J','S','0','0','2')
#define ERRCODE_JS_CONFIG_UNKNOWN		MAKE_SQLSTATE('J','S','0','0','3')

/* jobspy.actor_id: the uuid recorded as actor in audit rows, or empty. */
extern char *jobspy_actor_id;

/* Clock: transaction time unless jobspy.clock_override is set. */
extern TimestampTz jobspy_now(void);
/* Clock for per-call logic (rate limiter): wall time unless overridden. */
extern TimestampTz jobspy_wall_now(void);

/*
 * Shared-memory registry.  A module calls jobspy_shmem_register() from its
 * own *_init() (run by _PG_init while the library is being preloaded); the
 * core requests the space and the LWLock tranche, and calls startup() once
 * the segment exists, with found = true when another process made it.
 */
typedef struct JobspyShmemSegment
{
	const char *name;			/* ShmemInitStruct name and LWLock tranche */
	Size		(*size) (void);
	int			nlocks;			/* LWLocks in the named tranche, 0 for none */
	void		(*startup) (void *segment, bool found);
	void		(*shutdown) (void);	/* in the postmaster at shutdown, or NULL */
} JobspyShmemSegment;

extern void jobspy_shmem_register(const JobspyShmemSegment *segment);

/* True when the library was loaded through shared_preload_libraries. */
extern bool jobspy_preloaded(void);

/*
 * In the postmaster at shutdown: true when the cluster ended with a
 * shutdown checkpoint, so that shared state saved now is worth loading at
 * the next start (an immediate stop leaves crash recovery to do).
 */
extern bool jobspy_cluster_shut_down_cleanly(void);

/* The snapshot a function's reads use: the statement's (or the transaction's). */
extern Snapshot jobspy_statement_snapshot(void);

/* A column's number in one of the extension's tables; an error when missing. */
extern AttrNumber jobspy_attnum(Oid relid, const char *name);

/* Raise 55000 with a hint unless the library was preloaded. */
extern void jobspy_require_preload(const char *what);

/* The result row type of a function, built once per backend (src/srf.c). */
extern TupleDesc jobspy_result_type(FunctionCallInfo fcinfo);

/* The answer of a function declared to return a row type (src/srf.c). */
extern Datum jobspy_return_row(FunctionCallInfo fcinfo, Datum *values, bool *nulls);

/* Module initialisers called by _PG_init. */
extern void jobspy_keys_init(void);
extern void jobspy_ratelimit_init(void);
extern void jobspy_identity_init(void);
extern void jobspy_quotas_init(void);
extern void jobspy_licensing_init(void);

#endif							/* JOBSPY_CORE_H */
