/*
 * loyalty_spend.c: jobspy.spend_points, the common path in C.
 *
 * A spend locks the member's row and compares the live balance
 * (src/loyalty_balance.c) with the points asked for.  When they suffice it
 * records the idempotency key with its answer (a key already recorded
 * inserts nothing and is answered from its record) and draws the points
 * from the member's live grants, earliest expiry first.  The draw is jobspy.loyalty_draw's rule (the one
 * refunds and expiry use) written as the simple statements a spend needs:
 * the live grants read in drawing order through their partial index, one
 * UPDATE and one ledger row per grant drawn, one UPDATE of the member.
 * Each statement is prepared once per backend and kept, so a call pays no
 * PL/pgSQL frame and no plan of a statement with a window and three
 * data-modifying parts.
 *
 * Whatever is rare goes to the SQL implementation, which holds every rule
 * and raises the errors: a user with no member row yet (enrolled there, or
 * refused as unknown) and a key replayed with other points (JS702).
 */
#include "postgres.h"

#include "fmgr.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "core.h"
#include "loyalty.h"

/* The SQL implementation, for the rare paths; its errors become ours. */
static void
spend_in_sql(Datum *args, bool *allowed, int64 *balance)
{
	static SPIPlanPtr plan = NULL;
	static Oid	types[3] = {UUIDOID, INT8OID, TEXTOID};
	MemoryContext cxt = CurrentMemoryContext;
	bool		isnull;

	PG_TRY();
	{
		if (SPI_execute_plan(jobspy_plan(&plan,
										 "SELECT allowed, balance FROM jobspy.loyalty_spend_points_sql($1, $2, $3)",
										 3, types),
							 args, NULL, false, 0) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "spend_points: jobspy.loyalty_spend_points_sql failed");
	}
	PG_CATCH();
	{
		jobspy_rethrow_as_own(cxt);
	}
	PG_END_TRY();
	*allowed = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	*balance = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
}

/*
 * Take points from a locked member's live grants, earliest expiry first,
 * the caller having seen at least that many live: per grant drawn, its
 * remainder lowered and a ledger row; then the member's balance, and its
 * next_expiry moved to the earliest live grant left with points, unless
 * one already past its expiry (not drawn, not yet written off) comes
 * first.  member_next is the member's next_expiry (DT_NOBEGIN for none).
 */
static void
draw(Datum user, int64 points, Datum reference, TimestampTz now, TimestampTz member_next)
{
	static SPIPlanPtr live_two_plan = NULL, live_plan = NULL, take_plan = NULL, ledger_plan = NULL,
				member_plan = NULL;
	static Oid	live_types[2] = {UUIDOID, TIMESTAMPTZOID};
	static Oid	take_types[3] = {UUIDOID, INT8OID, INT8OID};
	static Oid	ledger_types[4] = {UUIDOID, INT8OID, INT8OID, TEXTOID};
	static Oid	member_types[4] = {UUIDOID, INT8OID, TIMESTAMPTZOID, BOOLOID};
	Datum		live_args[2] = {user, TimestampTzGetDatum(now)};
	Datum		member_args[4];
	char		member_nulls[4] = {' ', ' ', ' ', ' '};
	int64		left = points;
	bool		next_found = false;
	TimestampTz next_live = 0;

	/*
	 * Most spends take from one grant and need the next one's expiry: two
	 * rows.  When those were used up, the rest is read (the grants drawn to
	 * zero have left the partial index by then).  The first read says LIMIT
	 * in its text: planned for all rows, it would read and sort every grant
	 * the member has, and a member gains one with each purchase.
	 */
	for (bool first = true;; first = false)
	{
		SPITupleTable *rows;
		uint64		nrows;
		SPIPlanPtr	plan = first ?
			jobspy_plan(&live_two_plan,
						"SELECT grant_id, remaining, expires_at FROM jobspy.loyalty_grants"
						" WHERE user_id = $1 AND live AND expires_at > $2"
						" ORDER BY expires_at, grant_id LIMIT 2", 2, live_types) :
			jobspy_plan(&live_plan,
						"SELECT grant_id, remaining, expires_at FROM jobspy.loyalty_grants"
						" WHERE user_id = $1 AND live AND expires_at > $2"
						" ORDER BY expires_at, grant_id", 2, live_types);

		if (SPI_execute_plan(plan, live_args, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "spend_points: live grants lookup failed");
		/* the statements below replace SPI_tuptable and SPI_processed */
		rows = SPI_tuptable;
		nrows = SPI_processed;
		for (uint64 i = 0; i < nrows && !next_found; i++)
		{
			bool		isnull;
			Datum		grant = SPI_getbinval(rows->vals[i], rows->tupdesc, 1, &isnull);
			int64		remaining = DatumGetInt64(SPI_getbinval(rows->vals[i], rows->tupdesc, 2, &isnull));
			TimestampTz expires = DatumGetTimestampTz(SPI_getbinval(rows->vals[i], rows->tupdesc, 3, &isnull));
			int64		take = Min(remaining, left);

			if (take > 0)
			{
				Datum		take_args[3] = {user, grant, Int64GetDatum(take)};
				Datum		ledger_args[4] = {user, Int64GetDatum(-take), grant, reference};

				if (SPI_execute_plan(jobspy_plan(&take_plan,
												 "UPDATE jobspy.loyalty_grants SET remaining = remaining - $3"
												 " WHERE user_id = $1 AND grant_id = $2", 3, take_types),
									 take_args, NULL, false, 0) != SPI_OK_UPDATE || SPI_processed != 1 ||
					SPI_execute_plan(jobspy_plan(&ledger_plan,
												 "INSERT INTO jobspy.loyalty_ledger (user_id, kind, points, grant_id, reference)"
												 " VALUES ($1, 'spend', $2, $3, $4)", 4, ledger_types),
									 ledger_args, NULL, false, 0) != SPI_OK_INSERT)
					elog(ERROR, "spend_points: a grant could not be drawn");
				left -= take;
			}
			if (remaining > take)
			{
				next_found = true;
				next_live = expires;
			}
		}
		if (next_found || !first || nrows < 2)
			break;
	}
	if (left != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the member's live grants hold fewer points than its balance"),
				 errhint("jobspy.loyalty_check() reports the members whose balance and ledger disagree.")));

	member_args[0] = user;
	member_args[1] = Int64GetDatum(points);
	member_args[2] = TimestampTzGetDatum(next_live);
	member_nulls[2] = next_found ? ' ' : 'n';
	/* an expired grant not yet written off stays the member's next expiry */
	member_args[3] = BoolGetDatum(!TIMESTAMP_NOT_FINITE(member_next) && member_next <= now);
	if (SPI_execute_plan(jobspy_plan(&member_plan,
									 "UPDATE jobspy.loyalty_members SET balance = balance - $2,"
									 " next_expiry = CASE WHEN $4 THEN next_expiry ELSE $3 END"
									 " WHERE user_id = $1", 4, member_types),
						 member_args, member_nulls, false, 0) != SPI_OK_UPDATE || SPI_processed != 1)
		elog(ERROR, "spend_points: the member's balance could not be updated");
}

/*
 * The spend of a member whose row exists; false when a rare path applies
 * and the SQL implementation must answer instead.
 */
static bool
spend_common(Datum *args, int64 points, bool *allowed, int64 *balance)
{
	static SPIPlanPtr lock_plan = NULL, replay_plan = NULL, record_plan = NULL;
	static Oid	types[4] = {UUIDOID, INT8OID, TEXTOID, INT8OID};
	static Oid	key_types[2] = {UUIDOID, TEXTOID};
	Datum		key_args[2] = {args[0], args[2]};
	Datum		record_args[4];
	bool		isnull, next_isnull;
	int64		live;
	TimestampTz next;
	TimestampTz now = jobspy_now();

	if (SPI_execute_plan(jobspy_plan(&lock_plan,
									 "SELECT balance, next_expiry FROM jobspy.loyalty_members"
									 " WHERE user_id = $1 FOR UPDATE", 1, types),
						 args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "spend_points: member lock failed");
	if (SPI_processed == 0)
		return false;
	live = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	next = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &next_isnull));

	live = loyalty_live_balance((pg_uuid_t *) DatumGetPointer(args[0]), live, next_isnull, next, now);

	/*
	 * A spend the balance allows is recorded first, under its key: a key
	 * already there (a replay) inserts nothing and is answered below, so
	 * the common path pays no separate lookup.
	 */
	if (live >= points)
	{
		record_args[0] = args[0];
		record_args[1] = args[1];
		record_args[2] = args[2];
		record_args[3] = Int64GetDatum(live - points);
		if (SPI_execute_plan(jobspy_plan(&record_plan,
										 "INSERT INTO jobspy.loyalty_spends (user_id, points, idempotency_key, balance)"
										 " VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, idempotency_key) DO NOTHING",
										 4, types),
							 record_args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "spend_points: idempotency record failed");
		if (SPI_processed == 1)
		{
			draw(args[0], points, args[2], now, next_isnull ? DT_NOBEGIN : next);
			*allowed = true;
			*balance = live - points;
			return true;
		}
	}

	if (SPI_execute_plan(jobspy_plan(&replay_plan,
									 "SELECT points, balance FROM jobspy.loyalty_spends"
									 " WHERE user_id = $1 AND idempotency_key = $2", 2, key_types),
						 key_args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "spend_points: replay lookup failed");
	if (SPI_processed == 1)
	{
		if (DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) != points)
			return false;
		*allowed = true;
		*balance = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		return true;
	}
	*allowed = false;
	*balance = live;
	return true;
}

/*
 * jobspy.spend_points(user_id, points, idempotency_key) -> (allowed, balance)
 */
PG_FUNCTION_INFO_V1(jobspy_spend_points);
Datum
jobspy_spend_points(PG_FUNCTION_ARGS)
{
	Datum		args[3];
	Datum		values[2];
	bool		nulls[2] = {false, false};
	bool		allowed;
	int64		balance;
	int			keylen;

	if (PG_ARGISNULL(1) || PG_GETARG_INT64(1) <= 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("points to spend must be positive")));
	keylen = PG_ARGISNULL(2) ? 0 : DatumGetInt32(DirectFunctionCall1(textlen, PG_GETARG_DATUM(2)));
	if (keylen < 1 || keylen > 255)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("an idempotency key of 1 to 255 characters is required")));

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("unknown user")));

	args[0] = PG_GETARG_DATUM(0);
	args[1] = PG_GETARG_DATUM(1);
	args[2] = PG_GETARG_DATUM(2);
	SPI_connect();
	if (!spend_common(args, PG_GETARG_INT64(1), &allowed, &balance))
		spend_in_sql(args, &allowed, &balance);
	SPI_finish();

	values[0] = BoolGetDatum(allowed);
	values[1] = Int64GetDatum(balance);
	return jobspy_return_row(fcinfo, values, nulls);
}
