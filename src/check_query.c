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
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/defrem.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "rewrite/rewriteHandler.h"
#include "tcop/dest.h"
#include "utils/snapmgr.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"

#include "primary_guard.h"

PG_FUNCTION_INFO_V1(check_query);

/* What check_query() evaluates: utility parse trees and planned statements. */
typedef struct CheckTargets
{
	List	   *utilities;		/* Node * */
	List	   *plans;			/* PlannedStmt * */
} CheckTargets;

static void
plan_rewritten(Query *query, const char *query_string, CheckTargets *targets)
{
	ListCell   *lc;

	foreach(lc, QueryRewrite(query))
	{
		Query	   *q = lfirst_node(Query, lc);

		if (q->commandType == CMD_UTILITY)
			targets->utilities = lappend(targets->utilities, q->utilityStmt);
		else
			targets->plans = lappend(targets->plans,
									 pg_plan_query(q, query_string, CURSOR_OPT_PARALLEL_OK, NULL));
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

/* The queries a utility command hands to the executor, planned. */
static void
plan_utility_queries(Node *utility, const char *query_string, CheckTargets *targets)
{
	if (IsA(utility, ExplainStmt) && explain_analyzes((ExplainStmt *) utility))
		plan_rewritten(copyObject(castNode(Query, ((ExplainStmt *) utility)->query)),
					   query_string, targets);
	else if (IsA(utility, CreateTableAsStmt) &&
			 !((CreateTableAsStmt *) utility)->into->skipData)
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
