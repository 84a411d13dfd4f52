/*-------------------------------------------------------------------------
 *
 * compat.h
 *		Every PostgreSQL version difference primary_guard depends on.
 *
 * Hook bodies and the rest of the code never test PG_VERSION_NUM; they use
 * the macros below.  Adding a major version means editing this file only.
 * CI builds and tests PostgreSQL 15.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRIMARY_GUARD_COMPAT_H
#define PRIMARY_GUARD_COMPAT_H

#include "postgres.h"

#if PG_VERSION_NUM < 130000 || PG_VERSION_NUM >= 190000
#error "primary_guard supports PostgreSQL 13 to 18"
#endif

/*
 * Shared memory must be requested from shmem_request_hook since 15; before
 * that RequestAddinShmemSpace() was called directly from _PG_init().
 */
#if PG_VERSION_NUM >= 150000
#define PG_HAVE_SHMEM_REQUEST_HOOK 1
#endif

/* MarkGUCPrefixReserved() is the 15 name of EmitWarningsOnPlaceholders(). */
#if PG_VERSION_NUM < 150000
#define MarkGUCPrefixReserved(prefix) EmitWarningsOnPlaceholders(prefix)
#endif

/* The ProcessUtility hook gained readOnlyTree in 14. */
#if PG_VERSION_NUM >= 140000
#define PG_UTILITY_HOOK_ARGS \
	PlannedStmt *pstmt, const char *queryString, bool readOnlyTree, \
	ProcessUtilityContext context, ParamListInfo params, \
	QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc
#define PG_UTILITY_CALL_ARGS \
	pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc
#else
#define PG_UTILITY_HOOK_ARGS \
	PlannedStmt *pstmt, const char *queryString, \
	ProcessUtilityContext context, ParamListInfo params, \
	QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc
#define PG_UTILITY_CALL_ARGS \
	pstmt, queryString, context, params, queryEnv, dest, qc
#endif

/* Parse analysis with fixed parameters was renamed in 15. */
#if PG_VERSION_NUM < 150000
#define pg_analyze_and_rewrite_fixedparams(raw, str, types, n, env) \
	pg_analyze_and_rewrite(raw, str, types, n, env)
#endif

/* The autovacuum process test was renamed in 17. */
#if PG_VERSION_NUM >= 170000
#define PG_IS_AUTOVACUUM_WORKER() AmAutoVacuumWorkerProcess()
#else
#define PG_IS_AUTOVACUUM_WORKER() IsAutoVacuumWorkerProcess()
#endif

/* ExecutorStart returns bool (plan still valid) from 18. */
#if PG_VERSION_NUM >= 180000
#define PG_EXECUTOR_START_RESULT bool
#define PG_EXECUTOR_START_RETURN(expr) return (expr)
#else
#define PG_EXECUTOR_START_RESULT void
#define PG_EXECUTOR_START_RETURN(expr) (expr)
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
 * estimates: 16 moved the permissions out of the range table.
 */
#if PG_VERSION_NUM >= 160000
#define PG_CHECK_PLAN_PERMISSIONS(stmt) \
	ExecCheckPermissions((stmt)->rtable, (stmt)->permInfos, true)
#else
#define PG_CHECK_PLAN_PERMISSIONS(stmt) ExecCheckRTPerms((stmt)->rtable, true)
#endif

/* TID range scans arrived in 14; before that no plan node has the tag. */
#if PG_VERSION_NUM < 140000
#define T_TidRangeScan T_Invalid
#endif

/* How many command tags there are (the size of a bitmap over CommandTag). */
#define GUARD_COMMAND_TAG_COUNT COMMAND_TAG_NEXTTAG

/* Intervals can be infinite since 17. */
#if PG_VERSION_NUM >= 170000
#define PG_INTERVAL_IS_INFINITE(i) INTERVAL_NOT_FINITE(i)
#else
#define PG_INTERVAL_IS_INFINITE(i) false
#endif

/* This backend's local transaction id moved into MyProc->vxid in 17. */
#if PG_VERSION_NUM >= 170000
#define GUARD_MY_LXID (MyProc->vxid.lxid)
#else
#define GUARD_MY_LXID (MyProc->lxid)
#endif

/* Publications of a whole schema (FOR TABLES IN SCHEMA) arrived in 15. */
#if PG_VERSION_NUM >= 150000
#define GUARD_SCHEMA_PUBLICATIONS(nsp) GetSchemaPublications(nsp)
#else
#define GUARD_SCHEMA_PUBLICATIONS(nsp) NIL
#endif

/* Materialized set-returning functions got a helper in 15. */
#if PG_VERSION_NUM < 150000
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/tuplestore.h"
static inline void
InitMaterializedSRF(FunctionCallInfo fcinfo, bits32 flags)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleDesc	tupdesc;
	MemoryContext old;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = tuplestore_begin_heap(true, false, work_mem);
	rsinfo->setDesc = CreateTupleDescCopy(tupdesc);
	MemoryContextSwitchTo(old);
}
#endif

#endif							/* PRIMARY_GUARD_COMPAT_H */
