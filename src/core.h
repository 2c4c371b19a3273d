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
#include "executor/spi.h"
#include "utils/snapshot.h"
#include "utils/timestamp.h"

/*
 * The extension's own SQLSTATE class "JS".  Every code is listed, with its
 * meaning, in docs/errors.md.  Ranges: JS0xx core/keys/ops, JS1xx identity,
 * JS2xx licensing, JS3xx rate limits, JS4xx quotas, JS5xx billing, JS6xx
 * webhooks (src/webhooks.h), JS7xx loyalty (src/loyalty.h).
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

/* A fresh time-ordered id (RFC 9562 version 7), jobspy.uuid_v7() (src/core_uuid_v7.c). */
struct pg_uuid_t;
extern void jobspy_uuid_v7(struct pg_uuid_t *uuid);

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

/*
 * A module's relations in schema jobspy and the columns it reads, looked
 * up once per backend (src/core_cache.c).  The module declares a static
 * JobspyRels with names and columns (indexes into names), registers it
 * from its *_init(), and reads jobspy_rel()/jobspy_col(); a relcache
 * invalidation of any of the relations makes the next call look them all
 * up again, after calling forget() (may be NULL) so that the module drops
 * what it derived from them.  forget() may run in the middle of a lookup:
 * it only marks things stale, it frees nothing in use.
 */
typedef struct JobspyColumn
{
	int			rel;			/* index into names */
	const char *name;
} JobspyColumn;

typedef struct JobspyRels
{
	const char *const *names;
	int			nrels;
	const JobspyColumn *columns;
	int			ncolumns;
	void		(*forget) (void);
	/* Filled in by the core: */
	bool		valid;
	bool		stale;			/* invalidated while being looked up */
	Oid		   *oids;
	AttrNumber *attnums;
	Oid			owner;			/* the first relation's owner */
	struct JobspyRels *next;
} JobspyRels;

extern void jobspy_rels_register(JobspyRels *set);
extern void jobspy_rels_load(JobspyRels *set);

static inline void
jobspy_rels_require(JobspyRels *set)
{
	if (!set->valid)
		jobspy_rels_load(set);
}

static inline Oid
jobspy_rel(JobspyRels *set, int i)
{
	jobspy_rels_require(set);
	return set->oids[i];
}

static inline AttrNumber
jobspy_col(JobspyRels *set, int i)
{
	jobspy_rels_require(set);
	return set->attnums[i];
}

/* The owner of the set's first relation: what runs "as the tables' owner". */
static inline Oid
jobspy_rels_owner(JobspyRels *set)
{
	jobspy_rels_require(set);
	return set->owner;
}

/*
 * An SPI plan prepared on first use and kept (src/core_cache.c); *plan is
 * the caller's static.  The caller is connected to SPI.
 */
extern SPIPlanPtr jobspy_plan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes);

/*
 * State files across restarts (src/core_state.c), as pg_stat_statements
 * keeps its own: written by the postmaster at a clean shutdown to
 * <path>.tmp and renamed durably into place; a header of magic and format
 * version, the module's records, and the magic again as a trailer.  The
 * reader removes the file once read; a file of another version or a
 * damaged one is logged and ignored, so the state starts empty.
 */
typedef struct JobspyStateFile JobspyStateFile;

extern JobspyStateFile *jobspy_state_write_open(const char *path, uint32 magic, uint32 version);
extern void jobspy_state_write(JobspyStateFile *f, const void *data, size_t size);
extern void jobspy_state_write_close(JobspyStateFile *f);

extern JobspyStateFile *jobspy_state_read_open(const char *path, uint32 magic, uint32 version,
											   const char *what);
extern bool jobspy_state_read(JobspyStateFile *f, void *data, size_t size);
/* The records read make no sense (the module's own checks): the file is damaged. */
extern void jobspy_state_damaged(JobspyStateFile *f);
extern bool jobspy_state_read_close(JobspyStateFile *f, const char *what);

/*
 * A table of fixed-size entries kept in a state file: after the magic and
 * version, the entry size and the count of entries, then the entries in
 * use.
 */
typedef struct JobspyStateTable
{
	const char *path;
	uint32		magic;
	uint32		version;
	const char *what;			/* for the log: "licence counter" */
	Size		entry_size;
	bool		(*used) (const void *entry);	/* to save */
	bool		(*put) (const void *entry); /* to load; false: no room */
} JobspyStateTable;

/* Save the entries of entries[0..n) that are in use (in the postmaster). */
extern void jobspy_state_save_table(const JobspyStateTable *t, const void *entries, Size n);
/*
 * Load the saved entries through put(); *lost counts those that found no
 * room.  False when the file was damaged: the caller empties what was put.
 */
extern bool jobspy_state_load_table(const JobspyStateTable *t, int64 *lost);

/*
 * The TriggerData of a call made by the trigger manager; 39P01 naming the
 * function (e.g. "jobspy.audit_trigger()") when called any other way.
 */
struct TriggerData;
extern struct TriggerData *jobspy_trigger_data(FunctionCallInfo fcinfo, const char *name);

/* Raise 55000 with a hint unless the library was preloaded. */
extern void jobspy_require_preload(const char *what);

/* The result row type of a function, built once per backend (src/srf.c). */
extern TupleDesc jobspy_result_type(FunctionCallInfo fcinfo);

/* The answer of a function declared to return a row type (src/srf.c). */
extern Datum jobspy_return_row(FunctionCallInfo fcinfo, Datum *values, bool *nulls);

/*
 * In a PG_CATCH block: raise the caught error again as the API function's
 * own, without the CONTEXT lines and internal query collected inside the
 * extension (src/core_public_face.c).  cxt: the memory context before
 * PG_TRY.  Does not return.
 */
extern void jobspy_rethrow_as_own(MemoryContext cxt) pg_attribute_noreturn();

/* Module initialisers called by _PG_init. */
extern void jobspy_keys_init(void);
extern void jobspy_audit_init(void);
extern void jobspy_ratelimit_init(void);
extern void jobspy_identity_init(void);
extern void jobspy_quotas_init(void);
extern void jobspy_entitlements_init(void);
extern void jobspy_licensing_init(void);
extern void jobspy_outbox_init(void);
extern void jobspy_check_cache_init(void);

#endif							/* JOBSPY_CORE_H */
