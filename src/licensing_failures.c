/*
 * licensing_failures.c: failed validations counted in shared memory, one
 * count per database, UTC day, licence, key hint and code, until a flush
 * (licensing_flush.c) adds them to jobspy.license_validation_failures; and
 * the clock that picks which failures the validation log samples.
 *
 * A failure costs a partition lock and an addition, not a durable write.
 * FAIL_PARTITIONS open-addressing tables of
 * licensing_failure_counters / FAIL_PARTITIONS entries each, filled to 7/8
 * at most.  A failure that finds its partition at that limit (a flood of
 * distinct keys between two flushes) spills it: the validating backend
 * writes its database's counts of that partition to the table in one
 * INSERT (lic_fail_spill, licensing_flush.c) and counts the failure in the
 * room that leaves, so that every count stays exact per licence, hint and
 * code at one batched write per partition-full.  Only where nothing may be
 * written (a read-only transaction) is a failure counted without its hint
 * instead (lic_fail_count_coarse).  Entries are never removed one by one: a
 * flush or a spill takes a partition's entries of its database and compacts
 * the rest, so a probe stops at the first free slot.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "common/hashfn.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "core.h"
#include "licensing.h"

#define FAIL_SEGMENT "jobspy_licensing_failures"
#define FAIL_PARTITIONS 16
#define FAIL_FILL_NUM 7
#define FAIL_FILL_DEN 8

int			licensing_failure_counters = 65536;
int			licensing_failure_log_every = 100;
int			licensing_failure_log_per_second = 10;

/* The codes a failure can have, in the order of the checks; VALID is none. */
static const char *const fail_codes[] = {
	"MALFORMED", "NOT_FOUND", "REVOKED", "SUSPENDED", "EXPIRED", "USER_SUSPENDED",
	"FINGERPRINT_REQUIRED", "RATE_LIMITED", "TOO_MANY_MACHINES",
};

typedef struct FailStore
{
	int32		capacity;		/* entries per partition */
	LWLock	   *locks[FAIL_PARTITIONS];
	int32		used[FAIL_PARTITIONS];	/* under each partition's lock */
	pg_atomic_uint64 seen;		/* failures answered: the sampling clock */
	pg_atomic_uint64 logged;	/* the second of the last logged failure << 24 | how many then */
	pg_atomic_uint64 overflows; /* failures counted without their hint */
} FailStore;

static FailStore *fstore = NULL;
static LicFailure *failures = NULL;


int
lic_fail_code(const char *code)
{
	for (int i = 0; i < (int) lengthof(fail_codes); i++)
		if (strcmp(fail_codes[i], code) == 0)
			return i + 1;
	elog(ERROR, "\"%s\" is not a validation failure code", code);
	return 0;					/* keep the compiler quiet */
}

const char *
lic_fail_code_name(int code)
{
	Assert(code >= 1 && code <= (int) lengthof(fail_codes));
	return fail_codes[code - 1];
}

static inline bool
fail_free(const LicFailure *f)
{
	return f->key.code == 0;
}

static inline uint32
fail_hash(const LicFailKey *key)
{
	return hash_bytes((const unsigned char *) key, sizeof(LicFailKey));
}

/*
 * The entry of key in partition p, made (with a zero count) when absent and
 * the partition is below its fill limit, unless limited is false; NULL when
 * there is no room.  The caller holds the partition's lock exclusively.
 */
static LicFailure *
fail_find(int p, uint32 h, const LicFailKey *key, bool limited)
{
	LicFailure *ents = failures + (Size) p * fstore->capacity;
	int32		cap = fstore->capacity;
	int32		start = (int32) ((h / FAIL_PARTITIONS) % (uint32) cap);
	LicFailure *e = NULL;

	for (int32 n = 0; n < cap; n++)
	{
		e = &ents[(start + n) % cap];
		if (fail_free(e))
			break;
		if (memcmp(&e->key, key, sizeof(LicFailKey)) == 0)
			return e;
	}
	if (e == NULL || !fail_free(e) ||
		(limited && fstore->used[p] >= (int32) ((int64) cap * FAIL_FILL_NUM / FAIL_FILL_DEN)))
		return NULL;
	e->key = *key;
	e->count = 0;
	e->last_at = 0;
	fstore->used[p]++;
	return e;
}

/* Add count failures of key at last_at; false when the partition is full. */
static bool
fail_put(int p, uint32 h, const LicFailKey *key, int64 count, TimestampTz last_at, bool limited)
{
	LicFailure *e = fail_find(p, h, key, limited);

	if (e == NULL)
		return false;
	e->count += count;
	if (last_at > e->last_at)
		e->last_at = last_at;
	return true;
}

/* The same under the partition's lock. */
static bool
fail_add(const LicFailKey *key, int64 count, TimestampTz last_at, bool limited)
{
	uint32		h = fail_hash(key);
	int			p = h % FAIL_PARTITIONS;
	bool		done;

	LWLockAcquire(fstore->locks[p], LW_EXCLUSIVE);
	done = fail_put(p, h, key, count, last_at, limited);
	LWLockRelease(fstore->locks[p]);
	return done;
}

/* Count one failure under its key hint; false when its partition is at the fill limit. */
bool
lic_fail_count(const LicFailKey *key, TimestampTz now)
{
	return fail_add(key, 1, now, true);
}

/*
 * Count one failure that found its partition at the fill limit and may not
 * spill it: without its key hint (one entry per licence and code), past the
 * limit if need be, with a warning.  False only when the partition is full
 * to its last slot.
 */
bool
lic_fail_count_coarse(const LicFailKey *key, TimestampTz now)
{
	LicFailKey	coarse = *key;

	lic_fail_note_full();
	memset(coarse.hint, 0, sizeof(coarse.hint));
	return fail_add(&coarse, 1, now, false);
}

/* A flush that rolled back puts back what it took, past the fill limit if need be. */
bool
lic_fail_give_back(const LicFailure *taken)
{
	return fail_add(&taken->key, taken->count, taken->last_at, false);
}

/*
 * Whether this failure goes to the validation log: every
 * licensing_failure_log_every-th failure answered by the server (all
 * backends, all databases), none when 0, and at most
 * licensing_failure_log_per_second of them in a second of the server's
 * clock (no cap when 0), so that a flood of failures costs a bounded number
 * of durable writes a second however fast it comes.
 */
bool
lic_fail_sampled(void)
{
	uint64		n = pg_atomic_add_fetch_u64(&fstore->seen, 1);
	uint64		second;
	uint64		old;

	if (licensing_failure_log_every <= 0 || n % (uint64) licensing_failure_log_every != 0)
		return false;
	if (licensing_failure_log_per_second <= 0)
		return true;
	second = (uint64) (GetCurrentTimestamp() / USECS_PER_SEC);
	old = pg_atomic_read_u64(&fstore->logged);
	for (;;)
	{
		uint64		now = (old >> 24) == second ? old + 1 : (second << 24) | 1;

		if ((now & 0xFFFFFF) > (uint64) licensing_failure_log_per_second)
			return false;
		if (pg_atomic_compare_exchange_u64(&fstore->logged, &old, now))
			return true;
	}
}

/*
 * A failure found its partition at the fill limit: counted, and a warning
 * at most once a minute per backend (the table fills between flushes).
 */
void
lic_fail_note_full(void)
{
	static TimestampTz last_warned = 0;
	TimestampTz now = GetCurrentTimestamp();

	pg_atomic_fetch_add_u64(&fstore->overflows, 1);
	if (now - last_warned < 60 * USECS_PER_SEC)
		return;
	last_warned = now;
	ereport(WARNING,
			(errcode(ERRCODE_JS_COUNTERS_FULL),
			 errmsg("the shared-memory table of failed validation counts is full"),
			 errdetail("Counts are written to jobspy.license_validation_failures as a partition fills "
					   "(a write per partition-full; in a read-only transaction failures are counted "
					   "without their key hint); " UINT64_FORMAT " failures found it full since the server started.",
					   pg_atomic_read_u64(&fstore->overflows)),
			 errhint("Raise jobspy.licensing_failure_counters (restart), or run jobspy.maintain() more often.")));
}

/*
 * Take partition p's counts of this database out, calling take() for each
 * (under the partition's lock: take() must not wait), drop those of the
 * dropped databases, and compact what stays.  keep has room for a partition.
 */
static void
take_partition(int p, const Oid *dead, int ndead, void (*take) (const LicFailure *f), LicFailure *keep)
{
	int32		cap = fstore->capacity;
	LicFailure *ents = failures + (Size) p * cap;
	int32		nkeep = 0;

	LWLockAcquire(fstore->locks[p], LW_EXCLUSIVE);
	for (int32 i = 0; i < cap; i++)
	{
		bool		dropped = false;

		if (fail_free(&ents[i]))
			continue;
		if (ents[i].key.dbid == MyDatabaseId)
		{
			take(&ents[i]);
			continue;
		}
		for (int k = 0; k < ndead && !dropped; k++)
			dropped = (dead[k] == ents[i].key.dbid);
		if (!dropped)
			keep[nkeep++] = ents[i];
	}
	memset(ents, 0, sizeof(LicFailure) * (Size) cap);
	fstore->used[p] = 0;
	for (int32 i = 0; i < nkeep; i++)
		*fail_find(p, fail_hash(&keep[i].key), &keep[i].key, false) = keep[i];
	LWLockRelease(fstore->locks[p]);
}

/* Take this database's counts out of the store, dropping those of dropped databases. */
void
lic_fail_take(const Oid *dead, int ndead, void (*take) (const LicFailure *f))
{
	LicFailure *keep = palloc(sizeof(LicFailure) * (Size) fstore->capacity);

	for (int p = 0; p < FAIL_PARTITIONS; p++)
		take_partition(p, dead, ndead, take, keep);
	pfree(keep);
}

/* Take this database's counts out of the partition that holds key's (a spill). */
void
lic_fail_take_partition_of(const LicFailKey *key, void (*take) (const LicFailure *f))
{
	LicFailure *keep = palloc(sizeof(LicFailure) * (Size) fstore->capacity);

	take_partition(fail_hash(key) % FAIL_PARTITIONS, NULL, 0, take, keep);
	pfree(keep);
}

/* The databases with counts here; for the flush's look for dropped ones. */
int
lic_fail_databases(Oid *dbs, int max)
{
	int			n = 0;

	for (int p = 0; p < FAIL_PARTITIONS; p++)
	{
		LicFailure *ents = failures + (Size) p * fstore->capacity;

		LWLockAcquire(fstore->locks[p], LW_SHARED);
		for (int32 i = 0; i < fstore->capacity && n < max; i++)
		{
			bool		known = fail_free(&ents[i]) || ents[i].key.dbid == MyDatabaseId;

			for (int k = 0; k < n && !known; k++)
				known = (dbs[k] == ents[i].key.dbid);
			if (!known)
				dbs[n++] = ents[i].key.dbid;
		}
		LWLockRelease(fstore->locks[p]);
	}
	return n;
}

/*
 * Restarts, as for the validation counters (licensing_store.c): a clean
 * shutdown saves the counts not yet flushed, the next start reads them
 * back; after a crash or an immediate stop they are lost.
 */
#define FAIL_FILE "pg_stat/jobspy_licensing_failures.stat"
#define FAIL_FILE_MAGIC 0x4a534646	/* "JSFF" */
#define FAIL_FILE_VERSION 1

/* At startup, before any backend: no lock is needed. */
static bool
fail_file_put(const void *entry)
{
	const LicFailure *e = entry;
	uint32		hash = fail_hash(&e->key);

	return !fail_free(e) && fail_put(hash % FAIL_PARTITIONS, hash, &e->key, e->count, e->last_at, true);
}

static bool
fail_file_used(const void *entry)
{
	return !fail_free(entry);
}

static const JobspyStateTable fail_file = {
	.path = FAIL_FILE, .magic = FAIL_FILE_MAGIC, .version = FAIL_FILE_VERSION,
	.what = "failed validation count", .entry_size = sizeof(LicFailure),
	.used = fail_file_used, .put = fail_file_put,
};

static void
fail_load(void)
{
	int64		lost;

	/* A damaged file must not leave half its counts behind. */
	if (!jobspy_state_load_table(&fail_file, &lost))
	{
		memset(failures, 0, sizeof(LicFailure) * (Size) licensing_failure_counters);
		memset(fstore->used, 0, sizeof(fstore->used));
	}
	else if (lost > 0)
		ereport(LOG,
				(errmsg("failed validation counts of " INT64_FORMAT " keys did not fit after the restart", lost),
				 errdetail("jobspy.licensing_failure_counters is smaller than before the restart.")));
}

/* In the postmaster at shutdown: every other process is gone, no lock is needed. */
static void
fail_shutdown(void)
{
	if (fstore != NULL && jobspy_cluster_shut_down_cleanly())
		jobspy_state_save_table(&fail_file, failures, (Size) fstore->capacity * FAIL_PARTITIONS);
}

static Size
fail_size(void)
{
	return add_size(MAXALIGN(sizeof(FailStore)), mul_size(sizeof(LicFailure), licensing_failure_counters));
}

static void
fail_startup(void *segment, bool found)
{
	fstore = segment;
	failures = (LicFailure *) ((char *) segment + MAXALIGN(sizeof(FailStore)));
	if (!found)
	{
		LWLockPadded *locks = GetNamedLWLockTranche(FAIL_SEGMENT);

		fstore->capacity = licensing_failure_counters / FAIL_PARTITIONS;
		for (int p = 0; p < FAIL_PARTITIONS; p++)
			fstore->locks[p] = &locks[p].lock;
		memset(fstore->used, 0, sizeof(fstore->used));
		pg_atomic_init_u64(&fstore->seen, 0);
		pg_atomic_init_u64(&fstore->logged, 0);
		pg_atomic_init_u64(&fstore->overflows, 0);
		memset(failures, 0, sizeof(LicFailure) * (Size) licensing_failure_counters);
		fail_load();
	}
}

void
lic_fail_register(void)
{
	static const JobspyShmemSegment segment = {
		.name = FAIL_SEGMENT,
		.size = fail_size,
		.nlocks = FAIL_PARTITIONS,
		.startup = fail_startup,
		.shutdown = fail_shutdown,
	};

	jobspy_shmem_register(&segment);
}

void
lic_fail_require(void)
{
	if (fstore == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("failed validation counts are not available in this process")));
}
