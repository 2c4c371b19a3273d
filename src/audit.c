/*
 * audit.c: the updated_at trigger and the generic audit trigger.
 *
 * The audit trigger writes one row to jobspy.audit_logs per changed row:
 * action, table, row id, old and new values as jsonb (on UPDATE only the
 * columns that changed), the actor from jobspy.actor_id, the client address
 * and the time.  Columns named in the trigger's arguments, and every column
 * whose name ends in "_hash", never reach the log: they hold secrets.
 * Arguments "ignore:<column>" name bookkeeping columns whose changes alone
 * are not logged (validation counters flushed in batches).
 *
 * A restore of a pg_dump loads rows into tables whose triggers already exist
 * (CREATE EXTENSION made them), while the audit log is restored from the dump
 * as well; auditing the reload would record every row twice.  A restore is
 * recognised explicitly (audit_restoring): pg_upgrade's binary upgrade, a
 * superuser session of pg_restore (its application_name), or a session with
 * jobspy.restoring on (superuser only: for a plain dump replayed by psql).
 * A superuser can disable triggers anyway, so this opens no way around the
 * log.
 */
#include "postgres.h"

#include "fmgr.h"
#include "access/htup_details.h"
#include "catalog/pg_type_d.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/datum.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/uuid.h"

#include "core.h"

/* jobspy.restoring: this session replays a dump; static boot value. */
static bool audit_restoring_setting = false;

void
jobspy_audit_init(void)
{
	DefineCustomBoolVariable("jobspy.restoring",
							 "This session restores a dump: the audit trigger records nothing.",
							 "Set it (superuser only) when replaying a plain pg_dump script; "
							 "pg_restore sessions are recognised without it.",
							 &audit_restoring_setting,
							 false,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
}

/*
 * True when this session restores a dump, so that rows reloaded into
 * audited tables are not logged a second time.  The session's role (after
 * SET ROLE) counts, not the trigger's owner.
 */
static bool
audit_restoring(void)
{
	if (IsBinaryUpgrade || audit_restoring_setting)
		return true;
	return application_name != NULL && strcmp(application_name, "pg_restore") == 0 &&
		superuser_arg(GetOuterUserId());
}

static void
require_row_trigger(FunctionCallInfo fcinfo, const char *name)
{
	TriggerData *trigdata = jobspy_trigger_data(fcinfo, name);

	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s must be fired for each row", name)));
}

static bool is_ignored_column(const char *name, TriggerData *trigdata);

/* True when an update changed no column but ignored ones (is_ignored_column). */
static bool
changes_only_ignored(TriggerData *trigdata)
{
	TupleDesc	desc = RelationGetDescr(trigdata->tg_relation);

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		bool		n1,
					n2;
		Datum		v1,
					v2;

		if (att->attisdropped || is_ignored_column(NameStr(att->attname), trigdata))
			continue;
		v1 = heap_getattr(trigdata->tg_trigtuple, i + 1, desc, &n1);
		v2 = heap_getattr(trigdata->tg_newtuple, i + 1, desc, &n2);
		if (n1 != n2 || (!n1 && !datumIsEqual(v1, v2, att->attbyval, att->attlen)))
			return false;
	}
	return true;
}

/*
 * BEFORE UPDATE: updated_at = jobspy.now(), unless the update changed only
 * the columns named by "ignore:<column>" arguments (bookkeeping).
 */
PG_FUNCTION_INFO_V1(jobspy_set_updated_at);
Datum
jobspy_set_updated_at(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	int			attnum;
	Datum		value;
	bool		isnull = false;

	require_row_trigger(fcinfo, "jobspy.set_updated_at()");
	if (!TRIGGER_FIRED_BEFORE(trigdata->tg_event) || !TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("jobspy.set_updated_at() must be fired before update")));

	rel = trigdata->tg_relation;
	attnum = SPI_fnumber(RelationGetDescr(rel), "updated_at");
	if (attnum <= 0 || TupleDescAttr(RelationGetDescr(rel), attnum - 1)->atttypid != TIMESTAMPTZOID)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("table \"%s\" has no updated_at column of type timestamptz",
						RelationGetRelationName(rel))));

	if (trigdata->tg_trigger->tgnargs > 0 && changes_only_ignored(trigdata))
		return PointerGetDatum(trigdata->tg_newtuple);
	value = TimestampTzGetDatum(jobspy_now());
	return PointerGetDatum(heap_modify_tuple_by_cols(trigdata->tg_newtuple, RelationGetDescr(rel),
													 1, &attnum, &value, &isnull));
}

static bool
is_secret_column(const char *name, TriggerData *trigdata)
{
	size_t		len = strlen(name);

	if (len >= 5 && strcmp(name + len - 5, "_hash") == 0)
		return true;
	for (int i = 0; i < trigdata->tg_trigger->tgnargs; i++)
		if (strcmp(name, trigdata->tg_trigger->tgargs[i]) == 0)
			return true;
	return false;
}

/*
 * Columns named by an "ignore:<column>" trigger argument hold bookkeeping
 * (counters flushed in batches): an update that changes only them, or
 * updated_at, is not a change worth a row in the log.
 */
static bool
is_ignored_column(const char *name, TriggerData *trigdata)
{
	if (strcmp(name, "updated_at") == 0)
		return true;
	for (int i = 0; i < trigdata->tg_trigger->tgnargs; i++)
	{
		const char *arg = trigdata->tg_trigger->tgargs[i];

		if (strncmp(arg, "ignore:", 7) == 0 && strcmp(name, arg + 7) == 0)
			return true;
	}
	return false;
}

/*
 * to_jsonb(record), called directly: composite_to_jsonb reads the row's
 * type from the datum, so the one argument type it asks the call for is
 * record, whatever the table.  (By way of row_to_json's text and jsonb_in
 * the row was printed and parsed again: a third of the trigger's cost.)
 */
static Jsonb *
record_to_jsonb(Datum record)
{
	static FmgrInfo flinfo;
	static bool ready = false;

	if (!ready)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		fmgr_info(F_TO_JSONB, &flinfo);
		flinfo.fn_expr = (Node *) makeFuncExpr(F_TO_JSONB, JSONBOID,
											   list_make1(makeNullConst(RECORDOID, -1, InvalidOid)),
											   InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
		MemoryContextSwitchTo(old);
		ready = true;
	}
	return DatumGetJsonbP(FunctionCall1(&flinfo, record));
}

/*
 * A row as a jsonb object of the columns in keep[] (all when NULL), secret
 * columns left out; each value as to_jsonb converts it.
 */
static Jsonb *
row_to_jsonb(HeapTuple tuple, TupleDesc desc, const bool *keep, TriggerData *trigdata)
{
	Jsonb	   *row;
	ArrayBuildState *drop = NULL;

	row = record_to_jsonb(heap_copy_tuple_as_datum(tuple, desc));

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		if ((keep && !keep[i]) || is_secret_column(NameStr(att->attname), trigdata))
			drop = accumArrayResult(drop, CStringGetTextDatum(NameStr(att->attname)),
									false, TEXTOID, CurrentMemoryContext);
	}
	if (drop)
		row = DatumGetJsonbP(DirectFunctionCall2(jsonb_delete_array, JsonbPGetDatum(row),
												 makeArrayResult(drop, CurrentMemoryContext)));
	return row;
}

static Datum
row_id(HeapTuple tuple, TupleDesc desc, bool *isnull)
{
	int			attnum = SPI_fnumber(desc, "id");
	char	   *value;

	if (attnum <= 0 && (attnum = SPI_fnumber(desc, "key")) <= 0)
	{
		*isnull = true;
		return (Datum) 0;
	}
	value = SPI_getvalue(tuple, desc, attnum);
	*isnull = (value == NULL);
	return value ? CStringGetTextDatum(value) : (Datum) 0;
}

/* AFTER INSERT OR UPDATE OR DELETE ... FOR EACH ROW. */
PG_FUNCTION_INFO_V1(jobspy_audit_trigger);
Datum
jobspy_audit_trigger(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[6] = {TEXTOID, TEXTOID, TEXTOID, JSONBOID, JSONBOID, UUIDOID};
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	oldtup = NULL;
	HeapTuple	newtup = NULL;
	const char *action;
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	bool		idnull;
	int			ret;

	require_row_trigger(fcinfo, "jobspy.audit_trigger()");
	if (!TRIGGER_FIRED_AFTER(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("jobspy.audit_trigger() must be fired after the change")));

	if (audit_restoring())
		return PointerGetDatum(NULL);

	desc = RelationGetDescr(trigdata->tg_relation);
	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		action = "INSERT";
		newtup = trigdata->tg_trigtuple;
	}
	else if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		action = "UPDATE";
		oldtup = trigdata->tg_trigtuple;
		newtup = trigdata->tg_newtuple;
	}
	else
	{
		action = "DELETE";
		oldtup = trigdata->tg_trigtuple;
	}

	if (oldtup && newtup)
	{
		bool	   *changed = palloc0(sizeof(bool) * desc->natts);
		bool		any = false;

		for (int i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i);
			bool		n1,
						n2;
			Datum		v1 = heap_getattr(oldtup, i + 1, desc, &n1);
			Datum		v2 = heap_getattr(newtup, i + 1, desc, &n2);

			if (att->attisdropped || is_ignored_column(NameStr(att->attname), trigdata))
				continue;
			changed[i] = (n1 != n2) ||
				(!n1 && !datumIsEqual(v1, v2, att->attbyval, att->attlen));
			any |= changed[i] && !is_secret_column(NameStr(att->attname), trigdata);
		}
		/* A change of secret columns alone is still recorded, with no values. */
		if (!any)
		{
			bool		secret_changed = false;

			for (int i = 0; i < desc->natts; i++)
				secret_changed |= changed[i];
			if (!secret_changed)
				return PointerGetDatum(NULL);
		}
		values[3] = JsonbPGetDatum(row_to_jsonb(oldtup, desc, changed, trigdata));
		values[4] = JsonbPGetDatum(row_to_jsonb(newtup, desc, changed, trigdata));
	}
	else
	{
		values[3] = oldtup ? JsonbPGetDatum(row_to_jsonb(oldtup, desc, NULL, trigdata)) : (Datum) 0;
		nulls[3] = oldtup ? ' ' : 'n';
		values[4] = newtup ? JsonbPGetDatum(row_to_jsonb(newtup, desc, NULL, trigdata)) : (Datum) 0;
		nulls[4] = newtup ? ' ' : 'n';
	}

	values[0] = CStringGetTextDatum(action);
	values[1] = CStringGetTextDatum(RelationGetRelationName(trigdata->tg_relation));
	values[2] = row_id(newtup ? newtup : oldtup, desc, &idnull);
	nulls[2] = idnull ? 'n' : ' ';
	if (jobspy_actor_id && jobspy_actor_id[0])
		values[5] = DirectFunctionCall1(uuid_in, CStringGetDatum(jobspy_actor_id));
	else
		nulls[5] = 'n';

	if ((ret = SPI_connect()) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed: %s", SPI_result_code_string(ret));
	ret = SPI_execute_plan(jobspy_plan(&plan,
									   "INSERT INTO jobspy.audit_logs"
									   " (action, resource_type, resource_id, old_values, new_values,"
									   "  actor_id, ip_address, created_at)"
									   " VALUES ($1, $2, $3, $4, $5, $6,"
									   "  pg_catalog.inet_client_addr(), jobspy.now())",
									   6, argtypes),
						   values, nulls, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "audit insert failed: %s", SPI_result_code_string(ret));
	SPI_finish();

	return PointerGetDatum(NULL);
}
