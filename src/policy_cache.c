/*-------------------------------------------------------------------------
 *
 * policy_cache.c
 *		Policy resolution ("Which policy applies" in SPEC.md) and the
 *		per-backend cache of its results.
 *
 * Two hash tables live in one memory context under TopMemoryContext:
 *	role_cache     (role, server state) -> the policy resolved for that role
 *	session_cache  (session user, SET ROLE role, server state) -> the
 *	               stricter of the two roles' policies
 * plus a pointer to the session_cache entry the last statement used, which
 * is all the hot path looks at.  Both grow with the roles this backend uses,
 * never with the number of rows in primary_guard.policy.
 *
 * Invalidation: any change to primary_guard.policy (a statement trigger
 * forces a relcache invalidation of the table, WAL-logged so that standbys
 * replay it), to role membership (pg_auth_members), to roles themselves
 * (pg_authid: rename, drop, SUPERUSER or CREATEROLE of a grantor) or to pg_namespace (CREATE/DROP EXTENSION) marks
 * the whole cache stale.  Callbacks only set the flag; the next lookup
 * throws the context away and starts again, so no pointer handed out by the
 * cache is ever freed while a statement is being checked.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_auth_members.h"
#include "catalog/pg_authid.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/catcache.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "primary_guard.h"

typedef struct RoleKey
{
	Oid			role;
	GuardServerState state;
} RoleKey;

typedef struct RoleEntry
{
	RoleKey		key;
	GuardPolicy policy;
} RoleEntry;

typedef struct SessionKey
{
	Oid			session_user;
	Oid			outer_user;
	GuardServerState state;
} SessionKey;

typedef struct SessionEntry
{
	SessionKey	key;
	GuardPolicy policy;
} SessionEntry;

static MemoryContext cache_context = NULL;
static HTAB *role_cache = NULL;
static HTAB *session_cache = NULL;
static SessionEntry *last_session_entry = NULL;
static Oid	cache_table = InvalidOid;
static bool cache_stale = true;

/* The local transaction whose first check this backend has made. */
static LocalTransactionId absorbed_lxid = InvalidLocalTransactionId;

static void
cache_invalidate(void)
{
	cache_stale = true;
}

/*
 * While this database has no policy table, any relation change may be the
 * extension being created (into a schema that already existed): look again.
 */
static void
cache_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == cache_table || !OidIsValid(cache_table))
		cache_invalidate();
}

static void
cache_syscache_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	cache_invalidate();
}

/* Called once from _PG_init. */
void
guard_cache_init(void)
{
	CacheRegisterRelcacheCallback(cache_relcache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHOID, cache_syscache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHMEMMEMROLE, cache_syscache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(NAMESPACEOID, cache_syscache_callback, (Datum) 0);
}

/* Start over with empty tables if anything changed since the last lookup. */
static void
cache_refresh(void)
{
	HASHCTL		ctl;

	/*
	 * Absorb changes committed since this transaction last did: without
	 * this, a statement that takes no new lock before it is checked (a
	 * utility command, a query on tables this transaction already locked,
	 * a statement nested in a DO loop or a function) would be checked
	 * against the policy of before the change.  The first check of a
	 * transaction needs nothing: StartTransaction has just absorbed.
	 */
	if (GUARD_MY_LXID == absorbed_lxid)
		AcceptInvalidationMessages();
	else
		absorbed_lxid = GUARD_MY_LXID;
	if (!cache_stale)
		return;

	/* Invalidations arriving while we rebuild mark it stale again. */
	cache_stale = false;

	if (cache_context == NULL)
		cache_context = AllocSetContextCreate(TopMemoryContext,
											  "primary_guard policy cache",
											  ALLOCSET_SMALL_SIZES);
	else
		MemoryContextReset(cache_context);
	last_session_entry = NULL;

	memset(&ctl, 0, sizeof(ctl));
	ctl.hcxt = cache_context;
	ctl.keysize = sizeof(RoleKey);
	ctl.entrysize = sizeof(RoleEntry);
	role_cache = hash_create("primary_guard role policies", 16, &ctl,
							 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	ctl.keysize = sizeof(SessionKey);
	ctl.entrysize = sizeof(SessionEntry);
	session_cache = hash_create("primary_guard session policies", 8, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	guard_reset_catalog_lookup();
	cache_table = guard_policy_table();
}

/* Copy the policy's strings into the cache so they outlive the statement. */
static void
cache_own_strings(GuardPolicy *policy)
{
	if (policy->note)
		policy->note = MemoryContextStrdup(cache_context, policy->note);
	if (policy->source)
		policy->source = MemoryContextStrdup(cache_context, policy->source);
}

/*
 * Whether a membership granted by 'grantor' can carry a policy: only if the
 * grantor is, now, a superuser or has CREATEROLE.  In PostgreSQL granting a
 * role only adds privileges; a role holding ADMIN OPTION on a guarded group
 * must not be able to impose its policy on anyone (a superuser, the
 * application role) by granting it.  A grantor that no longer exists (15
 * lets a grantor be dropped and keeps its OID) counts: dropping whoever
 * granted a membership must not free the member from the group's policy.
 */
static bool
grantor_counts(Oid grantor)
{
	HeapTuple	tuple = SearchSysCache1(AUTHOID, ObjectIdGetDatum(grantor));
	bool		counts = true;

	if (HeapTupleIsValid(tuple))
	{
		Form_pg_authid authid = (Form_pg_authid) GETSTRUCT(tuple);

		counts = authid->rolsuper || authid->rolcreaterole;
		ReleaseSysCache(tuple);
	}
	return counts;
}

/*
 * Every role 'role' is a member of, directly or not (INHERIT or not),
 * through memberships whose grantor counts (at every level).
 */
static List *
role_groups(Oid role)
{
	List	   *groups = NIL;
	List	   *pending = list_make1_oid(role);

	while (pending != NIL)
	{
		Oid			member = linitial_oid(pending);
		CatCList   *memlist;

		pending = list_delete_first(pending);
		memlist = SearchSysCacheList1(AUTHMEMMEMROLE, ObjectIdGetDatum(member));
		for (int i = 0; i < memlist->n_members; i++)
		{
			HeapTuple	tup = &memlist->members[i]->tuple;
			Form_pg_auth_members membership = (Form_pg_auth_members) GETSTRUCT(tup);
			Oid			group = membership->roleid;

			if (group == role || list_member_oid(groups, group) ||
				!grantor_counts(membership->grantor))
				continue;
			groups = lappend_oid(groups, group);
			pending = lappend_oid(pending, group);
		}
		ReleaseSysCacheList(memlist);
	}
	return groups;
}

static void
set_origins(GuardPolicy *policy, Oid role, Oid via, bool is_public)
{
	policy->origin.role = role;
	policy->origin.via = via;
	policy->origin.is_public = is_public;
	policy->cost_origin = policy->rows_origin = policy->size_origin =
		policy->duration_origin = policy->origin;
}

/* Resolve one role's policy from the catalog: own, groups, public, none. */
static void
resolve_uncached(Oid role, GuardServerState state, GuardPolicy *out)
{
	StringInfoData contributors;
	GuardPolicy group_policy;
	ListCell   *lc;

	memset(out, 0, sizeof(*out));
	out->action = GUARD_ACTION_NONE;
	out->max_cost = -1;
	out->max_scan_rows = out->max_scan_size = out->max_duration_ms = -1;
	out->source = "none";
	set_origins(out, role, InvalidOid, false);
	if (!OidIsValid(cache_table))
		return;

	if (guard_read_policy_row(cache_table, role, state, out))
	{
		set_origins(out, role, InvalidOid, false);
		out->source = "own";
		return;
	}

	/* Merge every group's policy; name the groups holding the winning action. */
	initStringInfo(&contributors);
	foreach(lc, role_groups(role))
	{
		Oid			group = lfirst_oid(lc);

		if (!guard_read_policy_row(cache_table, group, state, &group_policy))
			continue;
		set_origins(&group_policy, role, group, false);
		if (group_policy.action > out->action)
			resetStringInfo(&contributors);
		if (group_policy.action >= out->action)
			appendStringInfo(&contributors, "%s\"%s\"",
							 contributors.len > 0 ? ", " : "inherited from ",
							 guard_role_name(group));
		guard_merge_policy(out, &group_policy);
	}
	if (contributors.len > 0)
	{
		out->source = contributors.data;
		return;
	}

	if (guard_read_policy_row(cache_table, InvalidOid, state, out))
	{
		set_origins(out, role, InvalidOid, true);
		out->source = "public";
	}
}

/*
 * Merge 'other' into 'into', keeping the stricter: deny > limit > allow >
 * none; for two limits the smallest of each threshold, the union of blocked
 * commands, and enforce if either enforces.
 */
void
guard_merge_policy(GuardPolicy *into, const GuardPolicy *other)
{
	if (other->action > into->action)
	{
		*into = *other;
		return;
	}
	if (other->action < into->action || into->action < GUARD_ACTION_LIMIT)
		return;

	into->enforce = into->enforce || other->enforce;
	if (into->action == GUARD_ACTION_LIMIT)
	{
		if (other->max_cost >= 0 && (into->max_cost < 0 || other->max_cost < into->max_cost))
		{
			into->max_cost = other->max_cost;
			into->cost_origin = other->cost_origin;
		}
		if (other->max_scan_rows >= 0 &&
			(into->max_scan_rows < 0 || other->max_scan_rows < into->max_scan_rows))
		{
			into->max_scan_rows = other->max_scan_rows;
			into->rows_origin = other->rows_origin;
		}
		if (other->max_scan_size >= 0 &&
			(into->max_scan_size < 0 || other->max_scan_size < into->max_scan_size))
		{
			into->max_scan_size = other->max_scan_size;
			into->size_origin = other->size_origin;
		}
		if (other->max_duration_ms >= 0 &&
			(into->max_duration_ms < 0 || other->max_duration_ms < into->max_duration_ms))
		{
			into->max_duration_ms = other->max_duration_ms;
			into->duration_origin = other->duration_origin;
		}
		for (int i = 0; i < GUARD_TAG_WORDS; i++)
			into->blocked[i] |= other->blocked[i];
		into->has_blocked = into->has_blocked || other->has_blocked;
	}
	if (into->note == NULL)
		into->note = other->note;
	else if (other->note != NULL && strcmp(into->note, other->note) != 0)
		into->note = psprintf("%s %s", into->note, other->note);
}

/* role_cache lookup; the caller has refreshed the cache. */
static void
resolve_role_cached(Oid role, GuardServerState state, GuardPolicy *out)
{
	RoleKey		key;
	RoleEntry  *entry;
	bool		found;

	memset(&key, 0, sizeof(key));
	key.role = role;
	key.state = state;
	entry = hash_search(role_cache, &key, HASH_FIND, NULL);
	if (entry != NULL)
	{
		*out = entry->policy;
		return;
	}

	resolve_uncached(role, state, out);
	cache_own_strings(out);
	entry = hash_search(role_cache, &key, HASH_ENTER, &found);
	entry->policy = *out;
}

/* The policy of one role for 'state'. */
void
guard_resolve_role(Oid role, GuardServerState state, GuardPolicy *out)
{
	cache_refresh();
	resolve_role_cached(role, state, out);
}

/*
 * The policy that applies to this session's statements: the stricter of
 * the session user's and the SET ROLE role's.  The current user of a
 * SECURITY DEFINER function is deliberately not consulted.
 */
void
guard_resolve_session(GuardServerState state, GuardPolicy *out)
{
	SessionKey	key;
	SessionEntry *entry;
	bool		found;
	GuardPolicy session_policy;

	cache_refresh();
	memset(&key, 0, sizeof(key));
	key.session_user = GetSessionUserId();
	key.outer_user = GetOuterUserId();
	key.state = state;

	/* The hot path: same roles and state as the previous statement. */
	if (last_session_entry != NULL &&
		memcmp(&last_session_entry->key, &key, sizeof(key)) == 0)
	{
		*out = last_session_entry->policy;
		return;
	}

	entry = hash_search(session_cache, &key, HASH_FIND, NULL);
	if (entry == NULL)
	{
		/* Start from the SET ROLE role: on a tie, it is the one to name. */
		resolve_role_cached(key.outer_user, state, out);
		if (key.outer_user != key.session_user)
		{
			resolve_role_cached(key.session_user, state, &session_policy);
			guard_merge_policy(out, &session_policy);
			cache_own_strings(out);
		}
		/* Resolution can accept invalidations; a stale result is not kept. */
		if (cache_stale)
			return;
		entry = hash_search(session_cache, &key, HASH_ENTER, &found);
		entry->policy = *out;
	}
	last_session_entry = entry;
	*out = entry->policy;
}
