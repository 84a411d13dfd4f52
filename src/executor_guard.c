/*-------------------------------------------------------------------------
 *
 * executor_guard.c
 *		The ExecutorStart hook: checks every plan before it runs.
 *
 * Runs for every statement that reaches the executor, at every nesting
 * level (functions, DO blocks, EXECUTE, cursors, CREATE TABLE AS, REFRESH
 * MATERIALIZED VIEW, COPY (query) TO, EXPLAIN ANALYZE).  Plain EXPLAIN
 * passes EXEC_FLAG_EXPLAIN_ONLY and is never rejected.  For a session no
 * policy applies to, the cost is one cached lookup and no allocation.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "executor/executor.h"

#include "primary_guard.h"

static ExecutorStart_hook_type prev_ExecutorStart = NULL;

/* In a parallel worker: whether the leader's plan fragment has started. */
static bool worker_fragment_started = false;

/*
 * Is this the plan fragment a parallel worker got from its leader?  It is
 * the worker's first executor start, and the plan was not made here: the
 * leader's serialized copy carries no relationOids (execParallel.c), while
 * any statement planned inside the worker that reads a table has them.
 */
static bool
is_leader_fragment(QueryDesc *queryDesc)
{
	if (!IsParallelWorker() || worker_fragment_started)
		return false;
	worker_fragment_started = true;
	return queryDesc->plannedstmt->relationOids == NIL &&
		queryDesc->plannedstmt->utilityStmt == NULL;
}

static PG_EXECUTOR_START_RESULT
guard_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	if (guard_session_is_checked() && (eflags & EXEC_FLAG_EXPLAIN_ONLY) == 0 &&
		!is_leader_fragment(queryDesc) &&
		!guard_replication_hands_over(queryDesc->plannedstmt, queryDesc->dest))
	{
		GuardServerState state = guard_current_state();
		GuardPolicy policy;
		GuardViolation v;

		if (guard_statement_policy(state, &policy) &&
			guard_check_plan(queryDesc->plannedstmt, &policy, state, &v))
			guard_report(&v, &policy, state, queryDesc->sourceText);
		if (state == GUARD_STANDBY && !IsParallelWorker())
			guard_promotion_note_statement(queryDesc);
	}

	if (prev_ExecutorStart)
		PG_EXECUTOR_START_RETURN(prev_ExecutorStart(queryDesc, eflags));
	else
		PG_EXECUTOR_START_RETURN(standard_ExecutorStart(queryDesc, eflags));
}

void
guard_install_executor_hook(void)
{
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = guard_ExecutorStart;
}
