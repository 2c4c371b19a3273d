/*
 * licensing.c: licence validation, its shared-memory counters, seed 000's
 * rate-limit check, and Ed25519 for offline licence tokens.
 *
 * validate_license() takes the licence, its user and its machine from the
 * cache that all backends share (license_cache.c, which keeps it fresh) or
 * straight from their unique indexes (no SQL, no planning), so that a
 * suspension, revocation or renewal is seen by the very next call after it
 * commits, in every backend.  Validation counts go to a table in shared
 * memory; flush_license_validations() (run by maintain())
 * writes them to licenses and license_machines, one UPDATE for each table.
 * Only a machine's first use (it takes a seat) and the failure log write,
 * through SPI, as the owner of the tables.
 *
 * Order of checks (docs/licensing.md): MALFORMED (format, checksum, sizes;
 * no lookup), NOT_FOUND, REVOKED, SUSPENDED, EXPIRED, USER_SUSPENDED,
 * FINGERPRINT_REQUIRED, RATE_LIMITED, then the machine: known, or bound now
 * while seats remain, else TOO_MANY_MACHINES.
 */
#include "postgres.h"

#include <sodium.h>
#include <unistd.h>

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation_d.h"
#include "catalog/pg_type_d.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "storage/bufmgr.h"
#include "storage/fd.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "core.h"
#include "keys.h"
#include "license_cache.h"

#define ERRCODE_JS_COUNTERS_FULL	MAKE_SQLSTATE('J','S','2','0','4')

#define LIC_SEGMENT "jobspy_licensing"
#define LIC_PARTITIONS 16
#define MAX_FINGERPRINT 255
#define MAX_APP_VERSION 64
#define MAX_KEY_INPUT 64		/* longer input cannot be a key */
#define MAX_HASH_KEYS 16

/* ---- the counters in shared memory --------------------------------------- */

/*
 * One entry per licence or machine validated since its counters were last
 * flushed (a licence's entry stays for the rest of its day).  Open
 * addressing within a partition; entries are removed only when a flush
 * compacts the partition, so a probe stops at the first free slot.
 */
typedef struct LicCounter
{
	pg_uuid_t	id;				/* all zero: free */
	Oid			dbid;			/* the store serves every database */
	bool		machine;
	int32		day;			/* UTC day of day_count, days since 2000-01-01 */
	int32		day_count;		/* validations counted on that day */
	int64		pending;		/* validations not yet in the table (below zero:
								 * a refusal given back after a flush took it) */
	TimestampTz last_at;		/* latest validation, 0 when none pending */
} LicCounter;

typedef struct LicStore
{
	int32		capacity;		/* entries per partition */
	LWLock	   *locks[LIC_PARTITIONS];
} LicStore;

static LicStore *store = NULL;
static LicCounter *counters = NULL;
static int	max_counters = 262144;
static bool log_successes = false;

static const pg_uuid_t zero_uuid;

static inline uint32
counter_hash(const pg_uuid_t *id)
{
	return hash_bytes(id->data, UUID_LEN);
}

static inline LicCounter *
part_counters(int p)
{
	return counters + (Size) p * store->capacity;
}

/*
 * The entry of id in database dbid in partition p, made when create is set
 * (zeroed, for the caller to fill in).  NULL when absent, or when the
 * partition is full.  The caller holds the partition's lock (exclusively
 * to create).
 */
static LicCounter *
counter_find_in(Oid dbid, int p, uint32 h, const pg_uuid_t *id, bool create)
{
	LicCounter *ents = part_counters(p);
	int32		cap = store->capacity;
	int32		start = (int32) ((h / LIC_PARTITIONS) % (uint32) cap);

	for (int32 n = 0; n < cap; n++)
	{
		LicCounter *e = &ents[(start + n) % cap];

		if (memcmp(&e->id, id, UUID_LEN) == 0 && e->dbid == dbid)
			return e;
		if (memcmp(&e->id, &zero_uuid, UUID_LEN) == 0)
		{
			if (!create)
				return NULL;
			memset(e, 0, sizeof(*e));
			e->id = *id;
			e->dbid = dbid;
			return e;
		}
	}
	return NULL;
}

static inline LicCounter *
counter_find(int p, uint32 h, const pg_uuid_t *id, bool create)
{
	return counter_find_in(MyDatabaseId, p, h, id, create);
}

static Size
lic_store_size(void)
{
	return add_size(MAXALIGN(sizeof(LicStore)), mul_size(sizeof(LicCounter), max_counters));
}

/*
 * Restarts.  At a clean shutdown the postmaster writes every entry to
 * LIC_FILE; the next start reads them back and removes the file, so that
 * counts not yet flushed survive.  After a crash or an immediate stop
 * there is no file: what was counted since the last flush is lost, and a
 * licence's day resumes from its last flushed count.
 */
#define LIC_FILE "pg_stat/jobspy_licensing.stat"
#define LIC_FILE_TMP LIC_FILE ".tmp"
#define LIC_FILE_MAGIC 0x4a534c31	/* "JSL1" */

typedef struct LicFileHeader
{
	uint32		magic;
	uint32		entry_size;
	int64		count;
} LicFileHeader;

static void
lic_store_load(void)
{
	FILE	   *f = AllocateFile(LIC_FILE, PG_BINARY_R);
	LicFileHeader h;
	LicCounter	e;
	int64		lost = 0;
	bool		ok;

	if (f == NULL)
	{
		if (errno != ENOENT)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", LIC_FILE)));
		return;
	}
	ok = fread(&h, sizeof(h), 1, f) == 1 && h.magic == LIC_FILE_MAGIC &&
		h.entry_size == sizeof(LicCounter) && h.count >= 0;
	for (int64 n = 0; ok && n < h.count; n++)
	{
		uint32		hash;
		LicCounter *slot;

		if (fread(&e, sizeof(e), 1, f) != 1)
		{
			ok = false;
			break;
		}
		hash = counter_hash(&e.id);
		slot = counter_find_in(e.dbid, hash % LIC_PARTITIONS, hash, &e.id, true);
		if (slot)
			*slot = e;
		else
			lost++;
	}
	FreeFile(f);
	unlink(LIC_FILE);
	if (!ok)
	{
		memset(counters, 0, sizeof(LicCounter) * (Size) max_counters);
		ereport(LOG, (errmsg("ignoring damaged licence counter file \"%s\"", LIC_FILE)));
	}
	else if (lost > 0)
		ereport(LOG,
				(errmsg("licence validation counters of " INT64_FORMAT " licences and machines did not fit",
						lost),
				 errdetail("jobspy.licensing_max_counters is smaller than before the restart.")));
}

static void
lic_store_startup(void *segment, bool found)
{
	store = segment;
	counters = (LicCounter *) ((char *) segment + MAXALIGN(sizeof(LicStore)));
	if (!found)
	{
		LWLockPadded *locks = GetNamedLWLockTranche(LIC_SEGMENT);

		store->capacity = max_counters / LIC_PARTITIONS;
		for (int p = 0; p < LIC_PARTITIONS; p++)
			store->locks[p] = &locks[p].lock;
		memset(counters, 0, sizeof(LicCounter) * (Size) max_counters);
		lic_store_load();
	}
}

/* In the postmaster at shutdown: every other process is gone. */
static void
lic_store_shutdown(void)
{
	FILE	   *f;
	LicFileHeader h = {LIC_FILE_MAGIC, sizeof(LicCounter), 0};

	if (store == NULL || !jobspy_cluster_shut_down_cleanly())
		return;
	for (int64 i = 0; i < max_counters; i++)
		if (memcmp(&counters[i].id, &zero_uuid, UUID_LEN) != 0)
			h.count++;
	f = AllocateFile(LIC_FILE_TMP, PG_BINARY_W);
	if (f == NULL || fwrite(&h, sizeof(h), 1, f) != 1)
		goto fail;
	for (int64 i = 0; i < max_counters; i++)
		if (memcmp(&counters[i].id, &zero_uuid, UUID_LEN) != 0 &&
			fwrite(&counters[i], sizeof(LicCounter), 1, f) != 1)
			goto fail;
	if (FreeFile(f))
	{
		f = NULL;
		goto fail;
	}
	(void) durable_rename(LIC_FILE_TMP, LIC_FILE, LOG);
	return;

fail:
	ereport(LOG,
			(errcode_for_file_access(),
			 errmsg("could not write file \"%s\": %m", LIC_FILE_TMP)));
	if (f)
		FreeFile(f);
	unlink(LIC_FILE_TMP);
}

static void
counters_full_error(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_JS_COUNTERS_FULL),
			 errmsg("the shared-memory table of validation counters is full"),
			 errhint("Run jobspy.maintain() more often, or raise jobspy.licensing_max_counters (restart).")));
}

static void
require_store(void)
{
	jobspy_require_preload("licence validation");
	if (store == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("licence validation counters are not available in this process")));
}

/* Days since 2000-01-01 in UTC. */
static inline int32
utc_day(TimestampTz t)
{
	return (int32) (t / USECS_PER_DAY - (t < 0 && t % USECS_PER_DAY != 0));
}

/* ---- the tables, read through their indexes ------------------------------- */

typedef struct LicRels
{
	bool		valid;
	Oid			licenses,
				licenses_by_hash,
				users,
				users_pkey,
				machines,
				machines_by_fingerprint;
	Oid			owner;			/* owner of the tables: writes run as it */
	uint32		schema;			/* license_cache_schema() of the tables read */
	AttrNumber	l_id, l_user, l_hash, l_type, l_status, l_expires, l_features,
				l_max_machines, l_max_per_day, l_day, l_on_day;
	AttrNumber	u_id, u_status;
	AttrNumber	m_id, m_user, m_license, m_fingerprint;
} LicRels;

static LicRels rels;

static void
licensing_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == rels.licenses || relid == rels.users ||
		relid == rels.machines || relid == rels.licenses_by_hash ||
		relid == rels.users_pkey || relid == rels.machines_by_fingerprint)
		rels.valid = false;		/* and the schema stamp is read again */
}

static Oid
rel_oid(Oid nsp, const char *name)
{
	Oid			oid = get_relname_relid(name, nsp);

	if (!OidIsValid(oid))
		elog(ERROR, "relation jobspy.%s is missing", name);
	return oid;
}

static void
rels_load(void)
{
	Oid			nsp = get_namespace_oid("jobspy", false);
	LicRels		r;
	HeapTuple	tup;

	r.licenses = rel_oid(nsp, "licenses");
	r.licenses_by_hash = rel_oid(nsp, "licenses_license_key_hash_key");
	r.users = rel_oid(nsp, "users");
	r.users_pkey = rel_oid(nsp, "users_pkey");
	r.machines = rel_oid(nsp, "license_machines");
	r.machines_by_fingerprint = rel_oid(nsp, "license_machines_user_id_license_id_fingerprint_key");
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(r.licenses));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", r.licenses);
	r.owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	r.l_id = jobspy_attnum(r.licenses, "id");
	r.l_user = jobspy_attnum(r.licenses, "user_id");
	r.l_hash = jobspy_attnum(r.licenses, "license_key_hash");
	r.l_type = jobspy_attnum(r.licenses, "license_type");
	r.l_status = jobspy_attnum(r.licenses, "status");
	r.l_expires = jobspy_attnum(r.licenses, "expires_at");
	r.l_features = jobspy_attnum(r.licenses, "features");
	r.l_max_machines = jobspy_attnum(r.licenses, "max_machines");
	r.l_max_per_day = jobspy_attnum(r.licenses, "max_validations_per_day");
	r.l_day = jobspy_attnum(r.licenses, "validation_day");
	r.l_on_day = jobspy_attnum(r.licenses, "validations_on_day");
	r.u_id = jobspy_attnum(r.users, "id");
	r.u_status = jobspy_attnum(r.users, "status");
	r.m_id = jobspy_attnum(r.machines, "id");
	r.m_user = jobspy_attnum(r.machines, "user_id");
	r.m_license = jobspy_attnum(r.machines, "license_id");
	r.m_fingerprint = jobspy_attnum(r.machines, "fingerprint");
	{
		Oid			read[] = {r.licenses, r.users, r.machines};

		r.schema = license_cache_schema(read, lengthof(read));
	}
	r.valid = true;
	rels = r;
}


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
static bool
license_by_hash(const uint8 *hash, LicRow *row, Snapshot snapshot)
{
	Relation	rel = table_open(rels.licenses, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	bytea	   *key = palloc(VARHDRSZ + SECRET_HASH_BYTES);
	ScanKeyData skey;
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		found = false;

	SET_VARSIZE(key, VARHDRSZ + SECRET_HASH_BYTES);
	memcpy(VARDATA(key), hash, SECRET_HASH_BYTES);
	ScanKeyInit(&skey, rels.l_hash, BTEqualStrategyNumber, F_BYTEAEQ, PointerGetDatum(key));
	scan = systable_beginscan(rel, rels.licenses_by_hash, true, snapshot, 1, &skey);
	if ((tuple = systable_getnext(scan)) != NULL)
	{
		/* One pass over the row: column by column would walk it again each time. */
		Datum	   *values = palloc(sizeof(Datum) * desc->natts);
		bool	   *nulls = palloc(sizeof(bool) * desc->natts);
		text	   *status;

#define COL(a) values[(a) - 1]
		note_row(tuple, &row->version);
		heap_deform_tuple(tuple, desc, values, nulls);
		found = true;
		row->id = *DatumGetUUIDP(COL(rels.l_id));
		row->user_id = *DatumGetUUIDP(COL(rels.l_user));
		status = DatumGetTextPP(COL(rels.l_status));
		row->status = VARSIZE_ANY_EXHDR(status) > 0 ? VARDATA_ANY(status)[0] : '?';
		row->license_type = DatumGetTextPCopy(COL(rels.l_type));
		row->features = DatumGetJsonbPCopy(COL(rels.l_features));
		row->has_expiry = !nulls[rels.l_expires - 1];
		row->expires_at = row->has_expiry ? DatumGetTimestampTz(COL(rels.l_expires)) : 0;
		row->max_machines = DatumGetInt32(COL(rels.l_max_machines));
		row->max_per_day = DatumGetInt32(COL(rels.l_max_per_day));
		row->stored_day = nulls[rels.l_day - 1] ? PG_INT32_MIN : (int32) DatumGetDateADT(COL(rels.l_day));
		row->stored_on_day = DatumGetInt32(COL(rels.l_on_day));
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
	Relation	rel = table_open(rels.users, AccessShareLock);
	ScanKeyData skey;
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		active = false;

	ItemPointerSetInvalid(&version->tid);
	ScanKeyInit(&skey, rels.u_id, BTEqualStrategyNumber, F_UUID_EQ, UUIDPGetDatum(user));
	scan = systable_beginscan(rel, rels.users_pkey, true, snapshot, 1, &skey);
	if ((tuple = systable_getnext(scan)) != NULL)
	{
		bool		isnull;
		text	   *status = DatumGetTextPP(getattr(tuple, RelationGetDescr(rel), rels.u_status, &isnull));

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
	Relation	rel = table_open(rels.machines, AccessShareLock);
	ScanKeyData skey[3];
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		found = false;

	ScanKeyInit(&skey[0], rels.m_user, BTEqualStrategyNumber, F_UUID_EQ, UUIDPGetDatum(&lic->user_id));
	ScanKeyInit(&skey[1], rels.m_license, BTEqualStrategyNumber, F_UUID_EQ, UUIDPGetDatum(&lic->id));
	ScanKeyEntryInitialize(&skey[2], 0, rels.m_fingerprint, BTEqualStrategyNumber, InvalidOid,
						   DEFAULT_COLLATION_OID, F_TEXTEQ, PointerGetDatum(fingerprint));
	scan = systable_beginscan(rel, rels.machines_by_fingerprint, true, snapshot, 3, skey);
	if ((tuple = systable_getnext(scan)) != NULL)
	{
		bool		isnull;

		found = true;
		note_row(tuple, version);
		*machine = *DatumGetUUIDP(getattr(tuple, RelationGetDescr(rel), rels.m_id, &isnull));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/* ---- the rare writes -------------------------------------------------------- */

/*
 * Run one prepared statement as the tables' owner: the caller (jobspy_app)
 * may validate but not write the tables directly.  An error unwinds the
 * user id with the (sub)transaction.
 */
static int
run_as_owner(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types, Datum *values,
			 const char *nulls, Oid *save_user, int *save_sec)
{
	int			ret;

	GetUserIdAndSecContext(save_user, save_sec);
	SetUserIdAndSecContext(rels.owner, *save_sec | SECURITY_LOCAL_USERID_CHANGE);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, nargs, types);

		if (p == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		*plan = p;
	}
	ret = SPI_execute_plan(*plan, values, nulls, false, 0);
	if (ret < 0)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	return ret;					/* the caller reads SPI_tuptable, then finish_as_owner() */
}

static void
finish_as_owner(Oid user, int sec)
{
	SPI_finish();
	SetUserIdAndSecContext(user, sec);
}

/*
 * Bind fingerprint to the licence while seats remain (license_machine_bind
 * locks the licence row, so concurrent first uses are counted one at a
 * time).  False when every seat is taken.
 */
static bool
machine_bind(const LicRow *lic, text *fingerprint, text *app_version, pg_uuid_t *machine)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[3] = {UUIDOID, TEXTOID, TEXTOID};
	Datum		values[3];
	char		nulls[4] = "   ";
	Oid			save_user;
	int			save_sec;
	bool		bound = false;

	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("a machine's first validation cannot be answered on a standby"),
				 errdetail("It takes a seat of the licence, which is a write."),
				 errhint("Validate the machine once against the primary.")));
	values[0] = UUIDPGetDatum(&lic->id);
	values[1] = PointerGetDatum(fingerprint);
	values[2] = PointerGetDatum(app_version);
	nulls[2] = app_version ? ' ' : 'n';
	run_as_owner(&plan, "SELECT jobspy.license_machine_bind($1, $2, NULL, NULL, $3)",
				 3, types, values, nulls, &save_user, &save_sec);
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
		{
			*machine = *DatumGetUUIDP(d);
			bound = true;
		}
	}
	finish_as_owner(save_user, save_sec);
	return bound;
}

/* One row of the validation log; skipped where nothing may be written. */
static void
log_validation(const char *code, const LicRow *lic, text *fingerprint, text *app_version)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[5] = {UUIDOID, UUIDOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[5];
	char		nulls[6] = "     ";
	Oid			save_user;
	int			save_sec;

	if (RecoveryInProgress() || XactReadOnly)
		return;
	values[0] = lic ? UUIDPGetDatum(&lic->id) : (Datum) 0;
	values[1] = lic ? UUIDPGetDatum(&lic->user_id) : (Datum) 0;
	nulls[0] = nulls[1] = lic ? ' ' : 'n';
	values[2] = CStringGetTextDatum(code);
	/* Input too long for the log's columns is left out, not truncated. */
	values[3] = PointerGetDatum(fingerprint);
	nulls[3] = fingerprint && VARSIZE_ANY_EXHDR(fingerprint) <= MAX_FINGERPRINT ? ' ' : 'n';
	values[4] = PointerGetDatum(app_version);
	nulls[4] = app_version && VARSIZE_ANY_EXHDR(app_version) <= MAX_APP_VERSION ? ' ' : 'n';
	run_as_owner(&plan,
				 "INSERT INTO jobspy.license_validations"
				 " (license_id, user_id, result, fingerprint, app_version, ip_address)"
				 " VALUES ($1, $2, $3, $4, $5, pg_catalog.inet_client_addr())",
				 5, types, values, nulls, &save_user, &save_sec);
	finish_as_owner(save_user, save_sec);
}

/* ---- validate_license --------------------------------------------------------- */

typedef struct Verdict
{
	const char *code;
	LicRow	   *lic;			/* NULL before the licence is found */
	int32		remaining;		/* validations left today; -1 for NULL */
} Verdict;

/*
 * Count one validation of the licence today, unless the day's maximum is
 * reached.  Returns the validations left after this one, or -1 when none
 * was left (RATE_LIMITED).
 */
static int32
count_take(const LicRow *lic, TimestampTz now)
{
	uint32		h = counter_hash(&lic->id);
	int			p = h % LIC_PARTITIONS;
	int32		today = utc_day(now);
	int32		left = -1;
	LicCounter *e;

	LWLockAcquire(store->locks[p], LW_EXCLUSIVE);
	e = counter_find(p, h, &lic->id, false);
	if (e == NULL)
	{
		e = counter_find(p, h, &lic->id, true);
		if (e == NULL)
		{
			LWLockRelease(store->locks[p]);
			counters_full_error();
		}
		/* After a restart the day resumes from the last flush. */
		e->day = today;
		e->day_count = lic->stored_day == today ? lic->stored_on_day : 0;
	}
	if (e->day != today)
	{
		e->day = today;
		e->day_count = 0;
	}
	if (e->day_count < lic->max_per_day)
	{
		e->day_count++;
		e->pending++;
		if (now > e->last_at)
			e->last_at = now;
		left = lic->max_per_day - e->day_count;
	}
	LWLockRelease(store->locks[p]);
	return left;
}

/*
 * Give back a count taken by count_take (the machine was refused).  A flush
 * may have taken the count meanwhile (the refusal waited for the licence
 * row): pending then goes below zero and the next flush takes it off.
 */
static void
count_give_back(const LicRow *lic, TimestampTz now)
{
	uint32		h = counter_hash(&lic->id);
	int			p = h % LIC_PARTITIONS;
	LicCounter *e;

	LWLockAcquire(store->locks[p], LW_EXCLUSIVE);
	e = counter_find(p, h, &lic->id, false);
	if (e)
	{
		if (e->day == utc_day(now) && e->day_count > 0)
			e->day_count--;
		e->pending--;
	}
	LWLockRelease(store->locks[p]);
}

/* A machine was seen now; false when there is no room to count it. */
static bool
machine_seen(const pg_uuid_t *machine, TimestampTz now)
{
	uint32		h = counter_hash(machine);
	int			p = h % LIC_PARTITIONS;
	LicCounter *e;

	LWLockAcquire(store->locks[p], LW_EXCLUSIVE);
	e = counter_find(p, h, machine, true);
	if (e)
	{
		e->machine = true;
		e->pending++;
		if (now > e->last_at)
			e->last_at = now;
	}
	LWLockRelease(store->locks[p]);
	return e != NULL;
}

static bool
text_empty(text *t)
{
	return t == NULL || VARSIZE_ANY_EXHDR(t) == 0;
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
static bool
read_license(const LicCacheKey *key, LicRow *lic, bool *user_active, uint64 *generation,
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
			UnregisterSnapshot(snapshot);
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
static bool
machine_bound(const LicCacheKey *key, uint64 generation, bool use_cache, const LicRow *lic,
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
 * The machine is bound already or was bound now.  Called with a count
 * taken: an error (a lock timeout, a cancel) gives it back, as a refusal does.
 */
static bool
machine_usable(const LicCacheKey *key, uint64 generation, bool use_cache, const LicRow *lic,
			   text *fingerprint, text *app_version, TimestampTz now, pg_uuid_t *machine)
{
	bool		usable = false;

	PG_TRY();
	{
		usable = machine_bound(key, generation, use_cache, lic, fingerprint, machine) ||
			machine_bind(lic, fingerprint, app_version, machine);
	}
	PG_CATCH();
	{
		count_give_back(lic, now);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return usable;
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
static bool
from_cache(const LicCacheKey *key, text *fingerprint, LicCached *cached)
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
	unchanged = row_unchanged(rels.licenses, &cached->row.version, snapshot) &&
		row_unchanged(rels.users, &cached->row.user_version, snapshot) &&
		(!cached->machine_found || row_unchanged(rels.machines, &cached->machine_version, snapshot));
	UnregisterSnapshot(snapshot);
	if (!unchanged)
		return false;
	license_cache_renew(key, cached, fingerprint);
	return true;
}

static void
validate(text *key_text, text *fingerprint, text *app_version, Verdict *v)
{
	char		key[LICENSE_KEY_LEN + 1];
	uint8		hashes[MAX_HASH_KEYS][SECRET_HASH_BYTES];
	LicCacheKey ck;
	uint64		generation = 0;
	LicRow	   *lic = palloc0(sizeof(LicRow));
	TimestampTz now = jobspy_now();
	pg_uuid_t	machine;
	bool		machine_known = false;	/* from the cache entry */
	LicCached	cached;
	bool		use_cache;
	bool		user_active;

	v->lic = NULL;
	v->remaining = -1;
	if (!rels.valid)
		rels_load();

	/* Malformed input costs no index probe. */
	if (key_text == NULL || VARSIZE_ANY_EXHDR(key_text) > MAX_KEY_INPUT ||
		!license_key_normalize(VARDATA_ANY(key_text), VARSIZE_ANY_EXHDR(key_text), key) ||
		(fingerprint && VARSIZE_ANY_EXHDR(fingerprint) > MAX_FINGERPRINT) ||
		(app_version && VARSIZE_ANY_EXHDR(app_version) > MAX_APP_VERSION))
	{
		v->code = "MALFORMED";
		return;
	}

	ck.licenses = rels.licenses;
	ck.schema = rels.schema;
	ck.hashes = hashes;
	ck.nhashes = secret_hash_candidates("license", key, LICENSE_KEY_LEN, hashes, MAX_HASH_KEYS);
	use_cache = license_cache_usable();
	if (use_cache && from_cache(&ck, text_empty(fingerprint) ? NULL : fingerprint, &cached))
	{
		*lic = cached.row;
		user_active = cached.user_active;
		generation = cached.generation;
		machine_known = cached.machine_found;
		machine = cached.machine;
	}
	else if (!read_license(&ck, lic, &user_active, &generation, use_cache))
	{
		v->code = "NOT_FOUND";
		return;
	}
	v->lic = lic;
	if (lic->status == 'r')
		v->code = "REVOKED";
	else if (lic->status == 's')
		v->code = "SUSPENDED";
	else if (lic->status == 'e' || (lic->has_expiry && lic->expires_at <= now))
		v->code = "EXPIRED";
	else if (!user_active)
		v->code = "USER_SUSPENDED";
	else if (text_empty(fingerprint))
		v->code = "FINGERPRINT_REQUIRED";
	else if ((v->remaining = count_take(lic, now)) < 0)
		v->code = "RATE_LIMITED";
	else if (machine_known ||
			 machine_usable(&ck, generation, use_cache, lic, fingerprint, app_version, now, &machine))
	{
		if (!machine_seen(&machine, now))
		{
			/* Not counted at all, rather than counted for the licence only. */
			count_give_back(lic, now);
			counters_full_error();
		}
		v->code = "VALID";
	}
	else
	{
		count_give_back(lic, now);
		v->remaining = -1;
		v->code = "TOO_MANY_MACHINES";
	}
}

PG_FUNCTION_INFO_V1(jobspy_validate_license);
Datum
jobspy_validate_license(PG_FUNCTION_ARGS)
{
	text	   *key = PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0);
	text	   *fingerprint = PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1);
	text	   *app_version = PG_ARGISNULL(2) ? NULL : PG_GETARG_TEXT_PP(2);
	Verdict		v;
	Datum		values[8];
	bool		nulls[8];
	bool		valid;

	require_store();
	validate(key, fingerprint, app_version, &v);
	valid = strcmp(v.code, "VALID") == 0;
	if (!valid || log_successes)
		log_validation(v.code, v.lic, fingerprint, app_version);

	memset(nulls, true, sizeof(nulls));
	values[0] = BoolGetDatum(valid);
	values[1] = CStringGetTextDatum(v.code);
	nulls[0] = nulls[1] = false;
	if (v.lic)
	{
		values[2] = UUIDPGetDatum(&v.lic->id);
		values[3] = UUIDPGetDatum(&v.lic->user_id);
		values[4] = PointerGetDatum(v.lic->license_type);
		values[5] = JsonbPGetDatum(v.lic->features);
		values[6] = TimestampTzGetDatum(v.lic->expires_at);
		nulls[2] = nulls[3] = nulls[4] = nulls[5] = false;
		nulls[6] = !v.lic->has_expiry;
	}
	if (v.remaining >= 0 || strcmp(v.code, "RATE_LIMITED") == 0)
	{
		values[7] = Int32GetDatum(Max(v.remaining, 0));
		nulls[7] = false;
	}
	return jobspy_return_row(fcinfo, values, nulls);
}

/* ---- check_license_rate_limit: seed 000's check, from the counters ------------ */

PG_FUNCTION_INFO_V1(jobspy_check_license_rate_limit);
Datum
jobspy_check_license_rate_limit(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *id = PG_GETARG_UUID_P(0);
	int32		max = PG_GETARG_INT32(1);
	uint32		h;
	int			p;
	int32		today = utc_day(jobspy_now());
	int64		count = -1;
	LicCounter *e;

	require_store();
	h = counter_hash(id);
	p = h % LIC_PARTITIONS;
	LWLockAcquire(store->locks[p], LW_SHARED);
	e = counter_find(p, h, id, false);
	if (e && !e->machine)
		count = e->day == today ? e->day_count : 0;
	LWLockRelease(store->locks[p]);

	/* Not validated since the last restart: the day's count as last flushed. */
	if (count < 0)
	{
		Relation	rel;
		ScanKeyData skey;
		SysScanDesc scan;
		HeapTuple	tuple;
		Oid			by_id;

		if (!rels.valid)
			rels_load();
		by_id = rel_oid(get_namespace_oid("jobspy", false), "licenses_id_idx");
		rel = table_open(rels.licenses, AccessShareLock);
		ScanKeyInit(&skey, rels.l_id, BTEqualStrategyNumber, F_UUID_EQ, UUIDPGetDatum(id));
		scan = systable_beginscan(rel, by_id, true, jobspy_statement_snapshot(), 1, &skey);
		count = 0;
		if ((tuple = systable_getnext(scan)) != NULL)
		{
			bool		isnull;
			Datum		d = getattr(tuple, RelationGetDescr(rel), rels.l_day, &isnull);

			if (!isnull && (int32) DatumGetDateADT(d) == today)
				count = DatumGetInt32(getattr(tuple, RelationGetDescr(rel), rels.l_on_day, &isnull));
		}
		systable_endscan(scan);
		table_close(rel, AccessShareLock);
	}
	PG_RETURN_BOOL(count < max);
}

/* ---- flushing the counters to the tables --------------------------------------- */

typedef struct Taken
{
	pg_uuid_t	id;
	bool		machine;
	int64		pending;
	TimestampTz last_at;
	int32		day;
	int32		day_count;
	SubTransactionId subxact;	/* the flush's; a rollback to it gives this back */
} Taken;

/* What this transaction's flushes took out of shared memory, to give back on abort. */
static Taken *taken = NULL;
static int	ntaken = 0;
static int	taken_allocated = 0;
static bool xact_callback_registered = false;

/* Put one taken entry's counts back into shared memory. */
static void
give_back_one(const Taken *t)
{
	uint32		h = counter_hash(&t->id);
	int			p = h % LIC_PARTITIONS;
	LicCounter *e;

	LWLockAcquire(store->locks[p], LW_EXCLUSIVE);
	e = counter_find(p, h, &t->id, false);
	if (e == NULL && (e = counter_find(p, h, &t->id, true)) != NULL)
	{
		e->machine = t->machine;
		e->day = t->day;
		e->day_count = t->day_count;
	}
	if (e)
	{
		e->pending += t->pending;
		if (t->last_at > e->last_at)
			e->last_at = t->last_at;
	}
	LWLockRelease(store->locks[p]);
	if (e == NULL)
		ereport(LOG,
				(errmsg("lost " INT64_FORMAT " validation counts of a rolled back flush: the counter table is full",
						t->pending)));
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

/*
 * The databases that have entries in the store but no longer exist: their
 * entries would never be flushed and would hold their slots for good.
 * Checked outside the partition locks (a catalog lookup may do I/O).
 */
#define MAX_DEAD_DATABASES 64

static int
dropped_databases(Oid *dead)
{
	Oid			seen[MAX_DEAD_DATABASES];
	int			nseen = 0;
	int			ndead = 0;

	for (int p = 0; p < LIC_PARTITIONS; p++)
	{
		LicCounter *ents = part_counters(p);

		LWLockAcquire(store->locks[p], LW_SHARED);
		for (int32 i = 0; i < store->capacity && nseen < MAX_DEAD_DATABASES; i++)
		{
			Oid			db = ents[i].dbid;
			bool		known = (db == InvalidOid || db == MyDatabaseId);

			for (int k = 0; k < nseen && !known; k++)
				known = (seen[k] == db);
			if (!known)
				seen[nseen++] = db;
		}
		LWLockRelease(store->locks[p]);
	}
	for (int k = 0; k < nseen; k++)
		if (!SearchSysCacheExists1(DATABASEOID, ObjectIdGetDatum(seen[k])))
			dead[ndead++] = seen[k];
	return ndead;
}

/*
 * Take every pending count of this database out of one partition, and drop
 * the entries that need not stay: machines, licences not validated today,
 * another database's entries that carry nothing, and those of dropped
 * databases.
 */
static void
take_partition(int p, int32 today, const Oid *dead, int ndead)
{
	LicCounter *ents = part_counters(p);
	int32		cap = store->capacity;
	LicCounter *keep = palloc(sizeof(LicCounter) * (Size) cap);
	int32		nkeep = 0;

	LWLockAcquire(store->locks[p], LW_EXCLUSIVE);
	for (int32 i = 0; i < cap; i++)
	{
		LicCounter *e = &ents[i];

		if (memcmp(&e->id, &zero_uuid, UUID_LEN) == 0)
			continue;
		if (e->dbid != MyDatabaseId)
		{
			bool		dropped = false;

			for (int k = 0; k < ndead && !dropped; k++)
				dropped = (dead[k] == e->dbid);
			/* Pending counts are for that database's own flush to take. */
			if (!dropped && (e->pending != 0 || (!e->machine && e->day >= today)))
				keep[nkeep++] = *e;
			continue;
		}
		if (e->pending != 0)
		{
			Taken	   *t;

			if (ntaken == taken_allocated)
			{
				taken_allocated *= 2;
				taken = repalloc(taken, sizeof(Taken) * taken_allocated);
			}
			t = &taken[ntaken++];
			t->id = e->id;
			t->machine = e->machine;
			t->pending = e->pending;
			t->last_at = e->last_at;
			t->day = e->day;
			t->day_count = e->day_count;
			t->subxact = GetCurrentSubTransactionId();
			e->pending = 0;
			e->last_at = 0;
		}
		if (!e->machine && e->day >= today)
			keep[nkeep++] = *e;
	}
	/* Compact: the kept entries again, each at its own probe position. */
	memset(ents, 0, sizeof(LicCounter) * (Size) cap);
	for (int32 i = 0; i < nkeep; i++)
	{
		uint32		h = counter_hash(&keep[i].id);
		LicCounter *e = counter_find_in(keep[i].dbid, p, h, &keep[i].id, true);

		*e = keep[i];
	}
	LWLockRelease(store->locks[p]);
	pfree(keep);
}

PG_FUNCTION_INFO_V1(jobspy_flush_license_validations);
Datum
jobspy_flush_license_validations(PG_FUNCTION_ARGS)
{
	int			first;
	Oid			dead[MAX_DEAD_DATABASES];
	int			ndead;
	int32		today = utc_day(jobspy_now());
	ArrayBuildState *ids[2] = {NULL, NULL},
			   *counts[2] = {NULL, NULL},
			   *lasts[2] = {NULL, NULL},
			   *days = NULL,
			   *ondays = NULL;
	int64		updated = 0;
	MemoryContext cxt = CurrentMemoryContext;

	require_store();
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("validation counters cannot be flushed on a standby")));
	if (!xact_callback_registered)
	{
		RegisterXactCallback(flush_xact_callback, NULL);
		RegisterSubXactCallback(flush_subxact_callback, NULL);
		xact_callback_registered = true;
	}
	if (!rels.valid)
		rels_load();

	ndead = dropped_databases(dead);

	/* A second flush in one transaction adds to what the first took. */
	if (taken == NULL)
	{
		taken_allocated = 256;
		taken = MemoryContextAlloc(TopTransactionContext, sizeof(Taken) * taken_allocated);
		ntaken = 0;
	}
	first = ntaken;
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

		for (int p = 0; p < LIC_PARTITIONS; p++)
			take_partition(p, today, dead, ndead);
		MemoryContextSwitchTo(old);
	}

	for (int i = first; i < ntaken; i++)
	{
		int			k = taken[i].machine ? 1 : 0;

		ids[k] = accumArrayResult(ids[k], UUIDPGetDatum(&taken[i].id), false, UUIDOID, cxt);
		counts[k] = accumArrayResult(counts[k], Int64GetDatum(taken[i].pending), false, INT8OID, cxt);
		lasts[k] = accumArrayResult(lasts[k], TimestampTzGetDatum(taken[i].last_at),
									taken[i].last_at == 0, TIMESTAMPTZOID, cxt);
		if (k == 0)
		{
			days = accumArrayResult(days, DateADTGetDatum((DateADT) taken[i].day), false, DATEOID, cxt);
			ondays = accumArrayResult(ondays, Int32GetDatum(taken[i].day_count), false, INT4OID, cxt);
		}
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (ids[0])
	{
		Oid			types[5] = {UUIDARRAYOID, INT8ARRAYOID, TIMESTAMPTZARRAYOID, DATEARRAYOID, INT4ARRAYOID};
		Datum		values[5] = {
			makeArrayResult(ids[0], cxt), makeArrayResult(counts[0], cxt),
			makeArrayResult(lasts[0], cxt), makeArrayResult(days, cxt), makeArrayResult(ondays, cxt)
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
		updated += SPI_processed;
	}
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
	SPI_finish();
	PG_RETURN_INT64(updated);
}

/* ---- Ed25519 ----------------------------------------------------------------- */

static bytea *
bytes_to_bytea(const unsigned char *data, size_t len)
{
	bytea	   *b = palloc(VARHDRSZ + len);

	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(VARDATA(b), data, len);
	return b;
}

PG_FUNCTION_INFO_V1(jobspy_ed25519_keypair);
Datum
jobspy_ed25519_keypair(PG_FUNCTION_ARGS)
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	unsigned char sk[crypto_sign_SECRETKEYBYTES];
	TupleDesc	desc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	crypto_sign_keypair(pk, sk);
	values[0] = PointerGetDatum(bytes_to_bytea(pk, sizeof(pk)));
	values[1] = PointerGetDatum(bytes_to_bytea(sk, sizeof(sk)));
	sodium_memzero(sk, sizeof(sk));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

PG_FUNCTION_INFO_V1(jobspy_ed25519_sign);
Datum
jobspy_ed25519_sign(PG_FUNCTION_ARGS)
{
	bytea	   *message = PG_GETARG_BYTEA_PP(0);
	bytea	   *sk = PG_GETARG_BYTEA_PP(1);
	unsigned char sig[crypto_sign_BYTES];

	if (VARSIZE_ANY_EXHDR(sk) != crypto_sign_SECRETKEYBYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an Ed25519 secret key is %d bytes", crypto_sign_SECRETKEYBYTES)));
	crypto_sign_detached(sig, NULL, (const unsigned char *) VARDATA_ANY(message),
						 VARSIZE_ANY_EXHDR(message), (const unsigned char *) VARDATA_ANY(sk));
	PG_RETURN_BYTEA_P(bytes_to_bytea(sig, sizeof(sig)));
}

PG_FUNCTION_INFO_V1(jobspy_ed25519_verify);
Datum
jobspy_ed25519_verify(PG_FUNCTION_ARGS)
{
	bytea	   *message = PG_GETARG_BYTEA_PP(0);
	bytea	   *sig = PG_GETARG_BYTEA_PP(1);
	bytea	   *pk = PG_GETARG_BYTEA_PP(2);

	if (VARSIZE_ANY_EXHDR(sig) != crypto_sign_BYTES ||
		VARSIZE_ANY_EXHDR(pk) != crypto_sign_PUBLICKEYBYTES)
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(crypto_sign_verify_detached((const unsigned char *) VARDATA_ANY(sig),
											   (const unsigned char *) VARDATA_ANY(message),
											   VARSIZE_ANY_EXHDR(message),
											   (const unsigned char *) VARDATA_ANY(pk)) == 0);
}

/* ---- registration -------------------------------------------------------------- */

void
jobspy_licensing_init(void)
{
	static const JobspyShmemSegment segment = {
		.name = LIC_SEGMENT,
		.size = lic_store_size,
		.nlocks = LIC_PARTITIONS,
		.startup = lic_store_startup,
		.shutdown = lic_store_shutdown,
	};

	if (process_shared_preload_libraries_in_progress)
		DefineCustomIntVariable("jobspy.licensing_max_counters",
								"How many licences and machines validated between two flushes shared memory can count.",
								"Each takes 48 bytes; maintain() flushes them and frees those of machines and of past days.",
								&max_counters,
								262144, 1024, 64 * 1024 * 1024,
								PGC_POSTMASTER, 0,
								NULL, NULL, NULL);
	DefineCustomBoolVariable("jobspy.licensing_log_successes",
							 "Log successful licence validations in jobspy.license_validations too.",
							 "Failures are always logged.",
							 &log_successes,
							 false,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
	CacheRegisterRelcacheCallback(licensing_relcache_callback, (Datum) 0);
	license_cache_init();
	jobspy_shmem_register(&segment);
}
