/*-------------------------------------------------------------------------
 *
 * primary_guard.c
 *		Entry point: refuses to load unless preloaded, defines the GUCs,
 *		installs the hooks, and decides which sessions are checked at all.
 *
 * primary_guard must be in shared_preload_libraries on every node: a
 * library loaded later would leave sessions that started earlier unguarded,
 * and the hooks must be in place before the first statement of any backend.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xlog.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "postmaster/autovacuum.h"
#include "replication/walsender.h"
#include "utils/guc.h"

#include "primary_guard.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* GUC: off turns the guard off for the session (superuser only). */
bool		guard_enabled = true;

/*
 * Log a superuser turning the guard off, so that every exemption leaves a
 * trace.  Assign hooks must not fail or touch catalogs, so the user name
 * comes from the session_authorization setting, which is kept in memory.
 */
static void
guard_assign_enabled(bool newval, void *extra)
{
	const char *user;

	/*
	 * Parallel workers restore the leader's settings through this hook: only
	 * the session that changed it logs.
	 */
	if (!guard_enabled || newval || !IsUnderPostmaster || !OidIsValid(MyDatabaseId) ||
		IsParallelWorker() || InitializingParallelWorker)
		return;
	user = GetConfigOption("session_authorization", true, false);
	ereport(LOG,
			(errmsg("primary_guard.enabled set to off in the session of user \"%s\" (pid %d)",
					user ? user : "?", MyProcPid)));
}

void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("primary_guard must be loaded via shared_preload_libraries"),
				 errhint("Add primary_guard to shared_preload_libraries in postgresql.conf on every node and restart the server.")));

	DefineCustomBoolVariable("primary_guard.enabled",
							 "Checks statements against primary_guard policies.",
							 "Only superusers can change it; turning it off is logged.",
							 &guard_enabled,
							 true,
							 PGC_SUSET,
							 0,
							 NULL,
							 guard_assign_enabled,
							 NULL);

	guard_stats_init();
	guard_promotion_init();
	guard_shmem_init();

	MarkGUCPrefixReserved("primary_guard");

	guard_cache_init();
	guard_runtime_init();
	guard_install_executor_hook();
	guard_install_utility_hook();
}

/*
 * Whether statements of this process are checked at all.  Physical
 * walsenders run no SQL and autovacuum is not a user session.  A walsender
 * connected to a database (replication=database) is checked like any
 * session, except for what replication itself hands over
 * (replication_guard.c).  Parallel workers are: the plan fragment their leader hands
 * over was checked in the leader (the executor hook skips it), but every
 * statement a function runs inside the worker is checked, against the
 * leader's session user and SET ROLE role, which the worker restores.
 */
bool
guard_session_is_checked(void)
{
	return guard_enabled &&
		(!am_walsender || am_db_walsender) &&
		!PG_IS_AUTOVACUUM_WORKER() &&
		IsNormalProcessingMode();
}

/* The server state policies are chosen by, read again for each statement. */
GuardServerState
guard_current_state(void)
{
	return RecoveryInProgress() ? GUARD_STANDBY : GUARD_PRIMARY;
}

const char *
guard_state_name(GuardServerState state)
{
	return state == GUARD_STANDBY ? "standby" : "primary";
}

/*
 * The policy this session's statement is checked against, for both hooks.
 * Returns false (nothing to check) unless it is 'limit' or 'deny'; counts
 * the statement as checked otherwise.
 */
bool
guard_statement_policy(GuardServerState state, GuardPolicy *policy)
{
	guard_resolve_session(state, policy);
	if (policy->action < GUARD_ACTION_LIMIT)
		return false;
	guard_stats_count_checked(policy->origin.role);
	return true;
}
