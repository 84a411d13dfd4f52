/*-------------------------------------------------------------------------
 *
 * stats.c
 *		Shared-memory statistics: per-role counters and a table of the most
 *		recent rejections and warnings, plus the log line each one writes.
 *		Works on standbys, where nothing can be written to tables.
 *
 * Layout (allocated at postmaster start, sized by PGC_POSTMASTER GUCs):
 *	GuardStatsShared   header: lock, reset generation, entry sequence, and
 *	                   the "other roles" entry used once the role table is
 *	                   full
 *	ring keys          primary_guard.recent_rejections_size small keys,
 *	                   scanned when an entry is recorded
 *	ring               as many GuardRecent entries, same index as the keys
 *	role hash          role OID -> GuardRoleStats, at most
 *	                   primary_guard.max_tracked_roles entries
 *
 * Locking: the LWLock protects the hash's shape (insert, reset), each
 * entry's last_rejected_* fields, and the ring: written under LW_EXCLUSIVE,
 * read under LW_SHARED.  The counters are atomics, so counting an allowed
 * statement takes no lock at all: each backend remembers the entry of the
 * role it last counted, and looks again only when the role changes or
 * reset_stats() bumped the generation.
 *
 * While the LWLock is held, nothing may wait, allocate or fail: holding an
 * LWLock holds off interrupts, so a catalog lookup waiting on a heavyweight
 * lock there could hang two sessions for good (one waiting for the LWLock,
 * the other for a lock the first holds).  So writers prepare every text
 * (clipped, in fixed-size local buffers) before taking the lock and only
 * copy under it; readers copy into memory allocated before taking it, and
 * resolve role and database names and convert encodings after releasing it.
 *
 * Fairness of the ring (recent_rejections()): one entry per role, database,
 * rule, relation and recorded statement text; a repeat updates that entry
 * (time, repeats) instead of taking another.  A role holds at most
 * max(1, size / 4) entries: beyond that, its own least recently updated
 * entry is reused.  Otherwise a new entry takes a free slot, or else the
 * least recently updated entry of any role.
 *
 * Texts are stored in the encoding of the database they were recorded in,
 * and converted to the reader's database encoding when read.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/dbcommands.h"
#include "common/hashfn.h"
#include "common/string.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "mb/pg_wchar.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "primary_guard.h"

#define GUARD_QUERY_LEN		1024
#define GUARD_REASON_LEN	512
#define GUARD_NAME_LEN		64

/* Stored instead of the text of a statement that may carry a password. */
#define GUARD_HIDDEN_TEXT	"<statement text hidden: it may carry a password>"

typedef struct GuardRoleStats
{
	Oid			role;			/* hash key; InvalidOid: other roles */
	pg_atomic_uint64 checked;
	pg_atomic_uint64 warned;
	pg_atomic_uint64 rejected;
	/* The fields below are protected by shared->lock. */
	TimestampTz last_rejected_at;	/* 0: never */
	int			last_rejected_encoding;
	bool		last_rejected_has_query;	/* false: text not recorded */
	char		last_rejected_query[GUARD_QUERY_LEN];
} GuardRoleStats;

/* What identifies a ring entry, kept apart so that a search reads little. */
typedef struct GuardRecentKey
{
	uint64		seq;			/* when last updated; 0: unused slot */
	Oid			role;
	Oid			dbid;
	uint32		hash;			/* of rule, relation and query */
} GuardRecentKey;

typedef struct GuardRecent
{
	TimestampTz first_at;
	TimestampTz at;				/* last occurrence */
	int64		repeats;
	int			pid;			/* of the last occurrence */
	Oid			role;
	Oid			dbid;
	int			encoding;		/* of the texts below */
	GuardServerState state;
	bool		rejected;		/* false: warned */
	bool		has_query;		/* false: text not recorded */
	char		rule[GUARD_NAME_LEN];
	char		relation[NAMEDATALEN];
	char		reason[GUARD_REASON_LEN];
	char		query[GUARD_QUERY_LEN];
} GuardRecent;

typedef struct GuardStatsShared
{
	LWLock	   *lock;
	pg_atomic_uint32 generation;	/* bumped by reset_stats() */
	uint64		seq;			/* last sequence number given to an entry */
	GuardRoleStats other;		/* roles beyond max_tracked_roles */
} GuardStatsShared;

int			guard_max_tracked_roles = 1000;
int			guard_recent_size = 100;
int			guard_query_text = GUARD_TEXT_NORMALIZED;

static const struct config_enum_entry query_text_options[] = {
	{"full", GUARD_TEXT_FULL, false},
	{"normalized", GUARD_TEXT_NORMALIZED, false},
	{"none", GUARD_TEXT_NONE, false},
	{NULL, 0, false}
};

static GuardStatsShared *shared = NULL;
static GuardRecentKey *ring_keys = NULL;
static GuardRecent *ring = NULL;
static HTAB *role_stats = NULL;

/* This backend's memory of where its role's counters are. */
static Oid	local_role = InvalidOid;
static GuardRoleStats *local_entry = NULL;
static uint32 local_generation = 0;

static void stats_xact_callback(XactEvent event, void *arg);

PG_FUNCTION_INFO_V1(stats);
PG_FUNCTION_INFO_V1(recent_rejections);
PG_FUNCTION_INFO_V1(recent_rejections_1_1);
PG_FUNCTION_INFO_V1(reset_stats);

static Size
keys_offset(void)
{
	return MAXALIGN(sizeof(GuardStatsShared));
}

static Size
ring_offset(void)
{
	return add_size(keys_offset(),
					MAXALIGN(mul_size(guard_recent_size, sizeof(GuardRecentKey))));
}

static Size
shared_size(void)
{
	return add_size(ring_offset(), mul_size(guard_recent_size, sizeof(GuardRecent)));
}

static void
init_role_entry(GuardRoleStats *entry, Oid role)
{
	entry->role = role;
	pg_atomic_init_u64(&entry->checked, 0);
	pg_atomic_init_u64(&entry->warned, 0);
	pg_atomic_init_u64(&entry->rejected, 0);
	entry->last_rejected_at = 0;
	entry->last_rejected_encoding = PG_SQL_ASCII;
	entry->last_rejected_has_query = false;
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
	ring_keys = (GuardRecentKey *) ((char *) shared + keys_offset());
	ring = (GuardRecent *) ((char *) shared + ring_offset());
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

/* Called from _PG_init: the GUCs of the statistics. */
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
	DefineCustomEnumVariable("primary_guard.query_text",
							 "What the statistics keep of a rejected statement's text.",
							 "full: the text; normalized: the text with each constant replaced by $n; none: nothing.",
							 &guard_query_text,
							 GUARD_TEXT_NORMALIZED,
							 query_text_options,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
	RegisterXactCallback(stats_xact_callback, NULL);
}

/*
 * The counters of 'role', created on first use; the caller holds the lock
 * exclusively.  HASH_ENTER_NULL in shared memory does not fail: when
 * memory is short it returns NULL, and the role is counted as "other".
 */
static GuardRoleStats *
role_entry_locked(Oid role)
{
	GuardRoleStats *entry;
	bool		found;

	entry = hash_search(role_stats, &role, HASH_FIND, NULL);
	if (entry != NULL)
		return entry;
	/* dynahash may find room beyond max_size: enforce it here. */
	if (hash_get_num_entries(role_stats) < guard_max_tracked_roles)
		entry = hash_search(role_stats, &role, HASH_ENTER_NULL, &found);
	if (entry == NULL)
		return &shared->other;
	if (!found)
		init_role_entry(entry, role);
	return entry;
}

/* The counters of 'role', created on first use. */
static GuardRoleStats *
role_entry(Oid role)
{
	uint32		generation = pg_atomic_read_u32(&shared->generation);
	GuardRoleStats *entry;

	if (local_entry != NULL && local_role == role && local_generation == generation)
		return local_entry;

	LWLockAcquire(shared->lock, LW_SHARED);
	entry = hash_search(role_stats, &role, HASH_FIND, NULL);
	LWLockRelease(shared->lock);
	if (entry == NULL)
	{
		LWLockAcquire(shared->lock, LW_EXCLUSIVE);
		entry = role_entry_locked(role);
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

/* Copy 'src' into 'dst' of 'size' bytes, never ending on half a character. */
static void
copy_text(char *dst, const char *src, int size)
{
	if (src == NULL)
	{
		dst[0] = '\0';
		return;
	}
	strlcpy(dst, src, size);
	dst[pg_mbcliplen(dst, strlen(dst), size - 1)] = '\0';
}

/*
 * 'value' in double quotes for the key=value log line: '"' and '\' are
 * escaped with a backslash, and so is every control character (\n, \r,
 * \t, else \xNN), so that no name can start a line of its own.
 */
static char *
quoted(const char *value)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '"');
	for (const unsigned char *p = (const unsigned char *) value; *p; p++)
	{
		if (*p == '"' || *p == '\\')
			appendStringInfo(&buf, "\\%c", *p);
		else if (*p == '\n')
			appendStringInfoString(&buf, "\\n");
		else if (*p == '\r')
			appendStringInfoString(&buf, "\\r");
		else if (*p == '\t')
			appendStringInfoString(&buf, "\\t");
		else if (*p < 0x20 || *p == 0x7f)
			appendStringInfo(&buf, "\\x%02x", *p);
		else
			appendStringInfoChar(&buf, (char) *p);
	}
	appendStringInfoChar(&buf, '"');
	return buf.data;
}

/* An entry as guard_stats_record() prepares it before taking the lock. */
typedef struct PreparedEntry
{
	GuardRecentKey key;
	GuardRecent entry;
} PreparedEntry;

static bool
same_entry(const GuardRecent *a, const GuardRecent *b)
{
	return a->has_query == b->has_query &&
		strcmp(a->rule, b->rule) == 0 &&
		strcmp(a->relation, b->relation) == 0 &&
		strcmp(a->query, b->query) == 0;
}

/*
 * The slot 'prep' goes to (see the fairness rule in the header), and
 * whether it is the entry of the same statement.  Caller holds the lock
 * exclusively.
 */
static int
choose_slot(const PreparedEntry *prep, bool *same)
{
	int			cap = Max(1, guard_recent_size / 4);
	int			own = 0;
	int			own_oldest = -1;
	int			free_slot = -1;
	int			oldest = -1;

	*same = false;
	for (int i = 0; i < guard_recent_size; i++)
	{
		const GuardRecentKey *k = &ring_keys[i];

		if (k->seq == 0)
		{
			if (free_slot < 0)
				free_slot = i;
			continue;
		}
		if (k->role == prep->key.role)
		{
			if (k->dbid == prep->key.dbid && k->hash == prep->key.hash &&
				same_entry(&ring[i], &prep->entry))
			{
				*same = true;
				return i;
			}
			own++;
			if (own_oldest < 0 || k->seq < ring_keys[own_oldest].seq)
				own_oldest = i;
		}
		if (oldest < 0 || k->seq < ring_keys[oldest].seq)
			oldest = i;
	}
	if (own >= cap)
		return own_oldest;
	return free_slot >= 0 ? free_slot : oldest;
}

/*
 * Record a rejection or warning: counters, the recent entries, and one log
 * line with stable key=value fields for log-based monitoring.  'text' is
 * what to keep of the statement (NULL: nothing), prepared by the caller
 * according to primary_guard.query_text; 'hidden': the statement may carry
 * a password, so its text is neither kept nor logged.
 */
void
guard_stats_record(const GuardViolation *v, const GuardPolicy *policy,
				   GuardServerState state, const char *text, bool hidden)
{
	Oid			role = policy->origin.role;
	const char *verdict = policy->enforce ? "reject" : "warn";
	PreparedEntry prep;

	ereport(LOG_SERVER_ONLY,
			(errmsg_internal("primary_guard: verdict=%s rule=%s role=%s state=%s relation=%s estimate=%.0f limit=%.0f",
							 verdict, v->rule,
							 quoted(guard_role_name(role)),
							 guard_state_name(state),
							 quoted(v->relation ? v->relation : ""),
							 v->estimate, v->limit),
			 errhidestmt(hidden || guard_query_text != GUARD_TEXT_FULL),
			 errhidecontext(true)));

	if (shared == NULL)
		return;

	/* Everything is prepared here: under the lock, only copying. */
	memset(&prep, 0, sizeof(prep));
	if (hidden)
		text = GUARD_HIDDEN_TEXT;
	prep.entry.at = prep.entry.first_at = GetCurrentTimestamp();
	prep.entry.repeats = 1;
	prep.entry.pid = MyProcPid;
	prep.entry.role = role;
	prep.entry.dbid = MyDatabaseId;
	prep.entry.encoding = GetDatabaseEncoding();
	prep.entry.state = state;
	prep.entry.rejected = policy->enforce;
	prep.entry.has_query = text != NULL;
	copy_text(prep.entry.rule, v->rule, GUARD_NAME_LEN);
	copy_text(prep.entry.relation, v->relation, NAMEDATALEN);
	copy_text(prep.entry.reason, guard_violation_reason(v), GUARD_REASON_LEN);
	copy_text(prep.entry.query, text, GUARD_QUERY_LEN);
	prep.key.role = role;
	prep.key.dbid = MyDatabaseId;
	prep.key.hash = hash_combine(hash_combine(hash_bytes((const unsigned char *) prep.entry.rule,
														 strlen(prep.entry.rule)),
											  hash_bytes((const unsigned char *) prep.entry.relation,
														 strlen(prep.entry.relation))),
								 hash_bytes((const unsigned char *) prep.entry.query,
											strlen(prep.entry.query)));

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	{
		GuardRoleStats *entry = role_entry_locked(role);

		if (policy->enforce)
		{
			pg_atomic_fetch_add_u64(&entry->rejected, 1);
			entry->last_rejected_at = prep.entry.at;
			entry->last_rejected_encoding = prep.entry.encoding;
			entry->last_rejected_has_query = prep.entry.has_query;
			memcpy(entry->last_rejected_query, prep.entry.query, GUARD_QUERY_LEN);
		}
		else
			pg_atomic_fetch_add_u64(&entry->warned, 1);
	}
	if (guard_recent_size > 0)
	{
		bool		same;
		int			i = choose_slot(&prep, &same);
		GuardRecent *slot = &ring[i];

		if (same)
		{
			prep.entry.first_at = slot->first_at;
			prep.entry.repeats = slot->repeats + 1;
		}
		prep.key.seq = ++shared->seq;
		ring_keys[i] = prep.key;
		memcpy(slot, &prep.entry, sizeof(GuardRecent));
	}
	LWLockRelease(shared->lock);
}

static void
require_shared(void)
{
	if (shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("primary_guard must be loaded via shared_preload_libraries")));
}

/*
 * 'src', stored in 'encoding', in this database's encoding.  Reading must
 * not fail: a character this database cannot represent (or an invalid
 * byte) becomes '?'.
 */
static char *
text_for_reader(const char *src, int encoding)
{
	int			dest_encoding = GetDatabaseEncoding();
	int			remaining = strlen(src);
	const char *p = src;
	Oid			proc;
	StringInfoData buf;

	if (encoding == dest_encoding || dest_encoding == PG_SQL_ASCII ||
		pg_is_ascii(src))
		return pstrdup(src);

	initStringInfo(&buf);
	if (encoding == PG_SQL_ASCII)
	{
		/* Bytes of unknown encoding: keep what is valid here. */
		while (remaining > 0)
		{
			int			len = pg_encoding_verifymbchar(dest_encoding, p, remaining);

			if (len > 0)
				appendBinaryStringInfo(&buf, p, len);
			else
			{
				appendStringInfoChar(&buf, '?');
				len = 1;
			}
			p += len;
			remaining -= len;
		}
		return buf.data;
	}

	proc = FindDefaultConversionProc(encoding, dest_encoding);
	if (!OidIsValid(proc))
	{
		/* No conversion between the two: keep ASCII only. */
		while (remaining > 0)
		{
			int			len = Min(pg_encoding_mblen_bounded(encoding, p), remaining);

			appendStringInfoChar(&buf, IS_HIGHBIT_SET(*p) ? '?' : *p);
			p += len;
			remaining -= len;
		}
		return buf.data;
	}

	{
		int			destlen = (remaining + 1) * MAX_CONVERSION_GROWTH + 1;
		unsigned char *dest = palloc(destlen);

		while (remaining > 0)
		{
			int			done;

			dest[0] = '\0';
			done = pg_do_encoding_conversion_buf(proc, encoding, dest_encoding,
												 (unsigned char *) p, remaining,
												 dest, destlen, true);
			appendStringInfoString(&buf, (char *) dest);
			p += done;
			remaining -= done;
			if (remaining > 0)
			{
				/* Not convertible: skip one character. */
				int			len = Min(pg_encoding_mblen_bounded(encoding, p), remaining);

				appendStringInfoChar(&buf, '?');
				p += Max(len, 1);
				remaining -= Max(len, 1);
			}
		}
		pfree(dest);
	}
	return buf.data;
}

static Datum
text_datum(const char *src, int encoding)
{
	return CStringGetTextDatum(text_for_reader(src, encoding));
}

/* A copy of a role's statistics, taken under the lock. */
typedef struct StatsCopy
{
	Oid			role;
	bool		other;
	uint64		checked;
	uint64		warned;
	uint64		rejected;
	TimestampTz last_rejected_at;
	int			encoding;
	bool		has_query;
	char		query[GUARD_QUERY_LEN];
} StatsCopy;

static void
copy_stats(StatsCopy *dst, const GuardRoleStats *src, bool other)
{
	dst->role = src->role;
	dst->other = other;
	dst->checked = pg_atomic_read_u64((pg_atomic_uint64 *) &src->checked);
	dst->warned = pg_atomic_read_u64((pg_atomic_uint64 *) &src->warned);
	dst->rejected = pg_atomic_read_u64((pg_atomic_uint64 *) &src->rejected);
	dst->last_rejected_at = src->last_rejected_at;
	dst->encoding = src->last_rejected_encoding;
	dst->has_query = src->last_rejected_has_query;
	memcpy(dst->query, src->last_rejected_query, GUARD_QUERY_LEN);
}

/* stats(): one row per role with counters (the primary_guard.stats view). */
Datum
stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	StatsCopy  *rows = NULL;
	long		nrows;

	require_shared();
	InitMaterializedSRF(fcinfo, 0);

	/*
	 * Size the copy first (the table may grow meanwhile: then size again),
	 * so that nothing is allocated while the lock is held.
	 */
	for (;;)
	{
		long		room;
		HASH_SEQ_STATUS status;
		GuardRoleStats *entry;

		LWLockAcquire(shared->lock, LW_SHARED);
		room = hash_get_num_entries(role_stats) + 1;
		LWLockRelease(shared->lock);
		rows = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(StatsCopy) * room);

		LWLockAcquire(shared->lock, LW_SHARED);
		if (hash_get_num_entries(role_stats) + 1 > room)
		{
			LWLockRelease(shared->lock);
			pfree(rows);
			continue;
		}
		nrows = 0;
		hash_seq_init(&status, role_stats);
		while ((entry = hash_seq_search(&status)) != NULL)
			copy_stats(&rows[nrows++], entry, false);
		if (pg_atomic_read_u64(&shared->other.checked) > 0)
			copy_stats(&rows[nrows++], &shared->other, true);
		LWLockRelease(shared->lock);
		break;
	}

	for (long i = 0; i < nrows; i++)
	{
		StatsCopy  *row = &rows[i];
		Datum		values[6];
		bool		nulls[6] = {0};

		values[0] = CStringGetTextDatum(row->other ? "(other roles)" : guard_role_name(row->role));
		values[1] = Int64GetDatum((int64) row->checked);
		values[2] = Int64GetDatum((int64) row->warned);
		values[3] = Int64GetDatum((int64) row->rejected);
		nulls[4] = row->last_rejected_at == 0;
		values[4] = TimestampTzGetDatum(row->last_rejected_at);
		nulls[5] = row->last_rejected_at == 0 || !row->has_query;
		if (!nulls[5])
			values[5] = text_datum(row->query, row->encoding);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* A copied entry's place in the output order. */
typedef struct RecentOrder
{
	uint64		seq;
	int			index;			/* in the copy */
} RecentOrder;

static int
newest_first(const void *a, const void *b)
{
	uint64		sa = ((const RecentOrder *) a)->seq;
	uint64		sb = ((const RecentOrder *) b)->seq;

	return sa < sb ? 1 : sa > sb ? -1 : 0;
}

/*
 * The recent entries, newest first.  'columns' is 9 for the 1.0
 * declaration, 12 for 1.1 (database, repeats, first_at).
 */
static Datum
recent_rows(FunctionCallInfo fcinfo, int columns)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RecentOrder *order;
	GuardRecent *copy;
	int			n = 0;

	require_shared();
	InitMaterializedSRF(fcinfo, 0);
	if (rsinfo->setDesc->natts != columns)
		elog(ERROR, "recent_rejections: expected %d result columns, got %d",
			 columns, rsinfo->setDesc->natts);
	if (guard_recent_size == 0)
		return (Datum) 0;

	/* Allocated before taking the lock. */
	order = palloc(sizeof(RecentOrder) * guard_recent_size);
	copy = MemoryContextAllocHuge(CurrentMemoryContext,
								  sizeof(GuardRecent) * guard_recent_size);
	LWLockAcquire(shared->lock, LW_SHARED);
	for (int i = 0; i < guard_recent_size; i++)
	{
		if (ring_keys[i].seq == 0)
			continue;
		order[n].seq = ring_keys[i].seq;
		order[n].index = n;
		memcpy(&copy[n], &ring[i], sizeof(GuardRecent));
		n++;
	}
	LWLockRelease(shared->lock);

	qsort(order, n, sizeof(RecentOrder), newest_first);
	for (int i = 0; i < n; i++)
	{
		GuardRecent *slot = &copy[order[i].index];
		Datum		values[12];
		bool		nulls[12] = {0};
		char	   *dbname;

		values[0] = TimestampTzGetDatum(slot->at);
		values[1] = Int32GetDatum(slot->pid);
		values[2] = CStringGetTextDatum(guard_role_name(slot->role));
		values[3] = CStringGetTextDatum(guard_state_name(slot->state));
		values[4] = CStringGetTextDatum(slot->rejected ? "reject" : "warn");
		values[5] = CStringGetTextDatum(slot->rule);
		nulls[6] = slot->relation[0] == '\0';
		if (!nulls[6])
			values[6] = text_datum(slot->relation, slot->encoding);
		values[7] = text_datum(slot->reason, slot->encoding);
		nulls[8] = !slot->has_query;
		if (!nulls[8])
			values[8] = text_datum(slot->query, slot->encoding);
		if (columns > 9)
		{
			dbname = get_database_name(slot->dbid);
			nulls[9] = dbname == NULL;
			if (dbname != NULL)
				values[9] = CStringGetTextDatum(dbname);
			values[10] = Int64GetDatum(slot->repeats);
			values[11] = TimestampTzGetDatum(slot->first_at);
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* recent_rejections() as extension version 1.0 declares it. */
Datum
recent_rejections(PG_FUNCTION_ARGS)
{
	return recent_rows(fcinfo, 9);
}

/* recent_rejections() from 1.1 on: with database, repeats and first_at. */
Datum
recent_rejections_1_1(PG_FUNCTION_ARGS)
{
	return recent_rows(fcinfo, 12);
}

/* reset_stats(): forget every counter and the recent entries. */
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
	/* Backends may be adding to it without the lock: atomics only. */
	pg_atomic_write_u64(&shared->other.checked, 0);
	pg_atomic_write_u64(&shared->other.warned, 0);
	pg_atomic_write_u64(&shared->other.rejected, 0);
	shared->other.last_rejected_at = 0;
	shared->other.last_rejected_has_query = false;
	shared->other.last_rejected_query[0] = '\0';
	memset(ring_keys, 0, mul_size(guard_recent_size, sizeof(GuardRecentKey)));
	memset(ring, 0, mul_size(guard_recent_size, sizeof(GuardRecent)));
	pg_atomic_fetch_add_u32(&shared->generation, 1);
	LWLockRelease(shared->lock);
	PG_RETURN_VOID();
}
