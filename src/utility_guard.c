/*-------------------------------------------------------------------------
 *
 * utility_guard.c
 *		The ProcessUtility hook: blocked commands, deny's allowlist, and
 *		COPY table TO (a full scan that never reaches the executor).
 *
 * Transaction control and anything in an aborted transaction pass without
 * a single catalog read, so ROLLBACK always works.  The parse tree is only
 * read, never modified, so readOnlyTree needs no copy.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "tcop/utility.h"

#include "primary_guard.h"

static ProcessUtility_hook_type prev_ProcessUtility = NULL;

static void
guard_ProcessUtility(PG_UTILITY_HOOK_ARGS)
{
	Node	   *parsetree = pstmt->utilityStmt;

	if (!IsA(parsetree, TransactionStmt) &&
		!IsAbortedTransactionBlockState() &&
		IsTransactionState() &&
		guard_session_is_checked() &&
		!guard_replication_hands_over(pstmt, dest))
	{
		GuardServerState state = guard_current_state();
		GuardPolicy policy;
		GuardViolation v;

		if (guard_statement_policy(state, &policy) &&
			guard_check_utility(parsetree, &policy, state, &v))
			guard_report(&v, &policy, state, queryString);
	}

	if (prev_ProcessUtility)
		prev_ProcessUtility(PG_UTILITY_CALL_ARGS);
	else
		standard_ProcessUtility(PG_UTILITY_CALL_ARGS);
}

void
guard_install_utility_hook(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = guard_ProcessUtility;
}
