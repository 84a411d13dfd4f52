/*-------------------------------------------------------------------------
 *
 * utility_guard.c
 *		The ProcessUtility hook: blocked commands, deny's allowlist, COPY
 *		table TO (a full scan that never reaches the executor), and the
 *		max_duration of utility statements.
 *
 * Transaction control and anything in an aborted transaction pass without
 * a single catalog read, so ROLLBACK always works.  The parse tree is only
 * changed for a checked COPY of a named table: the name is replaced by the
 * relation it resolved to (schema-qualified, locked), on a copy when the
 * tree is read-only, so that COPY reads exactly the table that was checked.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "replication/walsender.h"
#include "tcop/utility.h"
#include "utils/lsyscache.h"

#include "primary_guard.h"

static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/* 'pstmt' with its COPY naming 'relid' by schema, copied if read-only. */
static PlannedStmt *
copy_naming_relation(PlannedStmt *pstmt, bool readOnlyTree, Oid relid)
{
	CopyStmt   *copy;

	if (readOnlyTree)
		pstmt = copyObject(pstmt);
	copy = (CopyStmt *) pstmt->utilityStmt;
	copy->relation->schemaname = get_namespace_name(get_rel_namespace(relid));
	copy->relation->catalogname = NULL;
	return pstmt;
}

static void
call_next(PG_UTILITY_HOOK_ARGS)
{
	if (prev_ProcessUtility)
		prev_ProcessUtility(PG_UTILITY_CALL_ARGS);
	else
		standard_ProcessUtility(PG_UTILITY_CALL_ARGS);
}

/* The next hook, with a max_duration cancel told as the policy's error. */
static void
call_next_timed(PG_UTILITY_HOOK_ARGS)
{
	MemoryContext caller_context = CurrentMemoryContext;

	PG_TRY();
	{
		call_next(PG_UTILITY_CALL_ARGS);
	}
	PG_CATCH();
	{
		guard_duration_rethrow(caller_context);
		PG_RE_THROW();
	}
	PG_END_TRY();
	guard_duration_warn();
}

static void
guard_ProcessUtility(PG_UTILITY_HOOK_ARGS)
{
	Node	   *parsetree = pstmt->utilityStmt;

	if (!IsA(parsetree, TransactionStmt) &&
		!IsAbortedTransactionBlockState() &&
		IsTransactionState() &&
		guard_session_is_checked() &&
		!(am_walsender && guard_replication_hands_over(pstmt, dest)))
	{
		GuardServerState state = guard_current_state();
		GuardPolicy policy;
		GuardViolation v;
		Oid			copy_relid = InvalidOid;
		bool		has_policy = guard_statement_policy(state, &policy);

		guard_duration_statement(has_policy ? &policy : NULL, state);
		if (has_policy)
		{
			if (IsA(parsetree, CopyStmt))
			{
				copy_relid = guard_copy_relation((CopyStmt *) parsetree);
				if (OidIsValid(copy_relid))
				{
					pstmt = copy_naming_relation(pstmt, readOnlyTree, copy_relid);
					parsetree = pstmt->utilityStmt;
				}
			}
			if (guard_check_utility(parsetree, copy_relid, &policy, state, &v))
				guard_report(&v, &policy, state, queryString, pstmt);
		}
	}
	else if (!IsA(parsetree, TransactionStmt))
		guard_duration_statement(NULL, GUARD_PRIMARY);

	if (guard_duration_armed())
		call_next_timed(PG_UTILITY_CALL_ARGS);
	else
		call_next(PG_UTILITY_CALL_ARGS);
}

void
guard_install_utility_hook(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = guard_ProcessUtility;
}
