/*
 * licensing_read.c: the licence, user and machine rows validation reads,
 * through their unique indexes (no SQL, no planning) or from the cache all
 * backends share (license_cache.c), so that a suspension, revocation or
 * renewal is seen by the very next call after it commits, in every backend.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation_d.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "core.h"
#include "keys.h"
#include "licensing.h"

static Datum
getattr(HeapTuple tuple, TupleDesc desc, AttrNumber a, bool *isnull)
{
	return heap_getattr(tuple, a, desc, isnull);
}

/*
 * Set when a read below returns a row version this transaction wrote: a
 * write made without triggers (session_replication_role = replica, triggers
 * disabled) does not mark the transaction, and what it has not committed
 * must not reach the cache that every backend reads.
 */
static bool read_own_write = false;

/* A row a read below returns: its version, for the cache, and whether we wrote it. */
static void
note_row(HeapTuple tuple, RowVersion *version)
{
	version->tid = tuple->t_self;
	version->xmin = HeapTupleHeaderGetRawXmin(tuple->t_data);
	if (TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tuple->t_data)))
		read_own_write = true;
}

/* The licence whose key hashes to hash; false when there is none. */

/* jobspy.licenses.status by name; an unknown one is an error, never a guess. */
static const struct
{
	const char *name;
	LicStatus	status;
}			lic_statuses[] = {
	{"active", LIC_ACTIVE},
	{"suspended", LIC_SUSPENDED},
	{"revoked", LIC_REVOKED},
	{"expired", LIC_EXPIRED},
};

static LicStatus
status_of(text *status, const pg_uuid_t *license)
{
	size_t		len = VARSIZE_ANY_EXHDR(status);

	for (size_t i = 0; i < lengthof(lic_statuses); i++)
		if (strlen(lic_statuses[i].name) == len &&
			memcmp(lic_statuses[i].name, VARDATA_ANY(status), len) == 0)
			return lic_statuses[i].status;
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("licence %s has an unknown status \"%s\"",
					DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(license))),
					text_to_cstring(status)),
			 errdetail("A licence's status is active, suspended, revoked or expired.")));
	return 0;					/* keep the compiler quiet */
}

static bool
license_by_hash(const uint8 *hash, LicRow *row, Snapshot snapshot)
{
	Relation	rel = table_open(lic_rels.licenses, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	bytea	   *key = palloc(VARHDRSZ + SECRET_HASH_BYTES);
	ScanKeyData skey;
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		found = false;

	SET_VARSIZE(key, VARHDRSZ + SECRET_HASH_BYTES);
	memcpy(VARDATA(key), hash, SECRET_HASH_BYTES);
	ScanKeyInit(&skey, lic_rels.l_hash, BTEqualStrategyNumber, F_BYTEAEQ, PointerGetDatum(key));
	scan = systable_beginscan(rel, lic_rels.licenses_by_hash, true, snapshot, 1, &skey);
	if ((tuple = systable_getnext(scan)) != NULL)
	{
		/* One pass over the row: column by column would walk it again each time. */
		Datum	   *values = palloc(sizeof(Datum) * desc->natts);
		bool	   *nulls = palloc(sizeof(bool) * desc->natts);

#define COL(a) values[(a) - 1]
		note_row(tuple, &row->version);
		heap_deform_tuple(tuple, desc, values, nulls);
		found = true;
		row->id = *DatumGetUUIDP(COL(lic_rels.l_id));
		row->user_id = *DatumGetUUIDP(COL(lic_rels.l_user));
		row->status = status_of(DatumGetTextPP(COL(lic_rels.l_status)), &row->id);
		row->license_type = DatumGetTextPCopy(COL(lic_rels.l_type));
		row->features = DatumGetJsonbPCopy(COL(lic_rels.l_features));
		row->has_expiry = !nulls[lic_rels.l_expires - 1];
		row->expires_at = row->has_expiry ? DatumGetTimestampTz(COL(lic_rels.l_expires)) : 0;
		row->max_machines = DatumGetInt32(COL(lic_rels.l_max_machines));
		row->max_per_day = DatumGetInt32(COL(lic_rels.l_max_per_day));
		row->stored_day = nulls[lic_rels.l_day - 1] ? PG_INT32_MIN : (int32) DatumGetDateADT(COL(lic_rels.l_day));
		row->stored_on_day = DatumGetInt32(COL(lic_rels.l_on_day));
#undef COL
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/* True when the user exists and is active; version: its row's (invalid when none). */
static bool
user_is_active(const pg_uuid_t *user, Snapshot snapshot, RowVersion *version)
{
	Relation	rel = table_open(lic_rels.users, AccessShareLock);
	ScanKeyData skey;
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		active = false;

	ItemPointerSetInvalid(&version->tid);
	ScanKeyInit(&skey, lic_rels.u_id, BTEqualStrategyNumber, F_UUID_EQ, UUIDPGetDatum(user));
	scan = systable_beginscan(rel, lic_rels.users_pkey, true, snapshot, 1, &skey);
	if ((tuple = systable_getnext(scan)) != NULL)
	{
		bool		isnull;
		text	   *status = DatumGetTextPP(getattr(tuple, RelationGetDescr(rel), lic_rels.u_status, &isnull));

		note_row(tuple, version);

		active = !isnull && VARSIZE_ANY_EXHDR(status) == 6 &&
			memcmp(VARDATA_ANY(status), "active", 6) == 0;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return active;
}

/* The machine of a licence with this fingerprint, and its row's version; false when unknown. */
static bool
machine_by_fingerprint(const LicRow *lic, text *fingerprint, pg_uuid_t *machine, RowVersion *version,
					   Snapshot snapshot)
{
	Relation	rel = table_open(lic_rels.machines, AccessShareLock);
	ScanKeyData skey[3];
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		found = false;

	ScanKeyInit(&skey[0], lic_rels.m_user, BTEqualStrategyNumber, F_UUID_EQ, UUIDPGetDatum(&lic->user_id));
	ScanKeyInit(&skey[1], lic_rels.m_license, BTEqualStrategyNumber, F_UUID_EQ, UUIDPGetDatum(&lic->id));
	ScanKeyEntryInitialize(&skey[2], 0, lic_rels.m_fingerprint, BTEqualStrategyNumber, InvalidOid,
						   DEFAULT_COLLATION_OID, F_TEXTEQ, PointerGetDatum(fingerprint));
	scan = systable_beginscan(rel, lic_rels.machines_by_fingerprint, true, snapshot, 3, skey);
	if ((tuple = systable_getnext(scan)) != NULL)
	{
		bool		isnull;

		found = true;
		note_row(tuple, version);
		*machine = *DatumGetUUIDP(getattr(tuple, RelationGetDescr(rel), lic_rels.m_id, &isnull));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}


/*
 * The licence of a key (its hash under any live hash key) and whether its
 * user is active, from the tables, under the statement's snapshot.  For
 * the cache, under a snapshot taken after the user's generation was read
 * (license_cache.c explains why), and then remembered with that generation
 * (also set for the caller).  The user is known only once the licence is
 * read: when no change at all committed between just before the snapshot
 * and just after the user's generation was read, that read will do;
 * otherwise the licence is read again.
 */
bool
lic_read_license(const LicCacheKey *key, LicRow *lic, bool *user_active, uint64 *generation,
			 bool for_cache)
{
	uint64		any_before = for_cache ? license_cache_any_generation() : 0;
	Snapshot	snapshot = for_cache ? RegisterSnapshot(GetLatestSnapshot()) : jobspy_statement_snapshot();
	int			i;
	bool		found = false;
	pg_uuid_t	user;

	*generation = 0;
	read_own_write = false;
	for (i = 0; i < key->nhashes && !found; i++)
		found = license_by_hash(key->hashes[i], lic, snapshot);
	if (!for_cache || !found)
	{
		if (found)
			*user_active = user_is_active(&lic->user_id, snapshot, &lic->user_version);
		if (for_cache)
		{
			UnregisterSnapshot(snapshot);
			license_cache_put_missing(key, any_before);
		}
		return found;
	}

	/* The row was found under candidate i - 1. */
	*generation = license_cache_generation(&lic->user_id);
	if (license_cache_any_generation() == any_before)
	{
		*user_active = user_is_active(&lic->user_id, snapshot, &lic->user_version);
		UnregisterSnapshot(snapshot);
		if (!read_own_write)
			license_cache_put(key, i - 1, *generation, lic, *user_active);
		return true;
	}
	UnregisterSnapshot(snapshot);

	user = lic->user_id;
	*generation = license_cache_generation(&user);
	read_own_write = false;
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	found = license_by_hash(key->hashes[i - 1], lic, snapshot);
	if (found)
		*user_active = user_is_active(&lic->user_id, snapshot, &lic->user_version);
	UnregisterSnapshot(snapshot);
	/* A licence moved to another user meanwhile is not worth caching. */
	if (found && !read_own_write && memcmp(&user, &lic->user_id, UUID_LEN) == 0)
		license_cache_put(key, i - 1, *generation, lic, *user_active);
	return found;
}

/*
 * A machine already bound to the licence, by fingerprint, when the cache
 * entry the validation used did not know it.  With the cache, generation
 * is that of the licence facts the validation uses.
 */
bool
lic_machine_bound(const LicCacheKey *key, uint64 generation, bool use_cache, const LicRow *lic,
			  text *fingerprint, pg_uuid_t *machine)
{
	Snapshot	snapshot;
	RowVersion	version;
	bool		found;

	if (!use_cache)
		return machine_by_fingerprint(lic, fingerprint, machine, &version, jobspy_statement_snapshot());

	/*
	 * For the cache, a snapshot taken after the entry's generation was read
	 * (the statement's may be older than a deactivation that the entry's
	 * generation already accounts for).
	 */
	read_own_write = false;
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	found = machine_by_fingerprint(lic, fingerprint, machine, &version, snapshot);
	UnregisterSnapshot(snapshot);
	if (found && !read_own_write)
		license_cache_add_machine(key, generation, lic, fingerprint, machine, &version);
	return found;
}

/*
 * The row at version's place is visible under the snapshot and is that
 * version: nothing updated or deleted it since it was read.
 */
static bool
row_unchanged(Oid relid, const RowVersion *version, Snapshot snapshot)
{
	Relation	rel;
	HeapTupleData tuple;
	Buffer		buffer;
	bool		same = false;

	if (!ItemPointerIsValid(&version->tid))
		return false;
	rel = table_open(relid, AccessShareLock);
	/* Only a heap has these TIDs; a VACUUM may have cut the table short since. */
	if (rel->rd_tableam == GetHeapamTableAmRoutine() &&
		ItemPointerGetBlockNumber(&version->tid) < RelationGetNumberOfBlocks(rel))
	{
		tuple.t_self = version->tid;
		if (heap_fetch(rel, snapshot, &tuple, &buffer, false))
		{
			same = HeapTupleHeaderGetRawXmin(tuple.t_data) == version->xmin;
			ReleaseBuffer(buffer);
		}
	}
	table_close(rel, AccessShareLock);
	return same;
}

/*
 * The licence facts of a key from the cache: a current entry, or a stale one
 * (older than jobspy.licensing_cache_seconds, its user's generation
 * unchanged) whose rows are still the versions it was read from.  That
 * check is what the age limit is for (a write made without triggers moves
 * no generation but makes a new row version), at a fetch by TID per row
 * instead of an index search: a licence validated less often than the age
 * limit, as periodic check-ins are, keeps its entry.
 */
bool
lic_from_cache(const LicCacheKey *key, text *fingerprint, LicCached *cached)
{
	Snapshot	snapshot;
	bool		unchanged;

	switch (license_cache_get(key, fingerprint, cached))
	{
		case LIC_CACHE_HIT:
			return true;
		case LIC_CACHE_MISS:
			return false;
		case LIC_CACHE_STALE:
			break;
	}
	/* license_cache_get found the generation unchanged before this snapshot. */
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	unchanged = row_unchanged(lic_rels.licenses, &cached->row.version, snapshot) &&
		row_unchanged(lic_rels.users, &cached->row.user_version, snapshot) &&
		(!cached->machine_found || row_unchanged(lic_rels.machines, &cached->machine_version, snapshot));
	UnregisterSnapshot(snapshot);
	if (!unchanged)
		return false;
	license_cache_renew(key, cached, fingerprint);
	return true;
}

/*
 * The licence row's validations_on_day when its validation_day is today,
 * read under the snapshot.  With a dirty snapshot, *wait is a transaction
 * writing the row (InvalidTransactionId when none): the count is not final.
 */
static int64
day_count_of(const pg_uuid_t *id, int32 today, Snapshot snapshot, TransactionId *wait)
{
	Relation	rel;
	ScanKeyData skey;
	SysScanDesc scan;
	HeapTuple	tuple;
	int64		count = 0;

	lic_rels_require();
	*wait = InvalidTransactionId;
	rel = table_open(lic_rels.licenses, AccessShareLock);
	ScanKeyInit(&skey, lic_rels.l_id, BTEqualStrategyNumber, F_UUID_EQ, UUIDPGetDatum(id));
	scan = systable_beginscan(rel, lic_rels.licenses_by_id, true, snapshot, 1, &skey);
	while ((tuple = systable_getnext(scan)) != NULL)
	{
		bool		isnull;
		Datum		d;

		if (snapshot->snapshot_type == SNAPSHOT_DIRTY &&
			(TransactionIdIsValid(snapshot->xmin) || TransactionIdIsValid(snapshot->xmax)))
		{
			*wait = TransactionIdIsValid(snapshot->xmin) ? snapshot->xmin : snapshot->xmax;
			break;
		}
		d = getattr(tuple, RelationGetDescr(rel), lic_rels.l_day, &isnull);
		if (!isnull && (int32) DatumGetDateADT(d) == today)
			count = DatumGetInt32(getattr(tuple, RelationGetDescr(rel), lic_rels.l_on_day, &isnull));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return count;
}

int64
lic_stored_day_count(const pg_uuid_t *id, int32 today)
{
	TransactionId wait;

	return day_count_of(id, today, jobspy_statement_snapshot(), &wait);
}

/*
 * The row's latest version, committed or this transaction's: a
 * transaction that is writing it (counting a validation in the row, or a
 * flush) is waited for, as a unique index check waits.  Only an update
 * makes it wait; a lock does not.
 */
int64
lic_latest_day_count(const pg_uuid_t *id, int32 today)
{
	for (;;)
	{
		SnapshotData dirty;
		TransactionId wait;
		int64		count;

		InitDirtySnapshot(dirty);
		count = day_count_of(id, today, &dirty, &wait);
		if (!TransactionIdIsValid(wait))
			return count;
		XactLockTableWait(wait, NULL, NULL, XLTW_None);
	}
}
