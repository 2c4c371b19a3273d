/*
 * analytics_histogram.c: mergeable latency histograms.
 *
 * A histogram counts values (milliseconds, >= 0) in buckets whose bounds grow
 * geometrically, so that any value in a bucket is within HIST_ALPHA of the
 * bucket's representative value.  Counts add, so two histograms merge
 * exactly: an hour rolled up in pieces, late rows, and the real-time tail all
 * combine into the histogram of all their rows.
 *
 * On disk a histogram is a bytea: a version byte, then the number of
 * non-empty buckets and, for each in key order, the key's distance from the
 * previous key and the count, all as unsigned varints (a few bytes a bucket).
 * While aggregating it is a dense array of counts over the keys seen so far,
 * in the aggregate's memory context.
 */
#include "postgres.h"

#include <math.h>

#include "common/int.h"
#include "fmgr.h"
#include "utils/builtins.h"

#include "analytics.h"

#define HIST_VERSION	1
/* Keys are below this: the largest int4 value has key 1195. */
#define HIST_KEYS		1300

typedef struct Histogram
{
	int32		lo;				/* key of counts[0] */
	int32		n;				/* slots in counts; 0 when empty */
	int64	   *counts;
	MemoryContext cxt;
} Histogram;

static double
hist_log_gamma(void)
{
	return log((1.0 + HIST_ALPHA) / (1.0 - HIST_ALPHA));
}

/* Bucket of a value: 0 holds 0; key k >= 1 holds (gamma^(k-2), gamma^(k-1)]. */
static int32
hist_key(int32 value)
{
	if (value == 0)
		return 0;
	return (int32) ceil(log((double) value) / hist_log_gamma()) + 1;
}

/* The value a bucket stands for: within alpha of every value it holds. */
static double
hist_value(int32 key)
{
	double		gamma = (1.0 + HIST_ALPHA) / (1.0 - HIST_ALPHA);

	if (key == 0)
		return 0.0;
	return 2.0 * pow(gamma, key - 1) / (gamma + 1.0);
}

static Histogram *
hist_new(MemoryContext cxt)
{
	Histogram  *h = MemoryContextAllocZero(cxt, sizeof(Histogram));

	h->cxt = cxt;
	return h;
}

/* Widens the counted key range to include key, doubling to amortise. */
static void
hist_cover(Histogram *h, int32 key)
{
	int32		lo,
				hi,
				n;
	int64	   *counts;

	if (h->n > 0 && key >= h->lo && key < h->lo + h->n)
		return;
	if (h->n == 0)
	{
		lo = Max(0, key - 16);
		hi = Min(HIST_KEYS, key + 16);
	}
	else
	{
		lo = Max(0, Min(key, h->lo - h->n));
		hi = Min(HIST_KEYS, Max(key + 1, h->lo + 2 * h->n));
		lo = Min(lo, h->lo);
		hi = Max(hi, h->lo + h->n);
	}
	n = hi - lo;
	counts = MemoryContextAllocZero(h->cxt, n * sizeof(int64));
	if (h->n > 0)
	{
		memcpy(counts + (h->lo - lo), h->counts, h->n * sizeof(int64));
		pfree(h->counts);
	}
	h->counts = counts;
	h->lo = lo;
	h->n = n;
}

static void
hist_add(Histogram *h, int32 key, int64 count)
{
	hist_cover(h, key);
	if (pg_add_s64_overflow(h->counts[key - h->lo], count, &h->counts[key - h->lo]))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("histogram count out of range")));
}

static char *
put_varint(char *p, uint64 v)
{
	while (v >= 0x80)
	{
		*p++ = (char) (v | 0x80);
		v >>= 7;
	}
	*p++ = (char) v;
	return p;
}

static const char *
get_varint(const char *p, const char *end, uint64 *v)
{
	int			shift = 0;

	*v = 0;
	while (p < end && shift < 64)
	{
		uint8		b = (uint8) *p++;

		*v |= (uint64) (b & 0x7f) << shift;
		if (!(b & 0x80))
			return p;
		shift += 7;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("invalid latency histogram"),
			 errdetail("A number runs past the end of the value.")));
	return NULL;				/* not reached */
}

static bytea *
hist_serialize(const Histogram *h)
{
	int32		buckets = 0;
	bytea	   *out;
	char	   *p;
	int32		prev = 0;

	for (int32 i = 0; i < h->n; i++)
		buckets += h->counts[i] != 0;
	/* version, bucket count, and at most 2 + 10 bytes a bucket */
	out = palloc(VARHDRSZ + 1 + 5 + (Size) buckets * 12);
	p = VARDATA(out);
	*p++ = HIST_VERSION;
	p = put_varint(p, buckets);
	for (int32 i = 0; i < h->n; i++)
	{
		if (h->counts[i] == 0)
			continue;
		p = put_varint(p, h->lo + i - prev);
		p = put_varint(p, h->counts[i]);
		prev = h->lo + i;
	}
	SET_VARSIZE(out, p - (char *) out);
	return out;
}

/* Adds a stored histogram into h; any malformed value is an error. */
static void
hist_merge_bytes(Histogram *h, const bytea *in)
{
	const char *p = VARDATA_ANY(in);
	const char *end = p + VARSIZE_ANY_EXHDR(in);
	uint64		buckets,
				delta,
				count;
	int64		key = 0;

	if (p >= end || *p != HIST_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid latency histogram"),
				 errdetail("The value is not a version %d histogram.", HIST_VERSION)));
	p = get_varint(p + 1, end, &buckets);
	for (uint64 i = 0; i < buckets; i++)
	{
		p = get_varint(p, end, &delta);
		p = get_varint(p, end, &count);
		key += (int64) delta;
		if ((i > 0 && delta == 0) || key >= HIST_KEYS || count == 0 || count > PG_INT64_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("invalid latency histogram"),
					 errdetail("Bucket %llu is out of order, out of range or empty.",
							   (unsigned long long) i)));
		hist_add(h, (int32) key, (int64) count);
	}
	if (p != end)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid latency histogram"),
				 errdetail("Bytes follow the last bucket.")));
}

static Histogram *
hist_state(FunctionCallInfo fcinfo)
{
	MemoryContext aggcxt;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "histogram aggregate support called outside an aggregate");
	if (PG_ARGISNULL(0))
		return hist_new(aggcxt);
	return (Histogram *) PG_GETARG_POINTER(0);
}

/* Transition of latency_histogram(integer): one value; NULL is skipped. */
PG_FUNCTION_INFO_V1(jobspy_histogram_add);
Datum
jobspy_histogram_add(PG_FUNCTION_ARGS)
{
	Histogram  *h = hist_state(fcinfo);

	if (!PG_ARGISNULL(1))
	{
		int32		v = PG_GETARG_INT32(1);

		if (v < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("latency %d ms is negative", v)));
		hist_add(h, hist_key(v), 1);
	}
	PG_RETURN_POINTER(h);
}

/* Transition of latency_histogram_merge(bytea): one stored histogram. */
PG_FUNCTION_INFO_V1(jobspy_histogram_merge_add);
Datum
jobspy_histogram_merge_add(PG_FUNCTION_ARGS)
{
	Histogram  *h = hist_state(fcinfo);

	if (!PG_ARGISNULL(1))
		hist_merge_bytes(h, PG_GETARG_BYTEA_PP(1));
	PG_RETURN_POINTER(h);
}

/* Combine function for parallel aggregation: b's counts into a. */
PG_FUNCTION_INFO_V1(jobspy_histogram_combine);
Datum
jobspy_histogram_combine(PG_FUNCTION_ARGS)
{
	Histogram  *a = hist_state(fcinfo);
	Histogram  *b = PG_ARGISNULL(1) ? NULL : (Histogram *) PG_GETARG_POINTER(1);

	if (b)
		for (int32 i = 0; i < b->n; i++)
			if (b->counts[i] != 0)
				hist_add(a, b->lo + i, b->counts[i]);
	PG_RETURN_POINTER(a);
}

/* Final and serial function: the stored form; NULL when nothing was counted. */
PG_FUNCTION_INFO_V1(jobspy_histogram_final);
Datum
jobspy_histogram_final(PG_FUNCTION_ARGS)
{
	Histogram  *h = PG_ARGISNULL(0) ? NULL : (Histogram *) PG_GETARG_POINTER(0);

	if (h == NULL)
		PG_RETURN_NULL();
	PG_RETURN_BYTEA_P(hist_serialize(h));
}

PG_FUNCTION_INFO_V1(jobspy_histogram_deserialize);
Datum
jobspy_histogram_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	Histogram  *h;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "histogram aggregate support called outside an aggregate");
	h = hist_new(aggcxt);
	hist_merge_bytes(h, PG_GETARG_BYTEA_PP(0));
	PG_RETURN_POINTER(h);
}

/*
 * histogram_quantile(histogram, q): the value at rank ceil(q * n) (at least
 * 1), as percentile_disc(q) picks it, within HIST_ALPHA; NULL when empty.
 */
PG_FUNCTION_INFO_V1(jobspy_histogram_quantile);
Datum
jobspy_histogram_quantile(PG_FUNCTION_ARGS)
{
	float8		q = PG_GETARG_FLOAT8(1);
	Histogram  *h;
	int64		total = 0,
				rank,
				seen = 0;

	if (isnan(q) || q < 0.0 || q > 1.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("quantile %g is not between 0 and 1", q)));
	h = hist_new(CurrentMemoryContext);
	hist_merge_bytes(h, PG_GETARG_BYTEA_PP(0));
	for (int32 i = 0; i < h->n; i++)
		total += h->counts[i];
	if (total == 0)
		PG_RETURN_NULL();
	rank = (int64) ceil(q * total);
	if (rank < 1)
		rank = 1;
	for (int32 i = 0; i < h->n; i++)
	{
		seen += h->counts[i];
		if (seen >= rank)
			PG_RETURN_FLOAT8(hist_value(h->lo + i));
	}
	elog(ERROR, "histogram rank %lld beyond its %lld values", (long long) rank, (long long) total);
	PG_RETURN_NULL();			/* not reached */
}

/* histogram_count(histogram): how many values it holds. */
PG_FUNCTION_INFO_V1(jobspy_histogram_count);
Datum
jobspy_histogram_count(PG_FUNCTION_ARGS)
{
	Histogram  *h = hist_new(CurrentMemoryContext);
	int64		total = 0;

	hist_merge_bytes(h, PG_GETARG_BYTEA_PP(0));
	for (int32 i = 0; i < h->n; i++)
		total += h->counts[i];
	PG_RETURN_INT64(total);
}

/* histogram_union(a, b): one histogram of both; a NULL side is empty. */
PG_FUNCTION_INFO_V1(jobspy_histogram_union);
Datum
jobspy_histogram_union(PG_FUNCTION_ARGS)
{
	Histogram  *h = hist_new(CurrentMemoryContext);

	if (PG_ARGISNULL(0) && PG_ARGISNULL(1))
		PG_RETURN_NULL();
	for (int i = 0; i < 2; i++)
		if (!PG_ARGISNULL(i))
			hist_merge_bytes(h, PG_GETARG_BYTEA_PP(i));
	PG_RETURN_BYTEA_P(hist_serialize(h));
}
