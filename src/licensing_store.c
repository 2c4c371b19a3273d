/*
 * licensing_store.c: the validation counters in shared memory, and their
 * state file across restarts.
 *
 * LIC_PARTITIONS partitions, each an open-addressing table of
 * licensing_licensing_max_counters / LIC_PARTITIONS entries under its own LWLock
 * (exclusive to change an entry, shared to read one).  Entries are removed
 * only when a flush compacts a partition (lic_store_take), so a probe stops
 * at the first free slot.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "common/hashfn.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/syscache.h"

#include "core.h"
#include "licensing.h"

#define LIC_SEGMENT "jobspy_licensing"
#define LIC_PARTITIONS 16

typedef struct LicStore
{
	int32		capacity;		/* entries per partition */
	LWLock	   *locks[LIC_PARTITIONS];
} LicStore;

static LicStore *store = NULL;
static LicCounter *counters = NULL;

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
	return add_size(MAXALIGN(sizeof(LicStore)), mul_size(sizeof(LicCounter), licensing_max_counters));
}

/*
 * Restarts.  At a clean shutdown the postmaster writes every entry to
 * LIC_FILE (the core's state file, core_state.c); the next start reads
 * them back and removes the file, so that counts not yet flushed survive.  After a crash or an immediate stop
 * there is no file: what was counted since the last flush is lost, and a
 * licence's day resumes from its last flushed count.
 */
#define LIC_FILE "pg_stat/jobspy_licensing.stat"
#define LIC_FILE_MAGIC 0x4a534c31	/* "JSL1" */
#define LIC_FILE_VERSION 2		/* 1: no version, no trailer (before 0.3.0) */

/* What follows the state file's magic and version (core_state.c). */
typedef struct LicFileHeader
{
	uint32		entry_size;
	uint32		pad;
	int64		count;
} LicFileHeader;

static void
lic_store_load(void)
{
	JobspyStateFile *f = jobspy_state_read_open(LIC_FILE, LIC_FILE_MAGIC, LIC_FILE_VERSION,
											  "licence counter");
	LicFileHeader h = {0};
	LicCounter	e;
	int64		lost = 0;

	if (f == NULL)
		return;
	if (!jobspy_state_read(f, &h, sizeof(h)) || h.entry_size != sizeof(LicCounter) || h.count < 0)
		jobspy_state_damaged(f);
	for (int64 n = 0; n < h.count && jobspy_state_read(f, &e, sizeof(e)); n++)
	{
		uint32		hash = counter_hash(&e.id);
		LicCounter *slot = counter_find_in(e.dbid, hash % LIC_PARTITIONS, hash, &e.id, true);

		if (slot)
			*slot = e;
		else
			lost++;
	}
	if (!jobspy_state_read_close(f, "licence counter"))
		memset(counters, 0, sizeof(LicCounter) * (Size) licensing_max_counters);
	else if (lost > 0)
		ereport(LOG,
				(errmsg("licence validation counters of " INT64_FORMAT " licences and machines did not fit",
						lost),
				 errdetail("jobspy.licensing_licensing_max_counters is smaller than before the restart.")));
}

static void
lic_store_startup(void *segment, bool found)
{
	store = segment;
	counters = (LicCounter *) ((char *) segment + MAXALIGN(sizeof(LicStore)));
	if (!found)
	{
		LWLockPadded *locks = GetNamedLWLockTranche(LIC_SEGMENT);

		store->capacity = licensing_max_counters / LIC_PARTITIONS;
		for (int p = 0; p < LIC_PARTITIONS; p++)
			store->locks[p] = &locks[p].lock;
		memset(counters, 0, sizeof(LicCounter) * (Size) licensing_max_counters);
		lic_store_load();
	}
}

/* In the postmaster at shutdown: every other process is gone, no lock is needed. */
static void
lic_store_shutdown(void)
{
	JobspyStateFile *f;
	LicFileHeader h = {sizeof(LicCounter), 0, 0};

	if (store == NULL || !jobspy_cluster_shut_down_cleanly())
		return;
	for (int64 i = 0; i < licensing_max_counters; i++)
		if (memcmp(&counters[i].id, &zero_uuid, UUID_LEN) != 0)
			h.count++;
	f = jobspy_state_write_open(LIC_FILE, LIC_FILE_MAGIC, LIC_FILE_VERSION);
	jobspy_state_write(f, &h, sizeof(h));
	for (int64 i = 0; i < licensing_max_counters; i++)
		if (memcmp(&counters[i].id, &zero_uuid, UUID_LEN) != 0)
			jobspy_state_write(f, &counters[i], sizeof(LicCounter));
	jobspy_state_write_close(f);
}

void
lic_counters_full_error(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_JS_COUNTERS_FULL),
			 errmsg("the shared-memory table of validation counters is full"),
			 errhint("Run jobspy.maintain() more often, or raise jobspy.licensing_licensing_max_counters (restart).")));
}

void
lic_store_require(void)
{
	jobspy_require_preload("licence validation");
	if (store == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("licence validation counters are not available in this process")));
}


/* Takes the licence's partition lock exclusively. */
int32
lic_count_take(const LicRow *lic, TimestampTz now)
{
	uint32		h = counter_hash(&lic->id);
	int			p = h % LIC_PARTITIONS;
	int32		today = lic_utc_day(now);
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
			lic_counters_full_error();
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
 * Give back a count taken by lic_count_take (the machine was refused).  A flush
 * may have taken the count meanwhile (the refusal waited for the licence
 * row): pending then goes below zero and the next flush takes it off.
 */
void
lic_count_give_back(const LicRow *lic, TimestampTz now)
{
	uint32		h = counter_hash(&lic->id);
	int			p = h % LIC_PARTITIONS;
	LicCounter *e;

	LWLockAcquire(store->locks[p], LW_EXCLUSIVE);
	e = counter_find(p, h, &lic->id, false);
	if (e)
	{
		if (e->day == lic_utc_day(now) && e->day_count > 0)
			e->day_count--;
		e->pending--;
	}
	LWLockRelease(store->locks[p]);
}

/* Takes the machine's partition lock exclusively. */
bool
lic_machine_seen(const pg_uuid_t *machine, TimestampTz now)
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

/* Takes the entry's partition lock exclusively. */
bool
lic_store_give_back(const LicCounter *t)
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
	return e != NULL;
}


/*
 * The databases that have entries in the store but no longer exist: their
 * entries would never be flushed and would hold their slots for good.
 * Checked outside the partition locks (a catalog lookup may do I/O).
 */
int
lic_store_dropped_databases(Oid *dead)
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
take_partition(int p, int32 today, const Oid *dead, int ndead, void (*take) (const LicCounter *e))
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
			take(e);
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

/* Takes each partition's lock exclusively in turn. */
void
lic_store_take(int32 today, const Oid *dead, int ndead, void (*take) (const LicCounter *e))
{
	for (int p = 0; p < LIC_PARTITIONS; p++)
		take_partition(p, today, dead, ndead, take);
}

/* Takes the licence's partition lock in shared mode. */
int64
lic_store_day_count(const pg_uuid_t *id, int32 today)
{
	uint32		h = counter_hash(id);
	int			p = h % LIC_PARTITIONS;
	int64		count = -1;
	LicCounter *e;

	LWLockAcquire(store->locks[p], LW_SHARED);
	e = counter_find(p, h, id, false);
	if (e && !e->machine)
		count = e->day == today ? e->day_count : 0;
	LWLockRelease(store->locks[p]);
	return count;
}

void
lic_store_register(void)
{
	static const JobspyShmemSegment segment = {
		.name = LIC_SEGMENT,
		.size = lic_store_size,
		.nlocks = LIC_PARTITIONS,
		.startup = lic_store_startup,
		.shutdown = lic_store_shutdown,
	};

	jobspy_shmem_register(&segment);
}
