/*-------------------------------------------------------------------------
 *
 * violation.c
 *		Turning a GuardViolation into what users see: an ERROR or a WARNING
 *		from the hooks, or a reason string from check_query().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"

#include "primary_guard.h"

/*
 * A role's name for messages: "public" for InvalidOid, and the OID for a
 * role dropped since its policy was cached, so that reporting never fails.
 */
const char *
guard_role_name(Oid role)
{
	const char *name;

	if (!OidIsValid(role))
		return "public";
	name = GetUserNameFromId(role, true);
	return name ? name : psprintf("%u", role);
}

/* Appends e.g.: policy for role "data_team" (via "analysts") */
void
guard_describe_origin(StringInfo buf, const GuardOrigin *origin)
{
	if (origin->is_public)
	{
		appendStringInfoString(buf, "policy for \"public\"");
		return;
	}
	appendStringInfo(buf, "policy for role \"%s\"", guard_role_name(origin->role));
	if (OidIsValid(origin->via))
		appendStringInfo(buf, " (via \"%s\")", guard_role_name(origin->via));
}

/* Where to run the statement instead, followed by the policy's note. */
char *
guard_hint(const GuardPolicy *policy, GuardServerState state)
{
	const char *where = state == GUARD_PRIMARY ?
		"Run this statement on a standby server." :
		"Run this statement on the primary server.";

	if (policy->note != NULL && policy->note[0] != '\0')
		return psprintf("%s %s", where, policy->note);
	return pstrdup(where);
}

/*
 * Report a violation: ERROR under an enforcing policy, WARNING (and the
 * statement runs) in warn mode.
 */
void
guard_report(const GuardViolation *v, const GuardPolicy *policy,
			 GuardServerState state, const char *query)
{
	guard_stats_record(v, policy, state, query);
	ereport(policy->enforce ? ERROR : WARNING,
			(errcode(v->sqlstate),
			 errmsg_internal("%s", v->message),
			 errdetail_internal("%s", v->detail),
			 errhint("%s", v->hint)));
}

/* One line for check_query(): message and detail. */
char *
guard_violation_reason(const GuardViolation *v)
{
	return psprintf("%s: %s", v->message, v->detail);
}
