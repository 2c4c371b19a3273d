/*
 * license_cache.c: each backend's cache of the licence facts that
 * validation reads (the licence row, its user's status, its bound
 * machines), kept fresh by change generations in shared memory.
 *
 * Every user has a generation bucket (a hash of the user id picks one of
 * GEN_BUCKETS counters).  A row trigger on users, licenses and
 * license_machines notes the buckets a transaction changes; when the
 * transaction commits, after its changes became visible and before the
 * client hears of the commit, the buckets' counters go up.  An entry is used
 * only while its bucket still has the generation read before the entry's
 * rows were read (under a snapshot taken after that read), so a validation
 * that starts after a commit returned never uses what the commit changed.
 *
 * The cache is bypassed, and validation reads under the statement's
 * snapshot, when it could be wrong: on a hot standby (changes arrive by
 * WAL, no trigger runs), in a transaction that changed those tables itself
 * (its changes are not committed), under REPEATABLE READ or SERIALIZABLE
 * (the transaction's snapshot rules), and when jobspy.licensing_cache_seconds
 * is 0.  Writes that skip triggers (session_replication_role = replica, as
 * logical replication and some restores run) are not seen until an entry's
 * age reaches jobspy.licensing_cache_seconds.
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
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "core.h"
#include "license_cache.h"

#define GEN_SEGMENT "jobspy_license_generations"
#define GEN_BUCKETS 4096
#define MAX_CACHED_MACHINES 4

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
	char	   *fingerprint;	/* NUL-terminated copy */
	int			len;
	pg_uuid_t	id;
} CachedMachine;

typedef struct CacheEntry
{
	uint8		key_hash[SECRET_HASH_BYTES];	/* hash table key */
	uint64		generation;
	TimestampTz loaded_at;
	LicRow		row;			/* license_type and features in cache_cxt */
	bool		user_active;
	int			nmachines;
	CachedMachine machines[MAX_CACHED_MACHINES];
} CacheEntry;

static HTAB *cache = NULL;
static MemoryContext cache_cxt = NULL;

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

bool
license_cache_usable(void)
{
	return generations != NULL && cache_seconds > 0 && !xact_touched &&
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

bool
license_cache_current(const pg_uuid_t *user, uint64 generation, TimestampTz loaded_at)
{
	return generation == license_cache_generation(user) &&
		GetCurrentTransactionStartTimestamp() - loaded_at < (int64) cache_seconds * USECS_PER_SEC;
}

void
license_cache_clear(void)
{
	if (cache)
		hash_destroy(cache);
	cache = NULL;
	if (cache_cxt)
		MemoryContextReset(cache_cxt);
}

static void
cache_create(void)
{
	HASHCTL		ctl;

	if (cache_cxt == NULL)
		cache_cxt = AllocSetContextCreate(CacheMemoryContext, "jobspy licence cache",
										  ALLOCSET_DEFAULT_SIZES);
	ctl.keysize = SECRET_HASH_BYTES;
	ctl.entrysize = sizeof(CacheEntry);
	ctl.hcxt = cache_cxt;
	cache = hash_create("jobspy licence cache", 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

static void
entry_free_contents(CacheEntry *e)
{
	if (e->row.license_type)
		pfree(e->row.license_type);
	if (e->row.features)
		pfree(e->row.features);
	for (int i = 0; i < e->nmachines; i++)
		pfree(e->machines[i].fingerprint);
	e->row.license_type = NULL;
	e->row.features = NULL;
	e->nmachines = 0;
}

static CacheEntry *
current_entry(const uint8 *key_hash)
{
	CacheEntry *e;

	if (cache == NULL)
		return NULL;
	e = hash_search(cache, key_hash, HASH_FIND, NULL);
	if (e == NULL)
		return NULL;
	if (!license_cache_current(&e->row.user_id, e->generation, e->loaded_at))
	{
		entry_free_contents(e);
		hash_search(cache, key_hash, HASH_REMOVE, NULL);
		return NULL;
	}
	return e;
}

bool
license_cache_get(const uint8 *key_hash, LicRow *row, bool *user_active)
{
	CacheEntry *e = current_entry(key_hash);

	if (e == NULL)
		return false;
	/* Copies: an invalidation may clear the cache before the caller is done. */
	*row = e->row;
	row->license_type = (text *) datumCopy(PointerGetDatum(e->row.license_type), false, -1);
	row->features = (Jsonb *) datumCopy(PointerGetDatum(e->row.features), false, -1);
	*user_active = e->user_active;
	return true;
}

void
license_cache_put(const uint8 *key_hash, uint64 generation, const LicRow *row, bool user_active)
{
	CacheEntry *e;
	bool		found;

	if (cache == NULL || hash_get_num_entries(cache) >= cache_entries)
	{
		/* Full: start over rather than track recency on the hot path. */
		license_cache_clear();
		cache_create();
	}
	e = hash_search(cache, key_hash, HASH_ENTER, &found);
	if (found)
		entry_free_contents(e);
	e->generation = generation;
	e->loaded_at = GetCurrentTransactionStartTimestamp();
	e->row = *row;
	e->row.license_type = (text *) MemoryContextAlloc(cache_cxt, VARSIZE_ANY(row->license_type));
	memcpy(e->row.license_type, row->license_type, VARSIZE_ANY(row->license_type));
	e->row.features = (Jsonb *) MemoryContextAlloc(cache_cxt, VARSIZE(row->features));
	memcpy(e->row.features, row->features, VARSIZE(row->features));
	e->user_active = user_active;
	e->nmachines = 0;
}

bool
license_cache_machine(const uint8 *key_hash, text *fingerprint, pg_uuid_t *machine)
{
	CacheEntry *e = current_entry(key_hash);
	int			len = VARSIZE_ANY_EXHDR(fingerprint);

	if (e == NULL)
		return false;
	for (int i = 0; i < e->nmachines; i++)
		if (e->machines[i].len == len &&
			memcmp(e->machines[i].fingerprint, VARDATA_ANY(fingerprint), len) == 0)
		{
			*machine = e->machines[i].id;
			return true;
		}
	return false;
}

void
license_cache_add_machine(const uint8 *key_hash, text *fingerprint, const pg_uuid_t *machine)
{
	CacheEntry *e = current_entry(key_hash);
	CachedMachine *m;

	if (e == NULL || e->nmachines == MAX_CACHED_MACHINES)
		return;
	m = &e->machines[e->nmachines++];
	m->len = VARSIZE_ANY_EXHDR(fingerprint);
	m->fingerprint = MemoryContextAlloc(cache_cxt, m->len + 1);
	memcpy(m->fingerprint, VARDATA_ANY(fingerprint), m->len);
	m->fingerprint[m->len] = '\0';
	m->id = *machine;
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
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "license_cache_touch: not called as a trigger");
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
	static const JobspyShmemSegment segment = {
		.name = GEN_SEGMENT,
		.size = generations_size,
		.startup = generations_startup,
	};

	DefineCustomIntVariable("jobspy.licensing_cache_seconds",
							"How long a backend may keep licence facts it read for validation, "
							"users' licence types and quota windows.",
							"Commits that change them end the entries at once; the age bounds "
							"only changes made without triggers.  0 turns the caches off.",
							&cache_seconds,
							60, 0, 86400,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("jobspy.licensing_cache_entries",
							"How many licences each backend's validation cache holds.",
							NULL,
							&cache_entries,
							16384, 16, 10000000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	RegisterXactCallback(cache_xact_callback, NULL);
	jobspy_shmem_register(&segment);
}
