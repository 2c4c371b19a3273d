/*
 * ratelimit_store.c: the rate limiter's shared-memory store.
 *
 * A fixed-size hash table in one shared-memory segment, registered with the
 * core's registry and sized by the jobspy.ratelimit_max_keys GUC.  It is
 * split into RATE_PARTITIONS partitions by the key's hash; each partition
 * owns capacity entries (96 bytes each), a power-of-two array of bucket
 * heads (int32 indexes, chained through RateEntry.next), a free list and an
 * eviction hand.  A key's whole rate state is one int64, its theoretical
 * arrival time (see gcra.c).  Keys of up to RATE_KEY_INLINE bytes are kept
 * as they are; longer keys are kept as their BLAKE2b-256 digest.  Rule
 * windows (check_rate_limit) use a binary key: rule id, user id, window.
 * Every key belongs to the database it was made in (its oid is part of
 * the key and of the hash), so that databases of one cluster never share
 * rate state; the views and resets see only their own database's keys.
 * Keys are hashed with a seed drawn at each server start (saved entries are
 * rehashed when loaded), so that nobody can pick keys that pile up in one
 * chain.
 *
 * Memory per key: 96 bytes of entry, at most 8 of bucket array (a power of
 * two at least as large as the capacity), plus a fixed header and
 * RATE_PARTITIONS LWLocks shared by all keys; jobspy.rate_limit_store()
 * reports the total divided by max_keys: 105 bytes for the smallest store
 * allowed, less for larger ones, never more than 112 (partitions round
 * max_keys up to a multiple of 32).
 *
 * Locking rules.  Each partition's LWLock (from the registry's tranche)
 * protects everything in that partition: bucket heads, entries, free list,
 * used count and hand.  Deciding takes it exclusively, reading (peek, the
 * view) shares it.  A call that needs several keys (check_rate_limit) locks
 * their distinct partitions in ascending partition order and releases them
 * in reverse, so two such calls can never wait for each other in a cycle.
 * The store-wide counters are atomics and need no lock.  Nothing else is
 * held while a partition lock is held, and no error is raised under one.
 *
 * Eviction.  When a partition has no free entry, an entry whose TAT is not
 * in the future (its bucket is full again, so it carries no rate
 * information) is evicted, found by a sweep of the hand; what happens when
 * there is none is ratelimit.c's business (jobspy.ratelimit_when_full).
 *
 * Restarts.  The postmaster writes the store to RATE_FILE at a clean
 * shutdown (one that ended with a shutdown checkpoint) and the next start
 * reads it back and removes it (the core's state file, core_state.c); after
 * a crash or an immediate stop no file is written, so the store starts
 * empty.
 */
#include "postgres.h"

#include <sodium.h>

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "common/hashfn.h"
#include "port/atomics.h"
#include "port/pg_bitutils.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "core.h"
#include "gcra.h"
#include "ratelimit.h"
#include "ratelimit_store.h"

#define RATE_FILE "pg_stat/jobspy_ratelimit.stat"
#define RATE_FILE_MAGIC 0x4a535231	/* "JSR1" */
/* Version 2 keys each entry by database; a version 1 file is not read. */
#define RATE_FILE_VERSION 2

/* GUCs, static boot values. */
static int	ratelimit_max_keys = 100000;
static bool ratelimit_save = true;

RateStore  *rl_store = NULL;
RateEntry  *rl_store_entries = NULL;
int32	   *rl_store_buckets = NULL;

/* ---- sizing and layout ------------------------------------------------ */

static int32
rate_capacity(int64 max_keys)
{
	return (int32) ((max_keys + RATE_PARTITIONS - 1) / RATE_PARTITIONS);
}

static Size
rate_store_size(void)
{
	int32		cap = rate_capacity(ratelimit_max_keys);
	uint32		nb = pg_nextpower2_32((uint32) cap);
	Size		size = MAXALIGN(sizeof(RateStore));

	size = add_size(size, mul_size(mul_size(RATE_PARTITIONS, cap), sizeof(RateEntry)));
	size = add_size(size, mul_size(mul_size(RATE_PARTITIONS, nb), sizeof(int32)));
	return size;
}

static inline int32 *
bucket_of(int p, uint32 hash)
{
	return &part_buckets(p)[(hash >> RATE_PART_BITS) & (rl_store->nbuckets - 1)];
}

/* ---- keys --------------------------------------------------------------- */

static void
key_hash(RateKey *k)
{
	k->hash = hash_combine(hash_combine((uint32) k->kind, (uint32) k->dbid),
						   (uint32) hash_bytes_extended((const unsigned char *) k->bytes, k->len,
														rl_store->hash_seed));
}

void
rl_key_from_text(const char *s, size_t len, RateKey *k)
{
	k->dbid = MyDatabaseId;
	if (len <= RATE_KEY_INLINE)
	{
		k->kind = KIND_TEXT;
		k->len = (uint8) len;
		memcpy(k->bytes, s, len);
	}
	else
	{
		k->kind = KIND_DIGEST;
		k->len = RATE_DIGEST_BYTES;
		crypto_generichash((unsigned char *) k->bytes, RATE_DIGEST_BYTES,
						   (const unsigned char *) s, len, NULL, 0);
	}
	key_hash(k);
}

void
rl_key_for_window(const pg_uuid_t *rule, const pg_uuid_t *user, char window, RateKey *k)
{
	k->dbid = MyDatabaseId;
	k->kind = KIND_WINDOW;
	k->len = 2 * UUID_LEN + 1;
	memcpy(k->bytes, rule->data, UUID_LEN);
	memcpy(k->bytes + UUID_LEN, user->data, UUID_LEN);
	k->bytes[2 * UUID_LEN] = window;
	key_hash(k);
}

/* ---- partition operations (caller holds the partition lock) ----------- */

/* The index of key k in partition p, or -1.  Caller holds p's lock, shared or exclusive. */
int32
rl_part_find(int p, const RateKey *k)
{
	RateEntry  *ents = part_entries(p);
	int32		i = *bucket_of(p, k->hash);

	while (i >= 0)
	{
		RateEntry  *e = &ents[i];

		if (e->hash == k->hash && e->dbid == k->dbid && e->kind == k->kind && e->keylen == k->len &&
			memcmp(e->key, k->bytes, k->len) == 0)
			return i;
		i = e->next;
	}
	return -1;
}

/* Free entry i of partition p.  Caller holds p's lock exclusively. */
void
rl_part_remove(int p, int32 i)
{
	RatePartition *part = &rl_store->parts[p];
	RateEntry  *ents = part_entries(p);
	int32	   *slot = bucket_of(p, ents[i].hash);

	while (*slot != i)
		slot = &ents[*slot].next;
	*slot = ents[i].next;
	ents[i].kind = KIND_FREE;
	ents[i].next = part->free_head;
	part->free_head = i;
	part->used--;
}

static bool
is_pinned(int32 i, const int32 *pinned, int npinned)
{
	for (int j = 0; j < npinned; j++)
		if (pinned[j] == i)
			return true;
	return false;
}

/*
 * Add key k to partition p and return its index, evicting an entry whose
 * bucket is full again when there is no free one (never one of pinned).
 * Returns -1 when every entry is active; *min_tat is then the earliest
 * time one of them becomes evictable.  Caller holds p's lock exclusively.
 */
int32
rl_part_insert(int p, const RateKey *k, int64 now, const int32 *pinned, int npinned,
			int64 *min_tat)
{
	RatePartition *part = &rl_store->parts[p];
	RateEntry  *ents = part_entries(p);
	RateEntry  *e;
	int32	   *head;
	int32		i;

	if (part->free_head < 0)
	{
		int32		victim = -1;
		int64		earliest = PG_INT64_MAX;

		for (int32 n = 0; n < rl_store->capacity; n++)
		{
			int32		c = part->hand;

			part->hand = (c + 1 == rl_store->capacity) ? 0 : c + 1;
			if (is_pinned(c, pinned, npinned))
				continue;
			if (ents[c].tat <= now)
			{
				victim = c;
				break;
			}
			earliest = Min(earliest, ents[c].tat);
		}
		if (victim < 0)
		{
			*min_tat = earliest;
			return -1;
		}
		rl_part_remove(p, victim);
		pg_atomic_fetch_add_u64(&rl_store->evictions, 1);
	}

	i = part->free_head;
	e = &ents[i];
	part->free_head = e->next;
	part->used++;
	e->hash = k->hash;
	e->dbid = k->dbid;
	e->kind = k->kind;
	e->keylen = k->len;
	memcpy(e->key, k->bytes, k->len);
	e->tat = GCRA_EMPTY;
	e->allowed = 0;
	e->denied = 0;
	head = bucket_of(p, k->hash);
	e->next = *head;
	*head = i;
	return i;
}

static void
part_clear(int p)
{
	RatePartition *part = &rl_store->parts[p];
	RateEntry  *ents = part_entries(p);
	int32	   *b = part_buckets(p);

	for (uint32 j = 0; j < rl_store->nbuckets; j++)
		b[j] = -1;
	for (int32 i = 0; i < rl_store->capacity; i++)
	{
		ents[i].kind = KIND_FREE;
		ents[i].next = (i + 1 < rl_store->capacity) ? i + 1 : -1;
	}
	part->free_head = 0;
	part->used = 0;
	part->hand = 0;
}

/* ---- preconditions and the clock ------------------------------------------ */

void
ratelimit_require(void)
{
	jobspy_require_preload("the rate limiter");
	if (rl_store == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the rate limiter's shared memory is not available"),
				 errdetail("The server started without jobspy_core's shared memory (for instance under pg_upgrade)."),
				 errhint("Restart the server normally with jobspy_core in shared_preload_libraries.")));
}

int64
ratelimit_now_ns(void)
{
	int128		ns = (int128) jobspy_wall_now() * NS_PER_US;

	if (ns > GCRA_MAX_SPAN || ns < -GCRA_MAX_SPAN)
		ereport(ERROR,
				(errcode(ERRCODE_JS_RATELIMIT_CLOCK_RANGE),
				 errmsg("the clock is outside the range the rate limiter supports"),
				 errdetail("The rate limiter works between the years 1854 and 2145."),
				 errhint("Check jobspy.clock_override.")));
	return (int64) ns;
}

static TimestampTz
ns_to_timestamp(int64 ns)
{
	/* Rounded up: the bucket is full at or after this instant. */
	return ns / NS_PER_US + (ns % NS_PER_US > 0);
}

/* ---- observing the store ------------------------------------------------- */

/*
 * Every key of the store.  Copies each partition under its lock (shared),
 * one at a time, and builds the rows after releasing it.
 */
PG_FUNCTION_INFO_V1(jobspy_rate_limit_entries);
Datum
jobspy_rate_limit_entries(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RateEntry  *copy;
	int64		now;

	ratelimit_require();
	InitMaterializedSRF(fcinfo, 0);
	now = ratelimit_now_ns();
	copy = palloc(sizeof(RateEntry) * rl_store->capacity);

	for (int p = 0; p < RATE_PARTITIONS; p++)
	{
		int32		n = 0;
		RateEntry  *ents = part_entries(p);

		LWLockAcquire(rl_store->parts[p].lock, LW_SHARED);
		for (int32 i = 0; i < rl_store->capacity; i++)
			if (ents[i].kind != KIND_FREE && ents[i].dbid == MyDatabaseId)
				copy[n++] = ents[i];
		LWLockRelease(rl_store->parts[p].lock);

		for (int32 i = 0; i < n; i++)
		{
			RateEntry  *e = &copy[i];
			Datum		values[9];
			bool		nulls[9] = {true, true, true, true, true, true, false, false, false};

			if (e->kind == KIND_TEXT)
			{
				values[0] = PointerGetDatum(cstring_to_text_with_len(e->key, e->keylen));
				nulls[0] = false;
			}
			else if (e->kind == KIND_DIGEST)
			{
				bytea	   *b = palloc(VARHDRSZ + e->keylen);

				SET_VARSIZE(b, VARHDRSZ + e->keylen);
				memcpy(VARDATA(b), e->key, e->keylen);
				values[1] = PointerGetDatum(b);
				nulls[1] = false;
			}
			else if (e->kind == KIND_WINDOW)
			{
				pg_uuid_t  *rule = palloc(sizeof(pg_uuid_t));
				pg_uuid_t  *user = palloc(sizeof(pg_uuid_t));

				memcpy(rule->data, e->key, UUID_LEN);
				memcpy(user->data, e->key + UUID_LEN, UUID_LEN);
				values[2] = UUIDPGetDatum(rule);
				values[3] = UUIDPGetDatum(user);
				values[4] = CStringGetTextDatum(e->key[2 * UUID_LEN] == WINDOW_HOUR ? "hour" : "day");
				nulls[2] = nulls[3] = nulls[4] = false;
			}
			if (e->tat != GCRA_EMPTY)
			{
				values[5] = TimestampTzGetDatum(ns_to_timestamp(e->tat));
				nulls[5] = false;
			}
			values[6] = BoolGetDatum(e->tat != GCRA_EMPTY && e->tat > now);
			values[7] = Int64GetDatum(e->allowed);
			values[8] = Int64GetDatum(e->denied);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	return (Datum) 0;
}

/* The store's size and counters; takes each partition lock shared in turn. */
PG_FUNCTION_INFO_V1(jobspy_rate_limit_store);
Datum
jobspy_rate_limit_store(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[10];
	bool		nulls[10] = {false, false, false, false, false, false, false, false, false, false};
	int64		tracked = 0;
	int64		active = 0;
	int64		now;
	int64		bytes;

	ratelimit_require();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	now = ratelimit_now_ns();
	for (int p = 0; p < RATE_PARTITIONS; p++)
	{
		RateEntry  *ents = part_entries(p);

		LWLockAcquire(rl_store->parts[p].lock, LW_SHARED);
		tracked += rl_store->parts[p].used;
		for (int32 i = 0; i < rl_store->capacity; i++)
			if (ents[i].kind != KIND_FREE && ents[i].tat != GCRA_EMPTY && ents[i].tat > now)
				active++;
		LWLockRelease(rl_store->parts[p].lock);
	}
	/* The segment plus the partitions' LWLocks, which live elsewhere. */
	bytes = (int64) rate_store_size() + (int64) RATE_PARTITIONS * sizeof(LWLockPadded);

	values[0] = Int64GetDatum(rl_store->max_keys);
	values[1] = Int32GetDatum(RATE_PARTITIONS);
	values[2] = Int64GetDatum(tracked);
	values[3] = Int64GetDatum(active);
	values[4] = Int64GetDatum(bytes);
	values[5] = Int32GetDatum((int32) ((bytes + rl_store->max_keys - 1) / rl_store->max_keys));
	values[6] = Int64GetDatum((int64) pg_atomic_read_u64(&rl_store->evictions));
	values[7] = Int64GetDatum((int64) pg_atomic_read_u64(&rl_store->full_allowed));
	values[8] = Int64GetDatum((int64) pg_atomic_read_u64(&rl_store->full_denied));
	values[9] = TimestampTzGetDatum((TimestampTz) pg_atomic_read_u64(&rl_store->stats_reset));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}

/* Zero the counters; takes each partition lock exclusively in turn. */
PG_FUNCTION_INFO_V1(jobspy_rate_limit_stats_reset);
Datum
jobspy_rate_limit_stats_reset(PG_FUNCTION_ARGS)
{
	ratelimit_require();
	for (int p = 0; p < RATE_PARTITIONS; p++)
	{
		RateEntry  *ents = part_entries(p);

		LWLockAcquire(rl_store->parts[p].lock, LW_EXCLUSIVE);
		for (int32 i = 0; i < rl_store->capacity; i++)
			if (ents[i].dbid == MyDatabaseId)
				ents[i].allowed = ents[i].denied = 0;
		LWLockRelease(rl_store->parts[p].lock);
	}

	/*
	 * The store-wide counters belong to every database: only a superuser
	 * zeroes them.
	 */
	if (!superuser())
		PG_RETURN_VOID();
	pg_atomic_write_u64(&rl_store->evictions, 0);
	pg_atomic_write_u64(&rl_store->full_allowed, 0);
	pg_atomic_write_u64(&rl_store->full_denied, 0);
	pg_atomic_write_u64(&rl_store->stats_reset, (uint64) GetCurrentTimestamp());
	PG_RETURN_VOID();
}

/* ---- shared memory: startup, load, save ----------------------------------- */

/* What follows the state file's magic and version (core_state.c). */
typedef struct RateFileHeader
{
	uint32		entry_size;
	uint32		pad;
	uint64		evictions;
	uint64		full_allowed;
	uint64		full_denied;
	uint64		stats_reset;
	int64		count;
} RateFileHeader;

/* Put a saved entry back; false when its partition is full. */
static bool
rate_restore_entry(const RateEntry *saved)
{
	RateKey		k;
	int			p;
	int32		i;
	int64		unused;

	if (saved->kind == KIND_FREE || saved->kind > KIND_WINDOW || saved->keylen > RATE_KEY_INLINE)
		return false;
	k.dbid = saved->dbid;
	k.kind = saved->kind;
	k.len = saved->keylen;
	memcpy(k.bytes, saved->key, k.len);
	key_hash(&k);
	p = key_partition(&k);
	if (rl_store->parts[p].free_head < 0 || rl_part_find(p, &k) >= 0)
		return false;
	i = rl_part_insert(p, &k, PG_INT64_MIN, NULL, 0, &unused);
	if (i < 0)
		return false;
	part_entries(p)[i].tat = saved->tat;
	part_entries(p)[i].allowed = saved->allowed;
	part_entries(p)[i].denied = saved->denied;
	return true;
}

static void
rate_store_load(void)
{
	JobspyStateFile *f = jobspy_state_read_open(RATE_FILE, RATE_FILE_MAGIC, RATE_FILE_VERSION,
											  "rate-limit state");
	RateFileHeader h;
	RateEntry	e;
	int64		kept = 0;

	if (f == NULL)
		return;
	memset(&h, 0, sizeof(h));
	if (!jobspy_state_read(f, &h, sizeof(h)) || h.entry_size != sizeof(RateEntry) || h.count < 0)
		jobspy_state_damaged(f);
	for (int64 n = 0; n < h.count && jobspy_state_read(f, &e, sizeof(e)); n++)
		kept += rate_restore_entry(&e);
	if (!jobspy_state_read_close(f, "rate-limit state"))
	{
		for (int p = 0; p < RATE_PARTITIONS; p++)
			part_clear(p);
		return;
	}
	pg_atomic_write_u64(&rl_store->evictions, h.evictions);
	pg_atomic_write_u64(&rl_store->full_allowed, h.full_allowed);
	pg_atomic_write_u64(&rl_store->full_denied, h.full_denied);
	pg_atomic_write_u64(&rl_store->stats_reset, h.stats_reset);
	if (kept < h.count)
		ereport(LOG,
				(errmsg("rate-limit store restored " INT64_FORMAT " of " INT64_FORMAT " keys",
						kept, h.count),
				 errdetail("jobspy.ratelimit_max_keys is too small for the saved keys.")));
}

static void
rate_store_startup(void *segment, bool found)
{
	rl_store = (RateStore *) segment;
	if (!found)
	{
		LWLockPadded *locks = GetNamedLWLockTranche(RATE_SEGMENT);

		randombytes_buf(&rl_store->hash_seed, sizeof(rl_store->hash_seed));
		rl_store->max_keys = ratelimit_max_keys;
		rl_store->capacity = rate_capacity(ratelimit_max_keys);
		rl_store->nbuckets = pg_nextpower2_32((uint32) rl_store->capacity);
		pg_atomic_init_u64(&rl_store->evictions, 0);
		pg_atomic_init_u64(&rl_store->full_allowed, 0);
		pg_atomic_init_u64(&rl_store->full_denied, 0);
		pg_atomic_init_u64(&rl_store->stats_reset, (uint64) GetCurrentTimestamp());
		for (int p = 0; p < RATE_PARTITIONS; p++)
			rl_store->parts[p].lock = &locks[p].lock;
	}
	rl_store_entries = (RateEntry *) ((char *) rl_store + MAXALIGN(sizeof(RateStore)));
	rl_store_buckets = (int32 *) (rl_store_entries + (Size) RATE_PARTITIONS * rl_store->capacity);
	if (!found)
	{
		for (int p = 0; p < RATE_PARTITIONS; p++)
			part_clear(p);
		rate_store_load();
	}
}

/* In the postmaster at shutdown: every other process is gone, no lock is needed. */
static void
rate_store_shutdown(void)
{
	JobspyStateFile *f;
	RateFileHeader h;

	if (rl_store == NULL || !ratelimit_save || !jobspy_cluster_shut_down_cleanly())
		return;
	memset(&h, 0, sizeof(h));
	h.entry_size = sizeof(RateEntry);
	h.evictions = pg_atomic_read_u64(&rl_store->evictions);
	h.full_allowed = pg_atomic_read_u64(&rl_store->full_allowed);
	h.full_denied = pg_atomic_read_u64(&rl_store->full_denied);
	h.stats_reset = pg_atomic_read_u64(&rl_store->stats_reset);
	for (int p = 0; p < RATE_PARTITIONS; p++)
		h.count += rl_store->parts[p].used;

	f = jobspy_state_write_open(RATE_FILE, RATE_FILE_MAGIC, RATE_FILE_VERSION);
	jobspy_state_write(f, &h, sizeof(h));
	for (int p = 0; p < RATE_PARTITIONS; p++)
	{
		RateEntry  *ents = part_entries(p);

		for (int32 i = 0; i < rl_store->capacity; i++)
			if (ents[i].kind != KIND_FREE)
				jobspy_state_write(f, &ents[i], sizeof(RateEntry));
	}
	jobspy_state_write_close(f);
}

void
ratelimit_store_init(void)
{
	static const JobspyShmemSegment segment = {
		.name = RATE_SEGMENT,
		.size = rate_store_size,
		.nlocks = RATE_PARTITIONS,
		.startup = rate_store_startup,
		.shutdown = rate_store_shutdown,
	};

	/*
	 * The store's size can be defined only while the library is preloaded
	 * (a PGC_POSTMASTER variable cannot appear later); without the store
	 * it would mean nothing anyway.
	 */
	if (process_shared_preload_libraries_in_progress)
		DefineCustomIntVariable("jobspy.ratelimit_max_keys",
								"How many keys the rate limiter's shared memory can track.",
								"Each key takes at most 128 bytes of shared memory.",
								&ratelimit_max_keys,
								100000, 1024, 100000000,
								PGC_POSTMASTER, 0,
								NULL, NULL, NULL);
	DefineCustomBoolVariable("jobspy.ratelimit_save",
							 "Save the rate limiter's state at a clean shutdown and load it at start.",
							 NULL,
							 &ratelimit_save,
							 true,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);
	jobspy_shmem_register(&segment);
}
