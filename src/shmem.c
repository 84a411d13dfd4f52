/*-------------------------------------------------------------------------
 *
 * shmem.c
 *		Requesting and attaching primary_guard's shared memory: the
 *		statistics (stats.c) and the per-backend promotion slots
 *		(promotion.c), plus one LWLock tranche.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#include "primary_guard.h"

static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;

static void
guard_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(add_size(guard_stats_shmem_size(),
									guard_promotion_shmem_size()));
	RequestNamedLWLockTranche("primary_guard", 1);
}

static void
guard_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	guard_stats_shmem_startup();
	guard_promotion_shmem_startup();
	LWLockRelease(AddinShmemInitLock);
}

/* Called from _PG_init, after the GUCs that size shared memory. */
void
guard_shmem_init(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = guard_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = guard_shmem_startup;
}
