/*
 * loyalty_grant.c: points granted to a member, in C for every caller.
 *
 * A grant is a ledger row with its expiry, the grant's remainder in
 * loyalty_grants, and the member's balance; the member's debt (what a
 * refund could not take back) is settled from it first, with a ledger row
 * of kind debt drawn from the new grant.  The caller holds the member's row
 * locked and passes its debt, so the member is updated by key alone.
 *
 * record_purchase's C path (src/loyalty_purchase.c) calls this directly;
 * SQL callers (referral rewards, bonuses, tests) call jobspy.loyalty_grant.
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

/*
 * The member's update found no row: the user is no member, or the grant
 * would carry the balance past bigint (the update's guard).
 */
static void
member_update_failed(Datum user)
{
	Oid			types[1] = {UUIDOID};
	Datum		args[1] = {user};

	if (SPI_execute_with_args("SELECT FROM jobspy.loyalty_members WHERE user_id = $1", 1, types, args, NULL,
							  true, 1) == SPI_OK_SELECT && SPI_processed == 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the member's points balance would exceed %lld", (long long) PG_INT64_MAX)));
	ereport(ERROR,
			(errcode(ERRCODE_NO_DATA_FOUND),
			 errmsg("points can be granted to members only")));
}

/* See loyalty.h. */
int64
loyalty_grant_points(Datum user, int64 points, const char *kind, TimestampTz expires,
					 Datum purchase, bool purchase_null, Datum business, bool business_null,
					 Datum reference, bool reference_null, int64 debt, const LoyaltyWindow *window,
					 LoyaltyMemberPoints *after)
{
	static SPIPlanPtr member_plan = NULL, grant_plan = NULL, debt_plan = NULL;
	static Oid	member_types[8] = {UUIDOID, INT8OID, INT8OID, TIMESTAMPTZOID, BOOLOID, INT8OID, TIMESTAMPTZOID,
								   TEXTOID};
	static Oid	grant_types[8] = {UUIDOID, TEXTOID, INT8OID, TIMESTAMPTZOID, UUIDOID, UUIDOID, TEXTOID, INT8OID};
	static Oid	debt_types[5] = {UUIDOID, INT8OID, INT8OID, UUIDOID, TEXTOID};
	int64		settle = Min(debt, points);
	Datum		member_args[8] = {user, Int64GetDatum(points), Int64GetDatum(settle), TimestampTzGetDatum(expires),
								  BoolGetDatum(window != NULL), Int64GetDatum(window ? window->spend : 0),
								  TimestampTzGetDatum(window ? window->from : 0), window ? window->currency : (Datum) 0};
	char		member_nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', window ? ' ' : 'n'};
	Datum		grant_args[8] = {user, CStringGetTextDatum(kind), Int64GetDatum(points), TimestampTzGetDatum(expires),
								 purchase, business, reference, Int64GetDatum(settle)};
	char		grant_nulls[8] = {' ', ' ', ' ', ' ', purchase_null ? 'n' : ' ', business_null ? 'n' : ' ',
								  reference_null ? 'n' : ' ', ' '};
	bool		isnull;
	int64		grant_id;

	/* next_expiry moves only when points are left in the grant after the debt */
	if (SPI_execute_plan(jobspy_plan(&member_plan,
									 "UPDATE jobspy.loyalty_members SET balance = balance + $2 - $3, debt = debt - $3,"
									 " next_expiry = CASE WHEN $2 > $3 THEN least(next_expiry, $4) ELSE next_expiry END,"
									 " window_spend = CASE WHEN $5 THEN $6 ELSE window_spend END,"
									 " window_from = CASE WHEN $5 THEN $7 ELSE window_from END,"
									 " window_currency = CASE WHEN $5 THEN $8 ELSE window_currency END"
									 " WHERE user_id = $1 AND balance <= 9223372036854775807 - ($2 - $3)"
									 " RETURNING balance, next_expiry", 8, member_types),
						 member_args, member_nulls, false, 0) != SPI_OK_UPDATE_RETURNING || SPI_processed != 1)
		member_update_failed(user);
	if (after != NULL)
	{
		after->balance = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		after->next_expiry = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2,
															   &after->next_isnull));
	}
	if (SPI_execute_plan(jobspy_plan(&grant_plan,
									 "WITH l AS (INSERT INTO jobspy.loyalty_ledger"
									 " (user_id, kind, points, expires_at, purchase_id, business_id, reference)"
									 " VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id)"
									 " INSERT INTO jobspy.loyalty_grants (user_id, grant_id, expires_at, remaining)"
									 " SELECT $1, l.id, $4, $3 - $8 FROM l RETURNING grant_id", 8, grant_types),
						 grant_args, grant_nulls, false, 0) != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
		elog(ERROR, "loyalty_grant: the grant could not be written");
	grant_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (settle > 0)
	{
		Datum		debt_args[5] = {user, Int64GetDatum(-settle), Int64GetDatum(grant_id), purchase, reference};
		char		debt_nulls[5] = {' ', ' ', ' ', purchase_null ? 'n' : ' ', reference_null ? 'n' : ' '};

		if (SPI_execute_plan(jobspy_plan(&debt_plan,
										 "INSERT INTO jobspy.loyalty_ledger (user_id, kind, points, grant_id, purchase_id, reference)"
										 " VALUES ($1, 'debt', $2, $3, $4, $5)", 5, debt_types),
							 debt_args, debt_nulls, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "loyalty_grant: the settled debt could not be written");
	}
	return grant_id;
}

/*
 * jobspy.loyalty_grant(user_id, points, kind, expires_at, purchase_id,
 * business_id, reference) -> the grant's ledger id, for a member the caller
 * has locked.
 */
PG_FUNCTION_INFO_V1(jobspy_loyalty_grant);
Datum
jobspy_loyalty_grant(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr debt_plan = NULL;
	static Oid	types[1] = {UUIDOID};
	Datum		user = PG_GETARG_DATUM(0);
	char	   *kind;
	bool		isnull;
	int64		debt;
	int64		grant_id;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("loyalty_grant: user_id, points, kind and expires_at must not be NULL")));
	/* the ledger's CHECK constraints say which kinds and amounts are grants */
	kind = text_to_cstring(PG_GETARG_TEXT_PP(2));

	SPI_connect();
	if (SPI_execute_plan(jobspy_plan(&debt_plan,
									 "SELECT debt FROM jobspy.loyalty_members WHERE user_id = $1", 1, types),
						 &user, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "loyalty_grant: member lookup failed");
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("points can be granted to members only")));
	debt = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	grant_id = loyalty_grant_points(user, PG_GETARG_INT64(1), kind, PG_GETARG_TIMESTAMPTZ(3),
									PG_GETARG_DATUM(4), PG_ARGISNULL(4), PG_GETARG_DATUM(5), PG_ARGISNULL(5),
									PG_GETARG_DATUM(6), PG_ARGISNULL(6), debt, NULL, NULL);
	SPI_finish();
	PG_RETURN_INT64(grant_id);
}
