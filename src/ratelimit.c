/*
 * ratelimit.c: the rate limiter's SQL API and the rate-limit rules.
 *
 * rate_limit() and its peek and reset run GCRA (gcra.c) on one key of the
 * shared-memory store (ratelimit_store.c, which also holds the locking
 * rules); check_rate_limit() runs it on every window of every matching rule
 * at once, under the partition locks of all of them.
 *
 * Full store.  When a key's partition holds only active keys,
 * jobspy.ratelimit_when_full decides: open (admit as if the key were fresh,
 * remembering nothing), closed (refuse until an entry frees) or error
 * (JS301, raised once no lock is held).
 *
 * Rules.  Enabled rows of jobspy.rate_limit_rules are cached per backend;
 * a statement trigger on the table sends a relcache invalidation that
 * reaches every backend when the change commits.  The user's licence type
 * is read through the licences' primary key on each call.
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "storage/lwlock.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/hsearch.h"
#include "utils/tuplestore.h"
#include "utils/uuid.h"

#include "core.h"
#include "gcra.h"
#include "entitlements.h"
#include "license_cache.h"
#include "ratelimit.h"
#include "ratelimit_store.h"

/* GUCs, static boot values. */
static int	ratelimit_when_full = 0;
static char *ratelimit_default_license_type = NULL;

#define WHEN_FULL_OPEN 0
#define WHEN_FULL_CLOSED 1
#define WHEN_FULL_ERROR 2

static const struct config_enum_entry when_full_options[] = {
	{"open", WHEN_FULL_OPEN, false},
	{"closed", WHEN_FULL_CLOSED, false},
	{"error", WHEN_FULL_ERROR, false},
	{NULL, 0, false}
};

static void
bad_parameter(const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid rate-limit parameters"),
			 errdetail("%s", why)));
}

/* ---- the single-key limiter ------------------------------------------- */

static void
answer_from(const GcraResult *r, RateLimitAnswer *out)
{
	out->allowed = r->allowed;
	out->limit = r->limit;
	out->remaining = r->remaining;
	out->retry_after_ms = r->allowed ? -1 : gcra_ns_to_ms_ceil(r->retry_after_ns);
	out->reset_after_ms = gcra_ns_to_ms_ceil(r->reset_after_ns);
}

static void
store_full_error(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_JS_RATELIMIT_STORE_FULL),
			 errmsg("the rate-limit store is full"),
			 errdetail("Every entry of the key's partition belongs to a key that is not yet full again."),
			 errhint("Raise jobspy.ratelimit_max_keys (needs a restart), or set jobspy.ratelimit_when_full.")));
}

/*
 * The answer for a key that could not be stored, under open or closed
 * (error is raised by the caller, once no lock is held).
 */
static void
store_full(const GcraParams *params, int64 now, int64 quantity, int64 min_tat,
		   GcraResult *r)
{
	switch (ratelimit_when_full)
	{
		case WHEN_FULL_CLOSED:
			r->allowed = false;
			r->limit = params->limit;
			r->remaining = 0;
			r->retry_after_ns = (min_tat == PG_INT64_MAX) ? -1 : Max(min_tat - now, 1);
			r->reset_after_ns = Max(r->retry_after_ns, 0);
			r->new_tat = GCRA_EMPTY;
			pg_atomic_fetch_add_u64(&rl_store->full_denied, 1);
			break;
		default:
			/* Open: answer as for a fresh key, remembering nothing. */
			gcra_decide(params, GCRA_EMPTY, now, quantity, r);
			pg_atomic_fetch_add_u64(&rl_store->full_allowed, 1);
			break;
	}
}

static int64
interval_to_us(const Interval *iv)
{
	int128		us = (int128) iv->month * DAYS_PER_MONTH * USECS_PER_DAY +
		(int128) iv->day * USECS_PER_DAY + iv->time;

	if (us <= 0)
		bad_parameter("period must be longer than zero.");
	if (us > GCRA_MAX_SPAN / NS_PER_US)
		bad_parameter("period must be under 146 years.");
	return (int64) us;
}

/* Takes the key's partition lock: shared to read (quantity 0), else exclusive. */
void
ratelimit_take(const char *key, size_t keylen, int64 max_burst, int64 count,
			   int64 period_us, int64 quantity, RateLimitAnswer *out)
{
	GcraParams	params;
	GcraResult	r;
	const char *why;
	RateKey		k;
	int64		now;
	int			p;
	int32		i;
	int64		min_tat = PG_INT64_MAX;

	ratelimit_require();
	if (keylen == 0)
		bad_parameter("key must not be empty.");
	if (quantity < 0)
		bad_parameter("quantity must be zero or more.");
	if (period_us <= 0 || period_us > GCRA_MAX_SPAN / NS_PER_US)
		bad_parameter("period must be longer than zero and under 146 years.");
	if (!gcra_params(max_burst, count, period_us * NS_PER_US, &params, &why))
		bad_parameter(why);

	rl_key_from_text(key, keylen, &k);
	p = key_partition(&k);
	now = ratelimit_now_ns();

	if (quantity == 0)
	{
		int64		tat = GCRA_EMPTY;

		LWLockAcquire(rl_store->parts[p].lock, LW_SHARED);
		i = rl_part_find(p, &k);
		if (i >= 0)
			tat = part_entries(p)[i].tat;
		LWLockRelease(rl_store->parts[p].lock);
		gcra_decide(&params, tat, now, 0, &r);
		answer_from(&r, out);
		return;
	}

	LWLockAcquire(rl_store->parts[p].lock, LW_EXCLUSIVE);
	i = rl_part_find(p, &k);
	if (i < 0)
		i = rl_part_insert(p, &k, now, NULL, 0, &min_tat);
	if (i >= 0)
	{
		RateEntry  *e = &part_entries(p)[i];

		gcra_decide(&params, e->tat, now, quantity, &r);
		if (r.allowed)
		{
			e->tat = r.new_tat;
			e->allowed++;
		}
		else
			e->denied++;
	}
	LWLockRelease(rl_store->parts[p].lock);

	if (i < 0)
	{
		if (ratelimit_when_full == WHEN_FULL_ERROR)
			store_full_error();
		store_full(&params, now, quantity, min_tat, &r);
	}
	answer_from(&r, out);
}

static void
require_arg(FunctionCallInfo fcinfo, int n, const char *name)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be null", name)));
}

static Datum
rate_limit_sql(FunctionCallInfo fcinfo, bool peek)
{
	RateLimitAnswer a;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};

	require_arg(fcinfo, 0, "key");
	require_arg(fcinfo, 1, "max_burst");
	require_arg(fcinfo, 2, "count");
	require_arg(fcinfo, 3, "period");
	if (!peek)
		require_arg(fcinfo, 4, "quantity");
	{
		text	   *key = PG_GETARG_TEXT_PP(0);

		ratelimit_take(VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key),
					   PG_GETARG_INT32(1), PG_GETARG_INT32(2),
					   interval_to_us(PG_GETARG_INTERVAL_P(3)),
					   peek ? 0 : PG_GETARG_INT32(4), &a);
	}
	values[0] = BoolGetDatum(a.allowed);
	values[1] = Int32GetDatum(a.limit);
	values[2] = Int32GetDatum(a.remaining);
	values[3] = Int64GetDatum(a.retry_after_ms);
	values[4] = Int64GetDatum(a.reset_after_ms);
	return jobspy_return_row(fcinfo, values, nulls);
}

PG_FUNCTION_INFO_V1(jobspy_rate_limit);
Datum
jobspy_rate_limit(PG_FUNCTION_ARGS)
{
	return rate_limit_sql(fcinfo, false);
}

PG_FUNCTION_INFO_V1(jobspy_rate_limit_peek);
Datum
jobspy_rate_limit_peek(PG_FUNCTION_ARGS)
{
	return rate_limit_sql(fcinfo, true);
}

/* Forget one key; takes its partition lock exclusively. */
PG_FUNCTION_INFO_V1(jobspy_rate_limit_reset);
Datum
jobspy_rate_limit_reset(PG_FUNCTION_ARGS)
{
	text	   *key = PG_GETARG_TEXT_PP(0);
	RateKey		k;
	int			p;
	int32		i;

	ratelimit_require();
	rl_key_from_text(VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key), &k);
	p = key_partition(&k);
	LWLockAcquire(rl_store->parts[p].lock, LW_EXCLUSIVE);
	i = rl_part_find(p, &k);
	if (i >= 0)
		rl_part_remove(p, i);
	LWLockRelease(rl_store->parts[p].lock);
	PG_RETURN_BOOL(i >= 0);
}

/*
 * Forget every rule window of one user; returns how many entries went.
 * Takes each partition lock exclusively in turn, never two at once.
 */
PG_FUNCTION_INFO_V1(jobspy_rate_limit_reset_user);
Datum
jobspy_rate_limit_reset_user(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *user = PG_GETARG_UUID_P(0);
	int64		removed = 0;

	ratelimit_require();
	for (int p = 0; p < RATE_PARTITIONS; p++)
	{
		RateEntry  *ents = part_entries(p);

		LWLockAcquire(rl_store->parts[p].lock, LW_EXCLUSIVE);
		for (int32 i = 0; i < rl_store->capacity; i++)
		{
			if (ents[i].kind == KIND_WINDOW && ents[i].dbid == MyDatabaseId &&
				memcmp(ents[i].key + UUID_LEN, user->data, UUID_LEN) == 0)
			{
				rl_part_remove(p, i);
				removed++;
			}
		}
		LWLockRelease(rl_store->parts[p].lock);
	}
	PG_RETURN_INT64(removed);
}

/* ---- rules ---------------------------------------------------------------- */

typedef struct CachedRule
{
	pg_uuid_t	id;
	char	   *name;
	char	   *pattern;
	char	   *license_type;
	GcraParams	hour;
	GcraParams	day;
} CachedRule;

static MemoryContext rules_cxt = NULL;
static CachedRule *rules = NULL;
static int	nrules = 0;
static bool rules_valid = false;

/*
 * Invalidation only marks the cache stale: it can arrive while rules_load()
 * itself opens a relation, and must not free what is being filled in.  The
 * memory is reset at the start of the next load.
 */
static bool rules_stale = false;

static void type_cache_forget(void);

static void
rules_forget(void)
{
	rules_valid = false;
	rules_stale = true;
	type_cache_forget();
}

/* The rules table, the users table, and their columns (core_cache.c). */
enum
{
	REL_RULES, REL_LICENSES, REL_USERS, REL_USERS_PKEY
};
/* licenses only so that a change to it forgets the cached licence types. */
static const char *const rl_rel_names[] = {"rate_limit_rules", "licenses", "users", "users_pkey"};

enum
{
	R_ID, R_NAME, R_PATTERN, R_TYPE, R_PER_HOUR, R_PER_DAY, R_BURST, R_ENABLED, U_ID
};
static const JobspyColumn rl_columns[] = {
	{REL_RULES, "id"}, {REL_RULES, "name"}, {REL_RULES, "endpoint_pattern"},
	{REL_RULES, "license_type"}, {REL_RULES, "requests_per_hour"},
	{REL_RULES, "requests_per_day"}, {REL_RULES, "burst_limit"}, {REL_RULES, "enabled"},
	{REL_USERS, "id"},
};

static JobspyRels rl_rels = {
	.names = rl_rel_names, .nrels = lengthof(rl_rel_names),
	.columns = rl_columns, .ncolumns = lengthof(rl_columns),
	.forget = rules_forget,
};

/* Load the enabled rules.  Takes AccessShareLock on the rules table. */
static void
rules_load(void)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tuple;
	Snapshot	snapshot;
	int			allocated = 16;
	MemoryContext old;

	if (rules_cxt == NULL)
		rules_cxt = AllocSetContextCreate(CacheMemoryContext, "jobspy rate-limit rules",
										  ALLOCSET_SMALL_SIZES);
	MemoryContextReset(rules_cxt);
	rules = NULL;
	nrules = 0;
	jobspy_rels_require(&rl_rels);
	/* An invalidation from here on makes the next call load again. */
	rules_valid = false;
	rules_stale = false;

	old = MemoryContextSwitchTo(rules_cxt);
	rules = palloc(sizeof(CachedRule) * allocated);
	MemoryContextSwitchTo(old);

	rel = table_open(jobspy_rel(&rl_rels, REL_RULES), AccessShareLock);
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	scan = table_beginscan(rel, snapshot, 0, NULL);
	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		TupleDesc	desc = RelationGetDescr(rel);
		bool		isnull[8];
		Datum		d[8];
		CachedRule	r;
		const char *why;
		bool		skip = false;

		for (int j = 0; j < 8; j++)
		{
			d[j] = heap_getattr(tuple, jobspy_col(&rl_rels, R_ID + j), desc, &isnull[j]);
			skip |= isnull[j];
		}
		if (skip || !DatumGetBool(d[R_ENABLED]))
			continue;
		if (!gcra_params(DatumGetInt32(d[R_BURST]) - 1, DatumGetInt32(d[R_PER_HOUR]), NS_PER_HOUR,
						 &r.hour, &why) ||
			!gcra_params((int64) DatumGetInt32(d[R_PER_DAY]) - 1, DatumGetInt32(d[R_PER_DAY]),
						 NS_PER_DAY, &r.day, &why))
			continue;			/* the table's checks make this unreachable */
		memcpy(&r.id, DatumGetUUIDP(d[R_ID]), sizeof(pg_uuid_t));
		old = MemoryContextSwitchTo(rules_cxt);
		r.name = TextDatumGetCString(d[R_NAME]);
		r.pattern = TextDatumGetCString(d[R_PATTERN]);
		r.license_type = TextDatumGetCString(d[R_TYPE]);
		if (nrules == allocated)
		{
			allocated *= 2;
			rules = repalloc(rules, sizeof(CachedRule) * allocated);
		}
		rules[nrules++] = r;
		MemoryContextSwitchTo(old);
	}
	table_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
	rules_valid = !rules_stale;
}

/*
 * Endpoint patterns: '*' matches any run of characters, '/' included, even
 * an empty one; every other character matches itself.
 */
static bool
pattern_match(const char *pat, const char *s)
{
	const char *star = NULL;
	const char *resume = NULL;

	while (*s)
	{
		if (*pat == '*')
		{
			star = pat++;
			resume = s;
		}
		else if (*pat == *s)
		{
			pat++;
			s++;
		}
		else if (star)
		{
			pat = star + 1;
			s = ++resume;
		}
		else
			return false;
	}
	while (*pat == '*')
		pat++;
	return *pat == '\0';
}

PG_FUNCTION_INFO_V1(jobspy_rate_limit_pattern_match);
Datum
jobspy_rate_limit_pattern_match(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(pattern_match(text_to_cstring(PG_GETARG_TEXT_PP(0)),
								 text_to_cstring(PG_GETARG_TEXT_PP(1))));
}

/*
 * The type of the user's licence now (entitlements.c), palloc'd, or NULL
 * when there is none; *changes_at is when the first of the user's active
 * licences expires.
 */
static char *
read_user_license_type(const pg_uuid_t *user, Snapshot snapshot, TimestampTz *changes_at)
{
	char	   *type = NULL;

	*changes_at = DT_NOEND;
	return user_license(user, jobspy_now(), snapshot, NULL, &type, changes_at) ? type : NULL;
}

/*
 * Whether the user exists, read under snapshot (the licence type's own).
 * Takes AccessShareLock on jobspy.users.
 */
static bool
user_exists(const pg_uuid_t *user, Snapshot snapshot)
{
	Relation	rel = table_open(jobspy_rel(&rl_rels, REL_USERS), AccessShareLock);
	SysScanDesc scan;
	ScanKeyData skey;
	bool		found;

	ScanKeyInit(&skey, jobspy_col(&rl_rels, U_ID), BTEqualStrategyNumber, F_UUID_EQ, UUIDPGetDatum(user));
	scan = systable_beginscan(rel, jobspy_rel(&rl_rels, REL_USERS_PKEY), true, snapshot, 1, &skey);
	found = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * Each backend remembers a user's licence type, fresh by the licence
 * cache's rules (license_cache.c): the user's change generation, read
 * before the rows, which are read under a snapshot taken after it; the
 * time the first of the user's licences expires; and the age limit,
 * jobspy.licensing_cache_seconds.
 */
#define TYPE_LEN 32
typedef struct CachedType
{
	pg_uuid_t	user;			/* hash key */
	uint64		generation;
	TimestampTz loaded_at;		/* transaction start then, for the age limit */
	TimestampTz read_at;		/* jobspy.now() then: the clock may be moved back */
	TimestampTz changes_at;
	bool		exists;			/* the user exists (has_license implies it) */
	bool		has_license;
	char		type[TYPE_LEN];
} CachedType;

static HTAB *type_cache = NULL;

static CachedType *
type_cache_entry(const pg_uuid_t *user, bool *found)
{
	if (type_cache == NULL || hash_get_num_entries(type_cache) >= 100000)
	{
		HASHCTL		ctl;

		if (type_cache)
			hash_destroy(type_cache);
		ctl.keysize = sizeof(pg_uuid_t);
		ctl.entrysize = sizeof(CachedType);
		ctl.hcxt = CacheMemoryContext;
		type_cache = hash_create("jobspy licence types", 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	return hash_search(type_cache, user, HASH_ENTER, found);
}

static void
type_cache_forget(void)
{
	if (type_cache)
		hash_destroy(type_cache);
	type_cache = NULL;
}

/*
 * The licence type whose rules apply to a user: that of the user's licence
 * (entitlements.c), else jobspy.ratelimit_default_license_type.  22023
 * when there is no such user: an unknown id is a caller's mistake, not a
 * user without a licence.
 */
static void
unknown_user(const pg_uuid_t *user)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown user %s",
					DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(user)))),
			 errdetail("check_rate_limit applies the rules of an existing user's licence type.")));
}

static const char *
user_license_type(const pg_uuid_t *user)
{
	TimestampTz now = jobspy_now();
	const char *dflt = ratelimit_default_license_type ? ratelimit_default_license_type : "free";
	CachedType *c;
	bool		found;
	uint64		generation;
	Snapshot	snapshot;
	TimestampTz changes_at;
	char	   *type;
	bool		exists;

	if (!license_cache_usable())
	{
		snapshot = jobspy_statement_snapshot();
		type = read_user_license_type(user, snapshot, &changes_at);
		if (type == NULL && !user_exists(user, snapshot))
			unknown_user(user);
		return type ? type : dflt;
	}
	c = type_cache_entry(user, &found);
	if (found && license_cache_current(user, c->generation, c->loaded_at) &&
		now >= c->read_at && now < c->changes_at)
	{
		if (!c->exists)
			unknown_user(user);
		return c->has_license ? pstrdup(c->type) : dflt;
	}

	generation = license_cache_generation(user);
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	type = read_user_license_type(user, snapshot, &changes_at);
	exists = type != NULL || user_exists(user, snapshot);
	UnregisterSnapshot(snapshot);
	/* The entry may have moved while the table was read. */
	c = type_cache_entry(user, &found);
	c->generation = generation;
	c->loaded_at = GetCurrentTransactionStartTimestamp();
	c->read_at = now;
	c->changes_at = changes_at;
	c->exists = exists;
	c->has_license = type != NULL && strlen(type) < TYPE_LEN;
	if (c->has_license)
		strlcpy(c->type, type, TYPE_LEN);
	else if (type != NULL)
		c->changes_at = now;	/* a type too long to keep: never used from the cache */
	if (!exists)
		unknown_user(user);
	return type ? type : dflt;
}

/* ---- check_rate_limit: every window of every matching rule at once ------ */

typedef struct Window
{
	const CachedRule *rule;
	const GcraParams *params;
	char		window;
	RateKey		key;
	int			part;
	int32		idx;			/* entry, or -1 */
	int64		min_tat;		/* when idx < 0 after an insert failed */
	GcraResult	r;
} Window;

static int
cmp_int(const void *a, const void *b)
{
	int			x = *(const int *) a;
	int			y = *(const int *) b;

	return (x > y) - (x < y);
}

/*
 * The hour and day windows of every rule that applies to the user's
 * licence type and the endpoint, in w (room for 2 * nrules), and the
 * distinct partitions they fall in, in parts.  Returns how many windows.
 */
static int
matching_windows(const pg_uuid_t *user, const char *type, const char *endpoint, Window *w,
				 int *parts, int *nparts)
{
	int			nw = 0;

	*nparts = 0;
	for (int i = 0; i < nrules; i++)
	{
		const CachedRule *r = &rules[i];

		if ((strcmp(r->license_type, type) != 0 && strcmp(r->license_type, "*") != 0) ||
			!pattern_match(r->pattern, endpoint))
			continue;
		for (int h = 0; h < 2; h++)
		{
			Window	   *x = &w[nw++];
			bool		seen = false;

			x->rule = r;
			x->window = h == 0 ? WINDOW_HOUR : WINDOW_DAY;
			x->params = h == 0 ? &r->hour : &r->day;
			rl_key_for_window(&r->id, user, x->window, &x->key);
			x->part = key_partition(&x->key);
			x->idx = -1;
			x->min_tat = PG_INT64_MAX;
			for (int j = 0; j < *nparts; j++)
				seen |= (parts[j] == x->part);
			if (!seen)
				parts[(*nparts)++] = x->part;
		}
	}
	return nw;
}

/*
 * Find (or, when consuming, make) every window's entry; true when one
 * could not be stored.  pinned: room for nw entries, allocated before the
 * locks were taken.  The caller holds the windows' partition locks,
 * exclusively when cost > 0.
 */
static bool
find_windows(Window *w, int nw, int32 cost, int64 now, int32 *pinned)
{
	bool		any_full = false;

	for (int i = 0; i < nw; i++)
	{
		Window	   *x = &w[i];
		int			npinned = 0;

		x->idx = rl_part_find(x->part, &x->key);
		if (x->idx >= 0 || cost == 0)
			continue;
		/* Never evict a window of this same call. */
		for (int j = 0; j < i; j++)
			if (w[j].part == x->part && w[j].idx >= 0)
				pinned[npinned++] = w[j].idx;
		x->idx = rl_part_insert(x->part, &x->key, now, pinned, npinned, &x->min_tat);
		any_full |= (x->idx < 0);
	}
	return any_full;
}

/*
 * Decide every window, then consume from all of them or from none; a
 * window that could not be stored is answered by
 * jobspy.ratelimit_when_full.  True when every window admits the call.
 * The caller holds the partition locks as for find_windows().
 */
static bool
decide_windows(Window *w, int nw, int32 cost, int64 now)
{
	bool		allowed = true;

	for (int i = 0; i < nw; i++)
	{
		Window	   *x = &w[i];

		if (x->idx < 0 && cost > 0)
			store_full(x->params, now, cost, x->min_tat, &x->r);
		else
			gcra_decide(x->params,
						x->idx >= 0 ? part_entries(x->part)[x->idx].tat : GCRA_EMPTY,
						now, cost, &x->r);
		allowed &= x->r.allowed;
	}
	for (int i = 0; i < nw && cost > 0; i++)
	{
		RateEntry  *e;

		if (w[i].idx < 0)
			continue;
		e = &part_entries(w[i].part)[w[i].idx];
		if (allowed)
		{
			e->tat = w[i].r.new_tat;
			e->allowed++;
		}
		else if (!w[i].r.allowed)
			e->denied++;
	}
	return allowed;
}

/*
 * The window to report: when refused, the refusing window that frees last
 * (retrying after it finds every window ready); when admitted, the window
 * with the fewest units left (what RateLimit-* headers should show).
 */
static const Window *
window_to_show(const Window *w, int nw, bool allowed)
{
	const Window *shown = NULL;

	for (int i = 0; i < nw; i++)
	{
		const Window *x = &w[i];

		if (!allowed)
		{
			/* -1 (never fits) outranks any wait. */
			int64		mine = x->r.retry_after_ns < 0 ? PG_INT64_MAX : x->r.retry_after_ns;
			int64		theirs = shown == NULL ? -1 :
				(shown->r.retry_after_ns < 0 ? PG_INT64_MAX : shown->r.retry_after_ns);

			if (!x->r.allowed && mine > theirs)
				shown = x;
		}
		else if (shown == NULL || x->r.remaining < shown->r.remaining)
			shown = x;
	}
	return shown;
}

PG_FUNCTION_INFO_V1(jobspy_check_rate_limit);
Datum
jobspy_check_rate_limit(PG_FUNCTION_ARGS)
{
	char	   *endpoint;
	int32		cost;
	const char *type;
	Window	   *w;
	int32	   *pinned;
	int			nw;
	int			parts[RATE_PARTITIONS];
	int			nparts;
	int64		now;
	bool		allowed = true;
	bool		any_full;
	const Window *shown;
	Datum		values[6];
	bool		nulls[6] = {false, false, false, false, false, false};
	LWLockMode	mode;

	require_arg(fcinfo, 0, "user_id");
	require_arg(fcinfo, 1, "endpoint");
	require_arg(fcinfo, 2, "cost");
	endpoint = text_to_cstring(PG_GETARG_TEXT_PP(1));
	cost = PG_GETARG_INT32(2);
	if (cost < 0)
		bad_parameter("cost must be zero or more.");
	ratelimit_require();

	type = user_license_type(PG_GETARG_UUID_P(0));
	if (!rules_valid)
		rules_load();
	w = palloc(sizeof(Window) * 2 * Max(nrules, 1));
	nw = matching_windows(PG_GETARG_UUID_P(0), type, endpoint, w, parts, &nparts);
	if (nw == 0)
	{
		/* No rule applies: allowed, nothing to report. */
		values[0] = BoolGetDatum(true);
		nulls[1] = nulls[2] = nulls[3] = true;
		values[4] = Int64GetDatum(-1);
		values[5] = Int64GetDatum(0);
		return jobspy_return_row(fcinfo, values, nulls);
	}

	/* Partition locks in ascending order (ratelimit_store.c's rule). */
	qsort(parts, nparts, sizeof(int), cmp_int);
	pinned = palloc(sizeof(int32) * nw);
	mode = cost > 0 ? LW_EXCLUSIVE : LW_SHARED;
	now = ratelimit_now_ns();
	for (int j = 0; j < nparts; j++)
		LWLockAcquire(rl_store->parts[parts[j]].lock, mode);
	any_full = find_windows(w, nw, cost, now, pinned);
	if (!(any_full && ratelimit_when_full == WHEN_FULL_ERROR))
		allowed = decide_windows(w, nw, cost, now);
	for (int j = nparts - 1; j >= 0; j--)
		LWLockRelease(rl_store->parts[parts[j]].lock);

	if (any_full && ratelimit_when_full == WHEN_FULL_ERROR)
		store_full_error();

	shown = window_to_show(w, nw, allowed);
	values[0] = BoolGetDatum(allowed);
	values[1] = CStringGetTextDatum(psprintf("%s:%s", shown->rule->name,
											 shown->window == WINDOW_HOUR ? "hour" : "day"));
	values[2] = Int32GetDatum(shown->r.limit);
	values[3] = Int32GetDatum(shown->r.remaining);
	values[4] = Int64GetDatum(allowed ? -1 : gcra_ns_to_ms_ceil(shown->r.retry_after_ns));
	values[5] = Int64GetDatum(gcra_ns_to_ms_ceil(shown->r.reset_after_ns));
	return jobspy_return_row(fcinfo, values, nulls);
}

/*
 * Statement trigger on jobspy.rate_limit_rules: every backend drops its
 * cached rules when the change commits.
 */
PG_FUNCTION_INFO_V1(jobspy_rate_limit_rules_changed);
Datum
jobspy_rate_limit_rules_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = jobspy_trigger_data(fcinfo, "jobspy.rate_limit_rules_changed()");

	CacheInvalidateRelcache(trigdata->tg_relation);
	rules_forget();
	return PointerGetDatum(NULL);
}

void
jobspy_ratelimit_init(void)
{
	ratelimit_store_init();
	DefineCustomEnumVariable("jobspy.ratelimit_when_full",
							 "What a new rate-limit key gets when the store holds only active keys.",
							 "open admits it as a fresh key, closed refuses it, error raises JS301.",
							 &ratelimit_when_full,
							 WHEN_FULL_OPEN, when_full_options,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
	DefineCustomStringVariable("jobspy.ratelimit_default_license_type",
							   "Licence type whose rate-limit rules apply to users without an active licence.",
							   NULL,
							   &ratelimit_default_license_type,
							   "free",
							   PGC_SUSET, 0,
							   NULL, NULL, NULL);
	jobspy_rels_register(&rl_rels);
}
