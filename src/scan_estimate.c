/*-------------------------------------------------------------------------
 *
 * scan_estimate.c
 *		How many rows (and bytes) a statement would read from each relation,
 *		by any access path, loops included: the estimate that max_scan_rows
 *		and max_scan_size are checked against before the statement runs, and
 *		the map from scan nodes to relations that run-time counting uses.
 *
 * The walk is over the executor's PlanState tree, right after
 * ExecutorStart: partitions removed by initial run-time pruning (a generic
 * plan's parameters) are then already gone, so a prepared statement counts
 * the same partitions with a generic plan as with a custom one.
 *
 * Rules (README "What is checked" states them for users):
 *	- a full scan (sequential, sample, TID range, or an index scan without
 *	  an index condition) reads the whole relation: the planner's estimate of
 *	  it now (estimate_rel_size), not its rows after the WHERE clause;
 *	- index, index-only, TID and foreign scans read their row estimate; a
 *	  bitmap heap scan reads its index side's matches (before recheck);
 *	- each scan counts once per time it runs: the inner side of a nested
 *	  loop runs once per outer row, a correlated subplan once per row of
 *	  the node that evaluates it, a Memoize node's child once per expected
 *	  distinct key; Material, Sort and Hash without parameters run once;
 *	  parallel-aware scans add up over the expected participants;
 *	- scans of one relation add up, and partitions and inheritance
 *	  children count under their top parent;
 *	- relations in pg_catalog, information_schema and pg_toast count for
 *	  nothing.
 * Bytes are whole-relation pages for full scans, and rows times the
 * relation's bytes per row (from pg_class) otherwise.
 *
 * The result lives in the caller's GuardReads: nothing is allocated for a
 * plan that reads up to GUARD_READS_INLINE relations through as many scans
 * and has no partitions or children.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "optimizer/optimizer.h"
#include "optimizer/plancat.h"
#include "parser/parsetree.h"
#include "utils/rel.h"

#include "primary_guard.h"

typedef struct ReadWalk
{
	PlannedStmt *stmt;
	GuardReads *reads;
	bool		need_bytes;
	Index		nrtis;
	Index	   *parent_of;		/* rt index -> parent rt index; NULL: none */
	double		divisor;		/* participants of the enclosing Gather */
} ReadWalk;

/* The planner's estimate of a whole relation, now: rows and bytes. */
void
guard_estimate_relation(Relation rel, double *rows, double *bytes)
{
	BlockNumber pages;
	double		tuples;
	double		allvisfrac;

	estimate_rel_size(rel, NULL, &pages, &tuples, &allvisfrac);
	*rows = tuples;
	*bytes = (double) pages * BLCKSZ;
}

/* Bytes one row of 'rel' takes on disk, from pg_class's statistics. */
static double
bytes_per_row(Relation rel, Plan *plan)
{
	if (rel->rd_rel->reltuples > 0 && rel->rd_rel->relpages > 0)
		return (double) rel->rd_rel->relpages * BLCKSZ / rel->rd_rel->reltuples;
	/* Never analyzed: the row's width plus a tuple header. */
	return MAXALIGN(plan->plan_width) + MAXALIGN(SizeofHeapTupleHeader) + sizeof(ItemIdData);
}

/* Parallel participants the planner divided a parallel-aware scan among. */
static double
parallel_divisor(int workers)
{
	double		divisor = workers;

	if (parallel_leader_participation && 1.0 - 0.3 * workers > 0)
		divisor += 1.0 - 0.3 * workers;
	return Max(divisor, 1.0);
}

/* Room for one more element in an array that starts inline and grows. */
static void *
grow(void *array, void *inline_array, int *max, Size elem)
{
	void	   *bigger = palloc(*max * 2 * elem);

	memcpy(bigger, array, *max * elem);
	if (array != inline_array)
		pfree(array);
	*max *= 2;
	return bigger;
}

/*
 * The index in reads->rels of the relation (the top parent) that rt index
 * 'rti' belongs to, added if new.
 */
static int
relation_entry(ReadWalk *w, Index rti, bool *is_child)
{
	GuardReads *reads = w->reads;
	Index		top = rti;
	GuardRelRead *rel;

	/* Partitions and children: built at the first scan of a plan with any. */
	if (w->parent_of == NULL && w->stmt->appendRelations != NIL)
	{
		ListCell   *lc;

		w->parent_of = palloc0((w->nrtis + 1) * sizeof(Index));
		foreach(lc, w->stmt->appendRelations)
		{
			AppendRelInfo *info = (AppendRelInfo *) lfirst(lc);

			if (info->child_relid <= w->nrtis)
				w->parent_of[info->child_relid] = info->parent_relid;
		}
	}
	while (w->parent_of != NULL && w->parent_of[top] != 0 &&
		   rt_fetch(w->parent_of[top], w->stmt->rtable)->rtekind == RTE_RELATION)
		top = w->parent_of[top];
	*is_child = top != rti;

	for (int i = 0; i < reads->nrels; i++)
		if (reads->rels[i].rti == top)
			return i;

	if (reads->nrels == reads->maxrels)
		reads->rels = grow(reads->rels, reads->rels_inline, &reads->maxrels,
						   sizeof(GuardRelRead));
	rel = &reads->rels[reads->nrels];
	memset(rel, 0, sizeof(*rel));
	rel->rti = top;
	rel->relid = rt_fetch(top, w->stmt->rtable)->relid;
	return reads->nrels++;
}

/*
 * Record one scan node: 'per_loop' rows each time it runs ('full': the
 * whole relation, measured here), 'loops' times.
 */
static double
add_scan(ReadWalk *w, ScanState *ss, const char *kind, bool full,
		 double per_loop, double loops)
{
	Scan	   *scan = (Scan *) ss->ps.plan;
	Relation	relation = ss->ss_currentRelation;
	GuardReads *reads = w->reads;
	GuardRelRead *rel;
	double		rows;
	double		bytes = 0;
	bool		is_child;
	int			relno;

	if (scan->scanrelid == 0 || relation == NULL ||
		guard_namespace_is_system(RelationGetNamespace(relation)))
		return per_loop;

	if (full)
	{
		guard_estimate_relation(relation, &per_loop, &bytes);
		/* The participants of a parallel-aware full scan share one pass. */
		if (scan->plan.parallel_aware)
			loops /= w->divisor;
	}
	else if (w->need_bytes)
		bytes = per_loop * bytes_per_row(relation, &scan->plan);
	rows = per_loop * loops;
	bytes *= loops;

	relno = relation_entry(w, scan->scanrelid, &is_child);
	rel = &reads->rels[relno];
	if (rel->nscans++ == 0)
	{
		rel->kind = kind;
		rel->loops = loops;
	}
	rel->partitions |= is_child;
	rel->rows += rows;
	rel->bytes += bytes;
	if (full)
	{
		rel->full_rows += rows;
		rel->full_bytes += bytes;
	}

	/* Remembered for run-time counting. */
	if (reads->nscans == reads->maxscans)
		reads->scans = grow(reads->scans, reads->scans_inline, &reads->maxscans,
							sizeof(GuardScanNode));
	reads->scans[reads->nscans].node = ss;
	reads->scans[reads->nscans].rel = relno;
	reads->nscans++;
	reads->max_node_id = Max(reads->max_node_id, scan->plan.plan_node_id + 1);
	return per_loop;
}

static void walk(ReadWalk *w, PlanState *ps, double loops, double once);

static void
walk_array(ReadWalk *w, PlanState **states, int n, double loops, double once)
{
	for (int i = 0; i < n; i++)
		walk(w, states[i], loops, once);
}

/* Subplans of a node: initplans run once, correlated ones per row. */
static void
walk_subplans(ReadWalk *w, PlanState *ps, double rows_per_loop, double loops, double once)
{
	ListCell   *lc;

	foreach(lc, ps->initPlan)
		walk(w, ((SubPlanState *) lfirst(lc))->planstate, once, once);
	foreach(lc, ps->subPlan)
	{
		SubPlanState *sps = (SubPlanState *) lfirst(lc);

		if (sps->subplan->useHashTable || sps->subplan->parParam == NIL)
			walk(w, sps->planstate, loops, loops);
		else
			walk(w, sps->planstate, Max(rows_per_loop, 1) * loops, loops);
	}
}

/*
 * Walk a PlanState tree.  'loops': how often this node is expected to run;
 * 'once': how often it would run if it were not rescanned with new
 * parameters (what a Material or Hash child runs).
 */
static void
walk(ReadWalk *w, PlanState *ps, double loops, double once)
{
	Plan	   *plan;
	double		rows_per_loop;

	if (ps == NULL)
		return;
	check_stack_depth();
	plan = ps->plan;
	/* Rows a node's expressions (and so its subplans) are evaluated on. */
	rows_per_loop = Max(plan->plan_rows, outerPlan(plan) ? outerPlan(plan)->plan_rows : 0);

	switch (nodeTag(plan))
	{
		case T_SeqScan:
			rows_per_loop = add_scan(w, (ScanState *) ps, plan->parallel_aware ?
									 "Parallel sequential scan" : "Sequential scan",
									 true, 0, loops);
			break;
		case T_SampleScan:
			/* TABLESAMPLE reads (BERNOULLI) or may read (SYSTEM) every page. */
			rows_per_loop = add_scan(w, (ScanState *) ps, "Sample scan", true, 0, loops);
			break;
		case T_TidRangeScan:
			/* A ctid range can span the whole table. */
			rows_per_loop = add_scan(w, (ScanState *) ps, "TID range scan", true, 0, loops);
			break;
		case T_IndexScan:
			rows_per_loop = add_scan(w, (ScanState *) ps,
					 ((IndexScan *) plan)->indexqual == NIL ?
					 "Full index scan" : "Index scan",
					 ((IndexScan *) plan)->indexqual == NIL, plan->plan_rows, loops);
			break;
		case T_IndexOnlyScan:
			rows_per_loop = add_scan(w, (ScanState *) ps,
					 ((IndexOnlyScan *) plan)->indexqual == NIL ?
					 "Full index-only scan" : "Index-only scan",
					 ((IndexOnlyScan *) plan)->indexqual == NIL, plan->plan_rows, loops);
			break;
		case T_BitmapHeapScan:
			/* The index side's matches, before the heap recheck. */
			rows_per_loop = add_scan(w, (ScanState *) ps, "Bitmap heap scan", false,
									 outerPlan(plan)->plan_rows, loops);
			walk_subplans(w, ps, rows_per_loop, loops, once);
			return;				/* the bitmap index side reads no heap rows */
		case T_TidScan:
			rows_per_loop = add_scan(w, (ScanState *) ps, "TID scan", false, plan->plan_rows, loops);
			break;
		case T_ForeignScan:
			rows_per_loop = add_scan(w, (ScanState *) ps, "Foreign scan", false, plan->plan_rows, loops);
			break;
		case T_NestLoop:
			walk_subplans(w, ps, rows_per_loop, loops, once);
			walk(w, outerPlanState(ps), loops, once);
			walk(w, innerPlanState(ps), loops * Max(outerPlan(plan)->plan_rows, 1), loops);
			return;
		case T_Memoize:
			/* The child runs once per expected distinct key (cache miss). */
			walk_subplans(w, ps, rows_per_loop, loops, once);
			walk(w, outerPlanState(ps),
				 Min(loops, once * Max((double) ((Memoize *) plan)->est_entries, 1)), once);
			return;
		case T_Material:
		case T_Sort:
		case T_Hash:
			/* Rescanned without new parameters, they replay their result. */
			walk_subplans(w, ps, rows_per_loop, loops, once);
			walk(w, outerPlanState(ps), bms_is_empty(plan->extParam) ? once : loops, once);
			return;
		case T_Gather:
		case T_GatherMerge:
			{
				int			workers = IsA(plan, Gather) ? ((Gather *) plan)->num_workers :
					((GatherMerge *) plan)->num_workers;
				double		divisor = parallel_divisor(workers);
				double		saved = w->divisor;

				walk_subplans(w, ps, rows_per_loop, loops, once);
				w->divisor = divisor;
				walk(w, outerPlanState(ps), loops * divisor, once * divisor);
				w->divisor = saved;
				return;
			}
		case T_Append:
			walk_subplans(w, ps, rows_per_loop, loops, once);
			walk_array(w, ((AppendState *) ps)->appendplans,
					   ((AppendState *) ps)->as_nplans, loops, once);
			return;
		case T_MergeAppend:
			walk_subplans(w, ps, rows_per_loop, loops, once);
			walk_array(w, ((MergeAppendState *) ps)->mergeplans,
					   ((MergeAppendState *) ps)->ms_nplans, loops, once);
			return;
		case T_SubqueryScan:
			walk_subplans(w, ps, rows_per_loop, loops, once);
			walk(w, ((SubqueryScanState *) ps)->subplan, loops, once);
			return;
		case T_CustomScan:
			{
				ListCell   *lc;

				foreach(lc, ((CustomScanState *) ps)->custom_ps)
					walk(w, (PlanState *) lfirst(lc), loops, once);
				break;
			}
		default:
			break;
	}

	/* A scan evaluates its quals' subplans on each row it reads. */
	walk_subplans(w, ps, rows_per_loop, loops, once);
	walk(w, outerPlanState(ps), loops, once);
	walk(w, innerPlanState(ps), loops, once);
}

/* Start 'reads' empty, with its inline arrays. */
void
guard_reads_init(GuardReads *reads)
{
	reads->nrels = reads->nscans = reads->max_node_id = 0;
	reads->maxrels = reads->maxscans = GUARD_READS_INLINE;
	reads->rels = reads->rels_inline;
	reads->scans = reads->scans_inline;
}

/*
 * Estimate what the started statement 'queryDesc' reads, relation by
 * relation, into 'reads' (initialized by the caller).  'need_bytes':
 * compute bytes for scans that are not full scans too (max_scan_size is
 * set).
 */
void
guard_estimate_reads(QueryDesc *queryDesc, bool need_bytes, GuardReads *reads)
{
	ReadWalk	w;

	w.stmt = queryDesc->plannedstmt;
	w.reads = reads;
	w.need_bytes = need_bytes;
	w.nrtis = (Index) list_length(w.stmt->rtable);
	w.parent_of = NULL;
	w.divisor = 1;
	walk(&w, queryDesc->planstate, 1, 1);
}
