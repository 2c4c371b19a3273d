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
	bool		some_expired = false;
	TimestampTz now = jobspy_now();

	ScanKeyInit(&key, jobspy_attnum(relid, "user_id"), BTEqualStrategyNumber, F_UUID_EQ,
				UUIDPGetDatum(user_id));
	scan = systable_beginscan(rel, loyalty_relid("loyalty_members_pkey"), true,
							  jobspy_statement_snapshot(), 1, &key);
	if ((tup = systable_getnext(scan)) != NULL)
	{
		bool		isnull;
		Datum		next;

		balance = DatumGetInt64(heap_getattr(tup, jobspy_attnum(relid, "balance"),
											 RelationGetDescr(rel), &isnull));
		next = heap_getattr(tup, jobspy_attnum(relid, "next_expiry"), RelationGetDescr(rel), &isnull);
		some_expired = !isnull && DatumGetTimestampTz(next) <= now;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	if (some_expired)
		balance -= expired_remainders(user_id, now);
	PG_RETURN_INT64(balance);
}
