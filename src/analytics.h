/*
 * analytics.h: the analytics module's C side.
 *
 * Ingest and rollups are SQL (sql/analytics.sql).  C owns the one thing SQL
 * cannot do well: a latency histogram that merges (so an hourly bucket can be
 * combined with late rows and with the not-yet-rolled-up tail) and answers
 * quantiles within a bounded relative error.
 */
#ifndef JOBSPY_ANALYTICS_H
#define JOBSPY_ANALYTICS_H

#include "postgres.h"

/* SQLSTATEs of the analytics module (JS8xx), listed in docs/errors.md. */
#define ERRCODE_JS_BATCH_NOT_ARRAY		MAKE_SQLSTATE('J','S','8','0','1')
#define ERRCODE_JS_ROLLUP_HORIZON_AHEAD	MAKE_SQLSTATE('J','S','8','0','2')

/*
 * Relative error of a quantile read from a histogram: the value returned is
 * within HIST_ALPHA of the exact percentile_disc answer over the same rows.
 * Buckets grow geometrically by (1 + alpha) / (1 - alpha) (DDSketch's
 * mapping), so the bound holds for every value from 1 ms to 2^31 ms with
 * about 1,200 buckets; 0 ms has a bucket of its own and is exact.
 */
#define HIST_ALPHA		0.009

#endif
