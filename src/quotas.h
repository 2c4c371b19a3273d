/*
 * quotas.h: plans, quotas and entitlements.
 *
 * The quota logic itself is SQL (sql/quotas.sql): a row lock on a
 * per-(user, metric, period) counter makes check-and-consume exact.  The C
 * side owns the module's setting and its SQLSTATEs.
 */
#ifndef JOBSPY_QUOTAS_H
#define JOBSPY_QUOTAS_H

#include "postgres.h"

#include "storage/itemptr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

/* SQLSTATEs of the quotas module (JS4xx), listed in docs/errors.md. */
#define ERRCODE_JS_NO_PLAN				MAKE_SQLSTATE('J','S','4','0','1')
#define ERRCODE_JS_UNKNOWN_METRIC		MAKE_SQLSTATE('J','S','4','0','2')
#define ERRCODE_JS_USER_NOT_ACTIVE		MAKE_SQLSTATE('J','S','4','0','3')
#define ERRCODE_JS_IDEMPOTENCY_REUSED	MAKE_SQLSTATE('J','S','4','0','4')

/* The most one consume_quota call takes on an unlimited plan (sql/quotas.sql). */
#define QUOTA_UNLIMITED_MAX_AMOUNT		INT64CONST(1000000000000)

/* jobspy.quota_usage_records: which grants get a usage record. */
typedef enum QuotaUsageRecords
{
	QUOTA_RECORDS_DETAILED,		/* keyed, priced or annotated grants, settlements */
	QUOTA_RECORDS_ALL			/* every grant */
} QuotaUsageRecords;

extern int	jobspy_quota_usage_records;

/* A table or index of the jobspy schema that quotas read, its oid cached. */
extern Oid	quota_relid(const char *name);

/* One jobspy.quota_counters row, by its primary key. */
typedef struct QuotaCounterKey
{
	const pg_uuid_t *user_id;
	text	   *metric;
	const char *period;
	TimestampTz start;
} QuotaCounterKey;

typedef enum QuotaCounterResult
{
	QUOTA_COUNTER_ADDED,		/* used went up by the amount */
	QUOTA_COUNTER_REFUSED,		/* no such row, or no room in it */
	QUOTA_COUNTER_INDIRECT		/* not done: the SQL UPDATE must do it */
} QuotaCounterResult;

/*
 * used = used + amount on the counter's row when amount fits under limit
 * (-1: none) beside used and reserved, straight through the heap
 * (quota_counters.c).  hint: where the row was last seen, or NULL.  On
 * ADDED, *used and *reserved are the row's new values and *row its new TID.
 */
extern QuotaCounterResult quota_counter_add(const QuotaCounterKey *key, int64 limit, int64 amount,
											ItemPointer hint, int64 *used, int64 *reserved,
											ItemPointer row);

#endif							/* JOBSPY_QUOTAS_H */
