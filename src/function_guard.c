/*-------------------------------------------------------------------------
 *
 * function_guard.c
 *		The functions a 'deny' policy refuses: those that change sequences
 *		(nextval, setval) and those that read or write large objects.
 *		Both reach relations through function calls, not the range table,
 *		so the plan check cannot see them.
 *
 * PostgreSQL's fmgr hook sees every call of a function for which
 * needs_fmgr_hook said yes: that is only these built-in functions, so
 * nothing else pays anything.  A call is checked against the session's
 * policy, with the same resolution and report as every other rule.
 * currval() and lastval() only read the session's own state and stay
 * allowed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "tcop/tcopprot.h"
#include "utils/fmgroids.h"

#include "primary_guard.h"

static needs_fmgr_hook_type prev_needs_fmgr_hook = NULL;
static fmgr_hook_type prev_fmgr_hook = NULL;

static bool
is_denied_function(Oid fn_oid)
{
	switch (fn_oid)
	{
		case F_NEXTVAL:
		case F_SETVAL_REGCLASS_INT8:
		case F_SETVAL_REGCLASS_INT8_BOOL:
		case F_LO_CREATE:
		case F_LO_CREAT:
		case F_LO_IMPORT_TEXT:
		case F_LO_IMPORT_TEXT_OID:
		case F_LO_EXPORT:
		case F_LO_OPEN:
		case F_LO_CLOSE:
		case F_LOREAD:
		case F_LOWRITE:
		case F_LO_LSEEK:
		case F_LO_LSEEK64:
		case F_LO_TELL:
		case F_LO_TELL64:
		case F_LO_UNLINK:
		case F_LO_TRUNCATE:
		case F_LO_TRUNCATE64:
		case F_LO_FROM_BYTEA:
		case F_LO_GET_OID:
		case F_LO_GET_OID_INT8_INT4:
		case F_LO_PUT:
			return true;
		default:
			return false;
	}
}

static bool
guard_needs_fmgr_hook(Oid fn_oid)
{
	if (prev_needs_fmgr_hook && prev_needs_fmgr_hook(fn_oid))
		return true;
	return is_denied_function(fn_oid);
}

static void
guard_fmgr_hook(FmgrHookEventType event, FmgrInfo *flinfo, Datum *private)
{
	if (event == FHET_START && is_denied_function(flinfo->fn_oid) &&
		IsTransactionState() && guard_session_is_checked())
	{
		GuardServerState state = guard_current_state();
		GuardPolicy policy;
		GuardViolation v;

		guard_resolve_session(state, &policy);
		if (policy.action == GUARD_ACTION_DENY)
		{
			guard_function_violation(&v, &policy, state, flinfo->fn_oid);
			guard_report(&v, &policy, state, debug_query_string);
		}
	}
	if (prev_fmgr_hook)
		prev_fmgr_hook(event, flinfo, private);
}

void
guard_install_function_hook(void)
{
	prev_needs_fmgr_hook = needs_fmgr_hook;
	needs_fmgr_hook = guard_needs_fmgr_hook;
	prev_fmgr_hook = fmgr_hook;
	fmgr_hook = guard_fmgr_hook;
}
