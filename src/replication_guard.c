/*-------------------------------------------------------------------------
 *
 * replication_guard.c
 *		What a replication connection may run unchecked: only what logical
 *		replication itself would hand over.
 *
 * A walsender connected with replication=database also runs plain SQL, and
 * its role can be any role with the REPLICATION attribute: a human can
 * repeat a table synchronisation's exact steps.  So such a connection is
 * checked like any session, except for the two statements a subscription's
 * table synchronisation runs to copy a table's initial contents:
 *
 *	COPY schema.table TO STDOUT
 *		of a table that belongs to a publication (directly, through its
 *		schema, through a FOR ALL TABLES publication, or through a partition
 *		ancestor), the name schema-qualified (as tablesync writes it);
 *	COPY (SELECT ... FROM table [WHERE ...]) TO STDOUT
 *		(row filters, column lists, partitioned tables): a plain SELECT whose
 *		range table is one such table, read once, with its partitions or
 *		inheritance children: no join, subquery, function or VALUES in FROM,
 *		no subplan, no row locks.
 *
 * Everything else a walsender runs (its catalog queries, any other COPY, any
 * other SELECT, any utility command) is checked.  Replication commands
 * (IDENTIFY_SYSTEM, CREATE_REPLICATION_SLOT, START_REPLICATION, ...) never
 * reach the hooks.  Physical walsenders run no SQL at all.
 *
 * State: whether the last COPY a walsender started was a COPY (query) TO
 * STDOUT, set by the utility hook and consumed by the executor hook of that
 * query (COPY to a server file uses the same executor destination).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_publication.h"
#include "parser/parsetree.h"
#include "replication/walsender.h"
#include "tcop/dest.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "primary_guard.h"

/* The last COPY this walsender started reads a query and writes to STDOUT. */
static bool copy_query_to_stdout = false;

/*
 * Whether 'relid' itself is in a publication of this database: listed, in a
 * listed schema, or covered by FOR ALL TABLES.
 */
static bool
relation_in_publication(Oid relid)
{
	Relation	rel;
	bool		publishable;

	if (GetRelationPublications(relid) != NIL)
		return true;

	rel = try_relation_open(relid, AccessShareLock);
	if (rel == NULL)
		return false;
	publishable = is_publishable_relation(rel);
	relation_close(rel, AccessShareLock);
	if (!publishable)
		return false;
	return GetSchemaPublications(get_rel_namespace(relid)) != NIL ||
		GetAllTablesPublications() != NIL;
}

/* Whether 'relid' is published, itself or through a partition ancestor. */
static bool
relation_is_published(Oid relid)
{
	ListCell   *lc;

	if (relation_in_publication(relid))
		return true;
	if (!get_rel_relispartition(relid))
		return false;
	foreach(lc, get_partition_ancestors(relid))
		if (relation_in_publication(lfirst_oid(lc)))
			return true;
	return false;
}

/* COPY schema.table TO STDOUT of a published table. */
static bool
copy_of_published_table(CopyStmt *copy)
{
	Oid			relid;

	if (copy->is_from || copy->filename != NULL || copy->is_program ||
		copy->relation == NULL || copy->relation->schemaname == NULL)
		return false;

	/*
	 * Locked as COPY will lock it, so that the table judged here cannot be
	 * dropped or renamed before COPY looks the name up again.
	 */
	relid = RangeVarGetRelid(copy->relation, AccessShareLock, true);
	return OidIsValid(relid) && relation_is_published(relid);
}

/*
 * COPY (SELECT ... FROM schema.table ...) TO STDOUT, before analysis: the
 * COPY itself passes the utility hook's checks (deny, blocked_commands) when
 * its query names one published table and nothing else; the query is then
 * judged from its plan by the executor hook.
 */
static bool
copy_query_of_published_table(CopyStmt *copy)
{
	SelectStmt *select = IsA(copy->query, SelectStmt) ? (SelectStmt *) copy->query : NULL;
	RangeVar   *from;
	Oid			relid;

	if (!copy_query_to_stdout || select == NULL || select->op != SETOP_NONE ||
		select->withClause != NULL || list_length(select->fromClause) != 1 ||
		!IsA(linitial(select->fromClause), RangeVar))
		return false;
	from = linitial_node(RangeVar, select->fromClause);
	if (from->schemaname == NULL)
		return false;
	relid = RangeVarGetRelid(from, NoLock, true);
	return OidIsValid(relid) && relation_is_published(relid);
}

/*
 * A plain SELECT reading one published table once (with its partitions or
 * inheritance children): what tablesync's COPY (SELECT ...) runs.
 */
static bool
select_of_published_table(PlannedStmt *stmt)
{
	Oid			table = InvalidOid;
	List	   *family = NIL;
	ListCell   *lc;

	if (stmt->commandType != CMD_SELECT || stmt->hasModifyingCTE ||
		stmt->subplans != NIL || stmt->rowMarks != NIL)
		return false;

	foreach(lc, stmt->rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

		/* A join, a subquery, a function or VALUES in FROM: not tablesync's. */
		if (rte->rtekind != RTE_RELATION)
			return false;
		if (!OidIsValid(table))
		{
			/* The one table named in the query comes first. */
			table = rte->relid;
			if (!relation_is_published(table))
				return false;
			family = find_all_inheritors(table, NoLock, NULL);
			continue;
		}
		/* Read twice (a self-join), or some other table: not tablesync's. */
		if (rte->relid == table || !list_member_oid(family, rte->relid) ||
			!relation_is_published(rte->relid))
			return false;
	}
	return OidIsValid(table);
}

/*
 * Whether this statement, about to be checked by a hook, is what replication
 * itself hands over (see the file header): true only in a walsender.  The
 * utility hook passes the COPY statement, the executor hook the plan and its
 * destination.
 */
bool
guard_replication_hands_over(PlannedStmt *stmt, DestReceiver *dest)
{
	bool		query_to_stdout;

	if (!am_walsender)
		return false;

	if (stmt->commandType == CMD_UTILITY)
	{
		CopyStmt   *copy = IsA(stmt->utilityStmt, CopyStmt) ?
			(CopyStmt *) stmt->utilityStmt : NULL;

		if (copy == NULL)
			return false;
		copy_query_to_stdout = copy->query != NULL && !copy->is_from &&
			copy->filename == NULL && !copy->is_program;
		return copy->query != NULL ? copy_query_of_published_table(copy) :
			copy_of_published_table(copy);
	}

	/* Consumed here: only the query of that COPY can use it. */
	query_to_stdout = copy_query_to_stdout;
	copy_query_to_stdout = false;
	return query_to_stdout && dest != NULL && dest->mydest == DestCopyOut &&
		select_of_published_table(stmt);
}
