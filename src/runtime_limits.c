/*-------------------------------------------------------------------------
 *
 * runtime_limits.c
 *		The limits that hold while a statement runs: max_scan_rows counted
 *		as rows are read, and max_duration.
 *
 * Rows: under a 'limit' policy with max_scan_rows above zero, each scan
 * node that reads a counted relation (scan_estimate.c decides which) has
 * its ExecProcNodeReal replaced by counting_exec(), which adds every row
 * the node returns to its relation's count and reports the first one past
 * the limit (ERROR, or one WARNING in warn mode).  The bookkeeping of one
 * executor run (a GuardRun) lives in its EState's query context and leaves
 * the list of active runs when that context goes away (ExecutorEnd, or
 * abort), so a cursor is counted across its FETCHes and a nested statement
 * within its own run.  Sessions without such a policy get no wrapper.
 *
 * Duration: a statement of a role whose policy has max_duration gets a
 * timer of its own (a USER_TIMEOUT, never statement_timeout's), armed at
 * the statement's first hook call for statement_timestamp() plus the
 * limit.  When it fires it cancels the statement as statement_timeout
 * does (SIGINT to itself), and the hooks around execution turn the cancel
 * into the policy's error (57014).  A lower statement_timeout fires first
 * and wins.  In warn mode the timer only notes the overrun; the warning is
 * written when the statement ends.  The timer is disarmed at transaction
 * end and re-armed (or disarmed) by the next statement.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>
#include <unistd.h>

#include "access/xact.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "primary_guard.h"

/* A counted scan node: its real ExecProcNode and its relation's entry. */
typedef struct CountedNode
{
	ExecProcNodeMtd real_exec;
	GuardRelRead *rel;
} CountedNode;

/*
 * One executor run counted against max_scan_rows.  Only the policy's
 * numbers are kept: the texts of a report come from resolving the policy
 * again, since the policy cache may be rebuilt while the statement runs.
 */
typedef struct GuardRun
{
	struct GuardRun *next;
	EState	   *estate;
	int64		limit;
	bool		enforce;
	bool		warned;
	GuardOrigin rows_origin;
	GuardServerState state;
	const char *query;
	MemoryContextCallback unlink;
	CountedNode nodes[FLEXIBLE_ARRAY_MEMBER];	/* by plan_node_id; then the
												 * relations' counts */
} GuardRun;

static GuardRun *active_runs = NULL;

/* The duration timer. */
static TimeoutId duration_timeout = MAX_TIMEOUTS;
static TimestampTz duration_statement = 0;	/* statement the timer is for */
/* Read inline by the hooks (primary_guard.h). */
bool		guard_duration_is_armed = false;
volatile sig_atomic_t guard_duration_expired = false;
static GuardPolicy duration_policy;
static GuardServerState duration_state;
static MemoryContext duration_context = NULL;

/* Report the first row past the limit of a relation. */
static pg_noinline void
rows_exceeded(GuardRun *run, GuardRelRead *rel)
{
	GuardPolicy policy;
	GuardViolation v;

	if (run->warned)
		return;
	run->warned = !run->enforce;
	guard_resolve_session(run->state, &policy);
	policy.enforce = run->enforce;
	policy.max_scan_rows = run->limit;
	policy.rows_origin = run->rows_origin;
	guard_runtime_violation(&v, &policy, run->state, rel);
	guard_report(&v, &policy, run->state, run->query, run->estate->es_plannedstmt);
}

/* ExecProcNodeReal of a counted scan node. */
static TupleTableSlot *
counting_exec(PlanState *node)
{
	GuardRun   *run = active_runs;
	CountedNode *counted;
	TupleTableSlot *slot;

	/* Usually the first: the innermost running statement. */
	while (run->estate != node->state)
		run = run->next;
	counted = &run->nodes[node->plan->plan_node_id];
	slot = counted->real_exec(node);
	if (!TupIsNull(slot) && ++counted->rel->counted > run->limit)
		rows_exceeded(run, counted->rel);
	return slot;
}

static void
unlink_run(void *arg)
{
	GuardRun  **p = &active_runs;

	while (*p != NULL && *p != (GuardRun *) arg)
		p = &(*p)->next;
	if (*p != NULL)
		*p = (*p)->next;
}

/*
 * Start counting the rows 'queryDesc' reads, relation by relation, if
 * 'policy' limits them; 'reads' is the estimate guard_check_plan() made.
 * One allocation, in the executor's memory: the run, its relations and
 * its counted nodes.
 */
void
guard_runtime_start(QueryDesc *queryDesc, const GuardPolicy *policy,
					GuardServerState state, const GuardReads *reads)
{
	EState	   *estate = queryDesc->estate;
	Size		nodes_size;
	GuardRun   *run;
	GuardRelRead *rels;

	if (policy->action != GUARD_ACTION_LIMIT || policy->max_scan_rows <= 0 ||
		reads->nscans == 0 || estate == NULL)
		return;

	nodes_size = reads->max_node_id * sizeof(CountedNode);
	run = MemoryContextAlloc(estate->es_query_cxt,
							 offsetof(GuardRun, nodes) + nodes_size +
							 reads->nrels * sizeof(GuardRelRead));
	rels = (GuardRelRead *) ((char *) run->nodes + nodes_size);
	memcpy(rels, reads->rels, reads->nrels * sizeof(GuardRelRead));
	run->estate = estate;
	run->limit = policy->max_scan_rows;
	run->enforce = policy->enforce;
	run->warned = false;
	run->rows_origin = policy->rows_origin;
	run->state = state;
	run->query = queryDesc->sourceText;

	for (int i = 0; i < reads->nscans; i++)
	{
		PlanState  *ps = &reads->scans[i].node->ps;
		CountedNode *counted = &run->nodes[ps->plan->plan_node_id];

		/* A subplan referenced twice was walked twice: wrap it once. */
		if (ps->ExecProcNodeReal == counting_exec)
			continue;
		counted->real_exec = ps->ExecProcNodeReal;
		counted->rel = &rels[reads->scans[i].rel];
		ps->ExecProcNodeReal = counting_exec;
	}

	run->next = active_runs;
	active_runs = run;
	run->unlink.func = unlink_run;
	run->unlink.arg = run;
	MemoryContextRegisterResetCallback(estate->es_query_cxt, &run->unlink);
}

/* SIGALRM context: note the overrun and cancel like statement_timeout. */
static void
duration_timeout_handler(void)
{
	guard_duration_expired = true;
	if (duration_policy.enforce)
		kill(MyProcPid, SIGINT);
}

static void
duration_disarm(void)
{
	if (guard_duration_is_armed)
		disable_timeout(duration_timeout, false);
	guard_duration_is_armed = false;
	guard_duration_expired = false;
}

/*
 * Called by both hooks at every statement they see: arm the timer for a
 * new statement whose policy has max_duration ('policy' NULL: the session
 * is not checked), or disarm the previous statement's.
 */
void
guard_duration_statement_slow(const GuardPolicy *policy, GuardServerState state)
{
	TimestampTz start = GetCurrentStatementStartTimestamp();

	if (start == duration_statement)
		return;
	duration_statement = start;
	duration_disarm();
	if (policy == NULL || policy->action != GUARD_ACTION_LIMIT || policy->max_duration_ms < 0)
		return;

	if (duration_timeout == MAX_TIMEOUTS)
		duration_timeout = RegisterTimeout(USER_TIMEOUT, duration_timeout_handler);
	if (duration_context == NULL)
		duration_context = AllocSetContextCreate(TopMemoryContext,
												 "primary_guard max_duration",
												 ALLOCSET_SMALL_SIZES);
	MemoryContextReset(duration_context);
	duration_policy = *policy;
	if (duration_policy.note)
		duration_policy.note = MemoryContextStrdup(duration_context, duration_policy.note);
	if (duration_policy.source)
		duration_policy.source = MemoryContextStrdup(duration_context, duration_policy.source);
	duration_state = state;
	guard_duration_is_armed = true;
	enable_timeout_at(duration_timeout,
					  TimestampTzPlusMilliseconds(start, policy->max_duration_ms));
}

/*
 * In a PG_CATCH around execution: if the error is the cancel our timer
 * caused, throw the policy's error instead (and record it).  Returns
 * otherwise; the caller re-throws.
 */
void
guard_duration_rethrow(MemoryContext context)
{
	ErrorData  *edata;
	GuardViolation v;

	if (!guard_duration_expired || !duration_policy.enforce)
		return;
	MemoryContextSwitchTo(context);
	edata = CopyErrorData();
	if (edata->sqlerrcode != ERRCODE_QUERY_CANCELED)
		return;
	FlushErrorState();
	guard_duration_expired = false;
	guard_duration_violation(&v, &duration_policy, duration_state);
	guard_report(&v, &duration_policy, duration_state, debug_query_string, NULL);
}

/* At a statement's end, in warn mode: the overrun's one warning. */
void
guard_duration_warn_slow(void)
{
	GuardViolation v;

	if (duration_policy.enforce)
		return;
	guard_duration_expired = false;
	guard_duration_violation(&v, &duration_policy, duration_state);
	guard_report(&v, &duration_policy, duration_state, debug_query_string, NULL);
}

static void
runtime_xact_callback(XactEvent event, void *arg)
{
	if (!guard_duration_is_armed && duration_statement == 0)
		return;
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PREPARE)
	{
		duration_disarm();
		duration_statement = 0;
	}
}

/* Called once from _PG_init. */
void
guard_runtime_init(void)
{
	RegisterXactCallback(runtime_xact_callback, NULL);
}
