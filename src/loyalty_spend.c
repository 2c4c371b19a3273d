/*
 * loyalty_spend.c: jobspy.spend_points, the common path in C.
 *
 * A spend locks the member's row, looks for its idempotency key, compares
 * the live balance (src/loyalty_balance.c) with the points asked for, draws
 * them through jobspy.loyalty_draw (the one FIFO rule, shared with refunds
 * and expiry) and records the key with its answer.  Each statement is
 * prepared once per backend and kept, so a call pays no PL/pgSQL frame, no
 * nested function for the lock and no re-planning.
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
 * The spend of a member whose row exists; false when a rare path applies
 * and the SQL implementation must answer instead.
 */
static bool
spend_common(Datum *args, int64 points, bool *allowed, int64 *balance)
{
	static SPIPlanPtr lock_plan = NULL, replay_plan = NULL, draw_plan = NULL, record_plan = NULL;
	static Oid	types[4] = {UUIDOID, INT8OID, TEXTOID, INT8OID};
	static Oid	key_types[2] = {UUIDOID, TEXTOID};
	Datum		key_args[2] = {args[0], args[2]};
	Datum		record_args[4];
	bool		isnull, next_isnull;
	int64		live;
	TimestampTz next;

	if (SPI_execute_plan(jobspy_plan(&lock_plan,
									 "SELECT balance, next_expiry FROM jobspy.loyalty_members"
									 " WHERE user_id = $1 FOR UPDATE", 1, types),
						 args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "spend_points: member lock failed");
	if (SPI_processed == 0)
		return false;
	live = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	next = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &next_isnull));

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

	live = loyalty_live_balance((pg_uuid_t *) DatumGetPointer(args[0]), live, next_isnull, next, jobspy_now());
	if (live < points)
	{
		*allowed = false;
		*balance = live;
		return true;
	}

	if (SPI_execute_plan(jobspy_plan(&draw_plan,
									 "SELECT jobspy.loyalty_draw($1, $2, 'spend', NULL, $3)", 3, types),
						 args, NULL, false, 0) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "spend_points: draw failed");
	live -= DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

	record_args[0] = args[0];
	record_args[1] = args[1];
	record_args[2] = args[2];
	record_args[3] = Int64GetDatum(live);
	if (SPI_execute_plan(jobspy_plan(&record_plan,
									 "INSERT INTO jobspy.loyalty_spends (user_id, points, idempotency_key, balance)"
									 " VALUES ($1, $2, $3, $4)", 4, types),
						 record_args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "spend_points: idempotency record failed");
	*allowed = true;
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
