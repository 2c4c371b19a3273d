/*
 * srf.c: returning a row from C fast: the row type of the answer cached per
 * backend and function.
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "core.h"

/*
 * The result row type of a function, built once per backend and function:
 * get_call_result_type() reads pg_proc and builds it afresh on every call,
 * a large part of a call's cost on the hot path.
 */
#define RESULT_TYPE_CACHE 8
static struct
{
	Oid			fn_oid;
	TupleDesc	desc;
}			result_types[RESULT_TYPE_CACHE];

TupleDesc
jobspy_result_type(FunctionCallInfo fcinfo)
{
	Oid			fn_oid = fcinfo->flinfo->fn_oid;
	TupleDesc	desc;
	MemoryContext old;
	int			slot = 0;

	for (int i = 0; i < RESULT_TYPE_CACHE; i++)
	{
		if (result_types[i].fn_oid == fn_oid && result_types[i].desc)
			return result_types[i].desc;
		if (result_types[i].fn_oid == InvalidOid)
			slot = i;
	}
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	old = MemoryContextSwitchTo(TopMemoryContext);
	desc = BlessTupleDesc(CreateTupleDescCopy(desc));
	MemoryContextSwitchTo(old);
	if (result_types[slot].desc)
		FreeTupleDesc(result_types[slot].desc);
	result_types[slot].fn_oid = fn_oid;
	result_types[slot].desc = desc;
	return desc;
}

/*
 * The answer of a function declared to return a row type: one row, built
 * with the cached description.
 */
Datum
jobspy_return_row(FunctionCallInfo fcinfo, Datum *values, bool *nulls)
{
	if (fcinfo->flinfo->fn_retset)
		elog(ERROR, "%s must return a row type, not a set", get_func_name(fcinfo->flinfo->fn_oid));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(jobspy_result_type(fcinfo), values, nulls)));
}
