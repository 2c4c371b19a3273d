/*
 * entitlements.c: the rule that says which of a user's licences is "the
 * user's licence", written once for every module that needs it.  The rate
 * limiter applies the rules of its type (ratelimit.c); quotas take the
 * plan its type names when no subscription or assigned plan decides first
 * (quotas.c, which SQL reaches through jobspy.quota_plan_of).
 *
 * The rule: among the user's licences that are active and not expired at
 * the time asked, the one whose type ranks highest in jobspy.license_tiers
 * (a type missing there ranks below every listed one), then the most
 * recently issued, then the smallest id.  The ranks are rows shipped with
 * the extension, not constants here.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/pg_collation_d.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "core.h"
#include "entitlements.h"

enum
{
	ER_LICENSES, ER_LICENSES_PKEY, ER_TIERS, ER_TIERS_PKEY
};
static const char *const ent_rel_names[] = {
	[ER_LICENSES] = "licenses", [ER_LICENSES_PKEY] = "licenses_pkey",
	[ER_TIERS] = "license_tiers", [ER_TIERS_PKEY] = "license_tiers_pkey",
};

enum
{
	EC_LIC_USER, EC_LIC_ID, EC_LIC_STATUS, EC_LIC_TYPE, EC_LIC_EXPIRES, EC_LIC_ISSUED,
	EC_TIER_TYPE, EC_TIER_RANK
};
static const JobspyColumn ent_columns[] = {
	[EC_LIC_USER] = {ER_LICENSES, "user_id"}, [EC_LIC_ID] = {ER_LICENSES, "id"},
	[EC_LIC_STATUS] = {ER_LICENSES, "status"}, [EC_LIC_TYPE] = {ER_LICENSES, "license_type"},
	[EC_LIC_EXPIRES] = {ER_LICENSES, "expires_at"}, [EC_LIC_ISSUED] = {ER_LICENSES, "issued_at"},
	[EC_TIER_TYPE] = {ER_TIERS, "license_type"}, [EC_TIER_RANK] = {ER_TIERS, "tier_rank"},
};

static JobspyRels ent_rels = {
	.names = ent_rel_names, .nrels = lengthof(ent_rel_names),
	.columns = ent_columns, .ncolumns = lengthof(ent_columns),
};

void
jobspy_entitlements_init(void)
{
	jobspy_rels_register(&ent_rels);
}

/* The tier rank of a licence type, 0 when it has none.  tiers is open. */
static int32
tier_rank(Relation tiers, Datum type, Snapshot snap)
{
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	int32		rank = 0;

	ScanKeyEntryInitialize(&key, 0, jobspy_col(&ent_rels, EC_TIER_TYPE), BTEqualStrategyNumber,
						   InvalidOid, DEFAULT_COLLATION_OID, F_TEXTEQ, type);
	scan = systable_beginscan(tiers, jobspy_rel(&ent_rels, ER_TIERS_PKEY), true, snap, 1, &key);
	if (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, jobspy_col(&ent_rels, EC_TIER_RANK),
									 RelationGetDescr(tiers), &isnull);

		rank = isnull ? 0 : DatumGetInt32(d);
	}
	systable_endscan(scan);
	return rank;
}

/* A licence that may be the user's, and how it ranks. */
typedef struct Candidate
{
	bool		found;
	int32		rank;
	TimestampTz issued;
	pg_uuid_t	id;
	char	   *type;
} Candidate;

/* True when a is the better licence by the rule above. */
static bool
better(const Candidate *a, const Candidate *b)
{
	if (!b->found || a->rank != b->rank)
		return !b->found || a->rank > b->rank;
	if (a->issued != b->issued)
		return a->issued > b->issued;
	return memcmp(&a->id, &b->id, UUID_LEN) < 0;
}

bool
user_license(const pg_uuid_t *user, TimestampTz at, Snapshot snap, pg_uuid_t *id, char **type,
			 TimestampTz *changes_at)
{
	Relation	rel = table_open(jobspy_rel(&ent_rels, ER_LICENSES), AccessShareLock);
	Relation	tiers = table_open(jobspy_rel(&ent_rels, ER_TIERS), AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Candidate	best = {0};

	ScanKeyInit(&key, jobspy_col(&ent_rels, EC_LIC_USER), BTEqualStrategyNumber, F_UUID_EQ,
				UUIDPGetDatum(user));
	scan = systable_beginscan(rel, jobspy_rel(&ent_rels, ER_LICENSES_PKEY), true, snap, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		status = heap_getattr(tup, jobspy_col(&ent_rels, EC_LIC_STATUS), desc, &isnull);
		Datum		d;
		Candidate	c = {.found = true};

		if (isnull || strcmp(TextDatumGetCString(status), "active") != 0)
			continue;
		d = heap_getattr(tup, jobspy_col(&ent_rels, EC_LIC_EXPIRES), desc, &isnull);
		if (!isnull && DatumGetTimestampTz(d) <= at)
			continue;
		if (!isnull && DatumGetTimestampTz(d) < *changes_at)
			*changes_at = DatumGetTimestampTz(d);
		d = heap_getattr(tup, jobspy_col(&ent_rels, EC_LIC_TYPE), desc, &isnull);
		if (isnull)
			continue;
		c.rank = tier_rank(tiers, d, snap);
		c.type = TextDatumGetCString(d);
		d = heap_getattr(tup, jobspy_col(&ent_rels, EC_LIC_ISSUED), desc, &isnull);
		c.issued = isnull ? DT_NOBEGIN : DatumGetTimestampTz(d);
		c.id = *DatumGetUUIDP(heap_getattr(tup, jobspy_col(&ent_rels, EC_LIC_ID), desc, &isnull));
		if (better(&c, &best))
			best = c;
	}
	systable_endscan(scan);
	table_close(tiers, AccessShareLock);
	table_close(rel, AccessShareLock);

	if (best.found)
	{
		if (id)
			*id = best.id;
		*type = best.type;
	}
	return best.found;
}

/*
 * jobspy.user_license(user_id, at): the id and type of the user's licence
 * at a time, both NULL when there is none.
 */
PG_FUNCTION_INFO_V1(jobspy_user_license);
Datum
jobspy_user_license(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *id = palloc(sizeof(pg_uuid_t));
	char	   *type;
	TimestampTz changes_at = DT_NOEND;
	Datum		values[2] = {0};
	bool		nulls[2] = {true, true};

	if (user_license(PG_GETARG_UUID_P(0), PG_GETARG_TIMESTAMPTZ(1), jobspy_statement_snapshot(),
					 id, &type, &changes_at))
	{
		values[0] = UUIDPGetDatum(id);
		values[1] = CStringGetTextDatum(type);
		nulls[0] = nulls[1] = false;
	}
	return jobspy_return_row(fcinfo, values, nulls);
}
