/*
 * core_cache.c: what every module caches per backend about the extension's
 * tables, written once: the oids of a module's relations and the numbers
 * of their columns (JobspyRels), forgotten by one relcache invalidation
 * callback; and SPI plans prepared once and kept (jobspy_plan).
 *
 * Looking a relation up by name costs two catalog lookups, about 4,000
 * instructions; a hot path does it once per backend.  Any relcache
 * invalidation of one of a set's relations (an ALTER, a DROP, the
 * extension dropped and created again), or of all relations, marks the
 * whole set stale and calls its forget() so that what the module derived
 * from it goes too.  The next jobspy_rels_require() looks everything up
 * again.  The cache is backend-local: no lock.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "executor/spi.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "core.h"

static JobspyRels *all_rels = NULL;
static bool callback_registered = false;

/* The one relcache callback: forget every set that names relid. */
static void
rels_invalidate(Datum arg, Oid relid)
{
	for (JobspyRels *set = all_rels; set != NULL; set = set->next)
	{
		bool		hit = (relid == InvalidOid);

		for (int i = 0; !hit && set->oids && i < set->nrels; i++)
			hit = (set->oids[i] == relid);
		if (!hit)
			continue;
		set->valid = false;
		set->stale = true;
		if (set->forget)
			set->forget();
	}
}

void
jobspy_rels_register(JobspyRels *set)
{
	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(rels_invalidate, (Datum) 0);
		callback_registered = true;
	}
	set->oids = MemoryContextAllocZero(TopMemoryContext, sizeof(Oid) * set->nrels);
	set->attnums = set->ncolumns > 0 ?
		MemoryContextAllocZero(TopMemoryContext, sizeof(AttrNumber) * set->ncolumns) : NULL;
	set->valid = false;
	set->next = all_rels;
	all_rels = set;
}

/*
 * Look up every relation and column of the set.  The lookups may process
 * invalidations; one that arrives meanwhile leaves the set invalid, so the
 * next call looks again (what was found is still used by this one).
 */
void
jobspy_rels_load(JobspyRels *set)
{
	Oid			nsp = get_namespace_oid("jobspy", false);
	HeapTuple	tup;

	set->stale = false;
	for (int i = 0; i < set->nrels; i++)
	{
		Oid			oid = get_relname_relid(set->names[i], nsp);

		if (!OidIsValid(oid))
			elog(ERROR, "relation jobspy.%s is missing", set->names[i]);
		set->oids[i] = oid;
	}
	for (int i = 0; i < set->ncolumns; i++)
		set->attnums[i] = jobspy_attnum(set->oids[set->columns[i].rel], set->columns[i].name);
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(set->oids[0]));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", set->oids[0]);
	set->owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	set->valid = !set->stale;
}

AttrNumber
jobspy_attnum(Oid relid, const char *name)
{
	AttrNumber	a = get_attnum(relid, name);

	if (a == InvalidAttrNumber)
		elog(ERROR, "column %s is missing from %s", name, get_rel_name(relid));
	return a;
}

/*
 * The plan of sql, prepared on the first call and kept for the backend's
 * life (the plan cache replans it after a change to what it reads).  The
 * caller is connected to SPI.
 */
SPIPlanPtr
jobspy_plan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, nargs, argtypes);

		if (p == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		*plan = p;
	}
	return *plan;
}
