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

/* SQLSTATEs of the quotas module (JS4xx), listed in docs/errors.md. */
#define ERRCODE_JS_NO_PLAN				MAKE_SQLSTATE('J','S','4','0','1')
#define ERRCODE_JS_UNKNOWN_METRIC		MAKE_SQLSTATE('J','S','4','0','2')
#define ERRCODE_JS_USER_NOT_ACTIVE		MAKE_SQLSTATE('J','S','4','0','3')
#define ERRCODE_JS_IDEMPOTENCY_REUSED	MAKE_SQLSTATE('J','S','4','0','4')

/* jobspy.quota_usage_records: which grants get a usage record. */
typedef enum QuotaUsageRecords
{
	QUOTA_RECORDS_DETAILED,		/* keyed, priced or annotated grants, settlements */
	QUOTA_RECORDS_ALL			/* every grant */
} QuotaUsageRecords;

extern int	jobspy_quota_usage_records;

#endif							/* JOBSPY_QUOTAS_H */
