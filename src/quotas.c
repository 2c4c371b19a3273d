/*
 * quotas.c: the quotas module's setting, and the lookup of the quota that
 * applies to a user's metric (jobspy.quota_lookup) for the hot path of
 * consume_quota and quota_status.
 *
 * jobspy.quota_usage_records decides which granted consumptions also get a
 * row in the usage ledger (jobspy.usage_records): "detailed" (the default)
 * records those that carry an idempotency key, a cost or metadata, and
 * every settled reservation; "all" records every grant.  The per-period
 * counters are exact either way; the ledger is the detail behind them.
 * sql/quotas.sql reads the setting with current_setting().
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "funcapi.h"
#include "nodes/makefuncs.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "core.h"
#include "entitlements.h"
#include "license_cache.h"
#include "quotas.h"

int			jobspy_quota_usage_records = QUOTA_RECORDS_DETAILED;

static const struct config_enum_entry usage_records_options[] = {
	{"detailed", QUOTA_RECORDS_DETAILED, false},
	{"all", QUOTA_RECORDS_ALL, false},
	{NULL, 0, false}
};

static void window_cache_forget(void);

void
jobspy_quotas_init(void)
{
	DefineCustomEnumVariable("jobspy.quota_usage_records",
							 "Which granted consumptions get a usage record.",
							 "detailed: those with an idempotency key, a cost or metadata, "
							 "and settled reservations; all: every grant.",
							 &jobspy_quota_usage_records,
							 QUOTA_RECORDS_DETAILED,
							 usage_records_options,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
	jobspy_quota_counters_init();
	jobspy_rels_register(&quota_rels);
}

/*
 * jobspy.quota_lookup(user_id, metric, at): the quota that applies to a
 * user's metric at a time, read straight from the tables through their
 * primary keys (no SQL, no planner, no executor), for consume_quota's hot
 * path and quota_status.  It answers exactly as the SQL of
 * jobspy.quota_plan_of() decides the plan in force:
 *
 *   1. the plan named by the plan_type of the live subscription (active,
 *      trialing, past_due), whose billing_cycle_anchor (else its
 *      current_period_start) anchors months and years whichever plan is in
 *      force;
 *   2. the plan in jobspy.user_plans;
 *   3. the plan named by the license_type of the most recently issued
 *      active, unexpired licence (ties: the smallest id);
 *   4. jobspy.quota_default_plan_id().
 *
 * Result (user_status, plan_id, period, quota_limit, period_start,
 * period_end), all NULL for an unknown user; period is NULL when the plan
 * does not define the metric.  Reads use the active snapshot, as a SQL
 * statement in the calling function would.  No locks beyond AccessShare.
 */

static const char *const quota_rel_names[] = {
	[QR_COUNTERS] = "quota_counters", [QR_COUNTERS_PKEY] = "quota_counters_pkey",
	[QR_USERS] = "users", [QR_USERS_PKEY] = "users_pkey",
	[QR_SUBSCRIPTIONS] = "subscriptions", [QR_SUBSCRIPTIONS_PKEY] = "subscriptions_pkey",
	[QR_USER_PLANS] = "user_plans", [QR_USER_PLANS_PKEY] = "user_plans_pkey",
	[QR_LICENSES] = "licenses", [QR_LICENSES_PKEY] = "licenses_pkey",
	[QR_PLANS] = "plans", [QR_PLAN_QUOTAS] = "plan_quotas", [QR_PLAN_QUOTAS_PKEY] = "plan_quotas_pkey",
};

static const JobspyColumn quota_columns[] = {
	[QC_COUNTER_USER] = {QR_COUNTERS, "user_id"}, [QC_COUNTER_METRIC] = {QR_COUNTERS, "metric"},
	[QC_COUNTER_PERIOD] = {QR_COUNTERS, "period"}, [QC_COUNTER_START] = {QR_COUNTERS, "period_start"},
	[QC_COUNTER_USED] = {QR_COUNTERS, "used"}, [QC_COUNTER_RESERVED] = {QR_COUNTERS, "reserved"},
	[QC_USER_ID] = {QR_USERS, "id"}, [QC_USER_STATUS] = {QR_USERS, "status"},
	[QC_USER_TIMEZONE] = {QR_USERS, "timezone"},
	[QC_SUB_USER] = {QR_SUBSCRIPTIONS, "user_id"}, [QC_SUB_STATUS] = {QR_SUBSCRIPTIONS, "status"},
	[QC_SUB_PLAN_TYPE] = {QR_SUBSCRIPTIONS, "plan_type"},
	[QC_SUB_PERIOD_START] = {QR_SUBSCRIPTIONS, "current_period_start"},
	[QC_SUB_ANCHOR] = {QR_SUBSCRIPTIONS, "billing_cycle_anchor"},
	[QC_UP_USER] = {QR_USER_PLANS, "user_id"}, [QC_UP_PLAN] = {QR_USER_PLANS, "plan_id"},
	[QC_PLAN_ID] = {QR_PLANS, "id"}, [QC_PLAN_CODE] = {QR_PLANS, "code"},
	[QC_PQ_PLAN] = {QR_PLAN_QUOTAS, "plan_id"}, [QC_PQ_METRIC] = {QR_PLAN_QUOTAS, "metric"},
	[QC_PQ_PERIOD] = {QR_PLAN_QUOTAS, "period"}, [QC_PQ_LIMIT] = {QR_PLAN_QUOTAS, "quota_limit"},
};

/*
 * Their oids and column numbers, found once per backend: two catalog
 * lookups for each on every call cost about 8,500 instructions.  Any
 * relcache invalidation of one of them forgets them all, and the cached
 * windows below with them.
 */
JobspyRels	quota_rels = {
	.names = quota_rel_names, .nrels = lengthof(quota_rel_names),
	.columns = quota_columns, .ncolumns = lengthof(quota_columns),
	.forget = window_cache_forget,
};

/* A column of a tuple of rel; *isnull set. */
static Datum
col(HeapTuple tup, Relation rel, int column, bool *isnull)
{
	return heap_getattr(tup, jobspy_col(&quota_rels, column), RelationGetDescr(rel), isnull);
}

/* A text column as a palloc'd C string, or NULL. */
static char *
col_text(HeapTuple tup, Relation rel, int column)
{
	bool		isnull;
	Datum		d = col(tup, rel, column, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/*
 * The id of the plan with this code, or false.  Plans are few: a scan.
 * Takes AccessShareLock on jobspy.plans.
 */
static bool
plan_by_code(const char *code, Snapshot snap, pg_uuid_t *out)
{
	Relation	rel = table_open(jobspy_rel(&quota_rels, QR_PLANS), AccessShareLock);
	TableScanDesc scan = table_beginscan(rel, snap, 0, NULL);
	HeapTuple	tup;
	bool		found = false;

	while (!found && (tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		char	   *c = col_text(tup, rel, QC_PLAN_CODE);

		if (c && strcmp(c, code) == 0)
		{
			bool		isnull;

			*out = *DatumGetUUIDP(col(tup, rel, QC_PLAN_ID, &isnull));
			found = true;
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/* Start an index scan of table on its primary key's leading uuid column. */
static SysScanDesc
scan_by_uuid(Relation rel, int index, int column, pg_uuid_t *value, Snapshot snap, ScanKeyData *key)
{
	ScanKeyInit(key, jobspy_col(&quota_rels, column), BTEqualStrategyNumber, F_UUID_EQ,
				UUIDPGetDatum(value));
	return systable_beginscan(rel, jobspy_rel(&quota_rels, index), true, snap, 1, key);
}

static Oid
jobspy_func(const char *name, int nargs, Oid *argtypes)
{
	return LookupFuncName(list_make2(makeString("jobspy"), makeString(pstrdup(name))),
						  nargs, argtypes, false);
}

/* date_trunc(field, at, zone) and the local-calendar end of that period. */
static void
calendar_period(const char *field, TimestampTz at, const char *zone,
				TimestampTz *start, TimestampTz *end)
{
	Datum		f = CStringGetTextDatum(field);
	Datum		z = CStringGetTextDatum(zone);
	Interval   *step = palloc0(sizeof(Interval));
	Datum		local;

	if (strcmp(field, "day") == 0)
		step->day = 1;
	else if (strcmp(field, "week") == 0)
		step->day = 7;
	else if (strcmp(field, "month") == 0)
		step->month = 1;
	else
		step->month = 12;
	*start = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_trunc_zone, f,
													 TimestampTzGetDatum(at), z));
	local = DirectFunctionCall2(timestamptz_zone, z, TimestampTzGetDatum(at));
	local = DirectFunctionCall2(timestamp_trunc, f, local);
	local = DirectFunctionCall2(timestamp_pl_interval, local, IntervalPGetDatum(step));
	*end = DatumGetTimestampTz(DirectFunctionCall2(timestamp_zone, z, local));
}

/*
 * A plan may limit a metric over several periods at once (posts per day and
 * per month): one window per period kind, so at most five.  Windows are
 * kept, locked and taken in the byte order of their period names, in C and
 * in SQL alike (jobspy.quota_take), so that two consumptions never wait for
 * each other's rows in opposite orders.
 */
#define QUOTA_MAX_WINDOWS 5

typedef struct QuotaSlot
{
	char		period[16];		/* day, week, month, year, lifetime */
	int64		quota_limit;	/* -1: unlimited */
	TimestampTz start;			/* -infinity for lifetime */
	TimestampTz end;			/* infinity for lifetime */
	bool		has_row;		/* the counter's row was at row when last updated */
	ItemPointerData row;
} QuotaSlot;

/* The quotas that apply to a user's metric, and their periods. */
typedef struct QuotaWindow
{
	char	   *status;			/* users.status */
	bool		have_plan;
	pg_uuid_t	plan_id;
	int			nslots;			/* 0: the plan does not define the metric */
	QuotaSlot	slots[QUOTA_MAX_WINDOWS];
	bool		by_default;		/* the plan is the configured default */
	TimestampTz changes_at;		/* a licence that chose the plan expires then */
} QuotaWindow;

/* A row of NULLs: what an unknown user gets (PL/pgSQL reads its fields). */
static Datum
null_row(TupleDesc desc)
{
	Datum		values[6] = {0};
	bool		nulls[6] = {true, true, true, true, true, true};

	return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}

/*
 * The user's status and time zone; false for an unknown user.  Each of
 * the reads below takes AccessShareLock on the table it reads.
 */
static bool
read_user(pg_uuid_t *user_id, Snapshot snap, char **status, char **zone)
{
	Relation	rel = table_open(jobspy_rel(&quota_rels, QR_USERS), AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan = scan_by_uuid(rel, QR_USERS_PKEY, QC_USER_ID, user_id, snap, &key);
	HeapTuple	tup = systable_getnext(scan);
	bool		found = HeapTupleIsValid(tup);

	if (found)
	{
		*status = col_text(tup, rel, QC_USER_STATUS);
		*zone = col_text(tup, rel, QC_USER_TIMEZONE);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/* What decided the plan in force, and what its period hangs on. */
typedef struct PlanChoice
{
	bool		have_plan;
	pg_uuid_t	plan_id;
	bool		by_default;		/* the plan is the configured default */
	bool		subscribed;		/* a live subscription decided (even on no plan) */
	const char *source;			/* subscription, user, license, default; NULL: none */
	bool		have_anchor;	/* a live subscription's billing anchor */
	TimestampTz anchor;
	TimestampTz changes_at;		/* a licence that chose the plan expires then */
} PlanChoice;

/* 1. The plan named by the live subscription, and its period's anchor. */
static void
subscription_plan(pg_uuid_t *user_id, Snapshot snap, PlanChoice *c)
{
	Relation	rel = table_open(jobspy_rel(&quota_rels, QR_SUBSCRIPTIONS), AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan = scan_by_uuid(rel, QR_SUBSCRIPTIONS_PKEY, QC_SUB_USER, user_id, snap, &key);
	HeapTuple	tup;

	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		char	   *s = col_text(tup, rel, QC_SUB_STATUS);
		char	   *plan_type;
		bool		isnull;
		Datum		d;

		if (!s || (strcmp(s, "active") != 0 && strcmp(s, "trialing") != 0 &&
				   strcmp(s, "past_due") != 0))
			continue;
		plan_type = col_text(tup, rel, QC_SUB_PLAN_TYPE);
		/* A live subscription that grants no plan (an addon) is passed over. */
		if (!plan_type)
			continue;
		/*
		 * Months run from the billing anchor: a weekly price or a trial
		 * moves current_period_start more often than once a month.  Rows
		 * without an anchor (a provider's) fall back to the period start.
		 */
		d = col(tup, rel, QC_SUB_ANCHOR, &isnull);
		if (isnull)
			d = col(tup, rel, QC_SUB_PERIOD_START, &isnull);
		if (!isnull)
		{
			c->have_anchor = true;
			c->anchor = DatumGetTimestampTz(d);
		}

		/*
		 * A live subscription decides alone: a plan_type with no plan
		 * leaves the user without a plan (quota_resolve() says why) rather
		 * than on another plan.
		 */
		c->subscribed = true;
		c->source = "subscription";
		c->have_plan = plan_by_code(plan_type, snap, &c->plan_id);
		break;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/* 2. The plan set for the user in jobspy.user_plans. */
static void
assigned_plan(pg_uuid_t *user_id, Snapshot snap, PlanChoice *c)
{
	Relation	rel = table_open(jobspy_rel(&quota_rels, QR_USER_PLANS), AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan = scan_by_uuid(rel, QR_USER_PLANS_PKEY, QC_UP_USER, user_id, snap, &key);
	HeapTuple	tup;
	bool		isnull;

	if (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		c->plan_id = *DatumGetUUIDP(col(tup, rel, QC_UP_PLAN, &isnull));
		c->have_plan = true;
		c->source = "user";
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/* 3. The plan named by the type of the user's licence (entitlements.c). */
static void
license_plan(pg_uuid_t *user_id, TimestampTz at, Snapshot snap, PlanChoice *c)
{
	char	   *type;

	if (user_license(user_id, at, snap, NULL, &type, &c->changes_at) &&
		plan_by_code(type, snap, &c->plan_id))
	{
		c->have_plan = true;
		c->source = "license";
	}
}

/* 4. The configured default plan, if any. */
static void
default_plan(PlanChoice *c)
{
	FmgrInfo	flinfo;
	LOCAL_FCINFO(dfc, 0);
	Datum		d;

	fmgr_info(jobspy_func("quota_default_plan_id", 0, NULL), &flinfo);
	InitFunctionCallInfoData(*dfc, &flinfo, 0, InvalidOid, NULL, NULL);
	d = FunctionCallInvoke(dfc);
	if (!dfc->isnull)
	{
		c->plan_id = *DatumGetUUIDP(d);
		c->have_plan = true;
		c->source = "default";
	}
}

/*
 * The plan in force for a user at a time, by the precedence above: the one
 * place it is decided (SQL asks through jobspy.quota_plan_of).
 */
static void
plan_in_force(pg_uuid_t *user_id, TimestampTz at, Snapshot snap, PlanChoice *c)
{
	memset(c, 0, sizeof(*c));
	c->changes_at = DT_NOEND;
	subscription_plan(user_id, snap, c);
	if (!c->have_plan && !c->subscribed)
		assigned_plan(user_id, snap, c);
	if (!c->have_plan && !c->subscribed)
		license_plan(user_id, at, snap, c);
	c->by_default = !c->have_plan && !c->subscribed;
	if (c->by_default)
		default_plan(c);
}

/* The plan's quotas on the metric, in the order of their period names. */
static void
plan_quota(pg_uuid_t *plan_id, text *metric, Snapshot snap, QuotaWindow *w)
{
	Relation	rel = table_open(jobspy_rel(&quota_rels, QR_PLAN_QUOTAS), AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan = scan_by_uuid(rel, QR_PLAN_QUOTAS_PKEY, QC_PQ_PLAN, plan_id, snap, &key);
	HeapTuple	tup;
	bool		isnull;

	w->nslots = 0;
	while (HeapTupleIsValid(tup = systable_getnext(scan)) && w->nslots < QUOTA_MAX_WINDOWS)
	{
		text	   *m = DatumGetTextPP(col(tup, rel, QC_PQ_METRIC, &isnull));
		char	   *period;
		int			i;

		if (VARSIZE_ANY_EXHDR(m) != VARSIZE_ANY_EXHDR(metric) ||
			memcmp(VARDATA_ANY(m), VARDATA_ANY(metric), VARSIZE_ANY_EXHDR(m)) != 0)
			continue;
		period = col_text(tup, rel, QC_PQ_PERIOD);
		/* Insertion by period name; the domain keeps names short. */
		for (i = w->nslots; i > 0 && strcmp(w->slots[i - 1].period, period) > 0; i--)
			w->slots[i] = w->slots[i - 1];
		memset(&w->slots[i], 0, sizeof(QuotaSlot));
		strlcpy(w->slots[i].period, period, sizeof(w->slots[i].period));
		w->slots[i].quota_limit = DatumGetInt64(col(tup, rel, QC_PQ_LIMIT, &isnull));
		w->nslots++;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/*
 * The period containing at: lifetime is unbounded; months and years of a
 * plan chosen while a subscription is live follow its anchor; the rest are
 * calendar periods in the user's time zone.
 */
static void
period_bounds(const char *period, const PlanChoice *c, TimestampTz at, const char *zone,
			  TimestampTz *start, TimestampTz *end)
{
	if (strcmp(period, "lifetime") == 0)
	{
		TIMESTAMP_NOBEGIN(*start);
		TIMESTAMP_NOEND(*end);
	}
	else if (c->have_anchor && (strcmp(period, "month") == 0 || strcmp(period, "year") == 0))
	{
		Oid			argtypes[3] = {TIMESTAMPTZOID, TIMESTAMPTZOID, INT4OID};
		HeapTupleHeader th;
		bool		isnull;

		th = DatumGetHeapTupleHeader(OidFunctionCall3(jobspy_func("quota_anchored_period", 3, argtypes),
													  TimestampTzGetDatum(c->anchor),
													  TimestampTzGetDatum(at),
													  Int32GetDatum(strcmp(period, "month") == 0 ? 1 : 12)));
		*start = DatumGetTimestampTz(GetAttributeByNum(th, 1, &isnull));
		*end = DatumGetTimestampTz(GetAttributeByNum(th, 2, &isnull));
	}
	else
		calendar_period(period, at, zone, start, end);
}

/*
 * Fills *w for the user's metric at a time; false for an unknown user.
 * Reads under the active snapshot with AccessShareLock on each table.
 */
static bool
quota_window(pg_uuid_t *user_id, text *metric, TimestampTz at, QuotaWindow *w)
{
	Snapshot	snap = GetActiveSnapshot();
	char	   *zone;
	PlanChoice	c;

	if (!read_user(user_id, snap, &w->status, &zone))
		return false;
	plan_in_force(user_id, at, snap, &c);
	w->have_plan = c.have_plan;
	w->plan_id = c.plan_id;
	w->by_default = c.by_default;
	w->changes_at = c.changes_at;
	w->nslots = 0;
	if (c.have_plan)
		plan_quota(&c.plan_id, metric, snap, w);
	for (int i = 0; i < w->nslots; i++)
		period_bounds(w->slots[i].period, &c, at, zone, &w->slots[i].start, &w->slots[i].end);
	return true;
}

/*
 * jobspy.quota_plan_of(user_id, at): (user_status, timezone, plan_id,
 * source, anchor) of a user, no row for an unknown one; the SQL face of
 * plan_in_force() for plan_in_force(), has_feature() and user_attributes().
 */
PG_FUNCTION_INFO_V1(jobspy_quota_plan_of);
Datum
jobspy_quota_plan_of(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *status;
	char	   *zone;
	PlanChoice	c;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) ||
		!read_user(PG_GETARG_UUID_P(0), GetActiveSnapshot(), &status, &zone))
		return (Datum) 0;
	plan_in_force(PG_GETARG_UUID_P(0), PG_GETARG_TIMESTAMPTZ(1), GetActiveSnapshot(), &c);
	values[0] = status ? CStringGetTextDatum(status) : (Datum) 0;
	nulls[0] = (status == NULL);
	values[1] = zone ? CStringGetTextDatum(zone) : (Datum) 0;
	nulls[1] = (zone == NULL);
	values[2] = UUIDPGetDatum(&c.plan_id);
	nulls[2] = !c.have_plan;
	values[3] = c.source ? CStringGetTextDatum(c.source) : (Datum) 0;
	nulls[3] = (c.source == NULL);
	values[4] = TimestampTzGetDatum(c.anchor);
	nulls[4] = !c.have_anchor;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

/*
 * One row of jobspy.quota_lookup_all(): (user_status, plan_id, period,
 * quota_limit, period_start, period_end) of window slot (-1: none).
 */
static void
lookup_row(const QuotaWindow *w, int slot, Datum *values, bool *nulls)
{
	const QuotaSlot *s = slot >= 0 ? &w->slots[slot] : NULL;

	memset(nulls, 0, sizeof(bool) * 6);
	values[0] = CStringGetTextDatum(w->status);
	values[1] = UUIDPGetDatum(&w->plan_id);
	nulls[1] = !w->have_plan;
	nulls[2] = nulls[3] = nulls[4] = nulls[5] = (s == NULL);
	if (s)
	{
		values[2] = CStringGetTextDatum(s->period);
		values[3] = Int64GetDatum(s->quota_limit);
		values[4] = TimestampTzGetDatum(s->start);
		values[5] = TimestampTzGetDatum(s->end);
	}
}

/* jobspy.quota_lookup(): the first window only, as 0.2.0 had one per metric. */
PG_FUNCTION_INFO_V1(jobspy_quota_lookup);
Datum
jobspy_quota_lookup(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	QuotaWindow w;
	Datum		values[6];
	bool		nulls[6];

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "jobspy_quota_lookup: the result must be a row");
	desc = BlessTupleDesc(desc);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) ||
		!quota_window(PG_GETARG_UUID_P(0), PG_GETARG_TEXT_PP(1), PG_GETARG_TIMESTAMPTZ(2), &w))
		PG_RETURN_DATUM(null_row(desc));
	lookup_row(&w, w.nslots > 0 ? 0 : -1, values, nulls);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

/*
 * jobspy.quota_lookup_all(user_id, metric, at): a row per window of the
 * metric in the order they are taken; one row with a NULL period when the
 * plan does not define the metric; one row of NULLs for an unknown user.
 */
PG_FUNCTION_INFO_V1(jobspy_quota_lookup_all);
Datum
jobspy_quota_lookup_all(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	QuotaWindow w;
	Datum		values[6] = {0};
	bool		nulls[6] = {true, true, true, true, true, true};

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) ||
		!quota_window(PG_GETARG_UUID_P(0), PG_GETARG_TEXT_PP(1), PG_GETARG_TIMESTAMPTZ(2), &w))
	{
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		return (Datum) 0;
	}
	for (int i = 0; i < Max(w.nslots, 1); i++)
	{
		lookup_row(&w, i < w.nslots ? i : -1, values, nulls);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * jobspy.consume_quota(user_id, metric, amount, idempotency_key), hot path
 * in C.  A call without an idempotency key, with valid arguments, for an
 * active user whose counter for the period exists and has room, is the
 * lookup above (or its cached window) and one update of the counter's row
 * (quota_counters.c): the row lock the update takes makes the
 * check-and-consume exact.  Every
 * other call (a key, a denial, the first use of a period, an error to
 * raise) goes to jobspy.quota_take(), the SQL implementation, which makes
 * the same decisions; the fast path only ever skips work.
 */
static SPIPlanPtr consume_update_plan = NULL;
static SPIPlanPtr consume_insert_plan = NULL;
static SPIPlanPtr consume_general_plan = NULL;

/*
 * Each backend remembers the quota window of the (user, metric) pairs it
 * consumed from: the lookup above reads four or five tables, a quarter of a
 * consumption's cost.  An entry is kept fresh by the licence cache's rules
 * (license_cache.c): it is used only while the user's change generation,
 * read before the tables were, is unchanged (triggers on users, licenses,
 * subscriptions and user_plans end a user's entries when a change commits;
 * on plans and plan_quotas, everyone's), before the window ends or a
 * licence that chose the plan expires, and within
 * jobspy.licensing_cache_seconds.  Windows of the configured default plan
 * are not kept (the configuration has no trigger); nor is anything when the
 * licence cache is bypassed (a standby, REPEATABLE READ, a transaction that
 * changed those tables).
 */
#define WINDOW_METRIC_LEN 100	/* plan_quotas.metric's longest */
#define WINDOW_CACHE_ENTRIES 65536	/* beyond it, the cache starts over */

typedef struct WindowKey
{
	pg_uuid_t	user;
	char		metric[WINDOW_METRIC_LEN + 1];	/* NUL-padded */
} WindowKey;

typedef struct CachedWindow
{
	WindowKey	key;			/* hash key */
	uint64		generation;
	TimestampTz loaded_at;		/* transaction start then, for the age limit */
	TimestampTz read_at;		/* jobspy.now() then: the clock may be moved back */
	TimestampTz valid_until;	/* the first window's end, or a licence's expiry */
	TimestampTz start;			/* the latest start of the windows */
	int			nslots;
	QuotaSlot	slots[QUOTA_MAX_WINDOWS];	/* has_row: after our last update */
} CachedWindow;

static HTAB *window_cache = NULL;

static void
window_cache_forget(void)
{
	if (window_cache)
		hash_destroy(window_cache);
	window_cache = NULL;
}

/*
 * The window of an active user's metric at now, for the fast path: false
 * when the general path must answer (an unknown or inactive user, a metric
 * the plan does not define).
 */
static void
window_key(pg_uuid_t *user_id, text *metric, WindowKey *key)
{
	memset(key, 0, sizeof(*key));
	key->user = *user_id;
	memcpy(key->metric, VARDATA_ANY(metric), VARSIZE_ANY_EXHDR(metric));
}

static bool
fast_window(pg_uuid_t *user_id, text *metric, TimestampTz now, QuotaWindow *w)
{
	WindowKey	key;
	CachedWindow *e;
	bool		cacheable = license_cache_usable() && VARSIZE_ANY_EXHDR(metric) <= WINDOW_METRIC_LEN;
	uint64		generation = 0;
	bool		found;

	if (cacheable)
	{
		window_key(user_id, metric, &key);
		e = window_cache ? hash_search(window_cache, &key, HASH_FIND, NULL) : NULL;
		if (e && license_cache_current(user_id, e->generation, e->loaded_at) &&
			now >= e->read_at && now >= e->start && now < e->valid_until)
		{
			/* A copy: an invalidation during the UPDATE may empty the cache. */
			w->status = "active";
			w->nslots = e->nslots;
			memcpy(w->slots, e->slots, sizeof(QuotaSlot) * e->nslots);
			return true;
		}
		generation = license_cache_generation(user_id);
	}

	/* See what a new statement would see, as PL/pgSQL does. */
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	found = quota_window(user_id, metric, now, w);
	PopActiveSnapshot();
	if (!found || strcmp(w->status, "active") != 0 || w->nslots == 0)
		return false;

	if (cacheable && !w->by_default)
	{
		if (window_cache == NULL || hash_get_num_entries(window_cache) >= WINDOW_CACHE_ENTRIES)
		{
			HASHCTL		ctl;

			window_cache_forget();
			ctl.keysize = sizeof(WindowKey);
			ctl.entrysize = sizeof(CachedWindow);
			ctl.hcxt = CacheMemoryContext;
			window_cache = hash_create("jobspy quota windows", 1024, &ctl,
									   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		}
		e = hash_search(window_cache, &key, HASH_ENTER, NULL);
		e->generation = generation;
		e->loaded_at = GetCurrentTransactionStartTimestamp();
		e->read_at = now;
		e->valid_until = w->changes_at;
		e->start = DT_NOBEGIN;
		for (int i = 0; i < w->nslots; i++)
		{
			e->valid_until = Min(e->valid_until, w->slots[i].end);
			e->start = Max(e->start, w->slots[i].start);
		}
		e->nslots = w->nslots;
		memcpy(e->slots, w->slots, sizeof(QuotaSlot) * w->nslots);
	}
	return true;
}

/* Remember where a window's counter row is now, if the window is still kept. */
static void
window_remember_row(pg_uuid_t *user_id, text *metric, const QuotaSlot *slot, ItemPointer row)
{
	WindowKey	key;
	CachedWindow *e;

	if (window_cache == NULL || VARSIZE_ANY_EXHDR(metric) > WINDOW_METRIC_LEN)
		return;
	window_key(user_id, metric, &key);
	e = hash_search(window_cache, &key, HASH_FIND, NULL);
	for (int i = 0; e && i < e->nslots; i++)
	{
		if (strcmp(e->slots[i].period, slot->period) == 0 && e->slots[i].start == slot->start)
		{
			e->slots[i].has_row = true;
			e->slots[i].row = *row;
		}
	}
}

/*
 * consume_quota runs as the owner of the quota tables, as a SECURITY
 * DEFINER function would, but switches in C: fmgr's switch with SET
 * search_path saves and restores the setting on every call, about 10,000
 * instructions, and the hot path resolves no names.  The SQL of the slow
 * paths runs with the search path pinned between sql_begin() and
 * sql_end(), as it would be there; an error unwinds both with the
 * (sub)transaction.
 */
static int
sql_begin(void)
{
	int			nest;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	nest = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nest;
}

static void
sql_end(int nest)
{
	AtEOXact_GUC(true, nest);
	SPI_finish();
}

/*
 * The counter update as SQL, for when quota_counter_add() cannot make it
 * (quota_counters.c says when): false when the row is missing or has no
 * room.
 */
static bool
consume_by_update(const QuotaCounterKey *key, int64 limit, int64 amount, int64 *used, int64 *reserved)
{
	Datum		args[6];
	bool		isnull;
	int			nest = sql_begin();
	bool		updated;

	Oid			types[6] = {UUIDOID, TEXTOID, INT8OID, TEXTOID, TIMESTAMPTZOID, INT8OID};
	SPIPlanPtr	plan = jobspy_plan(&consume_update_plan,
								   "UPDATE jobspy.quota_counters c SET used = c.used + $3"
								   " WHERE c.user_id = $1 AND c.metric = $2 AND c.period = $4"
								   "   AND c.period_start = $5"
								   "   AND ($6 < 0 OR $3 <= $6 - c.used - c.reserved)"
								   "   AND $3 <= 9223372036854775807 - c.used - c.reserved"
								   " RETURNING c.used, c.reserved", 6, types);

	args[0] = UUIDPGetDatum(key->user_id);
	args[1] = PointerGetDatum(key->metric);
	args[2] = Int64GetDatum(amount);
	args[3] = CStringGetTextDatum(key->period);
	args[4] = TimestampTzGetDatum(key->start);
	args[5] = Int64GetDatum(limit);
	if (SPI_execute_plan(plan, args, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "consume_quota: counter update failed");
	updated = (SPI_processed == 1);
	if (updated)
	{
		*used = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		*reserved = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	}
	sql_end(nest);
	return updated;
}

/*
 * amount added to every window's counter, or to none: false, with nothing
 * left added, when a counter is missing or has no room.  Each window's row
 * stays locked by its update until the transaction ends, so the counters
 * of the windows taken before a refusal are given back under the lock:
 * nobody else has seen them.  used[] and reserved[]: the rows' new values.
 */
static bool
take_windows(pg_uuid_t *user_id, text *metric, QuotaWindow *w, int64 amount,
			 int64 *used, int64 *reserved)
{
	QuotaCounterKey key[QUOTA_MAX_WINDOWS];
	int			taken;

	for (taken = 0; taken < w->nslots; taken++)
	{
		QuotaSlot  *s = &w->slots[taken];
		ItemPointerData row;
		QuotaCounterResult r;

		key[taken].user_id = user_id;
		key[taken].metric = metric;
		key[taken].period = s->period;
		key[taken].start = s->start;
		r = quota_counter_add(&key[taken], s->quota_limit, amount, s->has_row ? &s->row : NULL,
							  &used[taken], &reserved[taken], &row);
		if (r == QUOTA_COUNTER_ADDED)
			window_remember_row(user_id, metric, s, &row);
		else if (r == QUOTA_COUNTER_REFUSED ||
				 !consume_by_update(&key[taken], s->quota_limit, amount, &used[taken], &reserved[taken]))
			break;
	}
	if (taken == w->nslots)
		return true;
	/* A refusal: give back what the earlier windows took (no limit binds a return). */
	for (int i = 0; i < taken; i++)
		if (!consume_by_update(&key[i], -1, -amount, &used[i], &reserved[i]))
			elog(ERROR, "consume_quota: a window's counter vanished under its row lock");
	return false;
}

/*
 * The window an answer reports: the one with the least room left (the
 * first of equals), or the first when no window has a limit.
 */
static int
binding_window(const QuotaWindow *w, const int64 *used, const int64 *reserved)
{
	int			best = 0;
	int64		best_room = PG_INT64_MAX;

	for (int i = 0; i < w->nslots; i++)
	{
		int64		room = w->slots[i].quota_limit - used[i] - reserved[i];

		if (w->slots[i].quota_limit >= 0 && room < best_room)
		{
			best = i;
			best_room = room;
		}
	}
	return best;
}

/* The fast path; false when the general path must answer. */
static bool
consume_fast(pg_uuid_t *user_id, text *metric, int64 amount, TimestampTz now,
			 Datum *values, bool *nulls)
{
	QuotaWindow w;
	QuotaSlot  *b;
	Datum		args[4];
	int64		used[QUOTA_MAX_WINDOWS];
	int64		reserved[QUOTA_MAX_WINDOWS];
	int			i;

	if (!fast_window(user_id, metric, now, &w))
		return false;
	/* quota_take() refuses what an unlimited window's call may not take. */
	for (i = 0; i < w.nslots; i++)
		if (w.slots[i].quota_limit < 0 && amount > QUOTA_UNLIMITED_MAX_AMOUNT)
			return false;
	if (!take_windows(user_id, metric, &w, amount, used, reserved))
		return false;

	if (jobspy_quota_usage_records == QUOTA_RECORDS_ALL)
	{
		int			nest = sql_begin();

		Oid			types[4] = {UUIDOID, TEXTOID, INT8OID, TIMESTAMPTZOID};
		SPIPlanPtr	plan = jobspy_plan(&consume_insert_plan,
									   "INSERT INTO jobspy.usage_records (user_id, metric, amount, created_at)"
									   " VALUES ($1, $2, $3, $4)", 4, types);

		args[0] = UUIDPGetDatum(user_id);
		args[1] = PointerGetDatum(metric);
		args[2] = Int64GetDatum(amount);
		args[3] = TimestampTzGetDatum(now);
		if (SPI_execute_plan(plan, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "consume_quota: usage record insert failed");
		sql_end(nest);
	}

	/* (allowed, used, quota_limit, remaining, period_start, resets_at) of the binding window */
	i = binding_window(&w, used, reserved);
	b = &w.slots[i];
	values[0] = BoolGetDatum(true);
	values[1] = Int64GetDatum(used[i]);
	values[2] = Int64GetDatum(b->quota_limit);
	values[3] = Int64GetDatum(Max(b->quota_limit - used[i] - reserved[i], 0));
	nulls[2] = nulls[3] = (b->quota_limit < 0);
	values[4] = TimestampTzGetDatum(b->start);
	values[5] = TimestampTzGetDatum(b->end);
	nulls[4] = nulls[5] = (strcmp(b->period, "lifetime") == 0);
	return true;
}

/*
 * Run the SQL implementation as if its errors were consume_quota's own
 * (jobspy_rethrow_as_own): no CONTEXT lines naming the internal functions
 * and statements it went through.
 */
static void
execute_as_own(SPIPlanPtr plan, Datum *args, const char *argnulls)
{
	MemoryContext cxt = CurrentMemoryContext;

	PG_TRY();
	{
		if (SPI_execute_plan(plan, args, argnulls, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "consume_quota: jobspy.quota_take failed");
	}
	PG_CATCH();
	{
		jobspy_rethrow_as_own(cxt);
	}
	PG_END_TRY();
}

PG_FUNCTION_INFO_V1(jobspy_consume_quota);
Datum
jobspy_consume_quota(PG_FUNCTION_ARGS)
{
	Datum		values[6] = {0};
	bool		nulls[6] = {false, false, false, false, false, false};
	bool		done = false;
	Oid			save_user;
	int			save_sec;

	GetUserIdAndSecContext(&save_user, &save_sec);
	SetUserIdAndSecContext(jobspy_rels_owner(&quota_rels), save_sec | SECURITY_LOCAL_USERID_CHANGE);

	if (!PG_ARGISNULL(0) && !PG_ARGISNULL(1) && !PG_ARGISNULL(2) && PG_ARGISNULL(3) &&
		PG_GETARG_INT64(2) > 0)
		done = consume_fast(PG_GETARG_UUID_P(0), PG_GETARG_TEXT_PP(1), PG_GETARG_INT64(2),
							jobspy_now(), values, nulls);

	if (!done)
	{
		Datum		args[4];
		char		argnulls[4];
		int			nest = sql_begin();

		Oid			types[4] = {UUIDOID, TEXTOID, INT8OID, TEXTOID};
		SPIPlanPtr	plan = jobspy_plan(&consume_general_plan,
									   "SELECT t.allowed, t.used, t.quota_limit, t.remaining,"
									   "       t.period_start, t.resets_at"
									   "  FROM jobspy.quota_take('consume', $1, $2, $3, $4, NULL, NULL, NULL) t",
									   4, types);

		for (int i = 0; i < 4; i++)
		{
			args[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
			argnulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
		}
		execute_as_own(plan, args, argnulls);
		if (SPI_processed != 1)
			elog(ERROR, "consume_quota: jobspy.quota_take gave no answer");
		/* All six columns are passed by value. */
		for (int i = 0; i < 6; i++)
			values[i] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1, &nulls[i]);
		sql_end(nest);
	}

	SetUserIdAndSecContext(save_user, save_sec);
	return jobspy_return_row(fcinfo, values, nulls);
}
