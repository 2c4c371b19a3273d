/*
 * quotas.h: plans, quotas and entitlements.
 *
 * Quotas are decided in SQL (sql/quotas.sql, jobspy.quota_take) and, for
 * the common case, in C: quotas.c finds the quota that applies and runs
 * consume_quota's hot path, quota_counters.c updates the counter's row.
 * Either way a row lock on the per-(user, metric, period) counter makes
 * check-and-consume exact.
 */
#ifndef JOBSPY_QUOTAS_H
#define JOBSPY_QUOTAS_H

#include "postgres.h"

#include "storage/itemptr.h"
#include "core.h"
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

/*
 * The tables and indexes quotas read and their columns, looked up once per
 * backend (core_cache.c): jobspy_rel(&quota_rels, QR_...),
 * jobspy_col(&quota_rels, QC_...).
 */
enum QuotaRel
{
	QR_COUNTERS, QR_COUNTERS_PKEY, QR_USERS, QR_USERS_PKEY, QR_SUBSCRIPTIONS,
	QR_SUBSCRIPTIONS_PKEY, QR_USER_PLANS, QR_USER_PLANS_PKEY, QR_LICENSES, QR_LICENSES_PKEY,
	QR_PLANS, QR_PLAN_QUOTAS, QR_PLAN_QUOTAS_PKEY
};

enum QuotaColumn
{
	QC_COUNTER_USER, QC_COUNTER_METRIC, QC_COUNTER_PERIOD, QC_COUNTER_START, QC_COUNTER_USED,
	QC_COUNTER_RESERVED,
	QC_USER_ID, QC_USER_STATUS, QC_USER_TIMEZONE,
	QC_SUB_USER, QC_SUB_STATUS, QC_SUB_PLAN_TYPE, QC_SUB_PERIOD_START, QC_SUB_ANCHOR,
	QC_UP_USER, QC_UP_PLAN,
	QC_PLAN_ID, QC_PLAN_CODE,
	QC_PQ_PLAN, QC_PQ_METRIC, QC_PQ_PERIOD, QC_PQ_LIMIT
};

extern JobspyRels quota_rels;

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
 * (-1: none) beside used and reserved, through ExecSimpleRelationUpdate()
 * (quota_counters.c).  hint: where the row was last seen, or NULL.  On
 * ADDED, *used and *reserved are the row's new values and *row its new TID.
 */
extern QuotaCounterResult quota_counter_add(const QuotaCounterKey *key, int64 limit, int64 amount,
											ItemPointer hint, int64 *used, int64 *reserved,
											ItemPointer row);

/* Defines jobspy.quota_counter_update (quota_counters.c). */
extern void jobspy_quota_counters_init(void);

#endif							/* JOBSPY_QUOTAS_H */
