/*
 * quota_counters.c: consume_quota's hot write, used = used + amount on one
 * jobspy.quota_counters row, made straight through the heap.
 *
 * An UPDATE through SPI builds and tears down an executor for every call:
 * its plan tree, its quals and projections, its result relation.  That is
 * about half of a consumption's instructions, for a change of one column.
 * Here the row is found by the TID where this backend last left it or by
 * the primary key, checked for room, and updated with heap_update(), which
 * takes the row lock, writes the WAL, counts the statistics and decides on
 * a HOT update as any UPDATE does; index entries are added when it was not
 * HOT.
 *
 * Only what an UPDATE of that column would do, and nothing it would do
 * differently: the direct path is taken only in a read-write transaction
 * under READ COMMITTED, for a plain heap table without rules, row
 * security, CHECK constraints or stored generated columns, whose UPDATE
 * triggers are either foreign-key checks (the key does not change; but a
 * row version this transaction wrote gets its check, so the UPDATE runs)
 * or limited to other columns.  Otherwise, and whenever the row was changed
 * concurrently (a concurrent update is followed by the SQL UPDATE, which
 * re-checks the newest version), the caller runs the SQL UPDATE instead.
 * The replica-identity check of a publication is made as the UPDATE's.
 * Executor hooks (pgaudit, sepgsql) do not see the direct update.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
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
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "quotas.h"

/*
 * True when an UPDATE of quota_counters.used alone would run nothing but
 * the heap update and its index entries.  *fk_check: the table has a
 * foreign key, whose check an UPDATE still queues for a row version this
 * transaction wrote (the check queued by its INSERT skips a version
 * updated since).
 */
static bool
update_is_plain(Relation rel, AttrNumber used, bool *fk_check)
{
	TriggerDesc *triggers = rel->trigdesc;
	TupleConstr *constr = RelationGetDescr(rel)->constr;

	*fk_check = false;
	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rel->relam != HEAP_TABLE_AM_OID ||
		rel->rd_rel->relrowsecurity || rel->rd_rules != NULL)
		return false;
	if (constr && (constr->num_check > 0 || constr->has_generated_stored))
		return false;
	for (int i = 0; triggers && i < triggers->numtriggers; i++)
	{
		Trigger    *t = &triggers->triggers[i];
		bool		on_used = t->tgnattr == 0;

		if (!(t->tgtype & TRIGGER_TYPE_UPDATE))
			continue;
		switch (RI_FKey_trigger_type(t->tgfoid))
		{
			case RI_TRIGGER_FK:
				*fk_check = true;
				continue;
			case RI_TRIGGER_PK:
				continue;		/* the keys never change here */
			default:
				break;
		}
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

/* Index entries for a new row version that did not go on a HOT chain. */
static void
insert_index_entries(Relation rel, HeapTuple tuple)
{
	EState	   *estate = CreateExecutorState();
	ResultRelInfo *rri = makeNode(ResultRelInfo);
	TupleTableSlot *slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsHeapTuple);

	InitResultRelInfo(rri, rel, 0, NULL, 0);
	ExecOpenIndices(rri, false);
	ExecStoreHeapTuple(tuple, slot, false);
	ExecInsertIndexTuples(rri, slot, estate, false, false, NULL, NIL);
	ExecCloseIndices(rri);
	ExecDropSingleTupleTableSlot(slot);
	FreeExecutorState(estate);
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
 * the end of the transaction, as an UPDATE's is) and, through
 * heap_update(), the row's lock.
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
	TM_Result	result;
	TM_FailureData tmfd;
	LockTupleMode lockmode;
	QuotaCounterResult answer = QUOTA_COUNTER_INDIRECT;
	bool		fk_check;

	/* The SQL UPDATE raises the read-only and serialization errors. */
	if (XactReadOnly || IsolationUsesXactSnapshot())
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
	if (!update_is_plain(rel, c.used, &fk_check) ||
		pg_class_aclmask(RelationGetRelid(rel), GetUserId(), ACL_SELECT | ACL_UPDATE, ACLMASK_ALL) !=
		(ACL_SELECT | ACL_UPDATE))
	{
		table_close(rel, RowExclusiveLock);
		return QUOTA_COUNTER_INDIRECT;
	}
	/* A publication that cannot replicate updates refuses them, as it would the UPDATE. */
	CheckCmdReplicaIdentity(rel, CMD_UPDATE);

	PushActiveSnapshot(GetTransactionSnapshot());
	old = counter_row(rel, &c, GetActiveSnapshot(), key, hint);
	if (old == NULL)
	{
		answer = QUOTA_COUNTER_REFUSED;
		goto done;
	}
	if (fk_check && TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(old->t_data)))
		goto done;				/* the UPDATE queues the foreign-key check */

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
	result = heap_update(rel, &old->t_self, new, GetCurrentCommandId(true), InvalidSnapshot, true,
						 &tmfd, &lockmode);
	if (result == TM_Ok)
	{
		if (!HeapTupleIsHeapOnly(new))
			insert_index_entries(rel, new);
		*row = new->t_self;
		answer = QUOTA_COUNTER_ADDED;
	}
	/* Changed or deleted since the snapshot: the SQL UPDATE follows it. */

done:
	PopActiveSnapshot();
	table_close(rel, NoLock);	/* the row lock's table lock stays, as an UPDATE's does */
	return answer;
}
