/*
 * license_cache.c: one cache, in shared memory, of the licence facts that
 * validation reads (the licence row, its user's status, its bound
 * machines), kept fresh by per-user change generations.  What one backend
 * reads serves every backend.
 *
 * Every user has a generation bucket (a hash of the user id picks one of
 * GEN_BUCKETS counters).  A row trigger on users, licenses and
 * license_machines notes the buckets a transaction changes; when the
 * transaction commits, after its changes became visible and before the
 * client hears of the commit, the buckets' counters go up.  An entry is used
 * only while its bucket still has the generation read before the entry's
 * rows were read (under a snapshot taken after that read), so a validation
 * that starts after a commit returned never uses what the commit changed,
 * whichever backend filled the entry.  The reading backend judges this
 * itself, with its own jobspy.licensing_cache_seconds.  An entry past that
 * age but at its generation is handed out as stale: the caller may renew it
 * after finding its rows unchanged (their versions are in the entry).
 *
 * The cache is bypassed, and validation reads under the statement's snapshot,
 * when it could be wrong: on a hot standby (changes arrive by WAL, no
 * trigger runs), in a transaction that changed those tables itself (its
 * changes are not committed), under REPEATABLE READ or SERIALIZABLE (the
 * transaction's snapshot rules), and when jobspy.licensing_cache_seconds is
 * 0.  Such a call neither reads nor fills the cache.  Writes that skip
 * triggers (session_replication_role = replica, as logical replication and
 * some restores run) are not seen until an entry's age reaches
 * jobspy.licensing_cache_seconds.
 *
 * The table: jobspy.licensing_cache_entries entries (set at server start),
 * in sets of CACHE_WAYS; the key's hash picks the set, and the set's number
 * modulo CACHE_PARTITIONS its LWLock.  Sets are wide so that a cache filled
 * to two thirds by keys spread at random still holds nearly all of them
 * (sets of four, at that load, left one key in sixteen out), and each set
 * has a line of tags, a few bits of each way's key, so that a lookup reads
 * one cache line and then only the entry whose tag matches.  A reader
 * copies what it needs out under the lock in shared mode and judges
 * freshness after releasing it; a writer holds the lock exclusively.  A
 * full set gives up the entry loaded longest ago: no global recency list,
 * no lock but the set's.
 *
 * An entry is filed under the database, the licences table (a dropped and
 * re-created extension never finds the old entries) and the key's hash
 * under the active hash key.  It also keeps the hash the licence row was
 * found under, and answers only a caller for whom that hash is still a
 * candidate: a backend that knows a hash key is retired is never answered
 * through it, even by an entry another backend filled before it knew.
 *
 * Entries have a fixed size (sizeof(CacheEntry), given in docs/licensing.md):
 * a licence whose type or features do not fit is not cached (validation
 * reads the tables each time), nor is a fingerprint that does not fit.
 *
 * An entry is also filed under the definition of the tables it was read
 * from (LicCacheKey.schema: the pg_class rows of licenses, users and
 * license_machines as they were when the reader looked them up).  An ALTER
 * TABLE or TRUNCATE of one of them rewrites its pg_class row, so entries
 * read before are never found again by a backend that has seen the change;
 * VACUUM and ANALYZE write pg_class in place and leave the cache alone.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "access/htup_details.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "common/hashfn.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "core.h"
#include "license_cache.h"

#define GEN_SEGMENT "jobspy_license_generations"
#define GEN_BUCKETS 4096

#define CACHE_SEGMENT "jobspy_license_cache"
#define CACHE_WAYS 16
#define CACHE_PARTITIONS 128
#define CACHED_TYPE_MAX 32		/* bytes of license_type */
#define CACHED_FEATURES_MAX 192 /* bytes of the features jsonb, header excluded */
#define CACHED_MACHINES 4
#define CACHED_FINGERPRINT_MAX 64

#define NEGATIVE_SEGMENT "jobspy_license_negative"
#define NEGATIVE_PARTITIONS 32

typedef struct Generations
{
	pg_atomic_uint64 any;		/* goes up before any bucket does */
	pg_atomic_uint64 gen[GEN_BUCKETS];
} Generations;

static Generations *generations = NULL;

static int	cache_seconds = 60;
static int	cache_entries = 16384;

typedef struct CachedMachine
{
	pg_uuid_t	id;
	RowVersion	version;
	uint8		len;
	char		fingerprint[CACHED_FINGERPRINT_MAX];
} CachedMachine;

typedef struct CacheEntry
{
	uint32		schema;			/* LicCacheKey.schema; 0: never written */
	Oid			dbid;
	Oid			relid;			/* jobspy.licenses */
	uint8		key_hash[SECRET_HASH_BYTES];	/* under the active hash key */
	uint8		found_hash[SECRET_HASH_BYTES];	/* the licence row's */
	uint64		generation;
	TimestampTz loaded_at;
	LicRow		row;			/* license_type and features are NULL here */
	bool		user_active;
	uint8		type_len;
	uint8		nmachines;
	uint16		features_len;
	char		type[CACHED_TYPE_MAX];
	char		features[CACHED_FEATURES_MAX];	/* the jsonb without its header */
	CachedMachine machines[CACHED_MACHINES];
} CacheEntry;

/* docs/licensing.md gives the size (with the 4-byte tag): change both together. */
StaticAssertDecl(sizeof(CacheEntry) == 824, "docs/licensing.md gives the entry size");

/* A set's tags: 0 for a way never written, else a way's key_hash tag. */
typedef struct SetTags
{
	uint32		tag[CACHE_WAYS];
} SetTags;

/* In shared memory: the sets' tags, then their entries. */
typedef struct LicenseCache
{
	int32		nsets;
	SetTags    *tags;			/* nsets of them */
	CacheEntry *entries;		/* nsets * CACHE_WAYS */
} LicenseCache;

static LicenseCache *cache = NULL;
static LWLockPadded *cache_locks = NULL;

/*
 * The negative cache: keys that matched no licence, so that a flood of
 * unknown keys costs no index probe.  Direct-mapped (a new miss replaces
 * whatever its slot held), jobspy.licensing_negative_entries slots, each
 * under lock slot % NEGATIVE_PARTITIONS.  An entry answers only while the
 * generation of any change (license_cache_any_generation, read before the
 * miss's snapshot) is unchanged: any committed licence, re-keyed licence or
 * change of users or machines ends every entry, before its committer hears
 * of the commit, so a licence issued after a miss is never hidden.  Like
 * the positive entries they also end at jobspy.licensing_cache_seconds (a
 * write without triggers moves no generation).
 */
typedef struct NegativeEntry
{
	uint32		schema;			/* LicCacheKey.schema; 0: empty */
	Oid			dbid;
	Oid			relid;
	uint32		ncandidates;
	uint64		generation;		/* license_cache_any_generation() before the miss */
	TimestampTz loaded_at;
	uint64		candidates;		/* a digest of every candidate hash after the first */
	uint8		key_hash[SECRET_HASH_BYTES];	/* the first (active key's) hash */
} NegativeEntry;

StaticAssertDecl(sizeof(NegativeEntry) == 72, "docs/licensing.md gives the negative entry size");

static int	negative_entries = 65536;
static NegativeEntry *negative = NULL;
static LWLockPadded *negative_locks = NULL;

/* Buckets this transaction changed, bumped at commit. */
static bool xact_touched = false;
static bool xact_touched_all = false;
static uint64 touched[GEN_BUCKETS / 64];

static inline int
bucket_of(const pg_uuid_t *user)
{
	return (int) (hash_bytes(user->data, UUID_LEN) % GEN_BUCKETS);
}

static Size
generations_size(void)
{
	return sizeof(Generations);
}

static void
generations_startup(void *segment, bool found)
{
	generations = segment;
	if (!found)
	{
		pg_atomic_init_u64(&generations->any, 0);
		for (int i = 0; i < GEN_BUCKETS; i++)
			pg_atomic_init_u64(&generations->gen[i], 0);
	}
}

static int
cache_sets(void)
{
	return Max(cache_entries / CACHE_WAYS, 1);
}

static Size
cache_size(void)
{
	return add_size(add_size(MAXALIGN(sizeof(LicenseCache)), mul_size(cache_sets(), sizeof(SetTags))),
					mul_size(mul_size(cache_sets(), CACHE_WAYS), sizeof(CacheEntry)));
}

static void
cache_startup(void *segment, bool found)
{
	cache = segment;
	cache_locks = GetNamedLWLockTranche(CACHE_SEGMENT);
	if (!found)
	{
		cache->nsets = cache_sets();
		/* Every backend maps the segment at the same address. */
		cache->tags = (SetTags *) ((char *) segment + MAXALIGN(sizeof(LicenseCache)));
		cache->entries = (CacheEntry *) (cache->tags + cache->nsets);
		memset(cache->tags, 0, mul_size(cache->nsets, sizeof(SetTags)));
		memset(cache->entries, 0, mul_size(mul_size(cache->nsets, CACHE_WAYS), sizeof(CacheEntry)));
	}
}

static inline bool young(TimestampTz loaded_at);

static Size
negative_size(void)
{
	return mul_size(negative_entries, sizeof(NegativeEntry));
}

static void
negative_startup(void *segment, bool found)
{
	negative = segment;
	negative_locks = GetNamedLWLockTranche(NEGATIVE_SEGMENT);
	if (!found)
		memset(negative, 0, negative_size());
}

/* The slot of a key, and its entry as it would be filed (generation and time aside). */
static int
negative_slot(const LicCacheKey *key, NegativeEntry *e)
{
	uint32		h;

	memset(e, 0, sizeof(*e));
	e->schema = key->schema;
	e->dbid = MyDatabaseId;
	e->relid = key->licenses;
	e->ncandidates = key->nhashes;
	e->candidates = key->nhashes > 1 ?
		hash_bytes_extended(key->hashes[1], (key->nhashes - 1) * SECRET_HASH_BYTES, 0) : 0;
	memcpy(e->key_hash, key->hashes[0], SECRET_HASH_BYTES);
	memcpy(&h, key->hashes[0] + 2 * sizeof(uint32), sizeof(h));
	return (int) ((h ^ murmurhash32(MyDatabaseId)) % (uint32) negative_entries);
}

static bool
negative_same_key(const NegativeEntry *a, const NegativeEntry *b)
{
	return a->schema == b->schema && a->dbid == b->dbid && a->relid == b->relid &&
		a->ncandidates == b->ncandidates && a->candidates == b->candidates &&
		memcmp(a->key_hash, b->key_hash, SECRET_HASH_BYTES) == 0;
}

/* Takes the slot's lock in shared mode. */
bool
license_cache_known_missing(const LicCacheKey *key)
{
	NegativeEntry want;
	NegativeEntry e;
	int			slot;
	LWLock	   *lock;

	if (negative == NULL)
		return false;
	slot = negative_slot(key, &want);
	lock = &negative_locks[slot % NEGATIVE_PARTITIONS].lock;
	LWLockAcquire(lock, LW_SHARED);
	e = negative[slot];
	LWLockRelease(lock);
	return negative_same_key(&e, &want) && e.generation == license_cache_any_generation() &&
		young(e.loaded_at);
}

/* Takes the slot's lock exclusively. */
void
license_cache_put_missing(const LicCacheKey *key, uint64 any_generation)
{
	NegativeEntry e;
	int			slot;
	LWLock	   *lock;

	if (negative == NULL)
		return;
	slot = negative_slot(key, &e);
	e.generation = any_generation;
	e.loaded_at = GetCurrentTransactionStartTimestamp();
	lock = &negative_locks[slot % NEGATIVE_PARTITIONS].lock;
	LWLockAcquire(lock, LW_EXCLUSIVE);
	negative[slot] = e;
	LWLockRelease(lock);
}

bool
license_cache_usable(void)
{
	return generations != NULL && cache != NULL && cache_seconds > 0 && !xact_touched &&
		!IsolationUsesXactSnapshot() && !RecoveryInProgress();
}

uint64
license_cache_generation(const pg_uuid_t *user)
{
	return pg_atomic_read_u64(&generations->gen[bucket_of(user)]);
}

uint64
license_cache_any_generation(void)
{
	pg_read_barrier();
	return pg_atomic_read_u64(&generations->any);
}

/* Loaded less than jobspy.licensing_cache_seconds before this transaction began. */
static inline bool
young(TimestampTz loaded_at)
{
	return GetCurrentTransactionStartTimestamp() - loaded_at < (int64) cache_seconds * USECS_PER_SEC;
}

bool
license_cache_current(const pg_uuid_t *user, uint64 generation, TimestampTz loaded_at)
{
	return generation == license_cache_generation(user) && young(loaded_at);
}

uint32
license_cache_schema(Oid *relids, int n)
{
	uint32		stamp = 0;

	for (int i = 0; i < n; i++)
	{
		HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relids[i]));

		if (!HeapTupleIsValid(tuple))
			elog(ERROR, "cache lookup failed for relation %u", relids[i]);
		/* An in-place update (VACUUM, ANALYZE) keeps the row's xmin; any other makes a new one. */
		stamp = hash_combine(stamp, murmurhash32(HeapTupleHeaderGetRawXmin(tuple->t_data)));
		ReleaseSysCache(tuple);
	}
	return stamp | 1;			/* 0 marks ways never written */
}

/* ---- the table ----------------------------------------------------------- */

/* The set of a key: the hash's bytes are already uniform, the database mixes in. */
static inline int
set_of(const LicCacheKey *key)
{
	uint32		h;

	memcpy(&h, key->hashes[0], sizeof(h));
	return (int) ((h ^ murmurhash32(MyDatabaseId)) % (uint32) cache->nsets);
}

/* The key's tag in its set: other bytes of the hash than set_of's, never 0. */
static inline uint32
tag_of(const LicCacheKey *key)
{
	uint32		t;

	memcpy(&t, key->hashes[0] + sizeof(uint32), sizeof(t));
	return t | 1;
}

static inline LWLock *
set_lock(int set)
{
	return &cache_locks[set % CACHE_PARTITIONS].lock;
}

/* The way of the set that holds the key; NULL when none does. */
static CacheEntry *
way_of(int set, const LicCacheKey *key)
{
	const uint32 *tags = cache->tags[set].tag;
	uint32		tag = tag_of(key);

	for (int w = 0; w < CACHE_WAYS; w++)
	{
		CacheEntry *way;

		if (tags[w] != tag)
			continue;
		way = &cache->entries[set * CACHE_WAYS + w];
		if (way->schema == key->schema && way->dbid == MyDatabaseId &&
			way->relid == key->licenses &&
			memcmp(way->key_hash, key->hashes[0], SECRET_HASH_BYTES) == 0)
			return way;
	}
	return NULL;
}

/* The way a new key takes: one never written, else the oldest. */
static int
way_to_replace(int set)
{
	CacheEntry *ways = &cache->entries[set * CACHE_WAYS];
	int			victim = 0;

	for (int w = 0; w < CACHE_WAYS; w++)
	{
		if (cache->tags[set].tag[w] == 0)
			return w;
		if (ways[w].loaded_at < ways[victim].loaded_at)
			victim = w;
	}
	return victim;
}

/* The hash a row was found under is one of the caller's live ones (none retired). */
static bool
is_candidate(const LicCacheKey *key, const uint8 *hash)
{
	for (int i = 0; i < key->nhashes; i++)
		if (memcmp(key->hashes[i], hash, SECRET_HASH_BYTES) == 0)
			return true;
	return false;
}

static CachedMachine *
machine_of(CacheEntry *way, text *fingerprint)
{
	int			len = VARSIZE_ANY_EXHDR(fingerprint);

	for (int i = 0; i < way->nmachines; i++)
		if (way->machines[i].len == len &&
			memcmp(way->machines[i].fingerprint, VARDATA_ANY(fingerprint), len) == 0)
			return &way->machines[i];
	return NULL;
}

/*
 * Only what the caller needs is copied out under the set's lock (shared),
 * in one hold: the entry's fixed part, its type and features, and the one
 * machine asked for.
 */
LicCacheResult
license_cache_get(const LicCacheKey *key, text *fingerprint, LicCached *out)
{
	int			set = set_of(key);
	CacheEntry *way;
	CacheEntry	e;
	CachedMachine *m = NULL;

	LWLockAcquire(set_lock(set), LW_SHARED);
	way = way_of(set, key);
	if (way)
	{
		memcpy(&e, way, offsetof(CacheEntry, type));
		memcpy(e.type, way->type, e.type_len);
		memcpy(e.features, way->features, e.features_len);
		if (fingerprint && (m = machine_of(way, fingerprint)) != NULL)
		{
			out->machine = m->id;
			out->machine_version = m->version;
		}
	}
	LWLockRelease(set_lock(set));

	/* Judged outside the lock: the copy is ours. */
	if (!way || !is_candidate(key, e.found_hash) ||
		e.generation != license_cache_generation(&e.row.user_id))
		return LIC_CACHE_MISS;
	out->row = e.row;
	out->row.license_type = (text *) palloc(VARHDRSZ + e.type_len);
	SET_VARSIZE(out->row.license_type, VARHDRSZ + e.type_len);
	memcpy(VARDATA(out->row.license_type), e.type, e.type_len);
	out->row.features = (Jsonb *) palloc(VARHDRSZ + e.features_len);
	SET_VARSIZE(out->row.features, VARHDRSZ + e.features_len);
	memcpy(VARDATA(out->row.features), e.features, e.features_len);
	out->user_active = e.user_active;
	out->generation = e.generation;
	out->loaded_at = e.loaded_at;
	out->machine_found = m != NULL;
	return young(e.loaded_at) ? LIC_CACHE_HIT : LIC_CACHE_STALE;
}

/*
 * A put replaces whatever entry the key has, unless that one is of the same
 * user at a later generation, or at the same generation and loaded no
 * earlier: then it is at least as new.  Replacing a newer entry by an older
 * one would be safe anyway (generations only go up, so the older one is
 * simply never current and the next validation reads the rows again); the
 * check saves that read.  Entries of different users (the licence moved)
 * cannot be ordered, and the last put wins.  Machines start over: those of
 * the entry replaced may have been read before the new entry's loaded_at,
 * and would outlive jobspy.licensing_cache_seconds counted from it.  Takes
 * the set's lock exclusively.
 */
void
license_cache_put(const LicCacheKey *key, int found, uint64 generation, const LicRow *row,
				  bool user_active)
{
	int			type_len = VARSIZE_ANY_EXHDR(row->license_type);
	int			features_len = VARSIZE_ANY_EXHDR(row->features);
	int			set;
	CacheEntry *way;
	CacheEntry	e;

	/* Too big: not cached. */
	if (cache == NULL || type_len > CACHED_TYPE_MAX || features_len > CACHED_FEATURES_MAX)
		return;

	memset(&e, 0, sizeof(e));
	e.schema = key->schema;
	e.dbid = MyDatabaseId;
	e.relid = key->licenses;
	memcpy(e.key_hash, key->hashes[0], SECRET_HASH_BYTES);
	memcpy(e.found_hash, key->hashes[found], SECRET_HASH_BYTES);
	e.generation = generation;
	e.loaded_at = GetCurrentTransactionStartTimestamp();
	e.row = *row;
	e.row.license_type = NULL;
	e.row.features = NULL;
	e.user_active = user_active;
	e.type_len = type_len;
	memcpy(e.type, VARDATA_ANY(row->license_type), type_len);
	e.features_len = features_len;
	memcpy(e.features, VARDATA_ANY(row->features), features_len);

	set = set_of(key);
	LWLockAcquire(set_lock(set), LW_EXCLUSIVE);
	way = way_of(set, key);
	if (way == NULL)
	{
		int			w = way_to_replace(set);

		cache->tags[set].tag[w] = tag_of(key);
		way = &cache->entries[set * CACHE_WAYS + w];
	}
	else if (memcmp(&way->row.user_id, &row->user_id, UUID_LEN) == 0 &&
			 (way->generation > generation ||
			  (way->generation == generation && way->loaded_at >= e.loaded_at)))
		way = NULL;
	if (way)
		*way = e;
	LWLockRelease(set_lock(set));
}

/* The way, when it is the entry a caller's validation used (same generation and licence). */
static CacheEntry *
way_used(int set, const LicCacheKey *key, uint64 generation, const LicRow *lic)
{
	CacheEntry *way = way_of(set, key);

	if (way && way->generation == generation &&
		memcmp(&way->row.id, &lic->id, UUID_LEN) == 0 &&
		memcmp(&way->row.user_id, &lic->user_id, UUID_LEN) == 0)
		return way;
	return NULL;
}

/*
 * Only the entry the caller found stale, and only if nobody renewed or
 * replaced it meanwhile (same generation, licence and load time).  Takes
 * the set's lock exclusively.
 */
void
license_cache_renew(const LicCacheKey *key, const LicCached *cached, text *fingerprint)
{
	int			set = set_of(key);
	CacheEntry *way;

	LWLockAcquire(set_lock(set), LW_EXCLUSIVE);
	way = way_used(set, key, cached->generation, &cached->row);
	if (way && way->loaded_at == cached->loaded_at)
	{
		CachedMachine *m = cached->machine_found ? machine_of(way, fingerprint) : NULL;

		if (m)
			way->machines[0] = *m;
		way->nmachines = m ? 1 : 0;
		way->loaded_at = GetCurrentTransactionStartTimestamp();
	}
	LWLockRelease(set_lock(set));
}

/*
 * Only into the entry the caller's validation used, and only while its
 * generation is current: the machine was read under a snapshot taken after
 * that generation was read, so no change to it committed in between.
 * Takes the set's lock exclusively.
 */
void
license_cache_add_machine(const LicCacheKey *key, uint64 generation, const LicRow *lic,
						  text *fingerprint, const pg_uuid_t *machine, const RowVersion *version)
{
	int			len = VARSIZE_ANY_EXHDR(fingerprint);
	int			set = set_of(key);
	CacheEntry *way;

	if (len > CACHED_FINGERPRINT_MAX || license_cache_generation(&lic->user_id) != generation)
		return;
	LWLockAcquire(set_lock(set), LW_EXCLUSIVE);
	way = way_used(set, key, generation, lic);
	/* Another backend may have added it meanwhile. */
	if (way && way->nmachines < CACHED_MACHINES && machine_of(way, fingerprint) == NULL)
	{
		CachedMachine *m = &way->machines[way->nmachines++];

		m->id = *machine;
		m->version = *version;
		m->len = len;
		memcpy(m->fingerprint, VARDATA_ANY(fingerprint), len);
	}
	LWLockRelease(set_lock(set));
}

/* ---- invalidation ------------------------------------------------------ */

static void
touch_user(HeapTuple tuple, TupleDesc desc, const char *column)
{
	int			attnum = SPI_fnumber(desc, column);
	bool		isnull;
	Datum		d;

	if (attnum <= 0)
	{
		xact_touched_all = true;
		return;
	}
	d = heap_getattr(tuple, attnum, desc, &isnull);
	if (isnull)
		return;
	{
		int			b = bucket_of(DatumGetUUIDP(d));

		touched[b / 64] |= UINT64CONST(1) << (b % 64);
	}
}

/*
 * Trigger on users, licenses and license_machines: the buckets of the users
 * whose licence facts change.  Its argument names the user id column.
 */
PG_FUNCTION_INFO_V1(jobspy_license_cache_touch);
Datum
jobspy_license_cache_touch(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = jobspy_trigger_data(fcinfo, "jobspy.license_cache_touch()");
	TupleDesc	desc;

	desc = RelationGetDescr(trigdata->tg_relation);
	xact_touched = true;
	if (TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		trigdata->tg_trigger->tgnargs != 1)
		xact_touched_all = true;
	else
	{
		const char *column = trigdata->tg_trigger->tgargs[0];

		if (trigdata->tg_trigtuple)
			touch_user(trigdata->tg_trigtuple, desc, column);
		if (trigdata->tg_newtuple)
			touch_user(trigdata->tg_newtuple, desc, column);
	}
	return PointerGetDatum(NULL);
}

static void
cache_xact_callback(XactEvent event, void *arg)
{
	if (!xact_touched)
		return;
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			if (generations != NULL)
			{
				pg_atomic_fetch_add_u64(&generations->any, 1);
				for (int b = 0; b < GEN_BUCKETS; b++)
					if (xact_touched_all || (touched[b / 64] & (UINT64CONST(1) << (b % 64))))
						pg_atomic_fetch_add_u64(&generations->gen[b], 1);
			}
			/* FALLTHROUGH */
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			xact_touched = xact_touched_all = false;
			memset(touched, 0, sizeof(touched));
			break;
		default:
			break;
	}
}

void
license_cache_init(void)
{
	static const JobspyShmemSegment gen_segment = {
		.name = GEN_SEGMENT,
		.size = generations_size,
		.startup = generations_startup,
	};
	static const JobspyShmemSegment cache_segment = {
		.name = CACHE_SEGMENT,
		.size = cache_size,
		.nlocks = CACHE_PARTITIONS,
		.startup = cache_startup,
	};
	static const JobspyShmemSegment negative_segment = {
		.name = NEGATIVE_SEGMENT,
		.size = negative_size,
		.nlocks = NEGATIVE_PARTITIONS,
		.startup = negative_startup,
	};

	DefineCustomIntVariable("jobspy.licensing_cache_seconds",
							"How long licence facts cached for validation, users' licence types "
							"and quota windows may be used.",
							"Commits that change them end the entries at once; the age bounds "
							"only changes made without triggers.  0 turns the caches off.",
							&cache_seconds,
							60, 0, 86400,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);

	/*
	 * The cache's size can be defined only while the library is preloaded
	 * (a PGC_POSTMASTER variable cannot appear later); without shared
	 * memory there is no cache anyway.
	 */
	if (process_shared_preload_libraries_in_progress)
	{
		DefineCustomIntVariable("jobspy.licensing_cache_entries",
								"How many licences the shared validation cache holds.",
								"Each takes 828 bytes of shared memory.",
								&cache_entries,
								16384, 16, 10000000,
								PGC_POSTMASTER, 0,
								NULL, NULL, NULL);
		DefineCustomIntVariable("jobspy.licensing_negative_entries",
								"How many keys that matched no licence the shared validation cache remembers.",
								"Each takes 72 bytes of shared memory; any committed change to licences, "
								"users or machines ends them all.",
								&negative_entries,
								65536, 16, 10000000,
								PGC_POSTMASTER, 0,
								NULL, NULL, NULL);
	}
	RegisterXactCallback(cache_xact_callback, NULL);
	jobspy_shmem_register(&gen_segment);
	jobspy_shmem_register(&cache_segment);
	jobspy_shmem_register(&negative_segment);
}
