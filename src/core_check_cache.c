/*
 * core_check_cache.c: the CHECK constraints and trigger WHEN conditions of the
 * extension's tables, prepared once per backend instead of once per
 * statement.
 *
 * PostgreSQL 15 prepares a table's CHECK constraints, and the WHEN
 * conditions of its triggers, afresh for every INSERT or UPDATE statement
 * that runs: each is read back from its stored text, planned and compiled
 * before its one evaluation.  For the functions here, which write one row
 * per statement, that preparation costs more than the checks and often more
 * than the row (a payment has 22 constraints and two conditional triggers).
 * An ExecutorStart hook gives the executor the states this backend prepared
 * before; the executor then only evaluates them.
 *
 * It is safe because the shared states are exactly what the executor would
 * build, and nothing the executor builds is kept:
 *  - States are used only while the table's stored texts are, one by one
 *    and in order, those they were built from; DDL that changes a
 *    constraint, a trigger or a column's type changes the texts, and the
 *    states are built again.  The names the executor reports still come
 *    from the relcache.
 *  - Only expressions whose states hold nothing tied to one query are
 *    shared: built-in functions and operators (no user function could be
 *    redefined under the entry, or reenter it), and no hashed IN list (its
 *    hash table would live in one query's memory; PostgreSQL 15 does not
 *    hash these lists, a later version might).  A table with any other
 *    constraint keeps PostgreSQL's own way for all its constraints, a
 *    trigger with any other condition for its condition.
 *  - Only tables in schema jobspy, and only statements started through the
 *    executor; COPY, partitions routed to at run time and logical
 *    replication keep PostgreSQL's own way too.
 * jobspy.check_cache = off turns it off (docs/operations.md).
 */
#include "postgres.h"

#include "access/transam.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "funcapi.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "rewrite/rewriteManip.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "core.h"

/*
 * The prepared expressions of one kind for one table, with the stored texts
 * they were built from: a table's CHECK constraints, or its triggers' WHEN
 * conditions (a NULL text for a trigger without one).
 */
typedef struct PreparedSet
{
	MemoryContext cxt;			/* holds everything below; NULL until built */
	int			n;
	char	  **texts;
	ExprState **states;			/* NULL (all, or one) where not shareable */
} PreparedSet;

typedef struct CheckCacheEntry
{
	Oid			relid;			/* hash key */
	PreparedSet checks;
	PreparedSet whens;
	int64		uses;			/* statements handed the states */
} CheckCacheEntry;

typedef enum PreparedKind
{
	PREPARED_CHECK,
	PREPARED_WHEN
} PreparedKind;

static bool check_cache_enabled = true;
static HTAB *check_cache = NULL;
static MemoryContext check_cache_cxt = NULL;
static ExecutorStart_hook_type prev_executor_start = NULL;

static bool
function_not_builtin(Oid func_id, void *context)
{
	return func_id >= FirstNormalObjectId;
}

/* True for an expression whose compiled state could not serve many statements. */
static bool
unshareable_walker(Node *node, void *context)
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
	return expression_tree_walker(node, unshareable_walker, context);
}

/*
 * One expression prepared as the executor prepares it: a CHECK constraint
 * as ExecRelCheck does, a WHEN condition as TriggerEnabled does (OLD and
 * NEW read from the inner and outer tuples).  NULL when not shareable.
 */
static ExprState *
prepare_one(const char *text, PreparedKind kind)
{
	Node	   *node = stringToNode(text);

	if (kind == PREPARED_CHECK)
	{
		Expr	   *expr = expression_planner((Expr *) node);

		return unshareable_walker((Node *) expr, NULL) ? NULL : ExecInitExpr(expr, NULL);
	}
	ChangeVarNodes(node, PRS2_OLD_VARNO, INNER_VAR, 0);
	ChangeVarNodes(node, PRS2_NEW_VARNO, OUTER_VAR, 0);
	node = (Node *) expression_planner((Expr *) make_ands_implicit((Expr *) node));
	return unshareable_walker(node, NULL) ? NULL : ExecInitQual((List *) node, NULL);
}

/*
 * Builds a set in a context that joins the cache only once everything is
 * built: an error on the way leaves nothing behind but the caller's memory.
 * CHECK constraints are shared all or none (the executor prepares them all
 * when it finds none); WHEN conditions one by one.
 */
static void
prepared_set_build(PreparedSet *set, int n, char **texts, PreparedKind kind)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "jobspy prepared expressions",
											  ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	char	  **copies = palloc0(n * sizeof(char *));
	ExprState **states = palloc0(n * sizeof(ExprState *));

	for (int i = 0; i < n; i++)
	{
		if (texts[i] == NULL)
			continue;
		copies[i] = pstrdup(texts[i]);
		if (states == NULL)
			continue;
		states[i] = prepare_one(texts[i], kind);
		if (states[i] == NULL && kind == PREPARED_CHECK)
			states = NULL;
	}
	MemoryContextSwitchTo(old);

	if (set->cxt != NULL)
		MemoryContextDelete(set->cxt);
	MemoryContextSetParent(cxt, check_cache_cxt);
	set->cxt = cxt;
	set->n = n;
	set->texts = copies;
	set->states = states;
}

/* True while the texts are still, one by one, those the set was built from. */
static bool
prepared_set_current(const PreparedSet *set, int n, char **texts)
{
	if (set->cxt == NULL || set->n != n)
		return false;
	for (int i = 0; i < n; i++)
		if ((set->texts[i] == NULL) != (texts[i] == NULL) ||
			(texts[i] != NULL && strcmp(set->texts[i], texts[i]) != 0))
			return false;
	return true;
}

static PreparedSet *
prepared_set(PreparedSet *set, int n, char **texts, PreparedKind kind)
{
	if (!prepared_set_current(set, n, texts))
		prepared_set_build(set, n, texts, kind);
	return set;
}

static CheckCacheEntry *
check_cache_entry(Oid relid)
{
	CheckCacheEntry *entry;
	bool		found;

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
	entry = hash_search(check_cache, &relid, HASH_ENTER, &found);
	if (!found)
	{
		memset(&entry->checks, 0, sizeof(PreparedSet));
		memset(&entry->whens, 0, sizeof(PreparedSet));
		entry->uses = 0;
	}
	return entry;
}

static void
check_cache_offer(ResultRelInfo *rri)
{
	Relation	rel = rri->ri_RelationDesc;
	TupleConstr *constr = rel->rd_att->constr;
	TriggerDesc *trigdesc = rri->ri_TrigDesc;
	CheckCacheEntry *entry = check_cache_entry(RelationGetRelid(rel));
	bool		used = false;

	if (constr != NULL && constr->num_check > 0 && rri->ri_ConstraintExprs == NULL &&
		constr->num_check == rel->rd_rel->relchecks)
	{
		int			n = constr->num_check;
		char	  **texts = palloc(n * sizeof(char *));
		PreparedSet *set;

		for (int i = 0; i < n; i++)
			texts[i] = constr->check[i].ccbin;
		set = prepared_set(&entry->checks, n, texts, PREPARED_CHECK);
		if (set->states != NULL)
		{
			rri->ri_ConstraintExprs = set->states;
			used = true;
		}
		pfree(texts);
	}

	if (trigdesc != NULL && rri->ri_TrigWhenExprs != NULL)
	{
		int			n = trigdesc->numtriggers;
		char	  **texts = palloc(n * sizeof(char *));
		bool		any = false;

		for (int i = 0; i < n; i++)
			any |= (texts[i] = trigdesc->triggers[i].tgqual) != NULL;
		if (any)
		{
			PreparedSet *set = prepared_set(&entry->whens, n, texts, PREPARED_WHEN);

			for (int i = 0; i < n; i++)
				if (rri->ri_TrigWhenExprs[i] == NULL && set->states[i] != NULL)
				{
					rri->ri_TrigWhenExprs[i] = set->states[i];
					used = true;
				}
		}
		pfree(texts);
	}
	if (used)
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
		Relation	rel = rri->ri_RelationDesc;
		TupleConstr *constr = rel->rd_att->constr;

		if ((constr == NULL || constr->num_check == 0) && rri->ri_TrigDesc == NULL)
			continue;
		if (rel->rd_rel->relkind != RELKIND_RELATION)
			continue;
		if (!OidIsValid(schema))
			schema = get_namespace_oid("jobspy", true);
		if (RelationGetNamespace(rel) == schema)
			check_cache_offer(rri);
	}
}

void
jobspy_check_cache_init(void)
{
	DefineCustomBoolVariable("jobspy.check_cache",
							 "Prepares the CHECK constraints and trigger WHEN conditions of jobspy's tables once per backend.",
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
 * work: a table, its CHECK constraints and whether they are shared, its
 * triggers' WHEN conditions and how many of them are shared, and how many
 * statements were handed prepared states.
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
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};
		int			whens = 0,
					whens_shared = 0;

		for (int i = 0; i < entry->whens.n; i++)
		{
			whens += entry->whens.texts[i] != NULL;
			whens_shared += entry->whens.states[i] != NULL;
		}
		values[0] = ObjectIdGetDatum(entry->relid);
		values[1] = Int32GetDatum(entry->checks.n);
		values[2] = BoolGetDatum(entry->checks.states != NULL);
		values[3] = Int32GetDatum(whens);
		values[4] = Int32GetDatum(whens_shared);
		values[5] = Int64GetDatum(entry->uses);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
