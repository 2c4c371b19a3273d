/*
 * check_cache.c: the CHECK constraints of the extension's tables, prepared
 * once per backend instead of once per statement.
 *
 * PostgreSQL 15 prepares a table's CHECK constraints afresh for every INSERT
 * or UPDATE statement that runs: each is read back from its stored text,
 * planned and compiled before its one evaluation.  For the functions here,
 * which write one row per statement, that preparation costs more than the
 * checks and often more than the row (a payment has 22 of them).  An
 * ExecutorStart hook gives the executor the states this backend prepared
 * before; the executor then only evaluates them.
 *
 * It is safe because the shared states are exactly what the executor would
 * build, and nothing the executor builds is kept:
 *  - An entry is used only while the table's stored constraint texts are,
 *    one by one and in order, those it was built from; DDL that changes a
 *    constraint or a column's type changes the text, and the entry is built
 *    again.  The names the executor reports still come from the relcache.
 *  - Only expressions whose states hold nothing tied to one query are
 *    shared: built-in functions and operators (no user function could be
 *    redefined under the entry, or reenter it), and no hashed IN list (its
 *    hash table would live in one query's memory; PostgreSQL 15 does not
 *    hash the lists of constraints, a later version might).  A table with any other
 *    constraint keeps PostgreSQL's own way.
 *  - Only tables in schema jobspy, and only statements started through the
 *    executor; COPY, partitions routed to at run time and logical
 *    replication keep PostgreSQL's own way too.
 * jobspy.check_cache = off turns it off (docs/development.md).
 */
#include "postgres.h"

#include "access/transam.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "funcapi.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "core.h"

typedef struct CheckCacheEntry
{
	Oid			relid;			/* hash key */
	MemoryContext cxt;			/* holds everything below; NULL until built */
	int			ncheck;
	char	  **ccbin;			/* the stored texts the states were built from */
	ExprState **states;			/* NULL: the constraints cannot be shared */
	int64		uses;			/* statements handed the states */
} CheckCacheEntry;

static bool check_cache_enabled = true;
static HTAB *check_cache = NULL;
static MemoryContext check_cache_cxt = NULL;
static ExecutorStart_hook_type prev_executor_start = NULL;

/* True for an expression whose compiled state may serve many statements. */
static bool
function_not_builtin(Oid func_id, void *context)
{
	return func_id >= FirstNormalObjectId;
}

static bool
shareable_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (check_functions_in_node(node, function_not_builtin, NULL))
		return true;
	switch (nodeTag(node))
	{
		case T_Var:
		case T_Const:
		case T_List:
		case T_OpExpr:
		case T_FuncExpr:
		case T_DistinctExpr:
		case T_NullIfExpr:
		case T_BoolExpr:
		case T_NullTest:
		case T_BooleanTest:
		case T_RelabelType:
		case T_CoerceViaIO:
		case T_ArrayExpr:
		case T_CaseExpr:
		case T_CaseWhen:
		case T_CaseTestExpr:
		case T_CoalesceExpr:
		case T_MinMaxExpr:
			break;
		case T_ScalarArrayOpExpr:
			if (OidIsValid(((ScalarArrayOpExpr *) node)->hashfuncid))
				return true;
			break;
		default:
			return true;
	}
	return expression_tree_walker(node, shareable_walker, context);
}

/*
 * Prepares the constraints as ExecRelCheck would, in a context of the entry
 * that joins the cache only once everything is built: an error on the way
 * leaves nothing behind but the caller's memory.
 */
static void
check_cache_build(CheckCacheEntry *entry, TupleConstr *constr)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "jobspy check constraints",
											  ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	int			ncheck = constr->num_check;
	char	  **ccbin = palloc(ncheck * sizeof(char *));
	ExprState **states = palloc(ncheck * sizeof(ExprState *));

	for (int i = 0; i < ncheck; i++)
	{
		Expr	   *expr = expression_planner(stringToNode(constr->check[i].ccbin));

		ccbin[i] = pstrdup(constr->check[i].ccbin);
		if (states != NULL && shareable_walker((Node *) expr, NULL))
			states = NULL;
		if (states != NULL)
			states[i] = ExecInitExpr(expr, NULL);
	}
	MemoryContextSwitchTo(old);

	if (entry->cxt != NULL)
		MemoryContextDelete(entry->cxt);
	MemoryContextSetParent(cxt, check_cache_cxt);
	entry->cxt = cxt;
	entry->ncheck = ncheck;
	entry->ccbin = ccbin;
	entry->states = states;
	entry->uses = 0;
}

/* True while the table's constraints are still those the entry was built from. */
static bool
check_cache_current(const CheckCacheEntry *entry, const TupleConstr *constr)
{
	if (entry->cxt == NULL || entry->ncheck != constr->num_check)
		return false;
	for (int i = 0; i < entry->ncheck; i++)
		if (strcmp(entry->ccbin[i], constr->check[i].ccbin) != 0)
			return false;
	return true;
}

static void
check_cache_offer(ResultRelInfo *rri, Oid schema)
{
	Relation	rel = rri->ri_RelationDesc;
	TupleConstr *constr = rel->rd_att->constr;
	CheckCacheEntry *entry;
	bool		found;

	if (rri->ri_ConstraintExprs != NULL || constr == NULL || constr->num_check == 0 ||
		rel->rd_rel->relkind != RELKIND_RELATION ||
		RelationGetNamespace(rel) != schema ||
		constr->num_check != rel->rd_rel->relchecks)
		return;

	if (check_cache == NULL)
	{
		HASHCTL		ctl;

		check_cache_cxt = AllocSetContextCreate(TopMemoryContext,
												"jobspy check cache",
												ALLOCSET_SMALL_SIZES);
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(CheckCacheEntry);
		ctl.hcxt = check_cache_cxt;
		check_cache = hash_create("jobspy check cache", 64, &ctl,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}

	entry = hash_search(check_cache, &rel->rd_id, HASH_ENTER, &found);
	if (!found)
		entry->cxt = NULL;
	if (!check_cache_current(entry, constr))
		check_cache_build(entry, constr);
	if (entry->states == NULL)
		return;
	rri->ri_ConstraintExprs = entry->states;
	entry->uses++;
}

static void
check_cache_executor_start(QueryDesc *queryDesc, int eflags)
{
	ListCell   *lc;
	Oid			schema = InvalidOid;

	if (prev_executor_start)
		prev_executor_start(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);

	if (!check_cache_enabled || (eflags & EXEC_FLAG_EXPLAIN_ONLY))
		return;
	foreach(lc, queryDesc->estate->es_opened_result_relations)
	{
		ResultRelInfo *rri = lfirst(lc);
		TupleConstr *constr = rri->ri_RelationDesc->rd_att->constr;

		if (constr == NULL || constr->num_check == 0)
			continue;
		if (!OidIsValid(schema))
			schema = get_namespace_oid("jobspy", true);
		check_cache_offer(rri, schema);
	}
}

void
jobspy_check_cache_init(void)
{
	DefineCustomBoolVariable("jobspy.check_cache",
							 "Prepares the CHECK constraints of jobspy's tables once per backend.",
							 "Off: PostgreSQL prepares them again for every statement.",
							 &check_cache_enabled,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);
	prev_executor_start = ExecutorStart_hook;
	ExecutorStart_hook = check_cache_executor_start;
}

/*
 * jobspy.check_cache_entries(): this backend's entries, to see the cache at
 * work: a table, how many constraints, whether they are shared, and how
 * many statements were handed them since they were last built.
 */
PG_FUNCTION_INFO_V1(jobspy_check_cache_entries);
Datum
jobspy_check_cache_entries(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HASH_SEQ_STATUS seq;
	CheckCacheEntry *entry;

	InitMaterializedSRF(fcinfo, 0);
	if (check_cache == NULL)
		return (Datum) 0;
	hash_seq_init(&seq, check_cache);
	while ((entry = hash_seq_search(&seq)) != NULL)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		if (entry->cxt == NULL)
			continue;
		values[0] = ObjectIdGetDatum(entry->relid);
		values[1] = Int32GetDatum(entry->ncheck);
		values[2] = BoolGetDatum(entry->states != NULL);
		values[3] = Int64GetDatum(entry->uses);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
