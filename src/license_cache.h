/*
 * license_cache.h: the cache, in shared memory and one for all backends,
 * of the licence facts validation reads, and the per-user change
 * generations that keep it fresh (which the rate limiter's cache of users'
 * licence types and the quota windows follow too).  Rules in
 * license_cache.c.
 */
#ifndef JOBSPY_LICENSE_CACHE_H
#define JOBSPY_LICENSE_CACHE_H

#include "postgres.h"

#include "storage/itemptr.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "keys.h"

/*
 * A row as it was read: where it was and the transaction that wrote that
 * version.  Any update makes a new version elsewhere or with another xmin.
 */
typedef struct RowVersion
{
	ItemPointerData tid;		/* invalid: no row was read */
	TransactionId xmin;
} RowVersion;

/* jobspy.licenses.status, mapped by name (licensing_read.c); 0 is no status. */
typedef enum LicStatus
{
	LIC_ACTIVE = 1,
	LIC_SUSPENDED,
	LIC_REVOKED,
	LIC_EXPIRED
} LicStatus;

/* What validation needs of a licence row. */
typedef struct LicRow
{
	pg_uuid_t	id;
	pg_uuid_t	user_id;
	LicStatus	status;
	text	   *license_type;
	Jsonb	   *features;
	bool		has_expiry;
	TimestampTz expires_at;
	int32		max_machines;
	int32		max_per_day;
	int32		stored_day;		/* validation_day, or INT32_MIN */
	int32		stored_on_day;
	RowVersion	version;		/* the licence row's */
	RowVersion	user_version;	/* its user's row, invalid when there is none */
} LicRow;

/* True when this call may use the cache (see license_cache.c). */
extern bool license_cache_usable(void);

/* The change generation of a user's licences; read it before the rows. */
extern uint64 license_cache_generation(const pg_uuid_t *user);

/*
 * A counter that goes up, at commit, before the generation of any user
 * does: unchanged across a read, no change committed meanwhile.
 */
extern uint64 license_cache_any_generation(void);

/*
 * True while an entry of the user's, read at that generation in a
 * transaction that started at loaded_at, may be used: no change of the
 * user's has committed since, and it is younger than
 * jobspy.licensing_cache_seconds.
 */
extern bool license_cache_current(const pg_uuid_t *user, uint64 generation, TimestampTz loaded_at);

/*
 * A licence key as the cache files it: this database's licences table and
 * the key's candidate hashes (secret_hash_candidates: the active hash key's
 * first).  An entry is filed under hashes[0] and answers only while the
 * hash its row was found under is among the candidates.
 */
typedef struct LicCacheKey
{
	Oid			licenses;		/* jobspy.licenses */
	uint32		schema;			/* the tables' definitions, never 0 (license_cache_schema) */
	uint8		(*hashes)[SECRET_HASH_BYTES];
	int			nhashes;
} LicCacheKey;

/*
 * A stamp of the definitions of the tables validation reads, from their
 * pg_class rows: it changes with an ALTER TABLE or TRUNCATE of one of them,
 * not with VACUUM or ANALYZE (which write those rows in place).
 */
extern uint32 license_cache_schema(Oid *relids, int n);

/* What an entry tells a validation. */
typedef struct LicCached
{
	LicRow		row;			/* license_type and features palloc'd */
	bool		user_active;
	uint64		generation;		/* the user's, when the rows were read */
	TimestampTz loaded_at;
	bool		machine_found;	/* the entry knows the fingerprint's machine */
	pg_uuid_t	machine;
	RowVersion	machine_version;
} LicCached;

typedef enum LicCacheResult
{
	LIC_CACHE_MISS,				/* no entry, or the user's generation moved */
	LIC_CACHE_HIT,				/* current: use it */
	LIC_CACHE_STALE				/* older than jobspy.licensing_cache_seconds, generation
								 * unchanged: usable once its rows are found unchanged */
} LicCacheResult;

/*
 * The entry for the key, copied into *out (for a hit or a stale entry).
 * With a fingerprint (not NULL), out->machine_found says whether the entry
 * knows a bound machine with that fingerprint.  The user's generation is
 * read, and found unchanged, before it returns: a snapshot the caller takes
 * afterwards follows that read, as license_cache_renew requires.
 */
extern LicCacheResult license_cache_get(const LicCacheKey *key, text *fingerprint, LicCached *out);

/*
 * A stale entry whose rows the caller found unchanged, under a snapshot
 * taken after it read the user's generation: it is current again from this
 * transaction's start.  Machines other than the one found are dropped (not
 * checked, they would outlive the age limit).
 */
extern void license_cache_renew(const LicCacheKey *key, const LicCached *cached, text *fingerprint);

/*
 * Remember what was read under a snapshot taken after the generation was
 * read; found is the index of the candidate hash the row
 * was found under.  A licence too big for an entry is not cached.
 */
extern void license_cache_put(const LicCacheKey *key, int found, uint64 generation,
							  const LicRow *row, bool user_active);

/*
 * Remember a bound machine in the entry the caller's validation used (same
 * generation and licence), read under a snapshot taken after that
 * generation was read.
 */
extern void license_cache_add_machine(const LicCacheKey *key, uint64 generation, const LicRow *lic,
									  text *fingerprint, const pg_uuid_t *machine,
									  const RowVersion *version);

/*
 * The negative cache (license_cache.c): true when the key is known to
 * match no licence, and no change has committed since that was read.
 */
extern bool license_cache_known_missing(const LicCacheKey *key);

/*
 * Remember that the key matched no licence under a snapshot taken after
 * any_generation (license_cache_any_generation) was read.
 */
extern void license_cache_put_missing(const LicCacheKey *key, uint64 any_generation);

/* GUCs, callbacks and the shared generations. */
extern void license_cache_init(void);

#endif							/* JOBSPY_LICENSE_CACHE_H */
