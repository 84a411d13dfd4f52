/*-------------------------------------------------------------------------
 *
 * check_query.c
 *		check_query(query, role, server_state): the guard's verdict on a
 *		statement, without running it.
 *
 * The statement is parsed and planned exactly as it would be for
 * execution, then handed to the same guard_check_plan() and
 * guard_check_utility() the hooks use, so a preview can never disagree
 * with what the hooks do.  On a standby, server_state => 'primary' shows
 * what will happen after a failover.
 *
 * Wrappers are unwrapped as the server runs them, nested too: EXPLAIN
 * ANALYZE, CREATE TABLE AS / SELECT INTO, DECLARE CURSOR, COPY (query) TO
 * and EXECUTE each contribute the plans they hand to the executor.  Only the
 * top-level command is a utility check: the inner command of EXPLAIN
 * ANALYZE CREATE TABLE AS or CREATE TABLE AS EXECUTE never passes the
 * ProcessUtility hook, only its plan reaches the ExecutorStart hook.
 *
 * EXECUTE of a prepared statement is planned as EXECUTE plans it: from a
 * copy of its plan source (so the session's statement keeps its own
 * custom/generic plan history), with the parameters evaluated as EXECUTE
 * evaluates them.  A parameter that calls a volatile function is refused
 * with an error: check_query runs nothing with side effects, and the plan
 * (custom, for its value) cannot be known without running it.
 *
 * Locks: planning takes the locks EXPLAIN takes (AccessShareLock on every
 * relation the statement reads, COPY's table included), held to the end of
 * the caller's transaction like those of any statement it runs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "commands/defrem.h"
#include "commands/prepare.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "parser/parse_collate.h"
#include "parser/parse_expr.h"
#include "rewrite/rewriteHandler.h"
#include "tcop/dest.h"
#include "utils/snapmgr.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/plancache.h"

#include "primary_guard.h"

PG_FUNCTION_INFO_V1(check_query);

/* What check_query() evaluates: utility parse trees and planned statements. */
typedef struct CheckTargets
{
	List	   *utilities;		/* Node * */
	List	   *plans;			/* PlannedStmt * */
} CheckTargets;

static void plan_utility_queries(Node *utility, const char *query_string,
								 CheckTargets *targets);

/* While unwrapping the statement of an EXPLAIN ANALYZE (reset per call). */
static bool inside_explain_analyze = false;

/*
 * The plans of an analyzed query a wrapper runs.  A query that is itself a
 * wrapper (EXPLAIN ANALYZE CREATE TABLE AS ..., CREATE TABLE AS EXECUTE) is
 * unwrapped in turn; the executor never sees the wrapper itself.
 */
static void
plan_rewritten(Query *query, const char *query_string, CheckTargets *targets)
{
	ListCell   *lc;

	if (query->commandType == CMD_UTILITY)
	{
		plan_utility_queries(query->utilityStmt, query_string, targets);
		return;
	}
	foreach(lc, QueryRewrite(query))
	{
		Query	   *q = lfirst_node(Query, lc);

		/* A rule's utility action (NOTIFY) runs through ProcessUtility. */
		if (q->commandType == CMD_UTILITY)
			targets->utilities = lappend(targets->utilities, q->utilityStmt);
		else
			targets->plans = lappend(targets->plans,
									 pg_plan_query(q, query_string, CURSOR_OPT_PARALLEL_OK, NULL));
	}
}

/*
 * EXECUTE's parameters, evaluated as EXECUTE evaluates them (prepare.c's
 * EvaluateParams): same count check, coercion and errors.  Returns NULL
 * when there are none.  Volatile functions are refused, not run.
 */
static ParamListInfo
execute_parameters(PreparedStatement *entry, List *params, const char *query_string)
{
	Oid		   *types = entry->plansource->param_types;
	int			nparams = entry->plansource->num_params;
	ParseState *pstate;
	EState	   *estate;
	ParamListInfo li;
	List	   *exprs = NIL;
	ListCell   *lc;
	int			i = 0;

	if (list_length(params) != nparams)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("wrong number of parameters for prepared statement \"%s\"",
						entry->stmt_name),
				 errdetail("Expected %d parameters but got %d.",
						   nparams, list_length(params))));
	if (nparams == 0)
		return NULL;

	pstate = make_parsestate(NULL);
	pstate->p_sourcetext = query_string;
	foreach(lc, copyObject(params))
	{
		Node	   *expr = transformExpr(pstate, lfirst(lc), EXPR_KIND_EXECUTE_PARAMETER);
		Oid			given = exprType(expr);

		expr = coerce_to_target_type(pstate, expr, given, types[i], -1,
									 COERCION_ASSIGNMENT, COERCE_IMPLICIT_CAST, -1);
		if (expr == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("parameter $%d of type %s cannot be coerced to the expected type %s",
							i + 1, format_type_be(given), format_type_be(types[i])),
					 errhint("You will need to rewrite or cast the expression.")));
		assign_expr_collations(pstate, expr);
		if (contain_volatile_functions(expr))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("check_query() does not evaluate volatile parameters of EXECUTE"),
					 errdetail("Parameter $%d calls a volatile function; its value decides the plan.", i + 1),
					 errhint("Pass the parameter's value as a constant.")));
		exprs = lappend(exprs, expr);
		i++;
	}

	/* The executor state lives as long as the values: to the call's end. */
	estate = CreateExecutorState();
	li = makeParamList(nparams);
	i = 0;
	foreach(lc, ExecPrepareExprList(exprs, estate))
	{
		ParamExternData *prm = &li->params[i];

		prm->ptype = types[i];
		prm->pflags = PARAM_FLAG_CONST;
		prm->value = ExecEvalExprSwitchContext((ExprState *) lfirst(lc),
											   GetPerTupleExprContext(estate),
											   &prm->isnull);
		i++;
	}
	return li;
}

/* The plans EXECUTE name(params) would run. */
static void
plan_execute(ExecuteStmt *stmt, const char *query_string, CheckTargets *targets)
{
	PreparedStatement *entry = FetchPreparedStatement(stmt->name, true);
	ParamListInfo params = execute_parameters(entry, stmt->params, query_string);
	CachedPlan *cplan;
	ListCell   *lc;

	/* A copy: the session's own statement keeps its plan choice history. */
	cplan = GetCachedPlan(CopyCachedPlan(entry->plansource), params, NULL, NULL);
	foreach(lc, cplan->stmt_list)
	{
		PlannedStmt *planned = lfirst_node(PlannedStmt, lc);

		if (planned->commandType == CMD_UTILITY)
			targets->utilities = lappend(targets->utilities, planned->utilityStmt);
		else
			targets->plans = lappend(targets->plans, planned);
	}
}

static bool
explain_analyzes(ExplainStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->options)
	{
		DefElem    *opt = lfirst_node(DefElem, lc);

		if (strcmp(opt->defname, "analyze") == 0)
			return defGetBoolean(opt);
	}
	return false;
}

/*
 * Whether CREATE TABLE AS starts the executor: always, except WITH NO DATA
 * of a query run directly (not under EXPLAIN ANALYZE, which runs it with
 * the no-data flag, nor for EXECUTE, whose portal is started anyway).
 */
static bool
ctas_starts_executor(CreateTableAsStmt *ctas)
{
	Query	   *query = castNode(Query, ctas->query);

	return !ctas->into->skipData || inside_explain_analyze ||
		(query->commandType == CMD_UTILITY && IsA(query->utilityStmt, ExecuteStmt));
}

/* The queries a utility command hands to the executor, planned. */
static void
plan_utility_queries(Node *utility, const char *query_string, CheckTargets *targets)
{
	check_stack_depth();
	if (IsA(utility, ExecuteStmt))
		plan_execute((ExecuteStmt *) utility, query_string, targets);
	else if (IsA(utility, ExplainStmt) && explain_analyzes((ExplainStmt *) utility))
	{
		inside_explain_analyze = true;
		plan_rewritten(copyObject(castNode(Query, ((ExplainStmt *) utility)->query)),
					   query_string, targets);
		inside_explain_analyze = false;
	}
	else if (IsA(utility, CreateTableAsStmt) && ctas_starts_executor((CreateTableAsStmt *) utility))
		plan_rewritten(copyObject(castNode(Query, ((CreateTableAsStmt *) utility)->query)),
					   query_string, targets);
	else if (IsA(utility, DeclareCursorStmt))
		plan_rewritten(copyObject(castNode(Query, ((DeclareCursorStmt *) utility)->query)),
					   query_string, targets);
	else if (IsA(utility, CopyStmt) && ((CopyStmt *) utility)->query != NULL)
	{
		RawStmt    *raw = makeNode(RawStmt);
		ListCell   *lc;

		raw->stmt = ((CopyStmt *) utility)->query;
		foreach(lc, pg_analyze_and_rewrite_fixedparams(raw, query_string, NULL, 0, NULL))
			targets->plans = lappend(targets->plans,
									 pg_plan_query(lfirst_node(Query, lc), query_string,
												   CURSOR_OPT_PARALLEL_OK, NULL));
	}
}

/*
 * Errors in the checked query point into that query, not into the
 * check_query() call around it (as SPI does for its statements).
 */
static void
checked_query_error_callback(void *arg)
{
	const char *query = (const char *) arg;
	int			position = geterrposition();

	if (position > 0)
	{
		errposition(0);
		internalerrposition(position);
		internalerrquery(query);
	}
	else
		errcontext("query checked by check_query(): \"%s\"", query);
}

/* Parse, analyze and plan one statement, collecting what to check. */
static void
plan_statement(const char *query_string, CheckTargets *targets)
{
	ErrorContextCallback errcallback;
	List	   *raw;
	ListCell   *lc;

	errcallback.callback = checked_query_error_callback;
	errcallback.arg = unconstify(char *, query_string);
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	inside_explain_analyze = false;
	raw = pg_parse_query(query_string);

	if (list_length(raw) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("check_query() needs exactly one statement, got %d",
						list_length(raw))));

	foreach(lc, pg_analyze_and_rewrite_fixedparams(linitial_node(RawStmt, raw),
												   query_string, NULL, 0, NULL))
	{
		Query	   *q = lfirst_node(Query, lc);

		if (q->commandType == CMD_UTILITY)
		{
			targets->utilities = lappend(targets->utilities, q->utilityStmt);
			plan_utility_queries(q->utilityStmt, query_string, targets);
		}
		else
			targets->plans = lappend(targets->plans,
									 pg_plan_query(q, query_string, CURSOR_OPT_PARALLEL_OK, NULL));
	}
	error_context_stack = errcallback.previous;
}

/*
 * COPY table: the privileges COPY itself requires of the current user
 * (SELECT to read, INSERT to write; on the table, or on every column
 * copied), with COPY's error: COPY TO's verdict shows the table's size.
 */
static void
check_copy_privileges(CopyStmt *copy)
{
	AclMode		mode = copy->is_from ? ACL_INSERT : ACL_SELECT;
	Oid			relid = RangeVarGetRelid(copy->relation, AccessShareLock, false);
	Oid			user = GetUserId();
	bool		ok = true;
	ListCell   *lc;

	if (pg_class_aclcheck(relid, user, mode) == ACLCHECK_OK)
		return;
	if (copy->attlist == NIL)
		ok = pg_attribute_aclcheck_all(relid, user, mode, ACLMASK_ALL) == ACLCHECK_OK;
	foreach(lc, copy->attlist)
	{
		char	   *name = strVal(lfirst(lc));
		AttrNumber	attnum = get_attnum(relid, name);

		if (attnum == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist",
							name, get_rel_name(relid))));
		if (pg_attribute_aclcheck(relid, attnum, user, mode) != ACLCHECK_OK)
			ok = false;
	}
	if (!ok)
		aclcheck_error(ACLCHECK_NO_PRIV, get_relkind_objtype(get_rel_relkind(relid)),
					   get_rel_name(relid));
}

static char *
allowed_reason(const GuardPolicy *policy, GuardServerState state)
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (policy->action == GUARD_ACTION_NONE)
	{
		appendStringInfo(&buf, "no policy applies on the %s server", guard_state_name(state));
		return buf.data;
	}
	appendStringInfoString(&buf, "within the ");
	guard_describe_origin(&buf, &policy->origin);
	appendStringInfo(&buf, " (%s) on the %s server",
					 guard_action_name(policy->action), guard_state_name(state));
	return buf.data;
}

/*
 * The plan check, on an executor state started as plain EXPLAIN starts one
 * (nothing runs; initial partition pruning happens as it would).
 */
static bool
check_planned(PlannedStmt *stmt, const GuardPolicy *policy, GuardServerState state,
			  GuardViolation *v)
{
	QueryDesc  *queryDesc;
	GuardReads	reads;
	bool		violated;

	queryDesc = CreateQueryDesc(stmt, "", GetActiveSnapshot(), InvalidSnapshot,
								None_Receiver, NULL, NULL, 0);
	ExecutorStart(queryDesc, EXEC_FLAG_EXPLAIN_ONLY);
	violated = guard_check_plan(queryDesc, policy, state, &reads, v);
	ExecutorEnd(queryDesc);
	FreeQueryDesc(queryDesc);
	return violated;
}

/*
 * check_query(query text, role text, server_state text)
 *		RETURNS TABLE(verdict text, reason text, estimated_cost float8)
 */
Datum
check_query(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	CheckTargets targets = {NIL, NIL};
	GuardPolicy policy;
	GuardServerState state;
	GuardViolation v;
	bool		violated = false;
	ListCell   *lc;
	Datum		values[3];
	bool		nulls[3] = {0};
	TupleDesc	tupdesc;
	MemoryContext oldcontext;

	if (!SRF_IS_FIRSTCALL())
	{
		funcctx = SRF_PERCALL_SETUP();
		SRF_RETURN_DONE(funcctx);
	}
	funcctx = SRF_FIRSTCALL_INIT();
	oldcontext = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	funcctx->tuple_desc = BlessTupleDesc(tupdesc);
	MemoryContextSwitchTo(oldcontext);

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("query must not be NULL")));

	/* Plan first: planning may run functions, which may refresh the cache. */
	plan_statement(text_to_cstring(PG_GETARG_TEXT_PP(0)), &targets);
	guard_policy_for_arguments(fcinfo, 1, 2, &policy, &state);

	/*
	 * The estimates come from statistics on the tables' contents: show them
	 * only to a caller who may read the tables, as EXPLAIN does.
	 */
	foreach(lc, targets.plans)
		PG_CHECK_PLAN_PERMISSIONS(lfirst_node(PlannedStmt, lc));
	foreach(lc, targets.utilities)
		if (IsA(lfirst(lc), CopyStmt) && ((CopyStmt *) lfirst(lc))->relation != NULL)
			check_copy_privileges((CopyStmt *) lfirst(lc));

	foreach(lc, targets.utilities)
	{
		Node	   *utility = (Node *) lfirst(lc);
		Oid			copy_relid = IsA(utility, CopyStmt) ?
			guard_copy_relation((CopyStmt *) utility) : InvalidOid;

		if (!violated)
			violated = guard_check_utility(utility, copy_relid, &policy, state, &v);
	}
	foreach(lc, targets.plans)
		if (!violated)
			violated = check_planned(lfirst_node(PlannedStmt, lc), &policy, state, &v);

	values[0] = CStringGetTextDatum(!violated ? "allow" : policy.enforce ? "reject" : "warn");
	values[1] = CStringGetTextDatum(violated ? guard_violation_reason(&v) :
									allowed_reason(&policy, state));
	if (targets.plans != NIL)
		values[2] = Float8GetDatum(linitial_node(PlannedStmt, targets.plans)->planTree->total_cost);
	else
		nulls[2] = true;

	SRF_RETURN_NEXT(funcctx, HeapTupleGetDatum(heap_form_tuple(funcctx->tuple_desc, values, nulls)));
}
