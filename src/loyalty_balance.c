/*
 * loyalty_balance.c: jobspy.points_balance, the hot read of the loyalty
 * module, straight from the tables.
 *
 * The member's row holds the maintained balance (the sum of what remains of
 * every grant) and next_expiry, the earliest expiry among grants with points
 * left.  Until then the balance is exact and the answer is one index lookup
 * of loyalty_members_pkey.  Once a grant has expired and maintain() has not
 * yet written it off, the expired remainders are subtracted, read from the
 * member's grants (loyalty_grants_pkey leads with user_id).
 *
 * jobspy.loyalty_live_balance applies the same rule to a member row the
 * write paths already hold.
 *
 * The reads use the statement's snapshot and take AccessShareLock, as a
 * SELECT would; they run as the tables' owner does (no privilege check), so
 * the function needs no SECURITY DEFINER and no search_path switch.
 */
#include "postgres.h"

#include "fmgr.h"
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/uuid.h"

#include "core.h"
#include "loyalty.h"

static Oid
loyalty_relid(const char *name)
{
	Oid			relid = get_relname_relid(name, get_namespace_oid("jobspy", false));

	if (!OidIsValid(relid))
		elog(ERROR, "jobspy.%s is missing", name);
	return relid;
}

/* Sum of remaining over a member's grants that expired at or before now. */
static int64
expired_remainders(pg_uuid_t *user_id, TimestampTz now)
{
	Oid			relid = loyalty_relid("loyalty_grants");
	Relation	rel = table_open(relid, AccessShareLock);
	AttrNumber	att_user = jobspy_attnum(relid, "user_id");
	AttrNumber	att_expires = jobspy_attnum(relid, "expires_at");
	AttrNumber	att_remaining = jobspy_attnum(relid, "remaining");
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	int64		sum = 0;

	ScanKeyInit(&key, att_user, BTEqualStrategyNumber, F_UUID_EQ, UUIDPGetDatum(user_id));
	scan = systable_beginscan(rel, loyalty_relid("loyalty_grants_pkey"), true,
							  jobspy_statement_snapshot(), 1, &key);
	while ((tup = systable_getnext(scan)) != NULL)
	{
		bool		isnull;
		TimestampTz expires = DatumGetTimestampTz(heap_getattr(tup, att_expires, RelationGetDescr(rel), &isnull));
		int64		remaining = DatumGetInt64(heap_getattr(tup, att_remaining, RelationGetDescr(rel), &isnull));

		if (expires <= now)
			sum += remaining;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return sum;
}

/*
 * The balance of a member row read at now: the maintained balance, less
 * the remainders of grants already past their expiry that maintain() has
 * not yet written off (there are some only once next_expiry has passed).
 */
int64
loyalty_live_balance(pg_uuid_t *user_id, int64 balance, bool next_isnull, TimestampTz next, TimestampTz now)
{
	if (next_isnull || next > now)
		return balance;
	return balance - expired_remainders(user_id, now);
}

PG_FUNCTION_INFO_V1(jobspy_points_balance);
Datum
jobspy_points_balance(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *user_id = PG_GETARG_UUID_P(0);
	Oid			relid = loyalty_relid("loyalty_members");
	Relation	rel = table_open(relid, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	int64		balance = 0;
	bool		next_isnull = true;
	TimestampTz next = 0;

	ScanKeyInit(&key, jobspy_attnum(relid, "user_id"), BTEqualStrategyNumber, F_UUID_EQ,
				UUIDPGetDatum(user_id));
	scan = systable_beginscan(rel, loyalty_relid("loyalty_members_pkey"), true,
							  jobspy_statement_snapshot(), 1, &key);
	if ((tup = systable_getnext(scan)) != NULL)
	{
		bool		isnull;

		balance = DatumGetInt64(heap_getattr(tup, jobspy_attnum(relid, "balance"),
											 RelationGetDescr(rel), &isnull));
		next = DatumGetTimestampTz(heap_getattr(tup, jobspy_attnum(relid, "next_expiry"),
												RelationGetDescr(rel), &next_isnull));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	PG_RETURN_INT64(loyalty_live_balance(user_id, balance, next_isnull, next, jobspy_now()));
}

/*
 * jobspy.loyalty_live_balance(user_id, balance, next_expiry): the same rule
 * for a member row the caller already holds (locked or just written), so
 * that the write paths pay no second lookup and no SQL function call.
 */
PG_FUNCTION_INFO_V1(jobspy_loyalty_live_balance);
Datum
jobspy_loyalty_live_balance(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	PG_RETURN_INT64(loyalty_live_balance(PG_GETARG_UUID_P(0), PG_GETARG_INT64(1), PG_ARGISNULL(2),
								 PG_ARGISNULL(2) ? 0 : PG_GETARG_TIMESTAMPTZ(2), jobspy_now()));
}
