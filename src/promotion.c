/*-------------------------------------------------------------------------
 *
 * promotion.c
 *		primary_guard.on_promote: stop the statements that were admitted
 *		under standby rules but would be rejected on the primary, as soon
 *		as the standby is promoted.
 *
 * Three parts:
 *
 * Flagging (ExecutorStart, per backend).  While the server is a standby
 * and on_promote is not 'none', the executor hook asks guard_check_plan()
 * what the primary's policy would say about each statement.  A statement
 * it would reject is remembered in this backend's list of flagged
 * queries, with the role and reason to log, all computed here, where
 * catalog lookups, allocation and errors are allowed.  The list lives in
 * TopTransactionContext: an entry goes at the statement's ExecutorEnd,
 * when the subtransaction that flagged it (or an ancestor) aborts, and
 * with the transaction.  A session that flagged nothing pays one NULL
 * check per executor call.
 *
 * Running (ExecutorRun and ExecutorFinish, per backend).  The backend's
 * slot in shared memory says "flagged" only while a flagged query's
 * executor is actually running, so an open cursor between FETCHes, or an
 * idle session, is never signalled.  On entry the slot is set (plain
 * stores under its spinlock), then, after a full memory barrier, the
 * recovery state is read again: if the server has been promoted since the
 * statement was admitted, ExecutorRun checks the plan against the
 * primary's policy exactly as ExecutorStart on a primary would, and
 * reports the verdict (an error under an enforcing policy).  This covers
 * a FETCH from a cursor opened on the standby, a statement whose executor
 * starts just after promotion, and the watcher's single scan missing a
 * slot flagged just after it (with the barrier on both sides, either the
 * watcher sees the slot or the backend sees the promotion).  ExecutorFinish
 * only sets the slot: it runs at COMMIT too, which must not fail.
 *
 * Watching (a background worker, "promotion watcher").  On a standby it
 * polls the end of recovery every 50 ms while on_promote is set (and
 * sleeps until a reload, or 10 s, while it is 'none'); at promotion it
 * signals exactly the backends whose slot is flagged (SIGINT, or SIGTERM
 * for 'terminate'), logs each, and exits with code 0, which unregisters
 * it; on a primary it exits at once.  It is restarted after a crash
 * restart of the server, and shuts down quietly (code 0, no FATAL) on
 * SIGTERM.  It never waits for the startup process: promotion is not
 * delayed.
 *
 * Locking: a slot is written only by its own backend and read by the
 * worker, both under the slot's spinlock, and nothing but plain loads and
 * stores of already computed values happens while it is held.
 *
 * The ExecutorRun/ExecutorFinish hooks here only track flagged queries;
 * they are kept small and separate so that they can be merged with other
 * executor-run bookkeeping into one hook file.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "primary_guard.h"

#define GUARD_PROMOTE_REASON_LEN 256

/* How often the watcher looks for the end of recovery, in milliseconds. */
#define GUARD_WATCH_INTERVAL_MS 50
/* With on_promote = none it only wakes for a reload, or this rarely. */
#define GUARD_IDLE_INTERVAL_MS 10000
/* Seconds before the postmaster starts a watcher that failed again. */
#define GUARD_WATCHER_RESTART_S 1

typedef enum GuardOnPromote
{
	GUARD_ON_PROMOTE_NONE,
	GUARD_ON_PROMOTE_CANCEL,
	GUARD_ON_PROMOTE_TERMINATE
} GuardOnPromote;

static const struct config_enum_entry on_promote_options[] = {
	{"none", GUARD_ON_PROMOTE_NONE, false},
	{"cancel", GUARD_ON_PROMOTE_CANCEL, false},
	{"terminate", GUARD_ON_PROMOTE_TERMINATE, false},
	{NULL, 0, false}
};

/* One per backend, in shared memory. */
typedef struct GuardPromoteSlot
{
	slock_t		mutex;
	bool		flagged;		/* a flagged query's executor is running */
	int			pid;
	char		role[NAMEDATALEN];
	char		reason[GUARD_PROMOTE_REASON_LEN];
} GuardPromoteSlot;

/* A query of this backend the primary's policy would reject. */
typedef struct FlaggedQuery
{
	QueryDesc  *queryDesc;
	SubTransactionId subid;		/* the subtransaction that flagged it */
	char		role[NAMEDATALEN];
	char		reason[GUARD_PROMOTE_REASON_LEN];
} FlaggedQuery;

static int	guard_on_promote = GUARD_ON_PROMOTE_NONE;
static GuardPromoteSlot *slots = NULL;

/* FlaggedQuery entries, in TopTransactionContext; NIL between transactions. */
static List *flagged_queries = NIL;

/* Flagged executor runs in progress in this backend (they nest). */
static int	running_flagged = 0;
static bool exit_callback_registered = false;


PGDLLEXPORT void guard_promotion_main(Datum arg);

static int
slot_count(void)
{
	return GUARD_MAX_BACKEND_SLOTS;
}

Size
guard_promotion_shmem_size(void)
{
	return mul_size(slot_count(), sizeof(GuardPromoteSlot));
}

void
guard_promotion_shmem_startup(void)
{
	bool		found;

	slots = ShmemInitStruct("primary_guard promotion slots",
							guard_promotion_shmem_size(), &found);
	if (!found)
	{
		memset(slots, 0, guard_promotion_shmem_size());
		for (int i = 0; i < slot_count(); i++)
			SpinLockInit(&slots[i].mutex);
	}
}

static GuardPromoteSlot *
my_slot(void)
{
	int			i = GUARD_MY_BACKEND_SLOT;

	if (slots == NULL || i < 0 || i >= slot_count())
		return NULL;
	return &slots[i];
}

/* Mark this backend's slot: plain stores of text computed beforehand. */
static void
slot_set(const FlaggedQuery *entry)
{
	GuardPromoteSlot *slot = my_slot();

	if (slot == NULL)
		return;
	SpinLockAcquire(&slot->mutex);
	slot->pid = MyProcPid;
	memcpy(slot->role, entry->role, NAMEDATALEN);
	memcpy(slot->reason, entry->reason, GUARD_PROMOTE_REASON_LEN);
	slot->flagged = true;
	SpinLockRelease(&slot->mutex);
}

static void
slot_clear(void)
{
	GuardPromoteSlot *slot = my_slot();

	if (slot == NULL)
		return;
	SpinLockAcquire(&slot->mutex);
	slot->flagged = false;
	SpinLockRelease(&slot->mutex);
}

/* A backend that exits while running a flagged query leaves no pid behind. */
static void
clear_slot_at_exit(int code, Datum arg)
{
	running_flagged = 0;
	slot_clear();
}

static FlaggedQuery *
find_flagged(QueryDesc *queryDesc)
{
	ListCell   *lc;

	foreach(lc, flagged_queries)
	{
		FlaggedQuery *entry = lfirst(lc);

		if (entry->queryDesc == queryDesc)
			return entry;
	}
	return NULL;
}

static void
forget_flagged(FlaggedQuery *entry)
{
	flagged_queries = list_delete_ptr(flagged_queries, entry);
	pfree(entry);
}

/*
 * On a standby, remember 'queryDesc' if the primary's policy would reject
 * it.  Called by the ExecutorStart hook for every checked statement of a
 * backend (not a parallel worker) while the server is a standby.
 */
void
guard_promotion_note_statement(QueryDesc *queryDesc)
{
	GuardPolicy policy;
	GuardViolation v;
	GuardReads	reads;
	FlaggedQuery *entry;
	MemoryContext old;

	if (guard_on_promote == GUARD_ON_PROMOTE_NONE || my_slot() == NULL)
		return;

	guard_resolve_session(GUARD_PRIMARY, &policy);
	if (policy.action < GUARD_ACTION_LIMIT || !policy.enforce ||
		!guard_check_plan(queryDesc, &policy, GUARD_PRIMARY, &reads, &v))
		return;

	if (!exit_callback_registered)
	{
		before_shmem_exit(clear_slot_at_exit, (Datum) 0);
		exit_callback_registered = true;
	}

	/* Name lookups and allocation happen here, never under the spinlock. */
	entry = MemoryContextAllocZero(TopTransactionContext, sizeof(FlaggedQuery));
	entry->queryDesc = queryDesc;
	entry->subid = GetCurrentSubTransactionId();
	strlcpy(entry->role, guard_role_name(policy.origin.role), NAMEDATALEN);
	strlcpy(entry->reason, guard_violation_reason(&v), GUARD_PROMOTE_REASON_LEN);

	old = MemoryContextSwitchTo(TopTransactionContext);
	flagged_queries = lappend(flagged_queries, entry);
	MemoryContextSwitchTo(old);
}

/*
 * Whether 'queryDesc' is flagged; if so its executor starts running: mark
 * the slot.  Only a NULL check for a backend that flagged nothing.
 */
static bool
flagged_run_begin(QueryDesc *queryDesc)
{
	FlaggedQuery *entry;

	if (flagged_queries == NIL || (entry = find_flagged(queryDesc)) == NULL)
		return false;
	if (running_flagged++ == 0)
		slot_set(entry);

	/*
	 * Order the slot's store before the load of the recovery state; the
	 * watcher orders its load of the recovery state before the slot's.
	 */
	pg_memory_barrier();
	return true;
}

static void
flagged_run_end(void)
{
	if (running_flagged > 0 && --running_flagged == 0)
		slot_clear();
}

/*
 * The server was promoted after 'queryDesc' was admitted under standby rules:
 * check it as ExecutorStart on the primary would have, with the same
 * evaluation, and report the verdict (an ERROR under an enforcing policy).
 * A query the primary now allows, or only warns about, is forgotten.
 */
static void
check_after_promotion(QueryDesc *queryDesc)
{
	FlaggedQuery *entry = find_flagged(queryDesc);
	GuardPolicy policy;
	GuardReads	reads;
	GuardViolation v;

	if (entry == NULL || guard_on_promote == GUARD_ON_PROMOTE_NONE ||
		!guard_session_is_checked())
		return;
	if (guard_statement_policy(GUARD_PRIMARY, &policy) &&
		guard_check_plan(queryDesc, &policy, GUARD_PRIMARY, &reads, &v))
		guard_report(&v, &policy, GUARD_PRIMARY, queryDesc->sourceText,
					 queryDesc->plannedstmt);
	forget_flagged(entry);
	/* Allowed now: a watcher that has not scanned yet must not cancel it. */
	if (running_flagged == 1)
		slot_clear();
}

/*
 * The executor hooks (executor_guard.c) around ExecutorRun and
 * ExecutorFinish of every statement: guard_promotion_run_begin() tells
 * whether 'queryDesc' is flagged and marks the slot; if so the hook calls
 * guard_promotion_check_after() (ExecutorRun only: ExecutorFinish also
 * runs at COMMIT) and, in every case, guard_promotion_run_end().
 */
bool
guard_promotion_run_begin(QueryDesc *queryDesc)
{
	return flagged_run_begin(queryDesc);
}

void
guard_promotion_run_end(void)
{
	flagged_run_end();
}

void
guard_promotion_check_after(QueryDesc *queryDesc)
{
	if (!RecoveryInProgress())
		check_after_promotion(queryDesc);
}

/* At ExecutorEnd: a flagged query is over. */
void
guard_promotion_forget(QueryDesc *queryDesc)
{
	FlaggedQuery *entry = flagged_queries != NIL ? find_flagged(queryDesc) : NULL;

	if (entry != NULL)
		forget_flagged(entry);
}

/*
 * At the end of the transaction every flagged query has ended (portals are
 * closed, held ones materialized, before COMMIT) or was abandoned by the
 * abort; the list's memory goes with TopTransactionContext.
 */
static void
guard_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			flagged_queries = NIL;
			if (running_flagged != 0)
			{
				running_flagged = 0;
				slot_clear();
			}
			break;
		default:
			break;
	}
}

/*
 * A subtransaction abort abandons the queries it, or a subtransaction
 * inside it, started: those have SubTransactionIds at least 'mySubid'
 * (ids grow, and every subtransaction started while 'mySubid' is open is
 * its descendant).  Queries of enclosing levels stay flagged: an error
 * caught inside a flagged statement does not unflag it.  Their executor
 * runs were unwound by the error already (flagged_run_end).
 */
static void
guard_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	ListCell   *lc;

	if (event != SUBXACT_EVENT_ABORT_SUB || flagged_queries == NIL)
		return;
	foreach(lc, flagged_queries)
	{
		FlaggedQuery *entry = lfirst(lc);

		if (entry->subid >= mySubid)
		{
			flagged_queries = foreach_delete_current(flagged_queries, lc);
			pfree(entry);
		}
	}
}

/* Called from _PG_init: the GUC, the hooks and the background worker. */
void
guard_promotion_init(void)
{
	BackgroundWorker worker;

	DefineCustomEnumVariable("primary_guard.on_promote",
							 "What to do, at promotion, with running statements the primary's policy would reject.",
							 "none lets them finish; cancel cancels them; terminate ends their sessions.",
							 &guard_on_promote,
							 GUARD_ON_PROMOTE_NONE,
							 on_promote_options,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);

	RegisterXactCallback(guard_xact_callback, NULL);
	RegisterSubXactCallback(guard_subxact_callback, NULL);

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = GUARD_WATCHER_RESTART_S;
	strlcpy(worker.bgw_library_name, "primary_guard", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "guard_promotion_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "primary_guard promotion watcher", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "primary_guard promotion watcher", BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

/* Signal every backend running a flagged query, once the server is a primary. */
static void
act_on_promotion(void)
{
	int			signo = guard_on_promote == GUARD_ON_PROMOTE_TERMINATE ? SIGTERM : SIGINT;
	const char *what = guard_on_promote == GUARD_ON_PROMOTE_TERMINATE ?
		"terminating the session of" : "canceling the statement of";

	for (int i = 0; i < slot_count(); i++)
	{
		GuardPromoteSlot copy;
		PGPROC	   *proc;

		SpinLockAcquire(&slots[i].mutex);
		copy = slots[i];
		SpinLockRelease(&slots[i].mutex);
		if (!copy.flagged || copy.pid == 0)
			continue;
		/* Only the backend that flagged the slot, never a reused pid. */
		proc = GUARD_SLOT_PROC(i);
		if (proc == NULL || proc->pid != copy.pid)
			continue;

		ereport(LOG,
				(errmsg("primary_guard: server promoted, %s backend %d (role \"%s\")",
						what, copy.pid, copy.role),
				 errdetail_internal("%s", copy.reason)));
		if (kill(copy.pid, signo) != 0)
			ereport(LOG,
					(errmsg("primary_guard: could not signal backend %d: %m", copy.pid)));
	}
}

/*
 * The promotion watcher.  On a primary it exits at once; on a standby it
 * waits for the end of recovery, acts according to on_promote, and exits.
 * Exit code 0 in every case, shutdown included: the postmaster then does
 * not start it again until the server restarts (or crash-restarts).
 */
void
guard_promotion_main(Datum arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();

	for (;;)
	{
		bool		idle;

		if (ShutdownRequestPending)
			proc_exit(0);
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (!RecoveryInProgress())
			break;

		/*
		 * With on_promote = none nothing needs watching: sleep until a
		 * reload (SIGHUP sets the latch), and look now and then whether
		 * the server was promoted meanwhile, only to exit.
		 */
		idle = guard_on_promote == GUARD_ON_PROMOTE_NONE;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 idle ? GUARD_IDLE_INTERVAL_MS : GUARD_WATCH_INTERVAL_MS,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}

	/* Read the slots only after having seen the end of recovery. */
	pg_memory_barrier();
	if (guard_on_promote != GUARD_ON_PROMOTE_NONE)
		act_on_promotion();
	proc_exit(0);
}
