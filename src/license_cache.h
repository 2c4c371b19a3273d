/*
 * license_cache.h: each backend's cache of the licence facts validation
 * reads, and the per-user change generations that keep it fresh (which
 * the rate limiter's cache of users' licence types follows too).  Rules
 * in license_cache.c.
 */
#ifndef JOBSPY_LICENSE_CACHE_H
#define JOBSPY_LICENSE_CACHE_H

#include "postgres.h"

#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "keys.h"

/* What validation needs of a licence row. */
typedef struct LicRow
{
	pg_uuid_t	id;
	pg_uuid_t	user_id;
	char		status;			/* a(ctive), s(uspended), r(evoked), e(xpired) */
	text	   *license_type;
	Jsonb	   *features;
	bool		has_expiry;
	TimestampTz expires_at;
	int32		max_machines;
	int32		max_per_day;
	int32		stored_day;		/* validation_day, or INT32_MIN */
	int32		stored_on_day;
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

/* A current entry for the key hash: the licence (copied) and whether its user is active. */
extern bool license_cache_get(const uint8 *key_hash, LicRow *row, bool *user_active);

/* Remember what was read under a snapshot taken after generation was read. */
extern void license_cache_put(const uint8 *key_hash, uint64 generation, const LicRow *row,
							  bool user_active);

/* A bound machine of the cached licence, by fingerprint. */
extern bool license_cache_machine(const uint8 *key_hash, text *fingerprint, pg_uuid_t *machine);
extern void license_cache_add_machine(const uint8 *key_hash, text *fingerprint,
									  const pg_uuid_t *machine);

/* Forget everything (a relation validation reads was altered). */
extern void license_cache_clear(void);

/* GUCs, callbacks and the shared generations. */
extern void license_cache_init(void);

#endif							/* JOBSPY_LICENSE_CACHE_H */
