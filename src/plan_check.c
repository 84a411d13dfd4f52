/*-------------------------------------------------------------------------
 *
 * plan_check.c
 *		Deciding whether a plan or a utility command breaks a policy.
 *
 * This is the single evaluation used by the ExecutorStart hook, the
 * ProcessUtility hook, the promotion watcher's flagging and check_query().
 * It only reads: plans, relation sizes and catalog names.  It allocates
 * only when a policy is 'limit' or 'deny' (never on the path of an allowed
 * or unpoliced session), and formats text only for a violation.
 *
 * What a plan reads from each relation is estimated in scan_estimate.c;
 * the rules here compare it with the policy.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_statistic.h"
#include "catalog/pg_statistic_ext_data.h"
#include "executor/execdesc.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/pathnodes.h"
#include "optimizer/plancat.h"
#include "parser/parsetree.h"
#include "storage/lockdefs.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "primary_guard.h"

/*
 * Whether 'relid' lives in pg_catalog, information_schema or pg_toast.
 * Such relations count for nothing under max_scan_rows / max_scan_size, so
 * that psql's \d, drivers and BI tools introspect under any limit.
 */
bool
guard_namespace_is_system(Oid nsp)
{
	return nsp == PG_CATALOG_NAMESPACE || nsp == PG_TOAST_NAMESPACE ||
		nsp == guard_information_schema();
}

bool
guard_relation_is_system(Oid relid)
{
	return guard_namespace_is_system(get_rel_namespace(relid));
}

/*
 * Whether a 'deny' policy lets a statement read 'relid': system relations,
 * except the statistics catalogs, which hold samples of table contents
 * (most common values, histograms) that views like pg_stats show.
 */
static bool
deny_allows_relation(Oid relid)
{
	return guard_relation_is_system(relid) &&
		relid != StatisticRelationId && relid != StatisticExtDataRelationId;
}

/*
 * Fill 'v' and return true.  Every rejection reads the same way:
 * "statement rejected on <state> server: <problem>", a DETAIL of
 * <before> + "policy for role ... (via ...)" + <after>, and the hint.
 */
static bool
violation(GuardViolation *v, const GuardPolicy *policy, GuardServerState state,
		  int sqlstate, const char *rule, const char *relation,
		  double estimate, double limit, const char *problem,
		  const char *before, const GuardOrigin *origin, const char *after)
{
	StringInfoData detail;

	memset(v, 0, sizeof(*v));
	v->sqlstate = sqlstate;
	v->rule = rule;
	v->relation = relation ? pstrdup(relation) : NULL;
	v->estimate = estimate;
	v->limit = limit;
	v->message = psprintf("statement rejected on %s server: %s",
						  guard_state_name(state), problem);
	initStringInfo(&detail);
	appendStringInfoString(&detail, before);
	guard_describe_origin(&detail, origin);
	appendStringInfoString(&detail, after);
	v->detail = detail.data;
	v->hint = guard_hint(policy, state);
	return true;
}

static char *
pretty_bytes(double bytes)
{
	return text_to_cstring(DatumGetTextPP(
		DirectFunctionCall1(pg_size_pretty, Int64GetDatum((int64) bytes))));
}

/* The relation's name for a message; its OID if it was dropped meanwhile. */
static char *
relation_name(Oid relid)
{
	char	   *name = get_rel_name(relid);

	return name ? name : psprintf("%u", relid);
}

/* e.g. 'Index scan of "t"', '3 scans of "t"' */
static char *
describe_reads(const GuardRelRead *rel, const char *relname)
{
	if (rel->partitions)
		return psprintf("Scans of %d partitions or child tables of \"%s\"",
						rel->nscans, relname);
	if (rel->nscans > 1)
		return psprintf("%d scans of \"%s\"", rel->nscans, relname);
	return psprintf("%s of \"%s\"", rel->kind, relname);
}

/* ' in 300000 loops' for one scan that runs more than once, else ''. */
static const char *
describe_loops(const GuardRelRead *rel)
{
	if (rel->nscans == 1 && rel->loops >= 1.5)
		return psprintf(" in %.0f loops", rel->loops);
	return "";
}

/*
 * Compare what the statement would read from one relation with the scan
 * limits.  A limit of zero forbids full scans (as in 1.0, and as
 * CockroachDB's large_full_scan_rows = 0): only full scans count for it.
 * Nothing is formatted unless a limit is exceeded.
 */
static bool
check_relation(const GuardRelRead *rel, const GuardPolicy *policy,
			   GuardServerState state, GuardViolation *v)
{
	double		rows = policy->max_scan_rows == 0 ? rel->full_rows : rel->rows;
	double		bytes = policy->max_scan_size == 0 ? rel->full_bytes : rel->bytes;
	bool		over_rows = policy->max_scan_rows >= 0 && rows > (double) policy->max_scan_rows;
	bool		over_size = !over_rows && policy->max_scan_size >= 0 &&
		bytes > (double) policy->max_scan_size;
	int64		limit;
	char	   *relname;
	char	   *problem;

	if (!over_rows && !over_size)
		return false;

	limit = over_rows ? policy->max_scan_rows : policy->max_scan_size;
	relname = relation_name(rel->relid);
	problem = limit == 0 || rel->rows == rel->full_rows ?
		psprintf("full scan of \"%s\" is too large", relname) :
		psprintf("read of \"%s\" is too large", relname);
	if (over_rows)
		return violation(v, policy, state, ERRCODE_STATEMENT_TOO_COMPLEX,
						 "max_scan_rows", relname, rows, (double) limit, problem,
						 psprintf("%s would read about %.0f rows%s; the ",
								  describe_reads(rel, relname), rows, describe_loops(rel)),
						 &policy->rows_origin,
						 limit == 0 ? " allows no full scans." :
						 psprintf(" allows " INT64_FORMAT ".", limit));
	return violation(v, policy, state, ERRCODE_STATEMENT_TOO_COMPLEX,
					 "max_scan_size", relname, bytes, (double) limit, problem,
					 psprintf("%s would read about %s%s; the ",
							  describe_reads(rel, relname), pretty_bytes(bytes),
							  describe_loops(rel)),
					 &policy->size_origin,
					 limit == 0 ? " allows no full scans." :
					 psprintf(" allows %s.", pretty_bytes((double) limit)));
}

/*
 * A relation passed max_scan_rows while the statement ran: the same rule,
 * told as the count against the estimate, so the user learns the estimate
 * was wrong.
 */
void
guard_runtime_violation(GuardViolation *v, const GuardPolicy *policy,
						GuardServerState state, const GuardRelRead *rel)
{
	char	   *relname = relation_name(rel->relid);

	violation(v, policy, state, ERRCODE_STATEMENT_TOO_COMPLEX, "max_scan_rows",
			  relname, (double) rel->counted, (double) policy->max_scan_rows, "",
			  psprintf("%s returned " INT64_FORMAT " rows while the statement ran, where the planner estimated about %.0f; the ",
					   describe_reads(rel, relname), rel->counted, rel->rows),
			  &policy->rows_origin,
			  psprintf(" allows " INT64_FORMAT ".", policy->max_scan_rows));
	v->message = psprintf("statement stopped on %s server while running: too many rows read from \"%s\"",
						  guard_state_name(state), relname);
	v->runtime = true;
}

/*
 * Functions a 'deny' policy refuses: they change sequences (nextval,
 * setval) or read and write large objects, reaching relations through a
 * function call instead of the range table.  currval() and lastval() only
 * read the session's own state.
 */
static const Oid deny_functions[] = {
	F_NEXTVAL, F_SETVAL_REGCLASS_INT8, F_SETVAL_REGCLASS_INT8_BOOL,
	F_LO_CREATE, F_LO_CREAT, F_LO_IMPORT_TEXT, F_LO_IMPORT_TEXT_OID, F_LO_EXPORT,
	F_LO_OPEN, F_LO_CLOSE, F_LOREAD, F_LOWRITE, F_LO_LSEEK, F_LO_LSEEK64,
	F_LO_TELL, F_LO_TELL64, F_LO_UNLINK, F_LO_TRUNCATE, F_LO_TRUNCATE64,
	F_LO_FROM_BYTEA, F_LO_GET_OID, F_LO_GET_OID_INT8_INT4, F_LO_PUT
};

/*
 * A function of deny_functions that the plan calls, or InvalidOid.  Built-in
 * functions are called without any hook, and a plan has no generic
 * expression walker, so the plan's node text is searched for each call
 * (":funcid N ").  Only statements of 'deny' sessions that read no table
 * get here, so the cost is theirs alone.
 */
static Oid
denied_function_call(PlannedStmt *stmt)
{
	char	   *text = psprintf("%s %s", nodeToString(stmt->planTree),
								nodeToString(stmt->subplans));

	for (size_t i = 0; i < lengthof(deny_functions); i++)
	{
		char		pattern[32];

		snprintf(pattern, sizeof(pattern), ":funcid %u ", deny_functions[i]);
		if (strstr(text, pattern) != NULL)
			return deny_functions[i];
	}
	return InvalidOid;
}

static bool
check_deny_plan(PlannedStmt *stmt, const GuardPolicy *policy,
				GuardServerState state, GuardViolation *v)
{
	ListCell   *lc;
	Oid			func;

	foreach(lc, stmt->rtable)
	{
		RangeTblEntry *rte = (RangeTblEntry *) lfirst(lc);
		char	   *relname;

		if (!PG_RTE_IS_NAMED_RELATION(rte) || deny_allows_relation(rte->relid))
			continue;

		relname = relation_name(rte->relid);
		return violation(v, policy, state, ERRCODE_INSUFFICIENT_PRIVILEGE, "deny",
						 relname, 0, 0,
						 psprintf("access to \"%s\" is denied", relname),
						 "The ", &policy->origin,
						 psprintf(" denies access to tables on the %s server.",
								  guard_state_name(state)));
	}

	func = denied_function_call(stmt);
	if (OidIsValid(func))
		return violation(v, policy, state, ERRCODE_INSUFFICIENT_PRIVILEGE, "deny",
						 NULL, 0, 0,
						 psprintf("calling %s() is not allowed", get_func_name(func)),
						 "The ", &policy->origin,
						 psprintf(" denies changing sequences and using large objects on the %s server.",
								  guard_state_name(state)));
	return false;
}

static bool
check_limit_plan(QueryDesc *queryDesc, const GuardPolicy *policy,
				 GuardServerState state, GuardReads *reads, GuardViolation *v)
{
	Plan	   *top = queryDesc->plannedstmt->planTree;

	if (policy->max_cost >= 0 && top->total_cost > policy->max_cost)
		return violation(v, policy, state, ERRCODE_STATEMENT_TOO_COMPLEX, "max_cost",
						 NULL, top->total_cost, policy->max_cost,
						 "estimated cost is too high",
						 psprintf("The planner estimates a total cost of %.0f; the ",
								  top->total_cost),
						 &policy->cost_origin,
						 psprintf(" allows %.0f.", policy->max_cost));

	if (policy->max_scan_rows >= 0 || policy->max_scan_size >= 0)
	{
		guard_estimate_reads(queryDesc, policy->max_scan_size > 0, reads);
		for (int i = 0; i < reads->nrels; i++)
			if (check_relation(&reads->rels[i], policy, state, v))
				return true;
	}
	return false;
}

/*
 * Does the started statement 'queryDesc' (its PlanState built) break
 * 'policy'?  If so, fill 'v' and return true.  Only 'limit' and 'deny'
 * policies can be broken.  Under a scan limit, 'reads' is left holding the
 * estimate, which run-time counting starts from; otherwise it is empty.
 */
bool
guard_check_plan(QueryDesc *queryDesc, const GuardPolicy *policy,
				 GuardServerState state, GuardReads *reads, GuardViolation *v)
{
	guard_reads_init(reads);
	if (policy->action == GUARD_ACTION_DENY)
		return check_deny_plan(queryDesc->plannedstmt, policy, state, v);
	if (policy->action == GUARD_ACTION_LIMIT)
		return check_limit_plan(queryDesc, policy, state, reads, v);
	return false;
}

/* Utility commands a 'deny' policy lets through (what they run is checked). */
static bool
allowed_under_deny(Node *parsetree)
{
	switch (nodeTag(parsetree))
	{
		case T_TransactionStmt:
		case T_VariableSetStmt:
		case T_VariableShowStmt:
		case T_DiscardStmt:
		case T_PrepareStmt:
		case T_ExecuteStmt:
		case T_DeallocateStmt:
		case T_DeclareCursorStmt:
		case T_FetchStmt:
		case T_ClosePortalStmt:
		case T_ExplainStmt:
		case T_ListenStmt:
		case T_UnlistenStmt:
		case T_NotifyStmt:
		case T_DoStmt:
		case T_CallStmt:
			return true;
		default:
			return false;
	}
}

static bool
command_violation(GuardViolation *v, const GuardPolicy *policy, GuardServerState state,
				  const char *tagname, const char *verb)
{
	return violation(v, policy, state, ERRCODE_INSUFFICIENT_PRIVILEGE,
					 policy->action == GUARD_ACTION_DENY ? "deny" : "blocked_command",
					 NULL, 0, 0,
					 psprintf("%s is not allowed", tagname),
					 "The ", &policy->origin,
					 psprintf(" %s on the %s server.", verb, guard_state_name(state)));
}

/*
 * The relation a COPY statement names, locked as COPY itself will lock it;
 * InvalidOid for COPY (query) or a name that resolves to nothing (COPY then
 * reports that).  The utility hook makes COPY read exactly this relation,
 * so what is checked is what is read.
 */
Oid
guard_copy_relation(CopyStmt *copy)
{
	if (copy->relation == NULL)
		return InvalidOid;
	return RangeVarGetRelid(copy->relation,
							copy->is_from ? RowExclusiveLock : AccessShareLock, true);
}

/*
 * Does the utility command break 'policy'?  'copy_relid' is what
 * guard_copy_relation() found for a COPY.  COPY table TO counts as a full
 * scan of the table, since it reads it without the executor.
 */
bool
guard_check_utility(Node *parsetree, Oid copy_relid, const GuardPolicy *policy,
					GuardServerState state, GuardViolation *v)
{
	CommandTag	tag;
	CopyStmt   *copy = IsA(parsetree, CopyStmt) ? (CopyStmt *) parsetree : NULL;

	if (policy->action < GUARD_ACTION_LIMIT)
		return false;

	if (policy->action == GUARD_ACTION_DENY)
	{
		/* COPY (query) TO: the executor hook checks the query. */
		if (allowed_under_deny(parsetree) ||
			(copy != NULL && (!OidIsValid(copy_relid) || deny_allows_relation(copy_relid))))
			return false;
		return command_violation(v, policy, state,
								 GetCommandTagName(CreateCommandTag(parsetree)),
								 "denies utility commands other than transaction control, SET, SHOW, PREPARE, EXECUTE, cursors, EXPLAIN, LISTEN, NOTIFY, DO and CALL");
	}

	tag = CreateCommandTag(parsetree);
	if (policy->has_blocked && (policy->blocked[tag / 64] & (UINT64CONST(1) << (tag % 64))))
	{
		char	   *verb = psprintf("blocks %s", GetCommandTagName(tag));

		return command_violation(v, policy, state, GetCommandTagName(tag), verb);
	}

	if (copy != NULL && !copy->is_from && OidIsValid(copy_relid) &&
		!guard_relation_is_system(copy_relid) &&
		(policy->max_scan_rows >= 0 || policy->max_scan_size >= 0))
	{
		GuardRelRead rel;
		Relation	relation = relation_open(copy_relid, NoLock);

		memset(&rel, 0, sizeof(rel));
		rel.relid = copy_relid;
		rel.nscans = 1;
		rel.kind = "COPY TO";
		rel.loops = 1;
		guard_estimate_relation(relation, &rel.rows, &rel.bytes);
		relation_close(relation, NoLock);
		rel.full_rows = rel.rows;
		rel.full_bytes = rel.bytes;
		return check_relation(&rel, policy, state, v);
	}
	return false;
}

/* e.g. "5 s", "1500 ms" */
static char *
describe_ms(int64 ms)
{
	if (ms % 1000 == 0)
		return psprintf(INT64_FORMAT " s", ms / 1000);
	return psprintf(INT64_FORMAT " ms", ms);
}

/* A statement ran past the policy's max_duration. */
void
guard_duration_violation(GuardViolation *v, const GuardPolicy *policy,
						 GuardServerState state)
{
	violation(v, policy, state, ERRCODE_QUERY_CANCELED, "max_duration",
			  NULL, (double) policy->max_duration_ms, (double) policy->max_duration_ms, "",
			  psprintf("The statement ran for more than %s; the ",
					   describe_ms(policy->max_duration_ms)),
			  &policy->duration_origin,
			  psprintf(" allows %s on the %s server.",
					   describe_ms(policy->max_duration_ms), guard_state_name(state)));
	v->message = policy->enforce ?
		psprintf("canceling statement on %s server: it ran longer than its policy allows",
				 guard_state_name(state)) :
		psprintf("statement on %s server ran longer than its policy allows",
				 guard_state_name(state));
	v->runtime = true;
}
