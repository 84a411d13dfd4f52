/*-------------------------------------------------------------------------
 *
 * plan_check.c
 *		Deciding whether a plan or a utility command breaks a policy.
 *
 * This is the single evaluation used by the ExecutorStart hook, the
 * ProcessUtility hook and check_query().  It only reads: plans, relation
 * sizes and catalog names.  It allocates only when a policy is 'limit' or
 * 'deny' (never on the path of an allowed or unpoliced session).
 *
 * Full-scan estimates are the planner's own estimate of the whole relation
 * (estimate_rel_size: current size on disk, tuple density from pg_class or
 * from column widths if never analyzed), not the rows that survive a WHERE
 * clause: "count(*) FROM big WHERE rare" still reads all of big.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/pathnodes.h"
#include "optimizer/plancat.h"
#include "parser/parsetree.h"
#include "storage/lockdefs.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "primary_guard.h"

/* The full scans of one relation (a table, or a parent and its children). */
typedef struct FullScan
{
	int			nscans;
	const char *kind;			/* of the first scan seen */
	double		rows;
	double		bytes;
} FullScan;

typedef struct ScanCollector
{
	PlannedStmt *stmt;
	Index		nrels;
	/* Allocated at the first full scan: most plans have none. */
	Index	   *parent_of;		/* rt index -> parent rt index, 0 if none */
	FullScan   *scans;			/* indexed by the top parent's rt index */
} ScanCollector;

/* The planner's estimate of a whole relation: rows and bytes. */
static void
estimate_relation(Oid relid, double *rows, double *bytes)
{
	Relation	rel;
	BlockNumber pages;
	double		tuples;
	double		allvisfrac;

	/*
	 * Already locked by the planner or the executor; COPY TO takes this lock
	 * too.  A table dropped since COPY looked up its name measures as empty:
	 * COPY then reports that it does not exist.
	 */
	rel = try_relation_open(relid, AccessShareLock);
	if (rel == NULL)
	{
		*rows = *bytes = 0;
		return;
	}
	estimate_rel_size(rel, NULL, &pages, &tuples, &allvisfrac);
	relation_close(rel, NoLock);
	*rows = tuples;
	*bytes = (double) pages * BLCKSZ;
}

/* Whether reading 'relid' is allowed even under 'deny'. */
static bool
relation_is_exempt(Oid relid)
{
	Oid			nsp = get_rel_namespace(relid);

	return nsp == PG_CATALOG_NAMESPACE ||
		nsp == PG_TOAST_NAMESPACE ||
		nsp == get_namespace_oid("information_schema", true);
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

/*
 * Compare one relation's full scans against the policy's scan limits.
 * 'what' describes the reading, e.g. "Sequential scan".
 */
static bool
check_scan(const char *relname, const char *what, double rows, double bytes,
		   const GuardPolicy *policy, GuardServerState state, GuardViolation *v)
{
	char	   *problem = psprintf("full scan of \"%s\" is too large", relname);

	if (policy->max_scan_rows >= 0 && rows > (double) policy->max_scan_rows)
		return violation(v, policy, state, ERRCODE_STATEMENT_TOO_COMPLEX,
						 "max_scan_rows", relname, rows, (double) policy->max_scan_rows,
						 problem,
						 psprintf("%s would read about %.0f rows; the ", what, rows),
						 &policy->rows_origin,
						 psprintf(" allows " INT64_FORMAT ".", policy->max_scan_rows));
	if (policy->max_scan_size >= 0 && bytes > (double) policy->max_scan_size)
		return violation(v, policy, state, ERRCODE_STATEMENT_TOO_COMPLEX,
						 "max_scan_size", relname, bytes, (double) policy->max_scan_size,
						 problem,
						 psprintf("%s would read about %s; the ", what, pretty_bytes(bytes)),
						 &policy->size_origin,
						 psprintf(" allows %s.", pretty_bytes((double) policy->max_scan_size)));
	pfree(problem);
	return false;
}

static void
add_full_scan(ScanCollector *c, Index rti, const char *kind)
{
	Index		top = rti;
	FullScan   *scan;
	double		rows;
	double		bytes;
	ListCell   *lc;

	if (c->scans == NULL)
	{
		c->parent_of = palloc0((c->nrels + 1) * sizeof(Index));
		c->scans = palloc0((c->nrels + 1) * sizeof(FullScan));
		foreach(lc, c->stmt->appendRelations)
		{
			AppendRelInfo *info = (AppendRelInfo *) lfirst(lc);

			if (info->child_relid <= c->nrels)
				c->parent_of[info->child_relid] = info->parent_relid;
		}
	}

	/* Children scanned in full count as one scan of their top relation. */
	while (c->parent_of[top] != 0 &&
		   rt_fetch(c->parent_of[top], c->stmt->rtable)->rtekind == RTE_RELATION)
		top = c->parent_of[top];

	estimate_relation(rt_fetch(rti, c->stmt->rtable)->relid, &rows, &bytes);
	scan = &c->scans[top];
	if (scan->nscans++ == 0)
		scan->kind = kind;
	scan->rows += rows;
	scan->bytes += bytes;
}

static void collect_full_scans(Plan *plan, ScanCollector *c);

static void
collect_list(List *plans, ScanCollector *c)
{
	ListCell   *lc;

	foreach(lc, plans)
		collect_full_scans((Plan *) lfirst(lc), c);
}

/* Walk a plan tree, recording every full scan. */
static void
collect_full_scans(Plan *plan, ScanCollector *c)
{
	if (plan == NULL)
		return;
	check_stack_depth();

	switch (nodeTag(plan))
	{
		case T_SeqScan:
			add_full_scan(c, ((Scan *) plan)->scanrelid,
						  plan->parallel_aware ? "Parallel sequential scan" : "Sequential scan");
			break;
		case T_SampleScan:
			/* TABLESAMPLE reads (BERNOULLI) or may read (SYSTEM) every page. */
			add_full_scan(c, ((Scan *) plan)->scanrelid, "Sample scan");
			break;
		case T_TidRangeScan:
			/* A ctid range can span the whole table: treated as a full scan. */
			add_full_scan(c, ((Scan *) plan)->scanrelid, "TID range scan");
			break;
		case T_IndexScan:
			if (((IndexScan *) plan)->indexqual == NIL)
				add_full_scan(c, ((Scan *) plan)->scanrelid,
							  "Index scan without an index condition");
			break;
		case T_IndexOnlyScan:
			if (((IndexOnlyScan *) plan)->indexqual == NIL)
				add_full_scan(c, ((Scan *) plan)->scanrelid,
							  "Index-only scan without an index condition");
			break;
		case T_Append:
			collect_list(((Append *) plan)->appendplans, c);
			break;
		case T_MergeAppend:
			collect_list(((MergeAppend *) plan)->mergeplans, c);
			break;
		case T_BitmapAnd:
			collect_list(((BitmapAnd *) plan)->bitmapplans, c);
			break;
		case T_BitmapOr:
			collect_list(((BitmapOr *) plan)->bitmapplans, c);
			break;
		case T_SubqueryScan:
			collect_full_scans(((SubqueryScan *) plan)->subplan, c);
			break;
		case T_CustomScan:
			collect_list(((CustomScan *) plan)->custom_plans, c);
			break;
		default:
			break;
	}
	collect_full_scans(plan->lefttree, c);
	collect_full_scans(plan->righttree, c);
}

static bool
check_deny_plan(PlannedStmt *stmt, const GuardPolicy *policy,
				GuardServerState state, GuardViolation *v)
{
	ListCell   *lc;

	foreach(lc, stmt->rtable)
	{
		RangeTblEntry *rte = (RangeTblEntry *) lfirst(lc);
		char	   *relname;

		if (!PG_RTE_IS_NAMED_RELATION(rte) || relation_is_exempt(rte->relid))
			continue;

		relname = get_rel_name(rte->relid);
		return violation(v, policy, state, ERRCODE_INSUFFICIENT_PRIVILEGE, "deny",
						 relname, 0, 0,
						 psprintf("access to \"%s\" is denied", relname),
						 "The ", &policy->origin,
						 psprintf(" denies access to tables on the %s server.",
								  guard_state_name(state)));
	}
	return false;
}

static bool
check_limit_plan(PlannedStmt *stmt, const GuardPolicy *policy,
				 GuardServerState state, GuardViolation *v)
{
	ScanCollector c = {stmt, (Index) list_length(stmt->rtable), NULL, NULL};

	if (policy->max_scan_rows >= 0 || policy->max_scan_size >= 0)
	{
		collect_full_scans(stmt->planTree, &c);
		collect_list(stmt->subplans, &c);

		for (Index rti = 1; c.scans != NULL && rti <= c.nrels; rti++)
		{
			FullScan   *scan = &c.scans[rti];
			char	   *what;

			if (scan->nscans == 0)
				continue;
			what = scan->nscans == 1 ? pstrdup(scan->kind) :
				psprintf("Full scans of %d partitions or child tables", scan->nscans);
			if (check_scan(get_rel_name(rt_fetch(rti, stmt->rtable)->relid), what,
						   scan->rows, scan->bytes, policy, state, v))
				return true;
		}
	}

	if (policy->max_cost >= 0 && stmt->planTree->total_cost > policy->max_cost)
		return violation(v, policy, state, ERRCODE_STATEMENT_TOO_COMPLEX, "max_cost",
						 NULL, stmt->planTree->total_cost, policy->max_cost,
						 "estimated cost is too high",
						 psprintf("The planner estimates a total cost of %.0f; the ",
								  stmt->planTree->total_cost),
						 &policy->cost_origin,
						 psprintf(" allows %.0f.", policy->max_cost));
	return false;
}

/*
 * Does the plan break 'policy'?  If so, fill 'v' and return true.
 * Only 'limit' and 'deny' policies can be broken.
 */
bool
guard_check_plan(PlannedStmt *stmt, const GuardPolicy *policy,
				 GuardServerState state, GuardViolation *v)
{
	if (policy->action == GUARD_ACTION_DENY)
		return check_deny_plan(stmt, policy, state, v);
	if (policy->action == GUARD_ACTION_LIMIT)
		return check_limit_plan(stmt, policy, state, v);
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
 * Does the utility command break 'policy'?  COPY table TO counts as a full
 * scan of the table, since it reads it without the executor.
 */
bool
guard_check_utility(Node *parsetree, const GuardPolicy *policy,
					GuardServerState state, GuardViolation *v)
{
	CommandTag	tag;
	CopyStmt   *copy = IsA(parsetree, CopyStmt) ? (CopyStmt *) parsetree : NULL;
	Oid			copy_relid = InvalidOid;

	if (policy->action < GUARD_ACTION_LIMIT)
		return false;

	/* COPY (query) TO is checked by the executor hook; COPY table is ours. */
	if (copy != NULL && copy->relation != NULL)
		copy_relid = RangeVarGetRelid(copy->relation, NoLock, true);

	if (policy->action == GUARD_ACTION_DENY)
	{
		if (allowed_under_deny(parsetree))
			return false;
		if (copy != NULL && (copy->relation == NULL ||
							 !OidIsValid(copy_relid) ||
							 relation_is_exempt(copy_relid)))
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

	if (OidIsValid(copy_relid) && !copy->is_from &&
		(policy->max_scan_rows >= 0 || policy->max_scan_size >= 0))
	{
		double		rows;
		double		bytes;

		estimate_relation(copy_relid, &rows, &bytes);
		return check_scan(get_rel_name(copy_relid), "COPY TO", rows, bytes,
						  policy, state, v);
	}
	return false;
}
