/*
 * licensing.h: the licensing module's parts and how they call each other.
 *
 *   licensing.c           registration (GUCs, shared memory) and the cache
 *                         of the tables' relation and column numbers
 *   licensing_store.c     the validation counters in shared memory and their
 *                         state file across restarts
 *   licensing_read.c      the licence, user and machine rows, read through
 *                         their unique indexes or the shared cache
 *                         (license_cache.c)
 *   licensing_write.c     the rare writes, run as the tables' owner: a
 *                         machine's first use and the validation log
 *   licensing_validate.c  validate_license and check_license_rate_limit
 *   licensing_failures.c  failed validations counted in shared memory, and
 *                         which of them the validation log samples
 *   licensing_flush.c     flush_license_validations: counts to the tables
 *   licensing_ed25519.c   Ed25519 for offline licence tokens
 */
#ifndef JOBSPY_LICENSING_H
#define JOBSPY_LICENSING_H

#include "postgres.h"

#include "access/attnum.h"
#include "utils/snapshot.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "license_cache.h"

#define ERRCODE_JS_COUNTERS_FULL	MAKE_SQLSTATE('J','S','2','0','4')

#define MAX_FINGERPRINT 255
#define MAX_APP_VERSION 64
#define MAX_KEY_INPUT 64		/* longer input cannot be a key */
#define MAX_HASH_KEYS 16

/* GUCs (licensing.c) */
extern int	licensing_max_counters;
extern bool licensing_log_successes;
extern int	licensing_failure_counters;
extern int	licensing_failure_log_every;
extern int	licensing_failure_log_per_second;

/* ---- licensing.c: the tables validation reads ---------------------------- */

typedef struct LicRels
{
	bool		valid;
	Oid			licenses,
				licenses_by_hash,
				licenses_by_id,
				users,
				users_pkey,
				machines,
				machines_by_fingerprint;
	Oid			owner;			/* owner of the tables: writes run as it */
	uint32		schema;			/* license_cache_schema() of the tables read */
	AttrNumber	l_id, l_user, l_hash, l_type, l_status, l_expires, l_features,
				l_max_machines, l_max_per_day, l_day, l_on_day;
	AttrNumber	u_id, u_status;
	AttrNumber	m_id, m_user, m_license, m_fingerprint;
} LicRels;

/* Valid after lic_rels_require(); a relcache invalidation clears it. */
extern LicRels lic_rels;

extern void lic_rels_require(void);

/* ---- licensing_store.c: the counters in shared memory --------------------- */

/*
 * One entry per licence or machine validated since its counters were last
 * flushed (a licence's entry stays for the rest of its day).
 */
typedef struct LicCounter
{
	pg_uuid_t	id;				/* all zero: free */
	Oid			dbid;			/* the store serves every database */
	bool		machine;
	int32		day;			/* UTC day of day_count, days since 2000-01-01 */
	int32		day_count;		/* validations counted on that day */
	int64		pending;		/* validations not yet in the table (below zero:
								 * a refusal given back after a flush took it) */
	TimestampTz last_at;		/* latest validation, 0 when none pending */
} LicCounter;

/* Days since 2000-01-01 in UTC. */
static inline int32
lic_utc_day(TimestampTz t)
{
	return (int32) (t / USECS_PER_DAY - (t < 0 && t % USECS_PER_DAY != 0));
}

/* Raise unless the counters are in shared memory. */
extern void lic_store_require(void);

/*
 * Count one validation of the licence today, unless the day's maximum is
 * reached: the validations left after this one, -1 (RATE_LIMITED), or
 * LIC_NO_ROOM: no entry and no room for one, count it in the row.
 */
#define LIC_NO_ROOM (-2)
extern int32 lic_count_take(const LicRow *lic, TimestampTz now);
/* After counting in the row (row locked): true when still no entry. */
extern bool lic_store_confirm_in_table(const pg_uuid_t *id);
/* Warn, at most once a minute, that validations are counted in the rows. */
extern void lic_store_warn_full(void);
/* Give back a count lic_count_take took (the machine was refused). */
extern void lic_count_give_back(const LicRow *lic, TimestampTz now);
/* A machine was seen now; false when there is no room to count it. */
extern bool lic_machine_seen(const pg_uuid_t *machine, TimestampTz now);
/* The licence's count of day today in the store, or -1 when it has no entry. */
extern int64 lic_store_day_count(const pg_uuid_t *id, int32 today);

/* For the flush: the databases with entries that no longer exist. */
#define MAX_DEAD_DATABASES 64
extern int	lic_store_dropped_databases(Oid *dead);

/*
 * For the flush: take every pending count of this database out of the
 * store, calling take() for each entry with one (under a partition lock:
 * take() must not wait), and drop the entries that need not stay.
 */
extern void lic_store_take(int32 today, const Oid *dead, int ndead, void (*take) (const LicCounter *e));

/* A flush took counts in this transaction / that transaction ended. */
extern void lic_store_flush_begin(void);
extern void lic_store_flush_end(void);

/* Put counts a rolled-back flush took back; false when there is no room. */
extern bool lic_store_give_back(const LicCounter *taken);

extern void lic_store_register(void);

/* ---- licensing_failures.c: failed validations, counted in shared memory ------- */

/* What a failure is counted under (zero bytes where nothing applies). */
typedef struct LicFailKey
{
	Oid			dbid;
	int32		day;			/* UTC day, as lic_utc_day */
	pg_uuid_t	license;		/* all zero: no licence (MALFORMED, NOT_FOUND) */
	char		hint[4];		/* the key's last four characters; zero: MALFORMED */
	int32		code;			/* lic_fail_code(); 0 marks a free entry */
} LicFailKey;

typedef struct LicFailure
{
	LicFailKey	key;
	int64		count;			/* failures not yet flushed */
	TimestampTz last_at;		/* the latest of them */
} LicFailure;

/* A failure code's number (1 up), and back. */
extern int	lic_fail_code(const char *code);
extern const char *lic_fail_code_name(int code);
/* Count one failure; false when its partition is at the fill limit (spill it). */
extern bool lic_fail_count(const LicFailKey *key, TimestampTz now);
/* The same without its hint, past the limit (no spill possible); false when full. */
extern bool lic_fail_count_coarse(const LicFailKey *key, TimestampTz now);
/* A failure found its partition at the limit: counted, and a warning now and then. */
extern void lic_fail_note_full(void);
/* Whether the validation log takes this failure (the sampling clock moves). */
extern bool lic_fail_sampled(void);
/* For the flush: as lic_store_dropped_databases and lic_store_take. */
extern int	lic_fail_databases(Oid *dbs, int max);
extern void lic_fail_take(const Oid *dead, int ndead, void (*take) (const LicFailure *f));
/* The same for the one partition that holds key's counts (a spill). */
extern void lic_fail_take_partition_of(const LicFailKey *key, void (*take) (const LicFailure *f));
/* Put counts a rolled-back flush took back; false when there is no room. */
extern bool lic_fail_give_back(const LicFailure *taken);
extern void lic_fail_require(void);
extern void lic_fail_register(void);

/*
 * Appends failure counts, given as arrays $1..$6 (day, license_id,
 * key_hint, result, failures, last_failed_at), to
 * license_validation_failures: the flush's statement, and a failure's when
 * the store has no room.  An INSERT of new rows locks no row another
 * transaction could be waiting for.
 */
#define LIC_FAILURES_INSERT \
	"INSERT INTO jobspy.license_validation_failures" \
	"       (day, license_id, key_hint, result, failures, last_failed_at)" \
	"SELECT * FROM unnest($1::pg_catalog.date[], $2::pg_catalog.uuid[], $3::pg_catalog.text[]," \
	"                     $4::pg_catalog.text[], $5::pg_catalog.int8[], $6::pg_catalog.timestamptz[])"

/* ---- licensing_read.c: the rows, from the indexes or the cache -------------- */

/*
 * The licence of a key and whether its user is active, read from the
 * tables (and remembered in the cache when for_cache).
 */
extern bool lic_read_license(const LicCacheKey *key, LicRow *lic, bool *user_active,
							 uint64 *generation, bool for_cache);
/* The licence facts of a key from the cache, current or found unchanged. */
extern bool lic_from_cache(const LicCacheKey *key, text *fingerprint, LicCached *cached);
/* A machine already bound to the licence, by fingerprint. */
extern bool lic_machine_bound(const LicCacheKey *key, uint64 generation, bool use_cache,
							  const LicRow *lic, text *fingerprint, pg_uuid_t *machine);
/* The day's count last flushed to the licence row (0 when another day or none). */
extern int64 lic_stored_day_count(const pg_uuid_t *id, int32 today);
/* The same from the row's latest version, after waiting for its writer. */
extern int64 lic_latest_day_count(const pg_uuid_t *id, int32 today);

/* ---- licensing_write.c: the rare writes, as the tables' owner -------------- */

/* Bind a machine while seats remain; false when every seat is taken. */
extern bool lic_machine_bind(const LicRow *lic, text *fingerprint, text *app_version,
							 pg_uuid_t *machine);
/*
 * Count one validation in the licence row (the store had no room): true
 * when counted there, *left the validations left (-1: RATE_LIMITED); false
 * when an entry appeared meanwhile and the count belongs in the store.
 */
extern bool lic_count_in_table(const LicRow *lic, TimestampTz now, int32 *left);
/* Give back a count lic_count_in_table made (the machine was refused). */
extern void lic_uncount_in_table(const LicRow *lic, TimestampTz now);

/* The six array arguments of LIC_FAILURES_INSERT for n failures. */
extern void lic_fail_arrays(const LicFailure *f, int n, Oid *types, Datum *values);
/* Append n failure counts to license_validation_failures, as the tables' owner. */
extern void lic_fail_insert(const LicFailure *failures, int n);

/* ---- licensing_flush.c ------------------------------------------------------ */

/*
 * A failure whose partition is at the fill limit: the partition's counts of
 * this database go to the table now, in this transaction (given back if it
 * rolls back), and the failure is counted in the room that leaves.
 */
extern void lic_fail_spill(const LicFailure *failure);

/* One row of the validation log; skipped where nothing may be written. */
extern void lic_log_validation(const char *code, const LicRow *lic, text *fingerprint,
							   text *app_version);

#endif							/* JOBSPY_LICENSING_H */
