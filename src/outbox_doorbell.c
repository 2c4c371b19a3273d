/*
 * outbox_doorbell.c: NOTIFY jobspy_outbox only when a worker waits.
 *
 * PostgreSQL commits notifying transactions one at a time (a database-wide
 * lock from the start of the commit to its end, WAL flush included), so a
 * NOTIFY from every transaction that emits an outbox event caps every
 * billing change at one per disk flush.  A notification is only of use to
 * a worker that found nothing to claim and now sleeps until one arrives.
 * So, per database in shared memory:
 *
 *   waiting   workers whose last claim_events found nothing (each backend
 *             counts itself once, and uncounts itself on its next claim or
 *             when it exits);
 *   landing   transactions that emitted events and are between their
 *             pre-commit and the end of their commit.
 *
 * An emitting transaction, at pre-commit, adds itself to landing and then
 * notifies if waiting > 0.  A worker adds itself to waiting, reads landing
 * and then claims.  Both steps are atomic read-modify-writes (full
 * barriers), so for every event committed after the worker's claim took
 * its snapshot, either its transaction saw the worker waiting and
 * notifies, or the worker saw it landing and claims again after a short
 * pause (jobspy.outbox_wait_state).  A transaction that aborts after
 * notifying loses its events too: nothing is missed.
 *
 * Without the library preloaded there is no shared memory: emit_event then
 * notifies from every emitting transaction, as a plain pg_notify would.
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/async.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "core.h"

#define DOORBELL_SLOTS 64
#define DOORBELL_CHANNEL "jobspy_outbox"

typedef struct DoorbellSlot
{
	pg_atomic_uint32 database;	/* InvalidOid: free */
	pg_atomic_uint32 waiting;
	pg_atomic_uint32 landing;
} DoorbellSlot;

static DoorbellSlot *slots = NULL;

/* This backend's slot (NULL: not found yet, or no shared memory). */
static DoorbellSlot *my_slot = NULL;
static bool my_waiting = false;
static bool exit_hook_set = false;

/*
 * Topics emitted by the current transaction, in TopTransactionContext, each
 * with the subtransaction level that emitted it: a subtransaction that
 * rolls back takes its events with it, and its topics must not ring.
 */
typedef struct RungTopic
{
	int			level;
	char		topic[FLEXIBLE_ARRAY_MEMBER];
} RungTopic;

static List *rung_topics = NIL;
static bool my_landing = false;
static bool callback_set = false;

static Size
doorbell_size(void)
{
	return sizeof(DoorbellSlot) * DOORBELL_SLOTS;
}

static void
doorbell_startup(void *segment, bool found)
{
	slots = (DoorbellSlot *) segment;
	if (!found)
		for (int i = 0; i < DOORBELL_SLOTS; i++)
		{
			pg_atomic_init_u32(&slots[i].database, InvalidOid);
			pg_atomic_init_u32(&slots[i].waiting, 0);
			pg_atomic_init_u32(&slots[i].landing, 0);
		}
}

static const JobspyShmemSegment doorbell_segment = {
	.name = "jobspy_outbox_doorbell",
	.size = doorbell_size,
	.nlocks = 0,
	.startup = doorbell_startup,
	.shutdown = NULL,
};

void
jobspy_outbox_init(void)
{
	jobspy_shmem_register(&doorbell_segment);
}

/*
 * The slot of this backend's database, taken on first use.  NULL when
 * there is no shared memory or every slot belongs to another database:
 * then this database notifies always.  A dropped database's slot is not
 * reused; 64 databases with the extension are many.
 */
static DoorbellSlot *
doorbell_slot(void)
{
	if (my_slot != NULL || slots == NULL || !OidIsValid(MyDatabaseId))
		return my_slot;
	for (int i = 0; i < DOORBELL_SLOTS; i++)
	{
		uint32		expected = InvalidOid;

		if (pg_atomic_read_u32(&slots[i].database) == MyDatabaseId ||
			pg_atomic_compare_exchange_u32(&slots[i].database, &expected, MyDatabaseId) ||
			expected == MyDatabaseId)
		{
			my_slot = &slots[i];
			break;
		}
	}
	return my_slot;
}

static void
stop_waiting(void)
{
	if (my_waiting)
	{
		pg_atomic_fetch_sub_u32(&my_slot->waiting, 1);
		my_waiting = false;
	}
}

static void
doorbell_exit(int code, Datum arg)
{
	stop_waiting();
}

static void
doorbell_xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;
	DoorbellSlot *slot;

	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			if (rung_topics == NIL)
				return;
			slot = doorbell_slot();
			pg_atomic_fetch_add_u32(&slot->landing, 1);
			my_landing = true;
			if (pg_atomic_read_u32(&slot->waiting) > 0)
				foreach(lc, rung_topics)
					Async_Notify(DOORBELL_CHANNEL, ((RungTopic *) lfirst(lc))->topic);
			rung_topics = NIL;
			return;
		case XACT_EVENT_PRE_PREPARE:
			if (rung_topics != NIL)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot PREPARE a transaction that emitted outbox events"),
						 errhint("Functions that emit events are not for two-phase commit.")));
			return;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			if (my_landing)
				pg_atomic_fetch_sub_u32(&my_slot->landing, 1);
			my_landing = false;
			rung_topics = NIL;	/* its memory went with the transaction */
			return;
		default:
			return;
	}
}

/* A subtransaction's topics go with its rollback, or up to its parent. */
static void
doorbell_subxact_callback(SubXactEvent event, SubTransactionId mySubid, SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();
	ListCell   *lc;

	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		foreach(lc, rung_topics)
			if (((RungTopic *) lfirst(lc))->level >= level)
				rung_topics = foreach_delete_current(rung_topics, lc);
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		foreach(lc, rung_topics)
			if (((RungTopic *) lfirst(lc))->level >= level)
				((RungTopic *) lfirst(lc))->level = level - 1;
	}
}

/*
 * jobspy.outbox_ring(topic) RETURNS boolean: the current transaction
 * emitted an event of this topic; its commit notifies if a worker waits
 * then.  Returns true, having recorded nothing, where there is no shared
 * memory (or no slot) to count waiting workers in: the caller (emit_event)
 * then notifies itself, as a plain pg_notify would.
 */
PG_FUNCTION_INFO_V1(jobspy_outbox_ring);
Datum
jobspy_outbox_ring(PG_FUNCTION_ARGS)
{
	char	   *topic;
	ListCell   *lc;
	RungTopic  *rung;
	Size		len;
	MemoryContext old;

	if (doorbell_slot() == NULL)
		PG_RETURN_BOOL(true);
	topic = text_to_cstring(PG_GETARG_TEXT_PP(0));
	/* every topic listed is of this subtransaction or one of its parents */
	foreach(lc, rung_topics)
		if (strcmp(((RungTopic *) lfirst(lc))->topic, topic) == 0)
			PG_RETURN_BOOL(false);
	if (!callback_set)
	{
		RegisterXactCallback(doorbell_xact_callback, NULL);
		RegisterSubXactCallback(doorbell_subxact_callback, NULL);
		callback_set = true;
	}
	len = strlen(topic) + 1;
	old = MemoryContextSwitchTo(TopTransactionContext);
	rung = palloc(offsetof(RungTopic, topic) + len);
	rung->level = GetCurrentTransactionNestLevel();
	memcpy(rung->topic, topic, len);
	rung_topics = lappend(rung_topics, rung);
	MemoryContextSwitchTo(old);
	PG_RETURN_BOOL(false);
}

/*
 * jobspy.outbox_wait_state(waiting boolean) RETURNS integer.  With true:
 * this backend now waits for a notification (counted once however often
 * it is called); returns how many emitting transactions of this database
 * are landing, whose events the caller's next snapshot may still miss
 * although they will not notify: claim again, after a pause, while that
 * is above zero.  With false: this backend stops waiting; returns 0.
 * Returns 0 without shared memory, where every commit notifies.
 */
PG_FUNCTION_INFO_V1(jobspy_outbox_wait_state);
Datum
jobspy_outbox_wait_state(PG_FUNCTION_ARGS)
{
	bool		waiting = !PG_ARGISNULL(0) && PG_GETARG_BOOL(0);
	DoorbellSlot *slot = doorbell_slot();

	if (slot == NULL)
		PG_RETURN_INT32(0);
	if (!waiting)
	{
		stop_waiting();
		PG_RETURN_INT32(0);
	}
	if (!exit_hook_set)
	{
		before_shmem_exit(doorbell_exit, (Datum) 0);
		exit_hook_set = true;
	}
	if (!my_waiting)
	{
		pg_atomic_fetch_add_u32(&slot->waiting, 1);
		my_waiting = true;
	}
	else
		pg_memory_barrier();	/* the read below follows the caller's claim */
	PG_RETURN_INT32((int32) pg_atomic_read_u32(&slot->landing));
}
