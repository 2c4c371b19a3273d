/*
 * quota_counters.c: consume_quota's hot write, used = used + amount on one
 * jobspy.quota_counters row, made through the executor's simple-update
 * entry point rather than a planned UPDATE.
 *
 * An UPDATE through SPI builds and tears down a plan tree, its quals and
 * projections for every call, for a change of one column.  Here the row is
 * found by the TID where this backend last left it or by the primary key,
 * checked for room, locked, and updated with ExecSimpleRelationUpdate(),
 * the path logical replication's apply worker takes: row triggers,
 * constraints, the heap update with its WAL, statistics and HOT decision,
 * index entries and queued foreign-key checks, as any UPDATE has them.
 * (bench/workloads/quotas_consume*.sql measure it against the SQL UPDATE;
 * docs/benchmarks.md has the figures, and those of heap_update() called
 * directly, which this replaced.)
 *
 * The path is taken only in a read-write transaction under READ COMMITTED,
 * for a plain heap table without rules, without row security that applies
 * to the caller and without triggers on the used column other than
 * foreign-key checks; otherwise, and whenever the row was changed
 * concurrently (the SQL UPDATE then follows the newest version and
 * re-checks it), the caller runs the SQL UPDATE instead.  Executor hooks (pgaudit, sepgsql) do not see this
 * update, as they do not see logical replication's.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_am_d.h"
#include "catalog/pg_class_d.h"
#include "catalog/pg_collation_d.h"
#include "catalog/pg_trigger_d.h"
#include "catalog/pg_type_d.h"
#include "commands/trigger.h"
#include "common/int.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"

#include "quotas.h"

/* How the counter row is updated: see jobspy_quota_counters_init(). */
typedef enum CounterUpdatePath
{
	COUNTER_UPDATE_EXECUTOR,
	COUNTER_UPDATE_SQL
} CounterUpdatePath;

static int	counter_update_path = COUNTER_UPDATE_EXECUTOR;

static const struct config_enum_entry counter_update_options[] = {
	{"executor", COUNTER_UPDATE_EXECUTOR, false},
	{"sql", COUNTER_UPDATE_SQL, false},
	{NULL, 0, false}
};

/*
 * jobspy.quota_counter_update: a developer setting, so that bench/ can
 * measure both ways of making the same update in one run.
 */
void
jobspy_quota_counters_init(void)
{
	DefineCustomEnumVariable("jobspy.quota_counter_update",
							 "How consume_quota updates its counter row (for measurement).",
							 "executor: ExecSimpleRelationUpdate(), as logical replication "
							 "applies an update; sql: the SQL UPDATE through SPI.",
							 &counter_update_path,
							 COUNTER_UPDATE_EXECUTOR,
							 counter_update_options,
							 PGC_SUSET,
							 GUC_NOT_IN_SAMPLE,
							 NULL, NULL, NULL);
}

/*
 * True when ExecSimpleRelationUpdate() would do what the SQL UPDATE of
 * quota_counters.used does: no rule rewrites it, no row security applies
 * to this user, and no trigger but a foreign key's watches the used column
 * (a BEFORE trigger could change or veto the value the answer has already
 * counted).
 */
static bool
update_is_plain(Relation rel, AttrNumber used)
{
	TriggerDesc *triggers = rel->trigdesc;

	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rel->relam != HEAP_TABLE_AM_OID ||
		check_enable_rls(RelationGetRelid(rel), InvalidOid, true) == RLS_ENABLED || rel->rd_rules != NULL)
		return false;
	for (int i = 0; triggers && i < triggers->numtriggers; i++)
	{
		Trigger    *t = &triggers->triggers[i];
		bool		on_used = t->tgnattr == 0;

		if (!(t->tgtype & TRIGGER_TYPE_UPDATE) || RI_FKey_trigger_type(t->tgfoid) != RI_TRIGGER_NONE)
			continue;
		for (int a = 0; a < t->tgnattr; a++)
			on_used |= (t->tgattr[a] == used);
		if (on_used)
			return false;
	}
	return true;
}

static bool
text_is(Datum d, const char *s)
{
	text	   *t = DatumGetTextPP(d);
	size_t		len = strlen(s);

	return VARSIZE_ANY_EXHDR(t) == len && memcmp(VARDATA_ANY(t), s, len) == 0;
}

static bool
text_equal(Datum a, text *b)
{
	text	   *t = DatumGetTextPP(a);

	return VARSIZE_ANY_EXHDR(t) == VARSIZE_ANY_EXHDR(b) &&
		memcmp(VARDATA_ANY(t), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b)) == 0;
}

/*
 * The update of *old to *new made as logical replication's apply worker
 * makes one: the row version locked first (the update itself must not meet
 * a concurrent change), then ExecSimpleRelationUpdate() runs row triggers,
 * constraints, the heap update and the index entries.  False when the row
 * was changed since the snapshot (the SQL UPDATE then follows it).
 */
static bool
update_through_executor(Relation rel, HeapTuple old, HeapTuple new, ItemPointer row)
{
	EState	   *estate = CreateExecutorState();
	RangeTblEntry *rte = makeNode(RangeTblEntry);
	ResultRelInfo *rri = makeNode(ResultRelInfo);
	TupleTableSlot *locked = table_slot_create(rel, &estate->es_tupleTable);
	TupleTableSlot *slot = ExecInitExtraTupleSlot(estate, RelationGetDescr(rel), &TTSOpsHeapTuple);
	TM_FailureData tmfd;
	EPQState	epq;
	bool		done = false;

	rte->rtekind = RTE_RELATION;
	rte->relid = RelationGetRelid(rel);
	rte->relkind = rel->rd_rel->relkind;
	rte->rellockmode = RowExclusiveLock;
	ExecInitRangeTable(estate, list_make1(rte));
	ExecInitResultRelation(estate, rri, 1);	/* where the triggers' code looks for it */
	estate->es_output_cid = GetCurrentCommandId(true);
	estate->es_snapshot = GetActiveSnapshot();
	ExecOpenIndices(rri, false);
	EvalPlanQualInit(&epq, estate, NULL, NIL, -1);

	if (table_tuple_lock(rel, &old->t_self, GetActiveSnapshot(), locked, GetCurrentCommandId(false),
						 LockTupleNoKeyExclusive, LockWaitBlock, 0, &tmfd) == TM_Ok)
	{
		ExecStoreHeapTuple(new, slot, false);
		AfterTriggerBeginQuery();
		ExecSimpleRelationUpdate(rri, estate, &epq, locked, slot);
		AfterTriggerEndQuery(estate);
		*row = slot->tts_tid;
		done = true;
	}

	EvalPlanQualEnd(&epq);
	ExecCloseResultRelations(estate);
	ExecCloseRangeTableRelations(estate);
	ExecResetTupleTable(estate->es_tupleTable, false);
	FreeExecutorState(estate);
	return done;
}

typedef struct CounterCols
{
	AttrNumber	user_id,
				metric,
				period,
				start,
				used,
				reserved;
} CounterCols;

/*
 * The visible version of the counter row: at *hint when it is still there
 * and still this counter's, else by the primary key.  A palloc'd copy, or
 * NULL.
 */
static HeapTuple
counter_row(Relation rel, const CounterCols *c, Snapshot snapshot, const QuotaCounterKey *key,
			ItemPointer hint)
{
	TupleDesc	desc = RelationGetDescr(rel);
	HeapTuple	found = NULL;
	ScanKeyData skey[4];
	SysScanDesc scan;
	HeapTuple	tuple;

	if (hint && ItemPointerIsValid(hint) &&
		ItemPointerGetBlockNumber(hint) < RelationGetNumberOfBlocks(rel))
	{
		HeapTupleData fetched;
		Buffer		buffer;
		bool		isnull;

		fetched.t_self = *hint;
		if (heap_fetch(rel, snapshot, &fetched, &buffer, false))
		{
			if (memcmp(DatumGetUUIDP(heap_getattr(&fetched, c->user_id, desc, &isnull)), key->user_id,
					   UUID_LEN) == 0 &&
				text_equal(heap_getattr(&fetched, c->metric, desc, &isnull), key->metric) &&
				text_is(heap_getattr(&fetched, c->period, desc, &isnull), key->period) &&
				DatumGetTimestampTz(heap_getattr(&fetched, c->start, desc, &isnull)) == key->start)
				found = heap_copytuple(&fetched);
			ReleaseBuffer(buffer);
		}
		if (found)
			return found;
	}

	ScanKeyInit(&skey[0], c->user_id, BTEqualStrategyNumber, F_UUID_EQ, UUIDPGetDatum(key->user_id));
	ScanKeyEntryInitialize(&skey[1], 0, c->metric, BTEqualStrategyNumber, InvalidOid,
						   DEFAULT_COLLATION_OID, F_TEXTEQ, PointerGetDatum(key->metric));
	ScanKeyEntryInitialize(&skey[2], 0, c->period, BTEqualStrategyNumber, InvalidOid,
						   DEFAULT_COLLATION_OID, F_TEXTEQ, CStringGetTextDatum(key->period));
	ScanKeyInit(&skey[3], c->start, BTEqualStrategyNumber, F_TIMESTAMP_EQ,
				TimestampTzGetDatum(key->start));
	scan = systable_beginscan(rel, jobspy_rel(&quota_rels, QR_COUNTERS_PKEY), true, snapshot, 4, skey);
	if ((tuple = systable_getnext(scan)) != NULL)
		found = heap_copytuple(tuple);
	systable_endscan(scan);
	return found;
}

/*
 * See quotas.h.  Takes RowExclusiveLock on jobspy.quota_counters (kept to
 * the end of the transaction, as an UPDATE's is) and the row's lock.
 */
QuotaCounterResult
quota_counter_add(const QuotaCounterKey *key, int64 limit, int64 amount, ItemPointer hint,
				  int64 *used, int64 *reserved, ItemPointer row)
{
	static void *used_domain_cache = NULL;
	Relation	rel;
	TupleDesc	desc;
	CounterCols c;
	HeapTuple	old;
	HeapTuple	new;
	Datum	   *values;
	bool	   *nulls;
	bool	   *replace;
	int64		room;
	QuotaCounterResult answer = QUOTA_COUNTER_INDIRECT;

	/* The SQL UPDATE raises the read-only and serialization errors. */
	if (XactReadOnly || IsolationUsesXactSnapshot() || counter_update_path == COUNTER_UPDATE_SQL)
		return QUOTA_COUNTER_INDIRECT;

	/* What a new statement would see, as the SQL UPDATE would. */
	CommandCounterIncrement();
	rel = table_open(jobspy_rel(&quota_rels, QR_COUNTERS), RowExclusiveLock);
	desc = RelationGetDescr(rel);
	c.user_id = jobspy_col(&quota_rels, QC_COUNTER_USER);
	c.metric = jobspy_col(&quota_rels, QC_COUNTER_METRIC);
	c.period = jobspy_col(&quota_rels, QC_COUNTER_PERIOD);
	c.start = jobspy_col(&quota_rels, QC_COUNTER_START);
	c.used = jobspy_col(&quota_rels, QC_COUNTER_USED);
	c.reserved = jobspy_col(&quota_rels, QC_COUNTER_RESERVED);
	if (!update_is_plain(rel, c.used) ||
		pg_class_aclmask(RelationGetRelid(rel), GetUserId(), ACL_SELECT | ACL_UPDATE, ACLMASK_ALL) !=
		(ACL_SELECT | ACL_UPDATE))
	{
		table_close(rel, RowExclusiveLock);
		return QUOTA_COUNTER_INDIRECT;
	}
	PushActiveSnapshot(GetTransactionSnapshot());
	old = counter_row(rel, &c, GetActiveSnapshot(), key, hint);
	if (old == NULL)
	{
		answer = QUOTA_COUNTER_REFUSED;
		goto done;
	}

	values = palloc(sizeof(Datum) * desc->natts);
	nulls = palloc(sizeof(bool) * desc->natts);
	replace = palloc0(sizeof(bool) * desc->natts);
	heap_deform_tuple(old, desc, values, nulls);
	*used = DatumGetInt64(values[c.used - 1]);
	*reserved = DatumGetInt64(values[c.reserved - 1]);
	/* Room as the SQL UPDATE's condition computes it; an overflow there is the SQL path's to raise. */
	if (limit >= 0 &&
		(pg_sub_s64_overflow(limit, *used, &room) || pg_sub_s64_overflow(room, *reserved, &room) ||
		 amount > room))
	{
		answer = QUOTA_COUNTER_REFUSED;
		goto done;
	}
	/* used + reserved stays within bigint, as the UPDATE's condition keeps it. */
	if (pg_sub_s64_overflow(PG_INT64_MAX - *used, *reserved, &room) || amount > room)
	{
		answer = QUOTA_COUNTER_REFUSED;
		goto done;
	}
	*used += amount;
	/* used's domain (jobspy.quota_amount) as the UPDATE would check it. */
	if (get_typtype(TupleDescAttr(desc, c.used - 1)->atttypid) == TYPTYPE_DOMAIN)
		domain_check(Int64GetDatum(*used), false, TupleDescAttr(desc, c.used - 1)->atttypid,
					 &used_domain_cache, TopMemoryContext);

	values[c.used - 1] = Int64GetDatum(*used);
	replace[c.used - 1] = true;
	new = heap_modify_tuple(old, desc, values, nulls, replace);
	if (update_through_executor(rel, old, new, row))
		answer = QUOTA_COUNTER_ADDED;
	/* else changed or deleted since the snapshot: the SQL UPDATE follows it. */

done:
	PopActiveSnapshot();
	table_close(rel, NoLock);	/* the row lock's table lock stays, as an UPDATE's does */
	return answer;
}
