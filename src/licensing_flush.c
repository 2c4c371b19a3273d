/*
 * licensing_flush.c: flush_license_validations (run by maintain()) writes
 * the counts the store holds to licenses and license_machines, one UPDATE
 * for each table, and the failure counts (licensing_failures.c) to
 * license_validation_failures, one INSERT; and a validation spills the
 * failure counts of a partition that filled up (lic_fail_spill).  What a
 * flush or a spill took out of shared memory is kept until the transaction
 * ends, and put back if it (or the subtransaction that took it) rolls back,
 * so that no count is lost or counted twice.
 */
#include "postgres.h"

#include "fmgr.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/date.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "core.h"
#include "licensing.h"

typedef struct Taken
{
	bool		failure;		/* fail, else counts */
	LicCounter	counts;			/* as they were taken */
	LicFailure	fail;
	SubTransactionId subxact;	/* the flush's; a rollback to it gives this back */
} Taken;

/* What this transaction's flushes took out of shared memory, to give back on abort. */
static Taken *taken = NULL;
static int	ntaken = 0;
static int	taken_allocated = 0;
static bool xact_callback_registered = false;
static bool flushing = false;	/* lic_store_flush_begin() called in this transaction */

/* Put one taken entry's counts back into shared memory. */
static void
give_back_one(const Taken *t)
{
	if (t->failure)
	{
		if (!lic_fail_give_back(&t->fail))
			ereport(LOG,
					(errmsg("lost " INT64_FORMAT " failed validation counts of a rolled back flush: the table of them is full",
							t->fail.count)));
	}
	else if (!lic_store_give_back(&t->counts))
		ereport(LOG,
				(errmsg("lost " INT64_FORMAT " validation counts of a rolled back flush: the counter table is full",
						t->counts.pending)));
}

/* A new element of taken (in TopTransactionContext). */
static Taken *
take_next(bool failure)
{
	Taken	   *t;

	if (ntaken == taken_allocated)
	{
		taken_allocated *= 2;
		taken = repalloc(taken, sizeof(Taken) * taken_allocated);
	}
	t = &taken[ntaken++];
	memset(t, 0, sizeof(Taken));
	t->failure = failure;
	t->subxact = GetCurrentSubTransactionId();
	return t;
}

/* lic_store_take's callback: note one entry's pending counts. */
static void
take_one(const LicCounter *e)
{
	take_next(false)->counts = *e;
}

/* lic_fail_take's callback. */
static void
take_failure(const LicFailure *f)
{
	take_next(true)->fail = *f;
}

/* Give back what was taken in subtransaction subxact (everything when invalid). */
static void
give_back_taken(SubTransactionId subxact)
{
	int			kept = 0;

	for (int i = 0; i < ntaken; i++)
	{
		if (subxact == InvalidSubTransactionId || taken[i].subxact == subxact)
			give_back_one(&taken[i]);
		else
			taken[kept++] = taken[i];
	}
	ntaken = kept;
}

static void
flush_xact_callback(XactEvent event, void *arg)
{
	if (taken == NULL)
		return;
	/* What a prepared transaction took could not be given back by ROLLBACK PREPARED. */
	if (event == XACT_EVENT_PRE_PREPARE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot PREPARE a transaction that flushed licence validation counters")));
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		give_back_taken(InvalidSubTransactionId);
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PREPARE)
	{
		/* taken lives in TopTransactionContext, which is going away. */
		taken = NULL;
		ntaken = taken_allocated = 0;
		if (flushing)
			lic_store_flush_end();
		flushing = false;
	}
}

static void
flush_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	if (taken == NULL)
		return;
	if (event == SUBXACT_EVENT_ABORT_SUB)
		give_back_taken(mySubid);
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
		for (int i = 0; i < ntaken; i++)
			if (taken[i].subxact == mySubid)
				taken[i].subxact = parentSubid;
}

/* Ready this transaction to take counts out of shared memory, and to give them back on abort. */
static void
taken_begin(void)
{
	if (!xact_callback_registered)
	{
		RegisterXactCallback(flush_xact_callback, NULL);
		RegisterSubXactCallback(flush_subxact_callback, NULL);
		xact_callback_registered = true;
	}
	if (taken == NULL)
	{
		taken_allocated = 256;
		taken = MemoryContextAlloc(TopTransactionContext, sizeof(Taken) * taken_allocated);
		ntaken = 0;
	}
}

/*
 * A failure that found its partition at the fill limit (more distinct keys
 * failed since the last flush than the partition holds): this database's
 * counts of that partition are written now, in one INSERT of the caller's
 * transaction, and given back if it rolls back, as a flush's are; the
 * failure itself is counted in the room that leaves, so that it stays
 * counted whatever becomes of the transaction.  Only when other databases'
 * counts fill the partition is it appended to the table itself.
 */
void
lic_fail_spill(const LicFailure *failure)
{
	int			first;
	int			n = 0;
	LicFailure *fails;
	MemoryContext old;

	lic_fail_note_full();
	taken_begin();
	first = ntaken;
	old = MemoryContextSwitchTo(TopTransactionContext);
	lic_fail_take_partition_of(&failure->key, take_failure);
	MemoryContextSwitchTo(old);

	fails = palloc(sizeof(LicFailure) * (ntaken - first + 1));
	for (int i = first; i < ntaken; i++)
		fails[n++] = taken[i].fail;
	if (!lic_fail_count(&failure->key, failure->last_at))
		fails[n++] = *failure;
	if (n > 0)
		lic_fail_insert(fails, n);
	pfree(fails);
}

/*
 * The licences' part of a flush: their counts, last validation times and
 * daily counts, in one UPDATE.  Caller is connected to SPI.  Returns the
 * number of rows updated.
 */
static uint64
flush_licence_counts(ArrayBuildState *ids, ArrayBuildState *counts, ArrayBuildState *lasts,
					 ArrayBuildState *days, ArrayBuildState *ondays, MemoryContext cxt)
{
	Oid			types[5] = {UUIDARRAYOID, INT8ARRAYOID, TIMESTAMPTZARRAYOID, DATEARRAYOID, INT4ARRAYOID};
	Datum		values[5] = {
		makeArrayResult(ids, cxt), makeArrayResult(counts, cxt),
		makeArrayResult(lasts, cxt), makeArrayResult(days, cxt), makeArrayResult(ondays, cxt)
	};

	/* A later day's count already flushed is never replaced by an earlier one. */
	if (SPI_execute_with_args(
							  "UPDATE jobspy.licenses l"
							  "   SET validation_count = l.validation_count OPERATOR(pg_catalog.+) u.n,"
							  "       last_validated_at = greatest(l.last_validated_at, u.t),"
							  "       validation_day = greatest(l.validation_day, u.d),"
							  "       validations_on_day = CASE WHEN l.validation_day OPERATOR(pg_catalog.>) u.d"
							  "                                 THEN l.validations_on_day"
							  "                                 WHEN l.validation_day OPERATOR(pg_catalog.=) u.d"
							  "                                 THEN greatest(l.validations_on_day, u.c)"
							  "                                 ELSE u.c END"
							  "  FROM unnest($1, $2, $3, $4, $5) AS u(id, n, t, d, c)"
							  " WHERE l.id OPERATOR(pg_catalog.=) u.id",
							  5, types, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not flush licence validation counters");
	return SPI_processed;
}

PG_FUNCTION_INFO_V1(jobspy_flush_license_validations);
Datum
jobspy_flush_license_validations(PG_FUNCTION_ARGS)
{
	int			first;
	Oid			dead[MAX_DEAD_DATABASES];
	int			ndead;
	Oid			fail_dbs[MAX_DEAD_DATABASES];
	int			nfail_dbs;
	LicFailure *fails;
	int			nfails = 0;
	int32		today = lic_utc_day(jobspy_now());
	ArrayBuildState *ids[2] = {NULL, NULL},
			   *counts[2] = {NULL, NULL},
			   *lasts[2] = {NULL, NULL},
			   *days = NULL,
			   *ondays = NULL;
	int64		updated = 0;
	MemoryContext cxt = CurrentMemoryContext;

	lic_store_require();
	lic_fail_require();
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("validation counters cannot be flushed on a standby")));
	lic_rels_require();

	ndead = lic_store_dropped_databases(dead);
	nfail_dbs = lic_fail_databases(fail_dbs, MAX_DEAD_DATABASES - ndead);
	for (int k = 0; k < nfail_dbs; k++)
		if (!SearchSysCacheExists1(DATABASEOID, ObjectIdGetDatum(fail_dbs[k])))
			dead[ndead++] = fail_dbs[k];

	/* A second flush in one transaction adds to what the first took. */
	taken_begin();
	if (!flushing)
	{
		lic_store_flush_begin();
		flushing = true;
	}
	first = ntaken;
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

		lic_store_take(today, dead, ndead, take_one);
		lic_fail_take(dead, ndead, take_failure);
		MemoryContextSwitchTo(old);
	}

	fails = palloc(sizeof(LicFailure) * (ntaken - first + 1));
	for (int i = first; i < ntaken; i++)
	{
		int			k = taken[i].counts.machine ? 1 : 0;

		if (taken[i].failure)
		{
			fails[nfails++] = taken[i].fail;
			continue;
		}

		ids[k] = accumArrayResult(ids[k], UUIDPGetDatum(&taken[i].counts.id), false, UUIDOID, cxt);
		counts[k] = accumArrayResult(counts[k], Int64GetDatum(taken[i].counts.pending), false, INT8OID, cxt);
		lasts[k] = accumArrayResult(lasts[k], TimestampTzGetDatum(taken[i].counts.last_at),
									taken[i].counts.last_at == 0, TIMESTAMPTZOID, cxt);
		if (k == 0)
		{
			days = accumArrayResult(days, DateADTGetDatum((DateADT) taken[i].counts.day), false, DATEOID, cxt);
			ondays = accumArrayResult(ondays, Int32GetDatum(taken[i].counts.day_count), false, INT4OID, cxt);
		}
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (ids[0])
		updated += flush_licence_counts(ids[0], counts[0], lasts[0], days, ondays, cxt);
	if (ids[1])
	{
		Oid			types[2] = {UUIDARRAYOID, TIMESTAMPTZARRAYOID};
		Datum		values[2] = {makeArrayResult(ids[1], cxt), makeArrayResult(lasts[1], cxt)};

		if (SPI_execute_with_args(
								  "UPDATE jobspy.license_machines m"
								  "   SET last_seen_at = greatest(m.last_seen_at, u.t)"
								  "  FROM unnest($1, $2) AS u(id, t)"
								  " WHERE m.id OPERATOR(pg_catalog.=) u.id",
								  2, types, values, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not flush machine last-seen times");
		updated += SPI_processed;
	}
	if (nfails > 0)
	{
		Oid			types[6];
		Datum		values[6];

		lic_fail_arrays(fails, nfails, types, values);
		if (SPI_execute_with_args(LIC_FAILURES_INSERT, 6, types, values, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not flush failed validation counts");
		updated += SPI_processed;
	}
	SPI_finish();
	PG_RETURN_INT64(updated);
}
