/*
 * core.c: _PG_init, GUCs, the shared-memory registry and the clock.
 *
 * Shared memory follows pg_stat_statements: modules register segments while
 * the library is preloaded; shmem_request_hook asks for their space and
 * LWLock tranches; shmem_startup_hook creates or attaches them under
 * AddinShmemInitLock.  Locking inside a segment is the owning module's
 * business and is described in its own file.
 */
#include "postgres.h"

#include <ctype.h>
#include <sodium.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "access/xact.h"
#include "catalog/pg_control.h"
#include "commands/trigger.h"
#include "common/controldata_utils.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "core.h"

PG_MODULE_MAGIC;

#define MAX_SEGMENTS 16

static JobspyShmemSegment segments[MAX_SEGMENTS];
static int	nsegments = 0;
static bool preloaded = false;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* GUC storage: static boot values only. */
static char *clock_override_string = NULL;
static bool clock_overridden = false;
static TimestampTz clock_override_value = 0;
char	   *jobspy_actor_id = NULL;

void		_PG_init(void);

/*
 * jobspy.clock_override is parsed once, in the check hook, so that a bad
 * value is refused by SET and the clock itself never fails.
 */
static bool
check_clock_override(char **newval, void **extra, GucSource source)
{
	TimestampTz *parsed;
	TimestampTz value = 0;
	bool		ok = true;
	MemoryContext oldcontext = CurrentMemoryContext;

	if (*newval == NULL || (*newval)[0] == '\0')
		return true;

	PG_TRY();
	{
		value = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in,
														CStringGetDatum(*newval),
														ObjectIdGetDatum(InvalidOid),
														Int32GetDatum(-1)));
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcontext);
		FlushErrorState();
		ok = false;
	}
	PG_END_TRY();

	if (!ok || TIMESTAMP_NOT_FINITE(value))
	{
		GUC_check_errdetail("jobspy.clock_override must be empty or a finite timestamp with time zone.");
		return false;
	}

	parsed = (TimestampTz *) malloc(sizeof(TimestampTz));
	if (parsed == NULL)
		return false;
	*parsed = value;
	*extra = parsed;
	return true;
}

static void
assign_clock_override(const char *newval, void *extra)
{
	clock_overridden = (extra != NULL);
	clock_override_value = extra ? *(TimestampTz *) extra : 0;
}

/* jobspy.actor_id must name a uuid so that audit rows never fail on it. */
static bool
check_actor_id(char **newval, void **extra, GucSource source)
{
	const char *s = *newval;
	bool		ok = true;

	if (s == NULL || s[0] == '\0')
		return true;
	/* 8-4-4-4-12 hex digits, the form uuid_in always accepts. */
	for (int i = 0; i < 36 && ok; i++)
		ok = (i == 8 || i == 13 || i == 18 || i == 23) ? s[i] == '-' : isxdigit((unsigned char) s[i]) != 0;
	if (!ok || s[36] != '\0')
	{
		GUC_check_errdetail("jobspy.actor_id must be empty or a uuid such as 00000000-0000-0000-0000-000000000000.");
		return false;
	}
	return true;
}

TimestampTz
jobspy_now(void)
{
	return clock_overridden ? clock_override_value : GetCurrentTransactionStartTimestamp();
}

TimestampTz
jobspy_wall_now(void)
{
	return clock_overridden ? clock_override_value : GetCurrentTimestamp();
}

bool
jobspy_preloaded(void)
{
	return preloaded;
}

void
jobspy_require_preload(const char *what)
{
	if (!preloaded)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s needs jobspy_core in shared_preload_libraries", what),
				 errdetail("The shared-memory state it uses exists only when the library is loaded at server start."),
				 errhint("Add jobspy_core to shared_preload_libraries in postgresql.conf and restart the server.")));
}

TriggerData *
jobspy_trigger_data(FunctionCallInfo fcinfo, const char *name)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s must be called as a trigger", name)));
	return (TriggerData *) fcinfo->context;
}

void
jobspy_shmem_register(const JobspyShmemSegment *segment)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	if (nsegments >= MAX_SEGMENTS)
		elog(ERROR, "too many jobspy shared-memory segments");
	segments[nsegments++] = *segment;
}

static void
jobspy_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	for (int i = 0; i < nsegments; i++)
	{
		RequestAddinShmemSpace(MAXALIGN(segments[i].size()));
		if (segments[i].nlocks > 0)
			RequestNamedLWLockTranche(segments[i].name, segments[i].nlocks);
	}
}

static void
jobspy_shmem_shutdown(int code, Datum arg)
{
	/* After a crash the state is not trusted: write nothing. */
	if (code != 0)
		return;
	for (int i = 0; i < nsegments; i++)
		if (segments[i].shutdown)
			segments[i].shutdown();
}

/* Creates or attaches every segment under AddinShmemInitLock. */
static void
jobspy_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	for (int i = 0; i < nsegments; i++)
	{
		bool		found;
		void	   *ptr = ShmemInitStruct(segments[i].name,
										  MAXALIGN(segments[i].size()), &found);

		segments[i].startup(ptr, found);
	}
	LWLockRelease(AddinShmemInitLock);

	/* The postmaster writes state out once, when it shuts down cleanly. */
	if (!IsUnderPostmaster)
		on_shmem_exit(jobspy_shmem_shutdown, (Datum) 0);
}

void
_PG_init(void)
{
	if (sodium_init() < 0)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("libsodium could not be initialised")));

	DefineCustomStringVariable("jobspy.clock_override",
							   "Fixes the time that jobspy_core's logic sees.",
							   "Empty means the real clock: transaction time for "
							   "records, wall time for rate limits.",
							   &clock_override_string,
							   "",
							   PGC_SUSET,
							   0,
							   check_clock_override, assign_clock_override, NULL);

	DefineCustomStringVariable("jobspy.actor_id",
							   "The uuid of the person or service acting, recorded in the audit log.",
							   NULL,
							   &jobspy_actor_id,
							   "",
							   PGC_USERSET,
							   0,
							   check_actor_id, NULL, NULL);

	jobspy_keys_init();
	jobspy_audit_init();
	jobspy_ratelimit_init();
	jobspy_identity_init();
	jobspy_quotas_init();
	jobspy_entitlements_init();
	jobspy_licensing_init();
	jobspy_outbox_init();
	jobspy_check_cache_init();

	MarkGUCPrefixReserved("jobspy");

	if (!process_shared_preload_libraries_in_progress)
		return;
	preloaded = true;

	/* pg_upgrade's servers need no shared state of ours. */
	if (IsBinaryUpgrade)
		return;

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = jobspy_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = jobspy_shmem_startup;
}

/*
 * True when the last checkpoint was a shutdown checkpoint.  An immediate
 * stop also ends the postmaster normally, but leaves the cluster to crash
 * recovery; the store must then start empty, as after any crash.
 */
bool
jobspy_cluster_shut_down_cleanly(void)
{
	bool		crc_ok;
	ControlFileData *cf = get_controlfile(DataDir, &crc_ok);

	return crc_ok && (cf->state == DB_SHUTDOWNED || cf->state == DB_SHUTDOWNED_IN_RECOVERY);
}

Snapshot
jobspy_statement_snapshot(void)
{
	return ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot();
}

PG_FUNCTION_INFO_V1(jobspy_now_sql);
Datum
jobspy_now_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_TIMESTAMPTZ(jobspy_now());
}

PG_FUNCTION_INFO_V1(jobspy_clock_now_sql);
Datum
jobspy_clock_now_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_TIMESTAMPTZ(jobspy_wall_now());
}

PG_FUNCTION_INFO_V1(jobspy_preloaded_sql);
Datum
jobspy_preloaded_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(preloaded);
}
