/*
 * ratelimit_store.h: the rate limiter's shared-memory store, for the
 * module's own files (ratelimit.c, ratelimit_store.c) only.  Other modules
 * use ratelimit.h.  Locking rules are in ratelimit_store.c.
 */
#ifndef JOBSPY_RATELIMIT_STORE_H
#define JOBSPY_RATELIMIT_STORE_H

#include "postgres.h"

#include "port/atomics.h"
#include "storage/lwlock.h"
#include "utils/uuid.h"

#define RATE_SEGMENT "jobspy_ratelimit"
#define RATE_PARTITIONS 32
#define RATE_PART_BITS 5
#define RATE_KEY_INLINE 58
#define RATE_DIGEST_BYTES 32

#define KIND_FREE 0
#define KIND_TEXT 1				/* the key itself */
#define KIND_DIGEST 2			/* BLAKE2b-256 of a longer key */
#define KIND_WINDOW 3			/* rule id, user id, window letter */

#define WINDOW_HOUR 'h'
#define WINDOW_DAY 'd'

#define NS_PER_US INT64CONST(1000)
#define NS_PER_HOUR (INT64CONST(3600) * 1000000000)
#define NS_PER_DAY (INT64CONST(86400) * 1000000000)

typedef struct RateEntry
{
	uint32		hash;
	int32		next;			/* chain or free list; -1 ends it */
	int64		tat;			/* ns since 2000-01-01, GCRA_EMPTY if never */
	int64		allowed;		/* calls admitted */
	int64		denied;			/* calls refused */
	Oid			dbid;			/* the database whose key this is */
	uint8		kind;
	uint8		keylen;
	char		key[RATE_KEY_INLINE];
} RateEntry;

StaticAssertDecl(sizeof(RateEntry) == 96, "a rate-limit entry is 96 bytes");

typedef struct RatePartition
{
	LWLock	   *lock;
	int32		free_head;
	int32		used;
	int32		hand;
	int32		pad;
} RatePartition;

typedef struct RateStore
{
	uint64		hash_seed;		/* random per server start: keys chosen to
								 * collide cannot be predicted */
	int64		max_keys;
	int32		capacity;		/* entries per partition */
	uint32		nbuckets;		/* bucket heads per partition, power of 2 */
	pg_atomic_uint64 evictions;
	pg_atomic_uint64 full_allowed;
	pg_atomic_uint64 full_denied;
	pg_atomic_uint64 stats_reset;	/* TimestampTz */
	RatePartition parts[RATE_PARTITIONS];
} RateStore;

/*
 * A key belongs to one database (MyDatabaseId when it is made), as
 * pg_stat_statements keys its entries by dbid: the same text in two
 * databases is two keys.
 */
typedef struct RateKey
{
	uint32		hash;
	Oid			dbid;
	uint8		kind;
	uint8		len;
	char		bytes[RATE_KEY_INLINE];
} RateKey;

/* The store, set by its startup callback (NULL when not preloaded). */
extern RateStore *rl_store;
extern RateEntry *rl_store_entries;
extern int32 *rl_store_buckets;

static inline RateEntry *
part_entries(int p)
{
	return rl_store_entries + (Size) p * rl_store->capacity;
}

static inline int32 *
part_buckets(int p)
{
	return rl_store_buckets + (Size) p * rl_store->nbuckets;
}

static inline int
key_partition(const RateKey *k)
{
	return (int) (k->hash & (RATE_PARTITIONS - 1));
}

/* Keys of the current database: text (inline or digest) and rule windows. */
extern void rl_key_from_text(const char *s, size_t len, RateKey *k);
extern void rl_key_for_window(const pg_uuid_t *rule, const pg_uuid_t *user, char window, RateKey *k);

/* Partition operations; the caller holds the partition's lock. */
extern int32 rl_part_find(int p, const RateKey *k);
extern void rl_part_remove(int p, int32 i);
extern int32 rl_part_insert(int p, const RateKey *k, int64 now, const int32 *pinned, int npinned,
						 int64 *min_tat);

/* 55000 unless the store exists. */
extern void ratelimit_require(void);

/* The limiter's clock in nanoseconds (jobspy_wall_now()); JS302 when out of range. */
extern int64 ratelimit_now_ns(void);

/* GUCs of the store and its registration with the core. */
extern void ratelimit_store_init(void);

#endif							/* JOBSPY_RATELIMIT_STORE_H */
