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

#include "executor/executor.h"

#include "primary_guard.h"

static ExecutorStart_hook_type prev_ExecutorStart = NULL;

static void
guard_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	if (guard_session_is_checked() && (eflags & EXEC_FLAG_EXPLAIN_ONLY) == 0)
	{
		GuardServerState state = guard_current_state();
		GuardPolicy policy;
		GuardViolation v;

		if (guard_statement_policy(state, &policy) &&
			guard_check_plan(queryDesc->plannedstmt, &policy, state, &v))
			guard_report(&v, &policy, state, queryDesc->sourceText);
		if (state == GUARD_STANDBY)
			guard_promotion_note_statement(queryDesc);
	}

	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

void
guard_install_executor_hook(void)
{
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = guard_ExecutorStart;
}
