/*-------------------------------------------------------------------------
 *
 * policy_sql.c
 *		SQL functions that manage and show policies: set_policy,
 *		drop_policy, effective_policy, server_state, and the trigger that
 *		makes every session see a change on its next statement.
 *
 * set_policy validates every argument before anything is written; a bad
 * argument is an error with SQLSTATE 22023 (42704 for an unknown role) and
 * the table is untouched.  Writes go through SPI as the calling user, so
 * the table's privileges decide who may manage policies.  Every query
 * here is schema-qualified and immune to search_path.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/formatting.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "primary_guard.h"

PG_FUNCTION_INFO_V1(set_policy);
PG_FUNCTION_INFO_V1(drop_policy);
PG_FUNCTION_INFO_V1(effective_policy);
PG_FUNCTION_INFO_V1(effective_policy_1_1);
PG_FUNCTION_INFO_V1(server_state);
PG_FUNCTION_INFO_V1(policy_changed);

static void
invalid_argument(const char *message, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg_internal("%s", message),
			 hint ? errhint("%s", hint) : 0));
}

static char *
required_text(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		invalid_argument(psprintf("%s must not be NULL", name), NULL);
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/* A keyword argument (action, mode): case-insensitive, as tags and states are. */
static char *
required_word(FunctionCallInfo fcinfo, int argno, const char *name)
{
	char	   *word = required_text(fcinfo, argno, name);

	return asc_tolower(word, strlen(word));
}

/*
 * The role a function argument names: "public" is InvalidOid.  With
 * allow_dangling, a number names the OID of a dropped role, as the
 * policies view shows it, so its dangling policy can be dropped.
 */
static Oid
role_argument(FunctionCallInfo fcinfo, int argno, bool allow_dangling)
{
	char	   *name = required_text(fcinfo, argno, "role");
	Oid			role;

	if (strcmp(name, "public") == 0)
		return InvalidOid;
	role = get_role_oid(name, true);
	if (!OidIsValid(role) && allow_dangling && name[0] != '\0' &&
		strspn(name, "0123456789") == strlen(name))
	{
		unsigned long value;

		/* Out of range must not wrap around onto another role's OID. */
		errno = 0;
		value = strtoul(name, NULL, 10);
		if (errno == 0 && value <= PG_UINT32_MAX)
			role = (Oid) value;
	}
	if (!OidIsValid(role))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role \"%s\" does not exist", name)));
	return role;
}

static GuardServerState
state_argument(FunctionCallInfo fcinfo, int argno)
{
	char	   *name = required_text(fcinfo, argno, "server_state");
	GuardServerState state;

	if (!guard_parse_state(name, &state))
		invalid_argument(psprintf("invalid server_state \"%s\"", name),
						 "Valid server states are primary and standby.");
	return state;
}

/*
 * The policy table's qualified name for SPI, found as the hooks find it
 * (through the extension, never by schema name).
 */
static char *
policy_table_name(void)
{
	Oid			table = guard_policy_table();

	if (!OidIsValid(table))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("primary_guard's policy table is not usable in this database"),
				 errhint("Check that the extension is installed and that a superuser owns its schema.")));
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(table)),
									  get_rel_name(table));
}

/* Policies live on the primary; a standby gets them by replication. */
static void
require_primary(void)
{
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot change primary_guard policies on a standby server"),
				 errhint("Change policies on the primary server; they replicate to standbys.")));
}

/*
 * Bytes of a size such as '500MB', '1GB' or '8192', as pg_size_bytes()
 * reads them.  Every way it can fail (including sizes beyond bigint) is a
 * bad argument here: 22023, with pg_size_bytes()'s own explanation.
 */
static int64
size_argument(Datum size)
{
	MemoryContext context = CurrentMemoryContext;
	int64		bytes = 0;

	PG_TRY();
	{
		bytes = DatumGetInt64(DirectFunctionCall1(pg_size_bytes, size));
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(context);
		edata = CopyErrorData();
		FlushErrorState();
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid max_scan_size \"%s\"", TextDatumGetCString(size)),
				 edata->detail ? errdetail_internal("%s", edata->detail) :
				 edata->sqlerrcode == ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE ?
				 errdetail("The size does not fit in a bigint number of bytes.") : 0,
				 edata->hint ? errhint("%s", edata->hint) :
				 errhint("Use a size such as '500MB', '1GB' or a number of bytes.")));
	}
	PG_END_TRY();
	return bytes;
}

/* Validated, upper-case, sorted, duplicate-free blocked_commands. */
static Datum
blocked_commands_argument(ArrayType *arr)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	bool		seen[PG_COMMAND_TAG_COUNT] = {0};
	Datum	   *out;
	int			nout = 0;

	if (ARR_NDIM(arr) > 1)
		invalid_argument("blocked_commands must be a one-dimensional array", NULL);
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	if (n == 0)
		invalid_argument("blocked_commands must not be empty",
						 "Pass NULL to block no command.");
	for (int i = 0; i < n; i++)
	{
		char	   *name;
		const char *why_not;
		CommandTag	tag;

		if (nulls[i])
			invalid_argument("blocked_commands must not contain NULL", NULL);
		name = TextDatumGetCString(elems[i]);
		tag = guard_lookup_blockable_tag(name, &why_not);
		if (tag == CMDTAG_UNKNOWN)
			invalid_argument(psprintf("cannot block command \"%s\": %s", name, why_not),
							 "Use command tags as PostgreSQL reports them, such as 'CREATE INDEX', 'VACUUM' or 'CLUSTER'.");
		seen[tag] = true;
	}
	out = palloc(sizeof(Datum) * n);
	for (int tag = 0; tag < PG_COMMAND_TAG_COUNT; tag++)
		if (seen[tag])
			out[nout++] = CStringGetTextDatum(GetCommandTagName((CommandTag) tag));
	return PointerGetDatum(construct_array(out, nout, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * set_policy(role, action, server_state, max_cost, max_scan_rows,
 *			  max_scan_size, blocked_commands, mode, note[, max_duration])
 *
 * The 1.0 SQL declaration has nine arguments: this library keeps working
 * with it (and with the 1.0 table, without max_duration) until ALTER
 * EXTENSION ... UPDATE has run.
 */
Datum
set_policy(PG_FUNCTION_ARGS)
{
	Oid			argtypes[10] = {REGROLEOID, TEXTOID, TEXTOID, TEXTOID, FLOAT8OID,
	INT8OID, INT8OID, TEXTARRAYOID, TEXTOID, INTERVALOID};
	Datum		values[10];
	char		nulls[10] = {' ', ' ', ' ', ' ', 'n', 'n', 'n', 'n', 'n', 'n'};
	bool		has_duration_arg = PG_NARGS() >= 10;
	Oid			role;
	char	   *action;
	char	   *mode;
	GuardServerState state;
	bool		has_threshold;
	int			ret;
	StringInfoData sql;

	require_primary();

	role = role_argument(fcinfo, 0, false);
	action = required_word(fcinfo, 1, "action");
	if (strcmp(action, "allow") != 0 && strcmp(action, "limit") != 0 &&
		strcmp(action, "deny") != 0)
		invalid_argument(psprintf("invalid action \"%s\"", action),
						 "Valid actions are allow, limit and deny.");
	state = state_argument(fcinfo, 2);
	mode = required_word(fcinfo, 7, "mode");
	if (strcmp(mode, "enforce") != 0 && strcmp(mode, "warn") != 0)
		invalid_argument(psprintf("invalid mode \"%s\"", mode),
						 "Valid modes are enforce and warn.");

	if (!PG_ARGISNULL(3))
	{
		float8		max_cost = PG_GETARG_FLOAT8(3);

		if (isnan(max_cost) || isinf(max_cost) || max_cost < 0)
			invalid_argument("max_cost must be a finite number, zero or more", NULL);
		values[4] = Float8GetDatum(max_cost);
		nulls[4] = ' ';
	}
	if (!PG_ARGISNULL(4))
	{
		if (PG_GETARG_INT64(4) < 0)
			invalid_argument("max_scan_rows must be zero or more", NULL);
		values[5] = PG_GETARG_DATUM(4);
		nulls[5] = ' ';
	}
	if (!PG_ARGISNULL(5))
	{
		int64		bytes = size_argument(PG_GETARG_DATUM(5));

		if (bytes < 0)
			invalid_argument("max_scan_size must be zero or more", NULL);
		values[6] = Int64GetDatum(bytes);
		nulls[6] = ' ';
	}
	if (!PG_ARGISNULL(6))
	{
		values[7] = blocked_commands_argument(PG_GETARG_ARRAYTYPE_P(6));
		nulls[7] = ' ';
	}
	if (!PG_ARGISNULL(8))
	{
		values[8] = PG_GETARG_DATUM(8);
		nulls[8] = ' ';
	}
	if (has_duration_arg && !PG_ARGISNULL(9))
	{
		Interval   *duration = PG_GETARG_INTERVAL_P(9);

		if (PG_INTERVAL_IS_INFINITE(duration) || guard_interval_ms(duration) < 1)
			invalid_argument("max_duration must be a finite interval of at least one millisecond",
							 "Use NULL for no limit.");
		values[9] = PG_GETARG_DATUM(9);
		nulls[9] = ' ';
	}

	has_threshold = nulls[4] == ' ' || nulls[5] == ' ' || nulls[6] == ' ' ||
		nulls[7] == ' ' || nulls[9] == ' ';
	if (strcmp(action, "limit") != 0 && has_threshold)
		invalid_argument(psprintf("action \"%s\" does not take thresholds or blocked_commands", action),
						 "max_cost, max_scan_rows, max_scan_size, max_duration and blocked_commands are only valid with action limit.");
	if (strcmp(action, "limit") == 0 && !has_threshold)
		invalid_argument("a limit policy needs at least one of max_cost, max_scan_rows, max_scan_size, max_duration or blocked_commands",
						 NULL);

	values[0] = ObjectIdGetDatum(role);
	values[1] = CStringGetTextDatum(guard_state_name(state));
	values[2] = CStringGetTextDatum(action);
	values[3] = CStringGetTextDatum(mode);

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "INSERT INTO %s AS p"
					 " (role, server_state, action, mode, max_cost, max_scan_rows,"
					 "  max_scan_size, blocked_commands, note, updated_at, updated_by%s)"
					 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,"
					 "  pg_catalog.now(), CURRENT_USER%s)"
					 " ON CONFLICT (role, server_state) DO UPDATE SET"
					 "  action = EXCLUDED.action, mode = EXCLUDED.mode,"
					 "  max_cost = EXCLUDED.max_cost, max_scan_rows = EXCLUDED.max_scan_rows,"
					 "  max_scan_size = EXCLUDED.max_scan_size,"
					 "  blocked_commands = EXCLUDED.blocked_commands, note = EXCLUDED.note,"
					 "  updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by%s",
					 policy_table_name(),
					 has_duration_arg ? ", max_duration" : "",
					 has_duration_arg ? ", $10" : "",
					 has_duration_arg ? ", max_duration = EXCLUDED.max_duration" : "");

	SPI_connect();
	ret = SPI_execute_with_args(sql.data, has_duration_arg ? 10 : 9,
								argtypes, values, nulls, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "primary_guard: could not write policy: %s", SPI_result_code_string(ret));
	SPI_finish();
	PG_RETURN_VOID();
}

/* drop_policy(role, server_state): true if a policy was removed. */
Datum
drop_policy(PG_FUNCTION_ARGS)
{
	Oid			argtypes[2] = {OIDOID, TEXTOID};
	Datum		values[2];
	int			ret;
	uint64		removed;

	require_primary();
	values[0] = ObjectIdGetDatum(role_argument(fcinfo, 0, true));
	values[1] = CStringGetTextDatum(guard_state_name(state_argument(fcinfo, 1)));

	SPI_connect();
	ret = SPI_execute_with_args(psprintf("DELETE FROM %s"
										 " WHERE role::pg_catalog.oid OPERATOR(pg_catalog.=) $1"
										 " AND server_state OPERATOR(pg_catalog.=) $2",
										 policy_table_name()),
								2, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_DELETE)
		elog(ERROR, "primary_guard: could not delete policy: %s", SPI_result_code_string(ret));
	removed = SPI_processed;
	SPI_finish();
	PG_RETURN_BOOL(removed > 0);
}

/* server_state(): 'primary' or 'standby', right now. */
Datum
server_state(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(guard_state_name(guard_current_state())));
}

/* Only superusers and members of a role may look at its policy. */
static void
check_may_inspect(Oid role)
{
	if (OidIsValid(role) && !superuser() && !is_member_of_role(GetUserId(), role))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to inspect the policy of role \"%s\"",
						GetUserNameFromId(role, false)),
				 errdetail("Only superusers and members of the role can inspect its policy.")));
}

/*
 * Resolve the policy for 'role' (NULL: this session, i.e. the stricter of
 * session user and SET ROLE role) in 'state' (NULL: the current state).
 * Shared by effective_policy() and check_query().
 */
void
guard_policy_for_arguments(FunctionCallInfo fcinfo, int role_arg, int state_arg,
						   GuardPolicy *policy, GuardServerState *state)
{
	*state = PG_ARGISNULL(state_arg) ? guard_current_state() : state_argument(fcinfo, state_arg);
	if (PG_ARGISNULL(role_arg))
		guard_resolve_session(*state, policy);
	else
	{
		Oid			role = role_argument(fcinfo, role_arg, false);

		check_may_inspect(role);
		guard_resolve_role(role, *state, policy);
		if (!OidIsValid(role))
			policy->source = policy->action == GUARD_ACTION_NONE ? "none" : "public";
	}
}

static Datum
size_text(int64 bytes)
{
	return DirectFunctionCall1(pg_size_pretty, Int64GetDatum(bytes));
}

/*
 * effective_policy(role, server_state): the merged policy and its source.
 * 1.1 adds max_duration as an eleventh column; the 1.0 declaration binds to
 * effective_policy, the 1.1 one to effective_policy_1_1.
 */
static Datum
effective_policy_internal(FunctionCallInfo fcinfo, bool with_duration)
{
	TupleDesc	tupdesc;
	Datum		values[11];
	bool		nulls[11] = {0};
	GuardPolicy policy;
	GuardServerState state;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (tupdesc->natts != (with_duration ? 11 : 10))
		elog(ERROR, "effective_policy() declared with %d columns", tupdesc->natts);

	guard_policy_for_arguments(fcinfo, 0, 1, &policy, &state);

	values[0] = CStringGetTextDatum(policy.origin.is_public ? "public" :
									guard_role_name(policy.origin.role));
	values[1] = CStringGetTextDatum(guard_state_name(state));
	values[2] = CStringGetTextDatum(guard_action_name(policy.action));
	nulls[3] = policy.action == GUARD_ACTION_NONE;
	values[3] = CStringGetTextDatum(policy.enforce ? "enforce" : "warn");
	nulls[4] = policy.action != GUARD_ACTION_LIMIT || policy.max_cost < 0;
	values[4] = Float8GetDatum(policy.max_cost);
	nulls[5] = policy.action != GUARD_ACTION_LIMIT || policy.max_scan_rows < 0;
	values[5] = Int64GetDatum(policy.max_scan_rows);
	nulls[6] = policy.action != GUARD_ACTION_LIMIT || policy.max_scan_size < 0;
	if (!nulls[6])
		values[6] = size_text(policy.max_scan_size);
	nulls[7] = policy.action != GUARD_ACTION_LIMIT || !policy.has_blocked;
	if (!nulls[7])
	{
		Datum	   *tags = palloc(sizeof(Datum) * PG_COMMAND_TAG_COUNT);
		int			ntags = 0;

		for (int tag = 0; tag < PG_COMMAND_TAG_COUNT; tag++)
			if (policy.blocked[tag / 64] & (UINT64CONST(1) << (tag % 64)))
				tags[ntags++] = CStringGetTextDatum(GetCommandTagName((CommandTag) tag));
		values[7] = PointerGetDatum(construct_array(tags, ntags, TEXTOID, -1, false, TYPALIGN_INT));
	}
	nulls[8] = policy.note == NULL;
	if (!nulls[8])
		values[8] = CStringGetTextDatum(policy.note);
	values[9] = CStringGetTextDatum(policy.source);
	if (with_duration)
	{
		nulls[10] = policy.action != GUARD_ACTION_LIMIT || policy.max_duration_ms < 0;
		if (!nulls[10])
			values[10] = IntervalPGetDatum(guard_ms_interval(policy.max_duration_ms));
	}

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

Datum
effective_policy(PG_FUNCTION_ARGS)
{
	return effective_policy_internal(fcinfo, false);
}

Datum
effective_policy_1_1(PG_FUNCTION_ARGS)
{
	return effective_policy_internal(fcinfo, true);
}

/*
 * Statement trigger on primary_guard.policy: a relcache invalidation of the
 * table tells every backend, and (through WAL) every standby, that cached
 * policies are stale.  Plain DML would not invalidate anything by itself.
 */
Datum
policy_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("policy_changed() must be called as a trigger")));
	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));
	PG_RETURN_POINTER(NULL);
}
