/*
 * core_public_face.c: errors of API functions raised as the functions' own.
 *
 * An API function written in PL/pgSQL calls internal functions through SQL
 * statements, and an error raised inside carries CONTEXT lines naming each
 * of them and the text of each statement: internals the caller did not
 * write and cannot act on.  Such a function is declared as the C function
 * below (jobspy_public_face), and its body lives in jobspy.NAME_impl with
 * the same argument types; an error keeps its SQLSTATE, message, detail,
 * hint and object names, loses what was collected inside, and gets the
 * caller's own context again.
 */
#include "postgres.h"

#include "catalog/pg_proc.h"
#include "fmgr.h"
#include "utils/syscache.h"

#include "core.h"

/* See core.h. */
void
jobspy_rethrow_as_own(MemoryContext cxt)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	FlushErrorState();
	edata->context = NULL;
	edata->internalquery = NULL;
	edata->internalpos = 0;
	edata->cursorpos = 0;
	/* Raised anew: the context callbacks of the caller's frames run again. */
	ThrowErrorData(edata);
	pg_unreachable();
}

/*
 * jobspy.NAME(...) as a call of jobspy.NAME_impl(...), found once per call
 * site.  The result, a value, a row or a materialized set, is the body's.
 * The body is called through fmgr, which checks no privilege, so it is
 * executable by nobody else: no one calls it by its own name.
 */
PG_FUNCTION_INFO_V1(jobspy_public_face);
Datum
jobspy_public_face(PG_FUNCTION_ARGS)
{
	FmgrInfo   *impl = fcinfo->flinfo->fn_extra;
	FunctionCallInfo inner;
	MemoryContext cxt = CurrentMemoryContext;
	Datum		result = (Datum) 0;

	if (impl == NULL)
	{
		HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fcinfo->flinfo->fn_oid));
		Form_pg_proc proc;
		char	   *name;
		Oid			oid;

		if (!HeapTupleIsValid(tup))
			elog(ERROR, "cache lookup failed for function %u", fcinfo->flinfo->fn_oid);
		proc = (Form_pg_proc) GETSTRUCT(tup);
		name = psprintf("%s_impl", NameStr(proc->proname));
		oid = GetSysCacheOid3(PROCNAMEARGSNSP, Anum_pg_proc_oid, CStringGetDatum(name),
							  PointerGetDatum(&proc->proargtypes), ObjectIdGetDatum(proc->pronamespace));
		ReleaseSysCache(tup);
		if (!OidIsValid(oid))
			elog(ERROR, "function %s has no body", name);
		impl = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(FmgrInfo));
		fmgr_info_cxt(oid, impl, fcinfo->flinfo->fn_mcxt);
		fcinfo->flinfo->fn_extra = impl;
	}

	inner = palloc(SizeForFunctionCallInfo(PG_NARGS()));
	InitFunctionCallInfoData(*inner, impl, PG_NARGS(), PG_GET_COLLATION(), fcinfo->context,
							 fcinfo->resultinfo);
	memcpy(inner->args, fcinfo->args, sizeof(NullableDatum) * PG_NARGS());
	PG_TRY();
	{
		result = FunctionCallInvoke(inner);
	}
	PG_CATCH();
	{
		jobspy_rethrow_as_own(cxt);
	}
	PG_END_TRY();
	fcinfo->isnull = inner->isnull;
	return result;
}
