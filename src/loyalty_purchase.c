/*
 * loyalty_purchase.c: jobspy.record_purchase, the common path in C.
 *
 * The common purchase is a member's new purchase with no coupon, at a
 * business whose rules are known: lock the member, see that the external
 * id is new, earn the points by the member's tier rules, grant them
 * (src/loyalty_grant.c) and write the purchase with its answer.  Six
 * statements, each prepared once per backend and kept, where the PL/pgSQL
 * implementation runs thirteen and calls a function per grant.  The reads
 * are folded: the business with whether a cross-promotion chain applies,
 * and the member's locked row with its tier, earn rate, category
 * multiplier, whether a higher tier exists and its running spend (so that
 * asking whether the purchase reaches that tier reads only the purchases
 * that left the window since the last one, not the member's history).
 *
 * Whatever is rare goes to the SQL implementation (loyalty_record_purchase_sql
 * in sql/loyalty_points.sql), which holds every rule and raises the errors:
 * bad input, an unknown business, a user not yet enrolled, a coupon, a
 * referral to reward, a promotion chain to follow, a tier upgrade, and a
 * replay with other values (JS701).  Nothing is written before the common
 * path is known to apply, so the SQL implementation starts from scratch
 * (the member's row is already locked by this transaction).
 */
#include "postgres.h"

#include "fmgr.h"
#include "catalog/pg_collation_d.h"
#include "common/int.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "core.h"
#include "loyalty.h"

enum
{
	ARG_BUSINESS, ARG_EXTERNAL_ID, ARG_USER, ARG_AMOUNT, ARG_CURRENCY, ARG_COUPON, ARG_CATEGORY, NARGS
};
enum
{
	OUT_PURCHASE_ID, OUT_POINTS, OUT_BALANCE, OUT_TIER, OUT_REPLAYED, NOUT
};

/* The answer, copied out of SPI's memory into the caller's. */
static void
answer(MemoryContext outer, Datum *values, bool *nulls, Datum purchase_id, int64 points, int64 balance,
	   Datum tier, bool tier_null, bool replayed)
{
	MemoryContext old = MemoryContextSwitchTo(outer);

	values[OUT_PURCHASE_ID] = datumCopy(purchase_id, false, UUID_LEN);
	values[OUT_POINTS] = Int64GetDatum(points);
	values[OUT_BALANCE] = Int64GetDatum(balance);
	nulls[OUT_TIER] = tier_null;
	values[OUT_TIER] = tier_null ? (Datum) 0 : datumCopy(tier, false, -1);
	values[OUT_REPLAYED] = BoolGetDatum(replayed);
	MemoryContextSwitchTo(old);
}

/* The SQL implementation, for the rare paths; its errors become ours. */
static void
purchase_in_sql(FunctionCallInfo fcinfo, MemoryContext outer, Datum *values, bool *nulls)
{
	static SPIPlanPtr plan = NULL;
	static Oid	types[NARGS] = {TEXTOID, TEXTOID, UUIDOID, INT8OID, TEXTOID, TEXTOID, TEXTOID};
	Datum		args[NARGS];
	char		argnulls[NARGS];
	HeapTuple	row;
	TupleDesc	desc;
	bool		isnull[NOUT];

	for (int i = 0; i < NARGS; i++)
	{
		args[i] = PG_GETARG_DATUM(i);
		argnulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
	}
	PG_TRY();
	{
		if (SPI_execute_plan(jobspy_plan(&plan,
										 "SELECT purchase_id, points_earned, balance, tier, replayed"
										 " FROM jobspy.loyalty_record_purchase_sql($1, $2, $3, $4, $5, $6, $7)",
										 NARGS, types),
							 args, argnulls, false, 0) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "record_purchase: jobspy.loyalty_record_purchase_sql failed");
	}
	PG_CATCH();
	{
		jobspy_rethrow_as_own(outer);
	}
	PG_END_TRY();
	row = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	for (int i = 0; i < NOUT; i++)
		values[i] = SPI_getbinval(row, desc, i + 1, &isnull[i]);
	answer(outer, values, nulls, values[OUT_PURCHASE_ID], DatumGetInt64(values[OUT_POINTS]),
		   DatumGetInt64(values[OUT_BALANCE]), values[OUT_TIER], isnull[OUT_TIER],
		   DatumGetBool(values[OUT_REPLAYED]));
}

/*
 * A category already in the form multipliers are stored in
 * (^[a-z0-9][a-z0-9_.-]{0,49}$); any other goes to the SQL implementation,
 * which trims and lower-cases it or refuses it (jobspy.loyalty_category).
 */
static bool
category_plain(text *category)
{
	const char *c = VARDATA_ANY(category);
	int			len = VARSIZE_ANY_EXHDR(category);

	if (len < 1 || len > 50 || !((c[0] >= 'a' && c[0] <= 'z') || (c[0] >= '0' && c[0] <= '9')))
		return false;
	for (int i = 1; i < len; i++)
		if (!((c[i] >= 'a' && c[i] <= 'z') || (c[i] >= '0' && c[i] <= '9') || c[i] == '_' || c[i] == '.' ||
			  c[i] == '-'))
			return false;
	return true;
}

/* The checks of the arguments, as the SQL implementation makes them. */
static bool
arguments_plain(FunctionCallInfo fcinfo)
{
	text	   *currency;
	const char *c;
	int			len;

	for (int i = 0; i < NARGS; i++)
		if (PG_ARGISNULL(i) && i != ARG_COUPON && i != ARG_CATEGORY)
			return false;
	if (!PG_ARGISNULL(ARG_COUPON) || PG_GETARG_INT64(ARG_AMOUNT) < 0)
		return false;
	len = DatumGetInt32(DirectFunctionCall1(textlen, PG_GETARG_DATUM(ARG_EXTERNAL_ID)));
	if (len < 1 || len > 255)
		return false;
	if (!PG_ARGISNULL(ARG_CATEGORY) && !category_plain(PG_GETARG_TEXT_PP(ARG_CATEGORY)))
		return false;
	currency = PG_GETARG_TEXT_PP(ARG_CURRENCY);
	c = VARDATA_ANY(currency);
	return VARSIZE_ANY_EXHDR(currency) == 3 &&
		c[0] >= 'A' && c[0] <= 'Z' && c[1] >= 'A' && c[1] <= 'Z' && c[2] >= 'A' && c[2] <= 'Z';
}

static bool
text_equal(Datum a, Datum b)
{
	return DatumGetBool(DirectFunctionCall2Coll(texteq, C_COLLATION_OID, a, b));
}

/* What the common path has read so far. */
typedef struct Purchase
{
	/* the call's arguments */
	Datum		user, external_id, currency, category;
	bool		category_null;
	int64		amount;
	TimestampTz now;
	/* the business */
	Datum		business;
	int32		business_bp;
	int64		min_purchase;
	Interval   *lifetime;
	/* the member, locked */
	int64		balance, debt;
	bool		next_isnull;
	TimestampTz next;
	Datum		tier;
	bool		tier_null;
	int32		rank;			/* -1: no tier */
	bool		may_rise;		/* a higher tier exists */
	Datum		window;			/* the programme's tier window */
	bool		window_null;
	int32		rate, multiplier;	/* earn rate and multiplier in basis points */
	/* the member's running spend, when kept (loyalty_members.window_*) */
	bool		kept_null;
	LoyaltyWindow kept;
	/* the running spend this purchase leaves, when it changes */
	bool		keep;
	LoyaltyWindow next_window;
} Purchase;

/* The business, and whether a cross-promotion chain follows this purchase. */
static bool
read_business(Purchase *p, Datum code)
{
	static SPIPlanPtr plan = NULL;
	static Oid	types[2] = {TEXTOID, INT8OID};
	Datum		args[2] = {code, Int64GetDatum(p->amount)};
	HeapTuple	row;
	TupleDesc	desc;
	bool		isnull;

	if (SPI_execute_plan(jobspy_plan(&plan,
									 "SELECT b.id, b.earn_bp, b.min_purchase, b.points_lifetime,"
									 " EXISTS (SELECT FROM jobspy.loyalty_promo_chains c WHERE c.source_business_id = b.id"
									 " AND c.active AND c.min_amount <= $2)"
									 " FROM jobspy.loyalty_businesses b WHERE b.code = $1", 2, types),
						 args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "record_purchase: business lookup failed");
	if (SPI_processed != 1)
		return false;
	row = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	if (DatumGetBool(SPI_getbinval(row, desc, 5, &isnull)))
		return false;
	p->business = SPI_getbinval(row, desc, 1, &isnull);
	p->business_bp = DatumGetInt32(SPI_getbinval(row, desc, 2, &isnull));
	p->min_purchase = DatumGetInt64(SPI_getbinval(row, desc, 3, &isnull));
	p->lifetime = DatumGetIntervalP(SPI_getbinval(row, desc, 4, &isnull));
	return true;
}

/*
 * The member's row, locked: it orders concurrent calls for one member, so
 * a purchase recorded meanwhile is seen by the replay check.  With it, what
 * the earning and the rare paths depend on.  False for a user not yet
 * enrolled and a member with a referral to reward.
 */
static bool
lock_member(Purchase *p)
{
	static SPIPlanPtr plan = NULL;
	static Oid	types[3] = {UUIDOID, UUIDOID, TEXTOID};
	Datum		args[3] = {p->user, p->business, p->category};
	char		nulls[3] = {' ', ' ', p->category_null ? 'n' : ' '};
	HeapTuple	row;
	TupleDesc	desc;
	bool		isnull, rank_null, rate_null, multiplier_null, from_null, currency_null;

	if (SPI_execute_plan(jobspy_plan(&plan,
									 "SELECT m.balance, m.next_expiry, m.debt,"
									 " m.referred_by IS NOT NULL AND m.referral_rewarded_at IS NULL,"
									 " t.code, t.rank,"
									 " EXISTS (SELECT FROM jobspy.loyalty_tiers h WHERE h.rank > coalesce(t.rank, -1)),"
									 " (SELECT r.tier_window FROM jobspy.loyalty_programme r),"
									 " (SELECT e.earn_bp FROM jobspy.loyalty_earn_rates e"
									 " WHERE e.business_id = $2 AND e.tier_id = m.tier_id),"
									 " (SELECT c.multiplier_bp FROM jobspy.loyalty_category_multipliers c"
									 " WHERE c.business_id = $2 AND c.category = $3),"
									 " m.window_spend, m.window_from, m.window_currency"
									 " FROM jobspy.loyalty_members m LEFT JOIN jobspy.loyalty_tiers t ON t.id = m.tier_id"
									 " WHERE m.user_id = $1 FOR UPDATE OF m", 3, types),
						 args, nulls, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "record_purchase: member lock failed");
	if (SPI_processed != 1)
		return false;
	row = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	if (DatumGetBool(SPI_getbinval(row, desc, 4, &isnull)))
		return false;
	p->balance = DatumGetInt64(SPI_getbinval(row, desc, 1, &isnull));
	p->next = DatumGetTimestampTz(SPI_getbinval(row, desc, 2, &p->next_isnull));
	p->debt = DatumGetInt64(SPI_getbinval(row, desc, 3, &isnull));
	p->tier = SPI_getbinval(row, desc, 5, &p->tier_null);
	p->rank = DatumGetInt32(SPI_getbinval(row, desc, 6, &rank_null));
	if (rank_null)
		p->rank = -1;
	p->may_rise = DatumGetBool(SPI_getbinval(row, desc, 7, &isnull));
	p->window = SPI_getbinval(row, desc, 8, &p->window_null);
	p->rate = DatumGetInt32(SPI_getbinval(row, desc, 9, &rate_null));
	if (rate_null)
		p->rate = p->business_bp;
	p->multiplier = DatumGetInt32(SPI_getbinval(row, desc, 10, &multiplier_null));
	if (multiplier_null)
		p->multiplier = 10000;
	p->kept.spend = DatumGetInt64(SPI_getbinval(row, desc, 11, &p->kept_null));
	p->kept.from = DatumGetTimestampTz(SPI_getbinval(row, desc, 12, &from_null));
	p->kept.currency = SPI_getbinval(row, desc, 13, &currency_null);
	p->kept_null = p->kept_null || from_null || currency_null;
	p->keep = false;
	return true;
}

typedef enum
{
	PURCHASE_NEW, PURCHASE_REPLAYED, PURCHASE_CONFLICT
} PurchaseSeen;

/*
 * A purchase already recorded under the external id answers as it first
 * did; recorded with other values, it is the SQL implementation's JS701.
 */
static PurchaseSeen
replay(Purchase *p, MemoryContext outer, Datum *values, bool *nulls)
{
	static SPIPlanPtr plan = NULL;
	static Oid	types[2] = {UUIDOID, TEXTOID};
	Datum		args[2] = {p->business, p->external_id};
	HeapTuple	row;
	TupleDesc	desc;
	bool		isnull, coupon_null, category_null, tier_null;
	Datum		category, tier;

	if (SPI_execute_plan(jobspy_plan(&plan,
									 "SELECT user_id, id, amount, currency, coupon, category, points_earned,"
									 " balance_after, tier FROM jobspy.loyalty_purchases"
									 " WHERE business_id = $1 AND external_id = $2", 2, types),
						 args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "record_purchase: replay lookup failed");
	if (SPI_processed == 0)
		return PURCHASE_NEW;
	row = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	(void) SPI_getbinval(row, desc, 5, &coupon_null);
	category = SPI_getbinval(row, desc, 6, &category_null);
	if (!DatumGetBool(DirectFunctionCall2(uuid_eq, SPI_getbinval(row, desc, 1, &isnull), p->user)) ||
		DatumGetInt64(SPI_getbinval(row, desc, 3, &isnull)) != p->amount ||
		!text_equal(SPI_getbinval(row, desc, 4, &isnull), p->currency) || !coupon_null ||
		category_null != p->category_null || (!category_null && !text_equal(category, p->category)))
		return PURCHASE_CONFLICT;
	tier = SPI_getbinval(row, desc, 9, &tier_null);
	answer(outer, values, nulls, SPI_getbinval(row, desc, 2, &isnull),
		   DatumGetInt64(SPI_getbinval(row, desc, 7, &isnull)),
		   DatumGetInt64(SPI_getbinval(row, desc, 8, &isnull)), tier, tier_null, true);
	return PURCHASE_REPLAYED;
}

/*
 * Whether this purchase takes the member to a higher tier (an upgrade is
 * the SQL implementation's).  Asked only when a higher tier exists.  When
 * the tiers share one currency, the member's spend in it over the window is
 * the running spend kept on the member's row less the purchases that have
 * left the window since (mostly none), or, the first time or after the
 * clock or the window moved back, the sum of the purchases in the window;
 * with this purchase it is the running spend to keep.  Tiers in several
 * currencies take the general query, which sums the window every time.
 */
static bool
rises(Purchase *p)
{
	static SPIPlanPtr plan = NULL, general = NULL;
	static Oid	types[9] = {UUIDOID, INTERVALOID, TIMESTAMPTZOID, TEXTOID, INT8OID, INT4OID,
							INT8OID, TIMESTAMPTZOID, TEXTOID};
	Datum		args[9] = {p->user, p->window, TimestampTzGetDatum(p->now), p->currency, Int64GetDatum(p->amount),
						   Int32GetDatum(p->rank), Int64GetDatum(p->kept.spend), TimestampTzGetDatum(p->kept.from),
						   p->kept.currency};
	char		nulls[9] = {' ', ' ', ' ', ' ', ' ', ' ', p->kept_null ? 'n' : ' ', p->kept_null ? 'n' : ' ',
							p->kept_null ? 'n' : ' '};
	HeapTuple	row;
	TupleDesc	desc;
	bool		isnull;

	if (SPI_execute_plan(jobspy_plan(&plan,
									 "WITH k AS (SELECT min(t.currency) AS currency, $3 - $2 AS since"
									 " FROM jobspy.loyalty_tiers t HAVING count(DISTINCT t.currency) = 1),"
									 " s AS (SELECT k.currency, k.since,"
									 " (CASE WHEN $9 = k.currency AND k.since >= $8"
									 " THEN $7 - (SELECT coalesce(sum(p.amount - p.refunded), 0) FROM jobspy.loyalty_purchases p"
									 " WHERE p.user_id = $1 AND p.currency = k.currency"
									 " AND p.created_at > $8 AND p.created_at <= k.since)"
									 " ELSE (SELECT coalesce(sum(p.amount - p.refunded), 0) FROM jobspy.loyalty_purchases p"
									 " WHERE p.user_id = $1 AND p.currency = k.currency AND p.created_at > k.since) END"
									 " + CASE WHEN $4 = k.currency THEN $5 ELSE 0 END)::bigint AS spend FROM k)"
									 " SELECT s.currency, s.since, s.spend,"
									 " EXISTS (SELECT FROM jobspy.loyalty_tiers t WHERE t.rank > $6 AND t.min_spend <= s.spend)"
									 " FROM s", 9, types),
						 args, nulls, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "record_purchase: tier lookup failed");
	if (SPI_processed == 1)
	{
		row = SPI_tuptable->vals[0];
		desc = SPI_tuptable->tupdesc;
		p->keep = true;
		p->next_window.currency = SPI_getbinval(row, desc, 1, &isnull);
		p->next_window.from = DatumGetTimestampTz(SPI_getbinval(row, desc, 2, &isnull));
		p->next_window.spend = DatumGetInt64(SPI_getbinval(row, desc, 3, &isnull));
		return DatumGetBool(SPI_getbinval(row, desc, 4, &isnull));
	}
	if (SPI_execute_plan(jobspy_plan(&general,
									 "SELECT FROM jobspy.loyalty_qualifying_tier($1, $2, $4, $5) q WHERE q.rank > $6",
									 6, types),
						 args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "record_purchase: tier lookup failed");
	return SPI_processed > 0;
}

/*
 * With no tier to reach, the running spend, when kept, counts the purchase
 * as the SQL implementation's does; false when it would overflow (the SQL
 * implementation then drops it, to be summed again).
 */
static bool
count_in_window(Purchase *p)
{
	if (p->keep || p->kept_null || p->now <= p->kept.from || !text_equal(p->kept.currency, p->currency))
		return true;
	p->keep = true;
	p->next_window = p->kept;
	return !pg_add_s64_overflow(p->kept.spend, p->amount, &p->next_window.spend);
}

/* The running spend of a purchase that grants no points. */
static void
write_window(Purchase *p)
{
	static SPIPlanPtr plan = NULL;
	static Oid	types[4] = {UUIDOID, INT8OID, TIMESTAMPTZOID, TEXTOID};
	Datum		args[4] = {p->user, Int64GetDatum(p->next_window.spend), TimestampTzGetDatum(p->next_window.from),
						   p->next_window.currency};

	if (SPI_execute_plan(jobspy_plan(&plan,
									 "UPDATE jobspy.loyalty_members SET window_spend = $2, window_from = $3,"
									 " window_currency = $4 WHERE user_id = $1", 4, types),
						 args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "record_purchase: the running spend could not be written");
}

/*
 * The purchase's row, written last, once, with its answer.  Only a
 * concurrent call for another member with the same external id can have
 * taken the external id first: the INSERT then waits for that call's
 * commit and fails on the unique key, which is JS701 here.  (A plain
 * INSERT: ON CONFLICT would pay a speculative insertion and a WAL record
 * more on every purchase.)
 */
static void
insert_purchase(Purchase *p, MemoryContext outer, pg_uuid_t *id, int64 points, int64 grant_id, Datum code)
{
	static SPIPlanPtr plan = NULL;
	static Oid	types[12] = {UUIDOID, UUIDOID, UUIDOID, TEXTOID, INT8OID, TEXTOID, TEXTOID,
							 INT8OID, INT8OID, TEXTOID, INT8OID, TIMESTAMPTZOID};
	Datum		args[12] = {p->user, UUIDPGetDatum(id), p->business, p->external_id, Int64GetDatum(p->amount),
							p->currency, p->category, Int64GetDatum(points), Int64GetDatum(p->balance), p->tier,
							Int64GetDatum(grant_id), TimestampTzGetDatum(p->now)};
	char		nulls[12] = {' ', ' ', ' ', ' ', ' ', ' ', p->category_null ? 'n' : ' ', ' ', ' ',
							 p->tier_null ? 'n' : ' ', points > 0 ? ' ' : 'n', ' '};

	PG_TRY();
	{
		if (SPI_execute_plan(jobspy_plan(&plan,
										 "INSERT INTO jobspy.loyalty_purchases (user_id, id, business_id, external_id,"
										 " amount, currency, category, points_earned, balance_after, tier, grant_id,"
										 " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
										 12, types),
							 args, nulls, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "record_purchase: the purchase could not be written");
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(outer);
		edata = CopyErrorData();
		if (edata->sqlerrcode != ERRCODE_UNIQUE_VIOLATION || edata->constraint_name == NULL ||
			strcmp(edata->constraint_name, "loyalty_purchases_business_id_external_id_key") != 0)
			PG_RE_THROW();
		FlushErrorState();
		ereport(ERROR,
				(errcode(ERRCODE_JS_PURCHASE_CONFLICT),
				 errmsg("purchase \"%s\" at business \"%s\" was recorded with other values",
						TextDatumGetCString(p->external_id), TextDatumGetCString(code)),
				 errdetail("Another member's purchase with this external id was recorded at the same time."),
				 errhint("An external id names one purchase forever; use a new one for a new purchase.")));
	}
	PG_END_TRY();
}

/*
 * The purchase on the common path; false when a rare path applies and the
 * SQL implementation must answer instead, before anything was written.
 */
static bool
purchase_common(FunctionCallInfo fcinfo, MemoryContext outer, Datum *values, bool *nulls)
{
	Purchase	p;
	int64		points = 0;
	int64		grant_id = 0;
	pg_uuid_t	id;

	if (!arguments_plain(fcinfo))
		return false;
	p.user = PG_GETARG_DATUM(ARG_USER);
	p.external_id = PG_GETARG_DATUM(ARG_EXTERNAL_ID);
	p.currency = PG_GETARG_DATUM(ARG_CURRENCY);
	p.category = PG_GETARG_DATUM(ARG_CATEGORY);
	p.category_null = PG_ARGISNULL(ARG_CATEGORY);
	p.amount = PG_GETARG_INT64(ARG_AMOUNT);
	p.now = jobspy_now();

	if (!read_business(&p, PG_GETARG_DATUM(ARG_BUSINESS)) || !lock_member(&p))
		return false;
	switch (replay(&p, outer, values, nulls))
	{
		case PURCHASE_REPLAYED:
			return true;
		case PURCHASE_CONFLICT:
			return false;
		case PURCHASE_NEW:
			break;
	}
	/* the programme's row is made by loyalty_settings(), there */
	if (p.may_rise && (p.window_null || rises(&p)))
		return false;
	if (!count_in_window(&p))
		return false;

	/* numeric in SQL, 128 bits here: amount * bp * multiplier can pass 2^63 */
	if (p.amount >= p.min_purchase)
	{
		int128		earned = (int128) p.amount * p.rate * p.multiplier / 100000000;

		if (earned > PG_INT64_MAX)
			return false;		/* out of range, raised there */
		points = (int64) earned;
	}
	jobspy_uuid_v7(&id);
	if (points > 0)
	{
		TimestampTz expires = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
																	  TimestampTzGetDatum(p.now),
																	  IntervalPGetDatum(p.lifetime)));
		LoyaltyMemberPoints after;

		grant_id = loyalty_grant_points(p.user, points, "earn", expires, UUIDPGetDatum(&id), false,
										p.business, false, p.external_id, false, p.debt,
										p.keep ? &p.next_window : NULL, &after);
		p.balance = after.balance;
		p.next_isnull = after.next_isnull;
		p.next = after.next_expiry;
	}
	else if (p.keep)
		write_window(&p);
	p.balance = loyalty_live_balance(DatumGetUUIDP(p.user), p.balance, p.next_isnull, p.next, p.now);
	insert_purchase(&p, outer, &id, points, grant_id, PG_GETARG_DATUM(ARG_BUSINESS));
	answer(outer, values, nulls, UUIDPGetDatum(&id), points, p.balance, p.tier, p.tier_null, false);
	return true;
}

/*
 * jobspy.record_purchase(business_code, external_id, user_id, amount,
 * currency, coupon, category) -> (purchase_id, points_earned, balance,
 * tier, replayed)
 */
PG_FUNCTION_INFO_V1(jobspy_record_purchase);
Datum
jobspy_record_purchase(PG_FUNCTION_ARGS)
{
	MemoryContext outer = CurrentMemoryContext;
	Datum		values[NOUT];
	bool		nulls[NOUT] = {false, false, false, false, false};

	SPI_connect();
	if (!purchase_common(fcinfo, outer, values, nulls))
		purchase_in_sql(fcinfo, outer, values, nulls);
	SPI_finish();
	return jobspy_return_row(fcinfo, values, nulls);
}
