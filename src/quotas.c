/*
 * quotas.c: the quotas module's setting.
 *
 * jobspy.quota_usage_records decides which granted consumptions also get a
 * row in the usage ledger (jobspy.usage_records): "detailed" (the default)
 * records those that carry an idempotency key, a cost or metadata, and
 * every settled reservation; "all" records every grant.  The per-period
 * counters are exact either way; the ledger is the detail behind them.
 * sql/quotas.sql reads the setting with current_setting().
 */
#include "postgres.h"

#include "utils/guc.h"

#include "core.h"
#include "quotas.h"

int			jobspy_quota_usage_records = QUOTA_RECORDS_DETAILED;

static const struct config_enum_entry usage_records_options[] = {
	{"detailed", QUOTA_RECORDS_DETAILED, false},
	{"all", QUOTA_RECORDS_ALL, false},
	{NULL, 0, false}
};

void
jobspy_quotas_init(void)
{
	DefineCustomEnumVariable("jobspy.quota_usage_records",
							 "Which granted consumptions get a usage record.",
							 "detailed: those with an idempotency key, a cost or metadata, "
							 "and settled reservations; all: every grant.",
							 &jobspy_quota_usage_records,
							 QUOTA_RECORDS_DETAILED,
							 usage_records_options,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
}
