/*-------------------------------------------------------------------------
 *
 * compat.h
 *		Every PostgreSQL version difference primary_guard depends on.
 *
 * Hook bodies and the rest of the code never test PG_VERSION_NUM; they use
 * the macros below.  Adding a major version means editing this file only.
 *
 * Tested: PostgreSQL 15 (Debian 12's package) and 18 (built from source);
 * CI builds and runs the whole suite on both.  16 and 17 are expected to
 * work but are not tested: every difference below is keyed on the release
 * that introduced it (16: permission info and view range table entries;
 * 17: process numbers and the autovacuum test), so they compile the same
 * branches as 18 except where 18 itself changed something, but no CI run
 * has checked their behaviour.  Older than 15 is refused: shared memory is
 * requested from shmem_request_hook and MERGE is a command tag, both 15.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRIMARY_GUARD_COMPAT_H
#define PRIMARY_GUARD_COMPAT_H

#include "postgres.h"

#if PG_VERSION_NUM < 150000 || PG_VERSION_NUM >= 190000
#error "primary_guard supports PostgreSQL 15 to 18 (tested: 15 and 18)"
#endif

/*
 * Number of command tags.  15 ends the CommandTag enum with
 * COMMAND_TAG_NEXTTAG, 18 no longer does; counting the entries of
 * cmdtaglist.h (the list the enum itself is built from) works everywhere.
 */
#define PG_CMDTAG(tag, name, evtrgok, rwrok, rowcnt) PG_GUARD_COUNT_##tag,
enum
{
#include "tcop/cmdtaglist.h"
	PG_COMMAND_TAG_COUNT
};
#undef PG_CMDTAG

/*
 * The ProcessUtility hook's arguments (readOnlyTree since 14, unchanged
 * through 18).
 */
#define PG_UTILITY_HOOK_ARGS \
	PlannedStmt *pstmt, const char *queryString, bool readOnlyTree, \
	ProcessUtilityContext context, ParamListInfo params, \
	QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc
#define PG_UTILITY_CALL_ARGS \
	pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc

/* The autovacuum process test was renamed in 17. */
#if PG_VERSION_NUM >= 170000
#define PG_IS_AUTOVACUUM_WORKER() AmAutoVacuumWorkerProcess()
#else
#define PG_IS_AUTOVACUUM_WORKER() IsAutoVacuumWorkerProcess()
#endif

/* ExecutorRun lost execute_once in 18. */
#if PG_VERSION_NUM >= 180000
#define PG_EXECUTOR_RUN_HOOK_ARGS \
	QueryDesc *queryDesc, ScanDirection direction, uint64 count
#define PG_EXECUTOR_RUN_CALL_ARGS queryDesc, direction, count
#else
#define PG_EXECUTOR_RUN_HOOK_ARGS \
	QueryDesc *queryDesc, ScanDirection direction, uint64 count, bool execute_once
#define PG_EXECUTOR_RUN_CALL_ARGS queryDesc, direction, count, execute_once
#endif

/*
 * One shared-memory slot per backend, indexed by this backend's number:
 * MyBackendId counts from 1 before 17, MyProcNumber from 0 since.
 */
#if PG_VERSION_NUM >= 170000
#define GUARD_MAX_BACKEND_SLOTS (MaxBackends + NUM_AUXILIARY_PROCS)
#define GUARD_MY_BACKEND_SLOT (MyProcNumber)
#define GUARD_SLOT_PROC(slot) GetPGProcByNumber(slot)
#else
#include "storage/sinvaladt.h"
#define GUARD_MAX_BACKEND_SLOTS (MaxBackends + 1)
#define GUARD_MY_BACKEND_SLOT (MyBackendId)
#define GUARD_SLOT_PROC(slot) BackendIdGetProc(slot)
#endif

/*
 * Checking a plan's table privileges, as EXPLAIN does before it shows
 * estimates: 16 moved the permissions out of the range table into
 * RTEPermissionInfo (PlannedStmt.permInfos).
 */
#if PG_VERSION_NUM >= 160000
#define PG_CHECK_PLAN_PERMISSIONS(stmt) \
	ExecCheckPermissions((stmt)->rtable, (stmt)->permInfos, true)
#else
#define PG_CHECK_PLAN_PERMISSIONS(stmt) ExecCheckRTPerms((stmt)->rtable, true)
#endif

/* Intervals can be infinite since 17. */
#if PG_VERSION_NUM >= 170000
#define PG_INTERVAL_IS_INFINITE(i) INTERVAL_NOT_FINITE(i)
#else
#define PG_INTERVAL_IS_INFINITE(i) false
#endif

/* The primary key's index; 18 asks whether a deferrable one will do. */
#if PG_VERSION_NUM >= 180000
#define PG_PRIMARY_KEY_INDEX(rel) RelationGetPrimaryKeyIndex((rel), false)
#else
#define PG_PRIMARY_KEY_INDEX(rel) RelationGetPrimaryKeyIndex(rel)
#endif

/* This backend's local transaction id moved into MyProc->vxid in 17. */
#if PG_VERSION_NUM >= 170000
#define GUARD_MY_LXID (MyProc->vxid.lxid)
#else
#define GUARD_MY_LXID (MyProc->lxid)
#endif

/*
 * Whether a range table entry of a finished plan names a stored relation
 * (table, view, materialized view, foreign table, ...): what 'deny' refuses
 * unless it lies in an exempt schema.
 *
 * A view is a relation the statement names, so it counts on every version.
 * Up to 15 the rewriter left a view's own RTE_RELATION entry (kept for its
 * permission check) in the range table next to the expanded subquery.
 * Since 16 there is no such entry: the view's entry itself becomes an
 * RTE_SUBQUERY that keeps the view's OID in relid (for locking and its
 * RTEPermissionInfo).  Before 16 a subquery entry's relid is always
 * invalid, so one test serves every version.
 */
#define PG_RTE_IS_NAMED_RELATION(rte) \
	((rte)->rtekind == RTE_RELATION || \
	 ((rte)->rtekind == RTE_SUBQUERY && OidIsValid((rte)->relid)))

#endif							/* PRIMARY_GUARD_COMPAT_H */
