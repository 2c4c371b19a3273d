/*
 * bench_floor.c: the benchmark's floor for an API function that answers with
 * a row.  bench.row_floor() takes rate_limit's arguments and returns its row
 * type without doing anything, so a workload calling it the way
 * ratelimit_rate_limit calls rate_limit measures what PostgreSQL's executor
 * and protocol cost for such a call: what is left of rate_limit's time is
 * its own.  Built and loaded by bench/run only; not part of the extension.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/memutils.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(bench_row_floor);
Datum
bench_row_floor(PG_FUNCTION_ARGS)
{
	static TupleDesc desc = NULL;	/* the row type, found once, as the extension does */
	Datum		values[5] = {BoolGetDatum(true), Int32GetDatum(1000), Int32GetDatum(999),
	Int64GetDatum(-1), Int64GetDatum(0)};
	bool		nulls[5] = {false, false, false, false, false};

	if (desc == NULL)
	{
		TupleDesc	d;
		MemoryContext old;

		if (get_call_result_type(fcinfo, NULL, &d) != TYPEFUNC_COMPOSITE || d->natts != 5)
			elog(ERROR, "bench.row_floor must return a row of five columns");
		old = MemoryContextSwitchTo(TopMemoryContext);
		desc = BlessTupleDesc(CreateTupleDescCopy(d));
		MemoryContextSwitchTo(old);
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
