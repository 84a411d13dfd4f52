/*-------------------------------------------------------------------------
 *
 * policy_catalog.c
 *		Finding primary_guard.policy and reading its rows, without SPI.
 *
 * The table is read with systable scans through its primary key
 * (role, server_state), so the hooks never re-enter the executor.  Where the
 * table lives is looked up once per backend and forgotten whenever
 * pg_namespace or pg_class changes (CREATE/DROP EXTENSION), see
 * policy_cache.c; in a database without the extension the lookup finds
 * nothing and the guard stays inert there.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/indexing.h"
#include "catalog/pg_class.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_namespace.h"
#include "miscadmin.h"
#include "commands/extension.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/formatting.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "access/tableam.h"

#include "primary_guard.h"

/* Column numbers of primary_guard.policy, as created by the install script. */
#define Anum_policy_role			1
#define Anum_policy_server_state	2
#define Anum_policy_action			3
#define Anum_policy_mode			4
#define Anum_policy_max_cost		5
#define Anum_policy_max_scan_rows	6
#define Anum_policy_max_scan_size	7
#define Anum_policy_blocked			8
#define Anum_policy_note			9
#define Natts_policy_min			9

static bool catalog_looked_up = false;
static Oid	catalog_table = InvalidOid;
static Oid	catalog_index = InvalidOid;
static AttrNumber catalog_max_duration = InvalidAttrNumber;	/* 0 in a 1.0 catalog */
static Oid	information_schema_oid = InvalidOid;

/* Forget where the table is; the next lookup searches again. */
void
guard_reset_catalog_lookup(void)
{
	catalog_looked_up = false;
	catalog_table = InvalidOid;
	catalog_index = InvalidOid;
	catalog_max_duration = InvalidAttrNumber;
	information_schema_oid = InvalidOid;
}

/*
 * OID of schema information_schema (InvalidOid if there is none), looked
 * up again after any pg_namespace change (see policy_cache.c).
 */
Oid
guard_information_schema(void)
{
	if (!OidIsValid(information_schema_oid))
		information_schema_oid = get_namespace_oid("information_schema", true);
	return information_schema_oid;
}

/*
 * The table named "policy" among the members of extension 'ext', found
 * through pg_depend, never by schema name: a renamed schema still works, and
 * a look-alike table is never a member.
 */
static Oid
extension_policy_table(Oid ext)
{
	Relation	depend;
	SysScanDesc scan;
	ScanKeyData key[2];
	HeapTuple	tuple;
	Oid			found = InvalidOid;

	depend = table_open(DependRelationId, AccessShareLock);
	ScanKeyInit(&key[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(ExtensionRelationId));
	ScanKeyInit(&key[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(ext));
	scan = systable_beginscan(depend, DependReferenceIndexId, true, NULL, 2, key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tuple);
		char	   *name;

		if (dep->classid != RelationRelationId || dep->deptype != DEPENDENCY_EXTENSION ||
			get_rel_relkind(dep->objid) != RELKIND_RELATION)
			continue;
		name = get_rel_name(dep->objid);
		if (name != NULL && strcmp(name, "policy") == 0)
		{
			found = dep->objid;
			break;
		}
	}
	systable_endscan(scan);
	table_close(depend, AccessShareLock);
	return found;
}

/* Whether a superuser owns the schema of relation 'relid'. */
static bool
schema_owned_by_superuser(Oid relid)
{
	HeapTuple	tuple;
	Oid			owner;

	tuple = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(get_rel_namespace(relid)));
	if (!HeapTupleIsValid(tuple))
		return false;
	owner = ((Form_pg_namespace) GETSTRUCT(tuple))->nspowner;
	ReleaseSysCache(tuple);
	return superuser_arg(owner);
}

/*
 * OID of the extension's policy table in this database, or InvalidOid: no
 * extension, an extension still being created, or one whose schema is not
 * owned by a superuser (a 1.0 installation that adopted someone's schema:
 * its owner could have planted operators in it, and the 1.0 -> 1.1 update
 * refuses to run there too).
 */
Oid
guard_policy_table(void)
{
	Oid			ext;
	Oid			table;
	Relation	rel;

	if (catalog_looked_up)
		return catalog_table;

	guard_reset_catalog_lookup();
	ext = get_extension_oid("primary_guard", true);
	table = OidIsValid(ext) ? extension_policy_table(ext) : InvalidOid;
	if (!OidIsValid(table) || !schema_owned_by_superuser(table))
	{
		/* Half-built during CREATE EXTENSION: look again next time. */
		catalog_looked_up = !OidIsValid(ext);
		return InvalidOid;
	}

	rel = try_table_open(table, AccessShareLock);
	if (rel == NULL)
		return InvalidOid;
	catalog_index = PG_PRIMARY_KEY_INDEX(rel);
	table_close(rel, AccessShareLock);
	if (!OidIsValid(catalog_index))
		return InvalidOid;
	catalog_table = table;
	catalog_max_duration = get_attnum(table, "max_duration");
	catalog_looked_up = true;
	return catalog_table;
}

bool
guard_parse_state(const char *name, GuardServerState *state)
{
	if (pg_strcasecmp(name, "primary") == 0)
		*state = GUARD_PRIMARY;
	else if (pg_strcasecmp(name, "standby") == 0)
		*state = GUARD_STANDBY;
	else
		return false;
	return true;
}

const char *
guard_action_name(GuardAction action)
{
	switch (action)
	{
		case GUARD_ACTION_ALLOW:
			return "allow";
		case GUARD_ACTION_LIMIT:
			return "limit";
		case GUARD_ACTION_DENY:
			return "deny";
		default:
			return "none";
	}
}

/*
 * The command tag named by 'name' (any case), if a policy may block it.
 * Otherwise CMDTAG_UNKNOWN, with *why_not saying why.  Statements that
 * reach the executor are governed by thresholds and deny, not by tag, and
 * transaction control is never blocked so that ROLLBACK always works.
 */
CommandTag
guard_lookup_blockable_tag(const char *name, const char **why_not)
{
	char	   *upper = asc_toupper(name, strlen(name));
	CommandTag	tag = GetCommandTagEnum(upper);

	pfree(upper);
	*why_not = NULL;
	switch (tag)
	{
		case CMDTAG_UNKNOWN:
			*why_not = "it is not a PostgreSQL command tag";
			break;
		case CMDTAG_SELECT:
		case CMDTAG_INSERT:
		case CMDTAG_UPDATE:
		case CMDTAG_DELETE:
		case CMDTAG_MERGE:
			*why_not = "it is not a utility command; limit it with max_cost, max_scan_rows, max_scan_size or action deny";
			break;
		case CMDTAG_BEGIN:
		case CMDTAG_START_TRANSACTION:
		case CMDTAG_COMMIT:
		case CMDTAG_ROLLBACK:
		case CMDTAG_SAVEPOINT:
		case CMDTAG_RELEASE:
		case CMDTAG_PREPARE_TRANSACTION:
		case CMDTAG_COMMIT_PREPARED:
		case CMDTAG_ROLLBACK_PREPARED:
			*why_not = "transaction control is never blocked";
			break;
		default:
			return tag;
	}
	return CMDTAG_UNKNOWN;
}

static GuardAction
parse_action(const char *name)
{
	if (strcmp(name, "allow") == 0)
		return GUARD_ACTION_ALLOW;
	if (strcmp(name, "limit") == 0)
		return GUARD_ACTION_LIMIT;
	if (strcmp(name, "deny") == 0)
		return GUARD_ACTION_DENY;
	/* Rows are validated by set_policy and a CHECK constraint. */
	elog(ERROR, "primary_guard.policy holds unknown action \"%s\"", name);
	return GUARD_ACTION_NONE;	/* keep compiler quiet */
}

/*
 * Milliseconds of a max_duration interval, a month counted as 30 days (as
 * interval comparison does), capped at INT_MAX: what a timeout can hold.
 */
int64
guard_interval_ms(const Interval *interval)
{
	double		ms = (double) interval->time / 1000.0 +
		((double) interval->day + (double) interval->month * DAYS_PER_MONTH) *
		SECS_PER_DAY * 1000.0;

	return (int64) Min(ms, (double) INT_MAX);
}

/* The interval of 'ms' milliseconds, whole days as days, for display. */
Interval *
guard_ms_interval(int64 ms)
{
	Interval   *interval = palloc0(sizeof(Interval));

	interval->day = (int32) (ms / (SECS_PER_DAY * INT64CONST(1000)));
	interval->time = (ms % (SECS_PER_DAY * INT64CONST(1000))) * 1000;
	return interval;
}

/* Fill 'out' from one heap tuple of primary_guard.policy. */
static void
policy_from_tuple(HeapTuple tuple, TupleDesc desc, Oid role, GuardPolicy *out)
{
	Datum	   *values = palloc(desc->natts * sizeof(Datum));
	bool	   *nulls = palloc(desc->natts * sizeof(bool));

	Assert(desc->natts >= Natts_policy_min);
	heap_deform_tuple(tuple, desc, values, nulls);

	memset(out, 0, sizeof(*out));
	out->action = parse_action(TextDatumGetCString(values[Anum_policy_action - 1]));
	out->enforce = strcmp(TextDatumGetCString(values[Anum_policy_mode - 1]), "warn") != 0;
	out->max_cost = nulls[Anum_policy_max_cost - 1] ? -1 :
		DatumGetFloat8(values[Anum_policy_max_cost - 1]);
	out->max_scan_rows = nulls[Anum_policy_max_scan_rows - 1] ? -1 :
		DatumGetInt64(values[Anum_policy_max_scan_rows - 1]);
	out->max_scan_size = nulls[Anum_policy_max_scan_size - 1] ? -1 :
		DatumGetInt64(values[Anum_policy_max_scan_size - 1]);

	if (!nulls[Anum_policy_blocked - 1])
	{
		ArrayType  *arr = DatumGetArrayTypeP(values[Anum_policy_blocked - 1]);
		Datum	   *tags;
		bool	   *tagnulls;
		int			ntags;

		deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT,
						  &tags, &tagnulls, &ntags);
		for (int i = 0; i < ntags; i++)
		{
			const char *why_not;
			CommandTag	tag;

			if (tagnulls[i])
				continue;
			tag = guard_lookup_blockable_tag(TextDatumGetCString(tags[i]), &why_not);
			if (tag == CMDTAG_UNKNOWN)
				continue;		/* validated on insert; tolerate a future tag */
			out->blocked[tag / 64] |= UINT64CONST(1) << (tag % 64);
			out->has_blocked = true;
		}
	}

	/* Absent from a 1.0 catalog (before ALTER EXTENSION ... UPDATE). */
	out->max_duration_ms = -1;
	if (catalog_max_duration != InvalidAttrNumber && !nulls[catalog_max_duration - 1])
		out->max_duration_ms = guard_interval_ms(DatumGetIntervalP(values[catalog_max_duration - 1]));

	out->note = nulls[Anum_policy_note - 1] ? NULL :
		TextDatumGetCString(values[Anum_policy_note - 1]);

	out->origin.role = role;
	out->origin.via = InvalidOid;
	out->origin.is_public = !OidIsValid(role);
	out->cost_origin = out->rows_origin = out->size_origin = out->duration_origin = out->origin;

	pfree(values);
	pfree(nulls);
}

/*
 * Read the policy row of 'role' (InvalidOid: public) for 'state' from
 * table 'relid'.  Returns false if there is none, or if the table has just
 * been dropped (DROP EXTENSION committed while we waited for its lock).
 * Strings in 'out' are allocated in CurrentMemoryContext.
 *
 * The guard's reads must not be visible in the user's transaction.  An MVCC
 * scan of an ordinary table takes predicate locks in a SERIALIZABLE
 * transaction, and would make policy changes part of its serialization
 * conflicts.  So the scan itself runs with SnapshotAny (no predicate locks,
 * no conflict checks), and each version it returns is tested against the
 * catalog snapshot an MVCC scan would have used: the same rows, no locks.
 */
bool
guard_read_policy_row(Oid relid, Oid role, GuardServerState state, GuardPolicy *out)
{
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tuple;
	Snapshot	snapshot;
	bool		found = false;
	const char *state_name = guard_state_name(state);

	rel = try_table_open(relid, AccessShareLock);
	if (rel == NULL)
		return false;
	snapshot = RegisterSnapshot(GetCatalogSnapshot(relid));
	ScanKeyInit(&key, Anum_policy_role, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(role));
	scan = systable_beginscan(rel, catalog_index, true, SnapshotAny, 1, &key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		d;

		if (!table_tuple_satisfies_snapshot(rel, scan->slot, snapshot))
			continue;
		d = heap_getattr(tuple, Anum_policy_server_state, RelationGetDescr(rel), &isnull);
		if (isnull || strcmp(TextDatumGetCString(d), state_name) != 0)
			continue;
		policy_from_tuple(tuple, RelationGetDescr(rel), role, out);
		found = true;
		break;
	}
	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
	return found;
}
