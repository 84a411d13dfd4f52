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
#include "catalog/pg_class.h"
#include "commands/extension.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/formatting.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

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

/* Forget where the table is; the next lookup searches again. */
void
guard_reset_catalog_lookup(void)
{
	catalog_looked_up = false;
	catalog_table = InvalidOid;
	catalog_index = InvalidOid;
}

/* OID of primary_guard.policy in this database, or InvalidOid. */
Oid
guard_policy_table(void)
{
	if (!catalog_looked_up)
	{
		Oid			nsp = get_namespace_oid("primary_guard", true);

		catalog_table = InvalidOid;
		catalog_index = InvalidOid;
		if (OidIsValid(nsp))
		{
			Oid			ext = get_extension_oid("primary_guard", true);

			catalog_table = get_relname_relid("policy", nsp);
			catalog_index = get_relname_relid("policy_pkey", nsp);

			/*
			 * Only the extension's own table: anyone allowed to create
			 * schemas can make a "primary_guard.policy" of their own in a
			 * database without the extension, and its rows are read with
			 * the layout of ours.
			 */
			if (OidIsValid(catalog_table) &&
				(!OidIsValid(ext) ||
				 getExtensionOfObject(RelationRelationId, catalog_table) != ext))
				catalog_index = InvalidOid;
			/* Half-built during CREATE EXTENSION: look again next time. */
			catalog_looked_up = OidIsValid(catalog_table) && OidIsValid(catalog_index);
			if (!catalog_looked_up)
				catalog_table = InvalidOid;
		}
		else
			catalog_looked_up = true;
	}
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

	out->note = nulls[Anum_policy_note - 1] ? NULL :
		TextDatumGetCString(values[Anum_policy_note - 1]);

	out->origin.role = role;
	out->origin.via = InvalidOid;
	out->origin.is_public = !OidIsValid(role);
	out->cost_origin = out->rows_origin = out->size_origin = out->origin;

	pfree(values);
	pfree(nulls);
}

/*
 * Read the policy row of 'role' (InvalidOid: public) for 'state' from
 * table 'relid'.  Returns false if there is none.  Strings in 'out' are
 * allocated in CurrentMemoryContext.
 */
bool
guard_read_policy_row(Oid relid, Oid role, GuardServerState state, GuardPolicy *out)
{
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tuple;
	bool		found = false;
	const char *state_name = guard_state_name(state);

	rel = table_open(relid, AccessShareLock);
	ScanKeyInit(&key, Anum_policy_role, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(role));
	scan = systable_beginscan(rel, catalog_index, OidIsValid(catalog_index),
							  NULL, 1, &key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		d = heap_getattr(tuple, Anum_policy_server_state,
									 RelationGetDescr(rel), &isnull);

		if (isnull || strcmp(TextDatumGetCString(d), state_name) != 0)
			continue;
		policy_from_tuple(tuple, RelationGetDescr(rel), role, out);
		found = true;
		break;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}
