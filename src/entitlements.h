/*
 * entitlements.h: which of a user's licences is "the user's licence", the
 * one rule every module asks (entitlements.c).
 */
#ifndef JOBSPY_ENTITLEMENTS_H
#define JOBSPY_ENTITLEMENTS_H

#include "postgres.h"

#include "utils/snapshot.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

/*
 * The user's licence at a time: false when the user has no active licence
 * unexpired then.  *type is palloc'd; id may be NULL.  *changes_at is set
 * to the earliest expiry of those licences, or left alone when that is
 * later (the answer may change then).  Reads under snap, with
 * AccessShareLock on jobspy.licenses and jobspy.license_tiers.
 */
extern bool user_license(const pg_uuid_t *user, TimestampTz at, Snapshot snap, pg_uuid_t *id,
						 char **type, TimestampTz *changes_at);

#endif							/* JOBSPY_ENTITLEMENTS_H */
