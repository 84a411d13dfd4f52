/*-------------------------------------------------------------------------
 *
 * primary_guard.h
 *		Declarations shared by primary_guard's source files.
 *
 * The pieces, one file each:
 *	primary_guard.c   _PG_init, GUCs, which sessions are checked at all
 *	policy_catalog.c  reading and validating rows of primary_guard.policy
 *	policy_cache.c    per-role resolution and the per-backend policy cache
 *	policy_sql.c      set_policy, drop_policy, effective_policy, server_state
 *	plan_check.c      deciding whether a plan or utility command violates a policy
 *	violation.c       turning a violation into an error, warning or reason text
 *	executor_guard.c  the executor hooks (start, run, finish, end)
 *	utility_guard.c   the ProcessUtility hook
 *	scan_estimate.c   rows and bytes a plan reads from each relation
 *	runtime_limits.c  max_scan_rows counted while running; max_duration
 *	check_query.c     check_query(): the same decision without running anything
 *	stats.c           shared-memory counters, recent rejections, log lines
 *	promotion.c       on_promote: cancel statements admitted before promotion
 *	replication_guard.c  what a replication connection runs unchecked
 *	shmem.c           requesting and attaching shared memory
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRIMARY_GUARD_H
#define PRIMARY_GUARD_H

#include "postgres.h"

#include <signal.h>

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "tcop/cmdtag.h"
#include "tcop/dest.h"

#include "compat.h"

/* Whether the server is a primary or a standby, right now. */
typedef enum GuardServerState
{
	GUARD_PRIMARY = 0,
	GUARD_STANDBY = 1
} GuardServerState;


/* Ordered from weakest to strictest: merging keeps the larger one. */
typedef enum GuardAction
{
	GUARD_ACTION_NONE = 0,		/* no policy: statement not checked */
	GUARD_ACTION_ALLOW,
	GUARD_ACTION_LIMIT,
	GUARD_ACTION_DENY
} GuardAction;

/* Where a resolved policy (or one of its thresholds) came from. */
typedef struct GuardOrigin
{
	Oid			role;			/* role the policy was resolved for */
	Oid			via;			/* group it was inherited from, else InvalidOid */
	bool		is_public;		/* the row of "public" */
} GuardOrigin;

#define GUARD_TAG_WORDS ((PG_COMMAND_TAG_COUNT + 63) / 64)

/*
 * A policy as the hooks use it: one catalog row, or the strictest merge of
 * several.  Fixed size, so the hot path copies it without allocating; the
 * two strings live in the policy cache's memory context.
 */
typedef struct GuardPolicy
{
	GuardAction action;
	bool		enforce;		/* false: warn mode */
	double		max_cost;		/* negative: no limit */
	int64		max_scan_rows;	/* negative: no limit */
	int64		max_scan_size;	/* bytes; negative: no limit */
	int64		max_duration_ms;	/* negative: no limit (1.1) */
	bool		has_blocked;
	uint64		blocked[GUARD_TAG_WORDS];	/* bitmap over CommandTag */
	GuardOrigin origin;			/* of the action (deny) and of the policy */
	GuardOrigin cost_origin;
	GuardOrigin rows_origin;
	GuardOrigin size_origin;
	GuardOrigin duration_origin;
	const char *note;			/* NULL if none */
	const char *source;			/* "own", "inherited from ...", "public", "none" */
} GuardPolicy;

/*
 * What a statement reads from one relation (a table, or a parent with its
 * partitions or children): the estimate before it runs (scan_estimate.c)
 * and, under a run-time limit, the count while it runs (runtime_limits.c).
 */
typedef struct GuardRelRead
{
	Oid			relid;			/* the top parent */
	Index		rti;			/* its range table index */
	int			nscans;			/* scan nodes reading it */
	bool		partitions;		/* some of them read children */
	const char *kind;			/* of the first scan, e.g. "Index scan" */
	double		loops;			/* of the first scan */
	double		rows;			/* estimated rows read, every path, loops included */
	double		bytes;
	double		full_rows;		/* of full scans only */
	double		full_bytes;
	int64		counted;		/* run time: rows its scans have returned */
	bool		reported;		/* run time: its crossing was reported (warn) */
} GuardRelRead;

/* A scan node that reads a counted relation: what run-time counting wraps. */
typedef struct GuardScanNode
{
	struct ScanState *node;
	int			rel;			/* index in GuardReads.rels */
} GuardScanNode;

/*
 * Everything a statement reads, relation by relation.  It lives on the
 * caller's stack: a plan that reads a few relations needs no allocation;
 * more grow into the current memory context.
 */
#define GUARD_READS_INLINE 8
typedef struct GuardReads
{
	int			nrels;
	int			maxrels;
	GuardRelRead *rels;
	int			nscans;
	int			maxscans;
	GuardScanNode *scans;
	int			max_node_id;	/* 1 + the largest plan_node_id among scans */
	GuardRelRead rels_inline[GUARD_READS_INLINE];
	GuardScanNode scans_inline[GUARD_READS_INLINE];
} GuardReads;

/* A decision that a statement breaks a policy, before it is reported. */
typedef struct GuardViolation
{
	int			sqlstate;
	const char *rule;			/* deny, blocked_command, max_cost, max_scan_rows, max_scan_size */
	char	   *message;
	char	   *detail;
	char	   *hint;
	char	   *relation;		/* NULL when the rule is not about one */
	double		estimate;
	double		limit;
	bool		runtime;		/* found while the statement ran */
} GuardViolation;

/* primary_guard.c */
extern bool guard_enabled;
extern bool guard_session_is_checked(void);
extern GuardServerState guard_current_state(void);
extern const char *guard_state_name(GuardServerState state);
extern bool guard_statement_policy(GuardServerState state, GuardPolicy *policy);

/* policy_catalog.c */
extern Oid	guard_policy_table(void);
extern bool guard_read_policy_row(Oid relid, Oid role, GuardServerState state,
								  GuardPolicy *out);
extern bool guard_parse_state(const char *name, GuardServerState *state);
extern const char *guard_action_name(GuardAction action);
extern CommandTag guard_lookup_blockable_tag(const char *name, const char **why_not);
extern void guard_reset_catalog_lookup(void);
extern Oid	guard_information_schema(void);
extern int64 guard_interval_ms(const Interval *interval);
extern Interval *guard_ms_interval(int64 ms);

/* policy_cache.c */
extern void guard_cache_init(void);
extern void guard_resolve_role(Oid role, GuardServerState state, GuardPolicy *out);
extern void guard_resolve_session(GuardServerState state, GuardPolicy *out);
extern void guard_merge_policy(GuardPolicy *into, const GuardPolicy *other);

/* policy_sql.c */
extern void guard_policy_for_arguments(FunctionCallInfo fcinfo, int role_arg,
									   int state_arg, GuardPolicy *policy,
									   GuardServerState *state);

/* scan_estimate.c */
struct QueryDesc;
struct RelationData;
extern void guard_estimate_relation(struct RelationData *rel, double *rows, double *bytes);
extern void guard_reads_init(GuardReads *reads);
extern void guard_estimate_reads(struct QueryDesc *queryDesc, bool need_bytes,
								 GuardReads *reads);

/* plan_check.c */
extern bool guard_namespace_is_system(Oid nsp);
extern bool guard_relation_is_system(Oid relid);
extern bool guard_check_plan(struct QueryDesc *queryDesc, const GuardPolicy *policy,
							 GuardServerState state, GuardReads *reads,
							 GuardViolation *v);
extern void guard_runtime_violation(GuardViolation *v, const GuardPolicy *policy,
									GuardServerState state, const GuardRelRead *rel);
extern void guard_duration_violation(GuardViolation *v, const GuardPolicy *policy,
									 GuardServerState state);

/* runtime_limits.c */
extern void guard_runtime_init(void);
extern void guard_runtime_start(struct QueryDesc *queryDesc, const GuardPolicy *policy,
								GuardServerState state, const GuardReads *reads);
extern bool guard_duration_is_armed;
extern volatile sig_atomic_t guard_duration_expired;
extern void guard_duration_statement_slow(const GuardPolicy *policy, GuardServerState state);
extern void guard_duration_warn_slow(void);

/*
 * Arm the max_duration timer for a new statement whose policy has one
 * ('policy' NULL: the session is not checked), or disarm the previous
 * statement's.  Inline: most statements have neither.
 */
static inline void
guard_duration_statement(const GuardPolicy *policy, GuardServerState state)
{
	if (guard_duration_is_armed ||
		(policy != NULL && policy->action == GUARD_ACTION_LIMIT && policy->max_duration_ms >= 0))
		guard_duration_statement_slow(policy, state);
}

static inline bool
guard_duration_armed(void)
{
	return guard_duration_is_armed;
}

/* At a statement's end: a warn-mode overrun's one warning. */
static inline void
guard_duration_warn(void)
{
	if (guard_duration_expired)
		guard_duration_warn_slow();
}
extern void guard_duration_rethrow(MemoryContext context);

extern Oid	guard_copy_relation(CopyStmt *copy);
extern bool guard_check_utility(Node *parsetree, Oid copy_relid, const GuardPolicy *policy,
								GuardServerState state, GuardViolation *v);

/* What the statistics keep of a statement's text: primary_guard.query_text. */
typedef enum GuardQueryText
{
	GUARD_TEXT_FULL = 0,
	GUARD_TEXT_NORMALIZED,		/* constants replaced by $n */
	GUARD_TEXT_NONE
} GuardQueryText;

/* violation.c */
extern const char *guard_role_name(Oid role);
extern void guard_describe_origin(StringInfo buf, const GuardOrigin *origin);
extern char *guard_hint(const GuardPolicy *policy, GuardServerState state);
extern void guard_report(const GuardViolation *v, const GuardPolicy *policy,
						 GuardServerState state, const char *source,
						 const PlannedStmt *pstmt);
extern char *guard_violation_reason(const GuardViolation *v);
extern bool guard_statement_has_secret(const Node *parsetree);
extern char *guard_normalize_constants(const char *text);

/* stats.c */
extern int	guard_query_text;
extern void guard_stats_init(void);
extern Size guard_stats_shmem_size(void);
extern void guard_stats_shmem_startup(void);
extern void guard_stats_count_checked(Oid role);
extern void guard_stats_record(const GuardViolation *v, const GuardPolicy *policy,
							   GuardServerState state, const char *text,
							   bool hidden);

/* promotion.c */
extern void guard_promotion_init(void);
extern Size guard_promotion_shmem_size(void);
extern void guard_promotion_shmem_startup(void);
extern void guard_promotion_note_statement(struct QueryDesc *queryDesc);
extern bool guard_promotion_run_begin(struct QueryDesc *queryDesc);
extern void guard_promotion_run_end(void);
extern void guard_promotion_check_after(struct QueryDesc *queryDesc);
extern void guard_promotion_forget(struct QueryDesc *queryDesc);

/* replication_guard.c */
extern bool guard_replication_hands_over(PlannedStmt *stmt, DestReceiver *dest);

/* shmem.c */
extern void guard_shmem_init(void);

/* executor_guard.c, utility_guard.c */
extern void guard_install_executor_hook(void);
extern void guard_install_utility_hook(void);

#endif							/* PRIMARY_GUARD_H */
