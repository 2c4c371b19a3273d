/*
 * srf.c: returning a row from C fast: the row type cached per function, and
 * the one row of a function declared either with a row type or RETURNS TABLE.
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

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
 * One row of a set-returning function that returns exactly one row.  When
 * the caller accepts it (FROM clauses and target lists both do), the row
 * is handed over in materialize mode: one call, no per-call memory context
 * (about a fifth of a call's cost).  Otherwise the value-per-call protocol
 * is used.
 */
Datum
jobspy_return_one_row(FunctionCallInfo fcinfo, Datum *values, bool *nulls)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	FuncCallContext *funcctx;

	/* Declared to return a row type, not a set: the row itself. */
	if (!fcinfo->flinfo->fn_retset)
		PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(jobspy_result_type(fcinfo), values, nulls)));

	if (rsinfo && IsA(rsinfo, ReturnSetInfo) && (rsinfo->allowedModes & SFRM_Materialize) &&
		values != NULL)
	{
		TupleDesc	tupdesc = jobspy_result_type(fcinfo);
		MemoryContext old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
		Tuplestorestate *ts = tuplestore_begin_heap(false, false, work_mem);

		tuplestore_putvalues(ts, tupdesc, values, nulls);
		rsinfo->returnMode = SFRM_Materialize;
		rsinfo->setResult = ts;
		/* The executor frees the description it is given: hand it a copy. */
		rsinfo->setDesc = CreateTupleDescCopy(tupdesc);
		MemoryContextSwitchTo(old);
		return (Datum) 0;
	}

	if (SRF_IS_FIRSTCALL())
	{
		MemoryContext old;
		TupleDesc	tupdesc = jobspy_result_type(fcinfo);

		funcctx = SRF_FIRSTCALL_INIT();
		old = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		funcctx->user_fctx = heap_form_tuple(tupdesc, values, nulls);
		MemoryContextSwitchTo(old);
	}
	funcctx = SRF_PERCALL_SETUP();
	if (funcctx->call_cntr == 0)
		SRF_RETURN_NEXT(funcctx, HeapTupleGetDatum((HeapTuple) funcctx->user_fctx));
	SRF_RETURN_DONE(funcctx);
}
