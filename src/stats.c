/*-------------------------------------------------------------------------
 *
 * stats.c
 *		Shared-memory statistics: per-role counters and a ring buffer of
 *		the most recent rejections and warnings, plus the log line each
 *		one writes.  Works on standbys, where nothing can be written to
 *		tables.
 *
 * Layout (allocated at postmaster start, sized by PGC_POSTMASTER GUCs):
 *	GuardStatsShared   header: lock, reset generation, ring position,
 *	                   and the "other roles" entry used once the role
 *	                   table is full
 *	role hash          role OID -> GuardRoleStats, at most
 *	                   primary_guard.max_tracked_roles entries
 *	ring               primary_guard.recent_rejections_size entries
 *
 * Locking: the LWLock protects the hash's shape (insert, reset) and the
 * ring.  Counters are atomics, so counting an allowed statement takes no
 * lock at all: each backend remembers the entry of the role it last
 * counted, and looks again only when the role changes or reset_stats()
 * bumped the generation.  last_rejected_* fields are guarded by the
 * entry's spinlock (rejection path only).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "mb/pg_wchar.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "primary_guard.h"

#define GUARD_QUERY_LEN		1024
#define GUARD_REASON_LEN	512
#define GUARD_NAME_LEN		64

typedef struct GuardRoleStats
{
	Oid			role;			/* hash key; InvalidOid: other roles */
	pg_atomic_uint64 checked;
	pg_atomic_uint64 warned;
	pg_atomic_uint64 rejected;
	slock_t		mutex;			/* protects the two fields below */
	TimestampTz last_rejected_at;
	char		last_rejected_query[GUARD_QUERY_LEN];
} GuardRoleStats;

typedef struct GuardRecent
{
	TimestampTz at;				/* 0: unused slot */
	int			pid;
	Oid			role;
	GuardServerState state;
	bool		rejected;		/* false: warned */
	char		rule[GUARD_NAME_LEN];
	char		relation[NAMEDATALEN];
	char		reason[GUARD_REASON_LEN];
	char		query[GUARD_QUERY_LEN];
} GuardRecent;

typedef struct GuardStatsShared
{
	LWLock	   *lock;
	pg_atomic_uint32 generation;	/* bumped by reset_stats() */
	uint64		ring_next;		/* total entries ever written */
	GuardRoleStats other;		/* roles beyond max_tracked_roles */
	GuardRecent ring[FLEXIBLE_ARRAY_MEMBER];
} GuardStatsShared;

int			guard_max_tracked_roles = 1000;
int			guard_recent_size = 100;

static GuardStatsShared *shared = NULL;
static HTAB *role_stats = NULL;

/* This backend's memory of where its role's counters are. */
static Oid	local_role = InvalidOid;
static GuardRoleStats *local_entry = NULL;
static uint32 local_generation = 0;

static void stats_xact_callback(XactEvent event, void *arg);

PG_FUNCTION_INFO_V1(stats);
PG_FUNCTION_INFO_V1(recent_rejections);
PG_FUNCTION_INFO_V1(reset_stats);

static Size
shared_size(void)
{
	return add_size(offsetof(GuardStatsShared, ring),
					mul_size(guard_recent_size, sizeof(GuardRecent)));
}

static void
init_role_entry(GuardRoleStats *entry, Oid role)
{
	entry->role = role;
	pg_atomic_init_u64(&entry->checked, 0);
	pg_atomic_init_u64(&entry->warned, 0);
	pg_atomic_init_u64(&entry->rejected, 0);
	SpinLockInit(&entry->mutex);
	entry->last_rejected_at = 0;
	entry->last_rejected_query[0] = '\0';
}

/* Shared memory this file needs; see shmem.c. */
Size
guard_stats_shmem_size(void)
{
	return add_size(shared_size(),
					hash_estimate_size(guard_max_tracked_roles, sizeof(GuardRoleStats)));
}

/* Attach to (or create) the counters; caller holds AddinShmemInitLock. */
void
guard_stats_shmem_startup(void)
{
	bool		found;
	HASHCTL		info;

	shared = ShmemInitStruct("primary_guard stats", shared_size(), &found);
	if (!found)
	{
		memset(shared, 0, shared_size());
		shared->lock = &(GetNamedLWLockTranche("primary_guard"))->lock;
		pg_atomic_init_u32(&shared->generation, 1);
		init_role_entry(&shared->other, InvalidOid);
	}
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(Oid);
	info.entrysize = sizeof(GuardRoleStats);
	role_stats = ShmemInitHash("primary_guard role stats",
							   guard_max_tracked_roles, guard_max_tracked_roles,
							   &info, HASH_ELEM | HASH_BLOBS);
}

/* Called from _PG_init: the GUCs sizing the statistics. */
void
guard_stats_init(void)
{
	DefineCustomIntVariable("primary_guard.max_tracked_roles",
							"Roles with their own counters in primary_guard.stats.",
							"Roles beyond this share one \"(other roles)\" row.",
							&guard_max_tracked_roles,
							1000, 1, 1000000,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("primary_guard.recent_rejections_size",
							"Rejections and warnings kept for primary_guard.recent_rejections().",
							NULL,
							&guard_recent_size,
							100, 0, 100000,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);
	RegisterXactCallback(stats_xact_callback, NULL);
}

/* The counters of 'role', created on first use. */
static GuardRoleStats *
role_entry(Oid role)
{
	uint32		generation = pg_atomic_read_u32(&shared->generation);
	GuardRoleStats *entry;
	bool		found;

	if (local_entry != NULL && local_role == role && local_generation == generation)
		return local_entry;

	LWLockAcquire(shared->lock, LW_SHARED);
	entry = hash_search(role_stats, &role, HASH_FIND, NULL);
	LWLockRelease(shared->lock);
	if (entry == NULL)
	{
		LWLockAcquire(shared->lock, LW_EXCLUSIVE);
		entry = hash_search(role_stats, &role, HASH_FIND, NULL);
		if (entry == NULL)
		{
			/* dynahash may find room beyond max_size: enforce it here. */
			if (hash_get_num_entries(role_stats) < guard_max_tracked_roles)
				entry = hash_search(role_stats, &role, HASH_ENTER_NULL, &found);
			if (entry == NULL)
				entry = &shared->other;
			else if (!found)
				init_role_entry(entry, role);
		}
		LWLockRelease(shared->lock);
	}
	local_role = role;
	local_entry = entry;
	local_generation = generation;
	return entry;
}

/*
 * "checked" counts are kept in the backend and added to shared memory at
 * transaction end, so that many sessions of one role on many cores do not
 * all write one cache line on every statement.
 */
static GuardRoleStats *pending_entry = NULL;
static uint32 pending_generation = 0;
static uint64 pending_checked = 0;

static void
flush_checked(void)
{
	/* After reset_stats() the entry may be gone: drop what was pending. */
	if (pending_checked > 0 &&
		pending_generation == pg_atomic_read_u32(&shared->generation))
		pg_atomic_fetch_add_u64(&pending_entry->checked, pending_checked);
	pending_checked = 0;
	pending_entry = NULL;
}

static void
stats_xact_callback(XactEvent event, void *arg)
{
	if (pending_entry != NULL)
		flush_checked();
}

/* A statement was checked against a limit or deny policy of 'role'. */
void
guard_stats_count_checked(Oid role)
{
	GuardRoleStats *entry;

	if (shared == NULL)
		return;
	entry = role_entry(role);
	if (entry != pending_entry)
	{
		if (pending_entry != NULL)
			flush_checked();
		pending_entry = entry;
		pending_generation = local_generation;
	}
	pending_checked++;
}

static void
copy_text(char *dst, const char *src, int size)
{
	if (src == NULL)
	{
		dst[0] = '\0';
		return;
	}
	strlcpy(dst, src, size);
	/* Never end on half a multibyte character. */
	dst[pg_mbcliplen(dst, strlen(dst), size - 1)] = '\0';
}

static char *
quoted(const char *value)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '"');
	for (const char *p = value; *p; p++)
	{
		if (*p == '"' || *p == '\\')
			appendStringInfoChar(&buf, '\\');
		appendStringInfoChar(&buf, *p);
	}
	appendStringInfoChar(&buf, '"');
	return buf.data;
}

/*
 * Record a rejection or warning: counters, ring buffer, and one log line
 * with stable key=value fields for log-based monitoring.
 */
void
guard_stats_record(const GuardViolation *v, const GuardPolicy *policy,
				   GuardServerState state, const char *query)
{
	Oid			role = policy->origin.role;
	const char *verdict = policy->enforce ? "reject" : "warn";
	char	   *reason = guard_violation_reason(v);
	TimestampTz now = GetCurrentTimestamp();

	ereport(LOG_SERVER_ONLY,
			(errmsg_internal("primary_guard: verdict=%s rule=%s role=%s state=%s relation=%s estimate=%.0f limit=%.0f",
							 verdict, v->rule,
							 quoted(guard_role_name(role)),
							 guard_state_name(state),
							 quoted(v->relation ? v->relation : ""),
							 v->estimate, v->limit),
			 errhidestmt(false),
			 errhidecontext(true)));

	if (shared == NULL)
		return;

	{
		GuardRoleStats *entry = role_entry(role);

		if (policy->enforce)
		{
			pg_atomic_fetch_add_u64(&entry->rejected, 1);
			SpinLockAcquire(&entry->mutex);
			entry->last_rejected_at = now;
			copy_text(entry->last_rejected_query, query, GUARD_QUERY_LEN);
			SpinLockRelease(&entry->mutex);
		}
		else
			pg_atomic_fetch_add_u64(&entry->warned, 1);
	}

	if (guard_recent_size > 0)
	{
		GuardRecent *slot;

		LWLockAcquire(shared->lock, LW_EXCLUSIVE);
		slot = &shared->ring[shared->ring_next++ % guard_recent_size];
		slot->at = now;
		slot->pid = MyProcPid;
		slot->role = role;
		slot->state = state;
		slot->rejected = policy->enforce;
		copy_text(slot->rule, v->rule, GUARD_NAME_LEN);
		copy_text(slot->relation, v->relation, NAMEDATALEN);
		copy_text(slot->reason, reason, GUARD_REASON_LEN);
		copy_text(slot->query, query, GUARD_QUERY_LEN);
		LWLockRelease(shared->lock);
	}
}

static void
require_shared(void)
{
	if (shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("primary_guard must be loaded via shared_preload_libraries")));
}

static Datum
role_name_datum(Oid role, bool other)
{
	return CStringGetTextDatum(other ? "(other roles)" : guard_role_name(role));
}

static void
stats_row(ReturnSetInfo *rsinfo, GuardRoleStats *entry, bool other)
{
	Datum		values[6];
	bool		nulls[6] = {0};
	TimestampTz at;
	char		query[GUARD_QUERY_LEN];

	SpinLockAcquire(&entry->mutex);
	at = entry->last_rejected_at;
	memcpy(query, entry->last_rejected_query, GUARD_QUERY_LEN);
	SpinLockRelease(&entry->mutex);

	values[0] = role_name_datum(entry->role, other);
	values[1] = Int64GetDatum((int64) pg_atomic_read_u64(&entry->checked));
	values[2] = Int64GetDatum((int64) pg_atomic_read_u64(&entry->warned));
	values[3] = Int64GetDatum((int64) pg_atomic_read_u64(&entry->rejected));
	nulls[4] = at == 0;
	values[4] = TimestampTzGetDatum(at);
	nulls[5] = at == 0;
	values[5] = CStringGetTextDatum(query);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/* stats(): one row per role with counters (the primary_guard.stats view). */
Datum
stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HASH_SEQ_STATUS status;
	GuardRoleStats *entry;

	require_shared();
	InitMaterializedSRF(fcinfo, 0);

	LWLockAcquire(shared->lock, LW_SHARED);
	hash_seq_init(&status, role_stats);
	while ((entry = hash_seq_search(&status)) != NULL)
		stats_row(rsinfo, entry, false);
	LWLockRelease(shared->lock);
	if (pg_atomic_read_u64(&shared->other.checked) > 0)
		stats_row(rsinfo, &shared->other, true);
	return (Datum) 0;
}

/* recent_rejections(): the ring buffer, newest first. */
Datum
recent_rejections(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	uint64		next;
	uint64		count;

	require_shared();
	InitMaterializedSRF(fcinfo, 0);
	if (guard_recent_size == 0)
		return (Datum) 0;

	LWLockAcquire(shared->lock, LW_SHARED);
	next = shared->ring_next;
	count = Min(next, (uint64) guard_recent_size);
	for (uint64 i = 1; i <= count; i++)
	{
		GuardRecent *slot = &shared->ring[(next - i) % guard_recent_size];
		Datum		values[9];
		bool		nulls[9] = {0};

		values[0] = TimestampTzGetDatum(slot->at);
		values[1] = Int32GetDatum(slot->pid);
		values[2] = role_name_datum(slot->role, false);
		values[3] = CStringGetTextDatum(guard_state_name(slot->state));
		values[4] = CStringGetTextDatum(slot->rejected ? "reject" : "warn");
		values[5] = CStringGetTextDatum(slot->rule);
		nulls[6] = slot->relation[0] == '\0';
		values[6] = CStringGetTextDatum(slot->relation);
		values[7] = CStringGetTextDatum(slot->reason);
		values[8] = CStringGetTextDatum(slot->query);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	LWLockRelease(shared->lock);
	return (Datum) 0;
}

/* reset_stats(): forget every counter and the ring buffer. */
Datum
reset_stats(PG_FUNCTION_ARGS)
{
	HASH_SEQ_STATUS status;
	GuardRoleStats *entry;

	require_shared();
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	hash_seq_init(&status, role_stats);
	while ((entry = hash_seq_search(&status)) != NULL)
		hash_search(role_stats, &entry->role, HASH_REMOVE, NULL);
	init_role_entry(&shared->other, InvalidOid);
	shared->ring_next = 0;
	memset(shared->ring, 0, mul_size(guard_recent_size, sizeof(GuardRecent)));
	pg_atomic_fetch_add_u32(&shared->generation, 1);
	LWLockRelease(shared->lock);
	PG_RETURN_VOID();
}
