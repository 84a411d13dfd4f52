/*-------------------------------------------------------------------------
 *
 * promotion.c
 *		primary_guard.on_promote: cancel (or terminate) the statements that
 *		were admitted under standby rules but would be rejected on the
 *		primary, as soon as the standby is promoted.
 *
 * While the server is a standby and on_promote is not 'none', the
 * executor hook asks guard_check_plan() what the primary's policy would
 * say about each statement and records the answer in this backend's slot
 * (one per backend, in shared memory).  A background worker polls for the
 * end of recovery every 50 ms; when it comes, it signals exactly the
 * backends whose slot is flagged, logs each action, and exits.  It never
 * waits for anything the startup process does, so promotion is not
 * delayed.
 *
 * A slot is written only by its backend and read by the worker, under the
 * slot's spinlock.  It is cleared by ExecutorEnd of the flagged query and
 * at (sub)transaction abort, so an idle session is never flagged.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/guc.h"

#include "primary_guard.h"

#define GUARD_PROMOTE_REASON_LEN 256

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

typedef struct GuardPromoteSlot
{
	slock_t		mutex;
	bool		flagged;
	int			pid;
	char		role[NAMEDATALEN];
	char		reason[GUARD_PROMOTE_REASON_LEN];
} GuardPromoteSlot;

static int	guard_on_promote = GUARD_ON_PROMOTE_NONE;
static GuardPromoteSlot *slots = NULL;

/* The query this backend flagged, so that its ExecutorEnd clears the flag. */
static QueryDesc *flagged_query = NULL;
static bool exit_callback_registered = false;

static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;

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

static void clear_flag(void);

/* A backend that exits while flagged must not leave its pid behind. */
static void
clear_flag_at_exit(int code, Datum arg)
{
	clear_flag();
}

static void
clear_flag(void)
{
	GuardPromoteSlot *slot = my_slot();

	flagged_query = NULL;
	if (slot == NULL)
		return;
	SpinLockAcquire(&slot->mutex);
	slot->flagged = false;
	SpinLockRelease(&slot->mutex);
}

/*
 * On a standby, remember whether 'queryDesc' would be rejected once this
 * server is the primary.  Called by the executor hook for every checked
 * statement while the server is a standby.
 */
void
guard_promotion_note_statement(QueryDesc *queryDesc)
{
	GuardPolicy policy;
	GuardViolation v;
	GuardReads	reads;
	GuardPromoteSlot *slot;

	if (guard_on_promote == GUARD_ON_PROMOTE_NONE || flagged_query != NULL)
		return;

	guard_resolve_session(GUARD_PRIMARY, &policy);
	if (policy.action < GUARD_ACTION_LIMIT || !policy.enforce ||
		!guard_check_plan(queryDesc, &policy, GUARD_PRIMARY, &reads, &v))
		return;

	slot = my_slot();
	if (slot == NULL)
		return;
	if (!exit_callback_registered)
	{
		before_shmem_exit(clear_flag_at_exit, (Datum) 0);
		exit_callback_registered = true;
	}
	SpinLockAcquire(&slot->mutex);
	slot->flagged = true;
	slot->pid = MyProcPid;
	strlcpy(slot->role, guard_role_name(policy.origin.role), NAMEDATALEN);
	strlcpy(slot->reason, guard_violation_reason(&v), GUARD_PROMOTE_REASON_LEN);
	SpinLockRelease(&slot->mutex);
	flagged_query = queryDesc;
}

static void
guard_ExecutorEnd(QueryDesc *queryDesc)
{
	if (queryDesc == flagged_query)
		clear_flag();
	if (prev_ExecutorEnd)
		prev_ExecutorEnd(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
}

static void
guard_xact_callback(XactEvent event, void *arg)
{
	if (flagged_query != NULL &&
		(event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT))
		clear_flag();
}

static void
guard_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	if (flagged_query != NULL && event == SUBXACT_EVENT_ABORT_SUB)
		clear_flag();
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

	prev_ExecutorEnd = ExecutorEnd_hook;
	ExecutorEnd_hook = guard_ExecutorEnd;
	RegisterXactCallback(guard_xact_callback, NULL);
	RegisterSubXactCallback(guard_subxact_callback, NULL);

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker.bgw_library_name, "primary_guard", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "guard_promotion_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "primary_guard promotion watcher", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "primary_guard promotion watcher", BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

/* Signal every flagged backend, once the server has become a primary. */
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
 */
void
guard_promotion_main(Datum arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();

	while (RecoveryInProgress())
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 50, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
	}

	if (guard_on_promote != GUARD_ON_PROMOTE_NONE)
		act_on_promotion();
	proc_exit(0);
}
