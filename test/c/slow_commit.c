/*
 * slow_commit: a test-only module that lengthens a session's writing commits after
 * their pre-commit step, widening the window in which an emitting
 * transaction has decided whether to notify but is not yet visible
 * (test/shell/outbox_wakeups.sh).  Never part of the extension.
 */
#include "postgres.h"

#include <stdlib.h>

#include "access/xact.h"
#include "fmgr.h"
#include "miscadmin.h"

PG_MODULE_MAGIC;

static int	max_delay_us = 0;

/*
 * Callbacks run newest first: registered before the outbox's own (which
 * registers on a session's first event), this one runs after it.
 */
static void
slow_commit_callback(XactEvent event, void *arg)
{
	/* Writing transactions only: a read-only poll commits at once. */
	if (event == XACT_EVENT_PRE_COMMIT && max_delay_us > 0 &&
		TransactionIdIsValid(GetCurrentTransactionIdIfAny()))
		pg_usleep(random() % max_delay_us);
}

PG_FUNCTION_INFO_V1(test_slow_commit);
Datum
test_slow_commit(PG_FUNCTION_ARGS)
{
	static bool registered = false;

	if (!registered)
	{
		RegisterXactCallback(slow_commit_callback, NULL);
		registered = true;
	}
	max_delay_us = PG_GETARG_INT32(0);
	PG_RETURN_VOID();
}
