/*
 * licensing_store.c: the validation counters in shared memory, and their
 * state file across restarts.
 *
 * LIC_PARTITIONS partitions, each an open-addressing table of
 * licensing_max_counters / LIC_PARTITIONS entries under its own LWLock
 * (exclusive to change an entry, shared to read one).  Entries are removed
 * only when a flush compacts a partition (lic_store_take), so a probe stops
 * at the first free slot.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "common/hashfn.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/syscache.h"

#include "core.h"
#include "licensing.h"

#define LIC_SEGMENT "jobspy_licensing"
#define LIC_PARTITIONS 16

/*
 * A partition is filled to LIC_FILL_NUM/LIC_FILL_DEN at most: past that a
 * new entry first evicts one whose counts are already in the tables
 * (lic_evictable), looking at LIC_EVICT_SCAN entries at most from the
 * partition's clock hand; when none is found, the licence is counted in
 * its table row instead (lic_count_in_table).
 */
#define LIC_FILL_NUM 7
#define LIC_FILL_DEN 8
#define LIC_EVICT_SCAN 256
#define LIC_EVICT_SLOTS 64

typedef struct LicStore
{
	int32		capacity;		/* entries per partition */
	LWLock	   *locks[LIC_PARTITIONS];
	/* Under each partition's lock: */
	int32		used[LIC_PARTITIONS];
	int32		hand[LIC_PARTITIONS];	/* where the next eviction scan starts */

	/*
	 * Bumped when a licence entry whose hash falls on the slot is evicted,
	 * or when such a licence is counted in its table row: an entry made
	 * after that reads the row's count first (lic_count_take).
	 */
	uint32		gone[LIC_PARTITIONS][LIC_EVICT_SLOTS];
	/* Flushes that took counts and have not ended: their rows are not final. */
	pg_atomic_uint32 flushing;
	pg_atomic_uint64 evictions;
	pg_atomic_uint64 overflows;
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

static inline bool
counter_free(const LicCounter *e)
{
	return memcmp(&e->id, &zero_uuid, UUID_LEN) == 0;
}

static inline int32
counter_home(uint32 h)
{
	return (int32) ((h / LIC_PARTITIONS) % (uint32) store->capacity);
}

static inline uint32 *
gone_slot(int p, uint32 h)
{
	return &store->gone[p][(h / LIC_PARTITIONS / 4096) % LIC_EVICT_SLOTS];
}

/*
 * An entry may be evicted when its counts are in the tables for good:
 * nothing pending, and for a licence of today no flush still in flight (its
 * row would not show the count yet).  A machine's entry only carries its
 * last-seen time.
 */
static bool
lic_evictable(const LicCounter *e, int32 today)
{
	return e->pending == 0 &&
		(e->machine || e->day < today || pg_atomic_read_u32(&store->flushing) == 0);
}

/*
 * Remove entry i of partition p, moving later entries of its probe run back
 * (backward-shift deletion: a probe still stops at the first free slot).
 * The caller holds the partition's lock exclusively.
 */
static void
counter_remove(int p, int32 i)
{
	LicCounter *ents = part_counters(p);
	int32		cap = store->capacity;
	int32		j = i;

	for (;;)
	{
		int32		k;

		j = (j + 1) % cap;
		if (counter_free(&ents[j]))
			break;
		k = counter_home(counter_hash(&ents[j].id));
		/* ents[j] stays when its home lies cyclically in (i, j]. */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		ents[i] = ents[j];
		i = j;
	}
	memset(&ents[i], 0, sizeof(LicCounter));
	store->used[p]--;
}

/*
 * Evict one entry of partition p that lic_evictable allows, scanning from
 * the partition's clock hand; false when none of LIC_EVICT_SCAN is.  The
 * caller holds the partition's lock exclusively.
 */
static bool
counter_evict(int p, int32 today)
{
	LicCounter *ents = part_counters(p);
	int32		cap = store->capacity;

	for (int32 n = 0; n < Min(cap, LIC_EVICT_SCAN); n++)
	{
		int32		i = (store->hand[p] + n) % cap;
		LicCounter *e = &ents[i];

		if (counter_free(e) || !lic_evictable(e, today))
			continue;
		if (!e->machine)
			(*gone_slot(p, counter_hash(&e->id)))++;
		store->hand[p] = (i + 1) % cap;
		counter_remove(p, i);
		pg_atomic_fetch_add_u64(&store->evictions, 1);
		return true;
	}
	store->hand[p] = (store->hand[p] + LIC_EVICT_SCAN) % cap;
	return false;
}

/*
 * The entry of id in database dbid in partition p, made when create is set
 * (zeroed, for the caller to fill in), evicting another when the partition
 * is filled to its limit.  NULL when absent, or when no room can be made.
 * The caller holds the partition's lock (exclusively to create).
 */
static LicCounter *
counter_find_in(Oid dbid, int p, uint32 h, const pg_uuid_t *id, bool create, int32 today)
{
	LicCounter *ents = part_counters(p);
	int32		cap = store->capacity;
	int32		start = counter_home(h);
	int32		limit = (int32) ((int64) cap * LIC_FILL_NUM / LIC_FILL_DEN);

	for (int32 n = 0; n < cap; n++)
	{
		LicCounter *e = &ents[(start + n) % cap];

		if (memcmp(&e->id, id, UUID_LEN) == 0 && e->dbid == dbid)
			return e;
		if (counter_free(e))
			break;
	}
	if (!create)
		return NULL;
	if (store->used[p] >= limit && !counter_evict(p, today))
		return NULL;
	/* The first free slot of the probe run (an eviction may have moved it). */
	for (int32 n = 0; n < cap; n++)
	{
		LicCounter *e = &ents[(start + n) % cap];

		if (counter_free(e))
		{
			e->id = *id;
			e->dbid = dbid;
			store->used[p]++;
			return e;
		}
	}
	return NULL;
}

/* This database's entry of id, or NULL; the caller holds the partition's lock. */
static inline LicCounter *
counter_find(int p, uint32 h, const pg_uuid_t *id)
{
	return counter_find_in(MyDatabaseId, p, h, id, false, 0);
}

/* This database's entry of id, made when absent; NULL when there is no room. */
static inline LicCounter *
counter_make(int p, uint32 h, const pg_uuid_t *id, int32 today)
{
	return counter_find_in(MyDatabaseId, p, h, id, true, today);
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

static bool
lic_file_put(const void *entry)
{
	const LicCounter *e = entry;
	uint32		hash = counter_hash(&e->id);
	LicCounter *slot = counter_find_in(e->dbid, hash % LIC_PARTITIONS, hash, &e->id, true, 0);

	if (slot)
		*slot = *e;
	return slot != NULL;
}

static bool
lic_file_used(const void *entry)
{
	return !counter_free(entry);
}

static const JobspyStateTable lic_file = {
	.path = LIC_FILE, .magic = LIC_FILE_MAGIC, .version = LIC_FILE_VERSION, .what = "licence counter",
	.entry_size = sizeof(LicCounter), .used = lic_file_used, .put = lic_file_put,
};

static void
lic_store_load(void)
{
	int64		lost;

	if (!jobspy_state_load_table(&lic_file, &lost))
	{
		memset(counters, 0, sizeof(LicCounter) * (Size) licensing_max_counters);
		memset(store->used, 0, sizeof(store->used));
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

		store->capacity = licensing_max_counters / LIC_PARTITIONS;
		for (int p = 0; p < LIC_PARTITIONS; p++)
			store->locks[p] = &locks[p].lock;
		memset(store->used, 0, sizeof(store->used));
		memset(store->hand, 0, sizeof(store->hand));
		memset(store->gone, 0, sizeof(store->gone));
		pg_atomic_init_u32(&store->flushing, 0);
		pg_atomic_init_u64(&store->evictions, 0);
		pg_atomic_init_u64(&store->overflows, 0);
		memset(counters, 0, sizeof(LicCounter) * (Size) licensing_max_counters);
		lic_store_load();
	}
}

/* In the postmaster at shutdown: every other process is gone, no lock is needed. */
static void
lic_store_shutdown(void)
{
	if (store != NULL && jobspy_cluster_shut_down_cleanly())
		jobspy_state_save_table(&lic_file, counters, (Size) licensing_max_counters);
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


/*
 * Count one validation of the licence today, unless the day's maximum is
 * reached: the validations left after this one, -1 when none was left
 * (RATE_LIMITED), or LIC_NO_ROOM when the licence has no entry and none
 * can be made (the caller counts it in its row: lic_count_in_table).
 *
 * A new entry starts from the day's count in the licence row.  Once an
 * entry of this hash slot was evicted, or a licence of it counted in its
 * row, that count is read again, latest version and waiting for a writer
 * of the row (lic_latest_day_count), outside the lock; the gone counter of
 * the slot, unchanged when the lock is taken again, shows that no entry of
 * the licence came and went meanwhile.  Takes the licence's partition lock
 * exclusively.
 */
int32
lic_count_take(const LicRow *lic, TimestampTz now)
{
	uint32		h = counter_hash(&lic->id);
	int			p = h % LIC_PARTITIONS;
	int32		today = lic_utc_day(now);
	int32		left = -1;
	int64		latest = -1;
	uint32		gone_read = 0;
	LicCounter *e;

	for (;;)
	{
		LWLockAcquire(store->locks[p], LW_EXCLUSIVE);
		if ((e = counter_find(p, h, &lic->id)) != NULL)
			break;
		if (*gone_slot(p, h) != 0 && (latest < 0 || *gone_slot(p, h) != gone_read))
		{
			gone_read = *gone_slot(p, h);
			LWLockRelease(store->locks[p]);
			latest = lic_latest_day_count(&lic->id, today);
			continue;
		}
		if ((e = counter_make(p, h, &lic->id, today)) == NULL)
		{
			(*gone_slot(p, h))++;
			LWLockRelease(store->locks[p]);
			pg_atomic_fetch_add_u64(&store->overflows, 1);
			return LIC_NO_ROOM;
		}
		/* After a restart the day resumes from the last flush. */
		e->day = today;
		e->day_count = latest >= 0 ? latest : lic->stored_day == today ? lic->stored_on_day : 0;
		break;
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
 * After the caller counted the licence in its row (and holds the row's
 * lock): true when no entry of the licence was made meanwhile, and then
 * every entry made later reads the row again (the slot's gone counter
 * moves).  False when one was: the caller takes its count back from the
 * row and counts in the entry.  Takes the partition lock exclusively.
 */
bool
lic_store_confirm_in_table(const pg_uuid_t *id)
{
	uint32		h = counter_hash(id);
	int			p = h % LIC_PARTITIONS;
	bool		absent;

	LWLockAcquire(store->locks[p], LW_EXCLUSIVE);
	absent = counter_find(p, h, id) == NULL;
	if (absent)
		(*gone_slot(p, h))++;
	LWLockRelease(store->locks[p]);
	return absent;
}

/*
 * A warning, at most once a minute in a backend, that validations are
 * being counted in the licence rows: the store is too small for the
 * licences validated between two flushes.
 */
void
lic_store_warn_full(void)
{
	static TimestampTz last_warned = 0;
	TimestampTz now = GetCurrentTimestamp();

	if (now - last_warned < 60 * USECS_PER_SEC)
		return;
	last_warned = now;
	ereport(WARNING,
			(errcode(ERRCODE_JS_COUNTERS_FULL),
			 errmsg("the shared-memory table of validation counters is full"),
			 errdetail("Validations that find no room are counted in jobspy.licenses directly, a write each "
					   "(" UINT64_FORMAT " so far since the server started).",
					   pg_atomic_read_u64(&store->overflows)),
			 errhint("Raise jobspy.licensing_max_counters (restart), or run jobspy.maintain() more often.")));
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
	e = counter_find(p, h, &lic->id);
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
	e = counter_make(p, h, machine, lic_utc_day(now));
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
	e = counter_find(p, h, &t->id);
	if (e == NULL && (e = counter_make(p, h, &t->id, lic_utc_day(GetCurrentTimestamp()))) != NULL)
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
	store->used[p] = 0;
	for (int32 i = 0; i < nkeep; i++)
	{
		uint32		h = counter_hash(&keep[i].id);
		LicCounter *e = counter_find_in(keep[i].dbid, p, h, &keep[i].id, true, today);

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
	e = counter_find(p, h, id);
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

/*
 * A flush took counts in this transaction: until it ends, the rows it
 * writes are not final, and no licence entry of today is evicted.
 */
void
lic_store_flush_begin(void)
{
	pg_atomic_fetch_add_u32(&store->flushing, 1);
}

/* The transaction of a flush ended (after an abort gave its counts back). */
void
lic_store_flush_end(void)
{
	pg_atomic_fetch_sub_u32(&store->flushing, 1);
}
