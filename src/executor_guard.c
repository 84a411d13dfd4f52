/*-------------------------------------------------------------------------
 *
 * executor_guard.c
 *		The executor hooks: every plan is checked once its executor state
 *		is built and before a single row is read; the run-time limits are
 *		set up then, and enforced while it runs.
 *
 * Runs for every statement that reaches the executor, at every nesting
 * level (functions, DO blocks, EXECUTE, cursors, CREATE TABLE AS, REFRESH
 * MATERIALIZED VIEW, COPY (query) TO, EXPLAIN ANALYZE).  Plain EXPLAIN
 * passes EXEC_FLAG_EXPLAIN_ONLY and is never rejected.  The check follows
 * standard_ExecutorStart so that partitions removed by initial run-time
 * pruning are not counted (a generic plan then counts what a custom plan
 * would); ExecutorStart opens relations but reads no table page.
 *
 * For a session no policy applies to, the cost is one cached lookup and no
 * allocation; ExecutorRun and ExecutorFinish only chain unless a
 * max_duration timer is armed or the statement is flagged for on_promote.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "executor/executor.h"
#include "replication/walsender.h"

#include "primary_guard.h"

static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;
static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;

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

static void
guard_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	bool		checked = guard_session_is_checked() &&
		(eflags & EXEC_FLAG_EXPLAIN_ONLY) == 0 &&
		!is_leader_fragment(queryDesc) &&
		!(am_walsender &&
		  guard_replication_hands_over(queryDesc->plannedstmt, queryDesc->dest));
	GuardServerState state = GUARD_PRIMARY;
	GuardPolicy policy;
	bool		has_policy = false;

	if (checked)
	{
		state = guard_current_state();
		has_policy = guard_statement_policy(state, &policy);
		guard_duration_statement(has_policy ? &policy : NULL, state);
	}
	else if ((eflags & EXEC_FLAG_EXPLAIN_ONLY) == 0)
		guard_duration_statement(NULL, state);

	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);

	if (has_policy)
	{
		GuardReads	reads;
		GuardViolation v;

		/* In warn mode, one warning per statement: no counting after it. */
		if (guard_check_plan(queryDesc, &policy, state, &reads, &v))
			guard_report(&v, &policy, state, queryDesc->sourceText,
						 queryDesc->plannedstmt);
		else
			guard_runtime_start(queryDesc, &policy, state, &reads);
	}
	if (checked && state == GUARD_STANDBY && !IsParallelWorker())
		guard_promotion_note_statement(queryDesc);
}

/*
 * ExecutorRun and ExecutorFinish.  Two things may need them, both rare:
 * a statement flagged for on_promote (promotion.c) marks its slot while it
 * runs, and is refused if the server was promoted since it was admitted;
 * while a max_duration timer is armed, the cancel it causes is turned into
 * the policy's error.  Otherwise they only chain.
 */
static void
guard_ExecutorRun(PG_EXECUTOR_RUN_HOOK_ARGS)
{
	MemoryContext context = CurrentMemoryContext;
	bool		flagged = guard_promotion_run_begin(queryDesc);

	if (!flagged && !guard_duration_armed())
	{
		if (prev_ExecutorRun)
			prev_ExecutorRun(PG_EXECUTOR_RUN_CALL_ARGS);
		else
			standard_ExecutorRun(PG_EXECUTOR_RUN_CALL_ARGS);
		return;
	}
	PG_TRY();
	{
		if (flagged)
			guard_promotion_check_after(queryDesc);
		if (prev_ExecutorRun)
			prev_ExecutorRun(PG_EXECUTOR_RUN_CALL_ARGS);
		else
			standard_ExecutorRun(PG_EXECUTOR_RUN_CALL_ARGS);
	}
	PG_CATCH();
	{
		if (flagged)
			guard_promotion_run_end();
		guard_duration_rethrow(context);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (flagged)
		guard_promotion_run_end();
}

static void
guard_ExecutorFinish(QueryDesc *queryDesc)
{
	MemoryContext context = CurrentMemoryContext;
	bool		flagged = guard_promotion_run_begin(queryDesc);

	if (!flagged && !guard_duration_armed())
	{
		if (prev_ExecutorFinish)
			prev_ExecutorFinish(queryDesc);
		else
			standard_ExecutorFinish(queryDesc);
		return;
	}
	PG_TRY();
	{
		if (prev_ExecutorFinish)
			prev_ExecutorFinish(queryDesc);
		else
			standard_ExecutorFinish(queryDesc);
	}
	PG_CATCH();
	{
		if (flagged)
			guard_promotion_run_end();
		guard_duration_rethrow(context);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (flagged)
		guard_promotion_run_end();
}

/*
 * ExecutorEnd: a flagged statement is over; a warn-mode max_duration
 * overrun is told when its statement ends.
 */
static void
guard_ExecutorEnd(QueryDesc *queryDesc)
{
	guard_promotion_forget(queryDesc);
	if (prev_ExecutorEnd)
		prev_ExecutorEnd(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
	guard_duration_warn();
}

void
guard_install_executor_hook(void)
{
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = guard_ExecutorStart;
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = guard_ExecutorRun;
	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = guard_ExecutorFinish;
	prev_ExecutorEnd = ExecutorEnd_hook;
	ExecutorEnd_hook = guard_ExecutorEnd;
}
