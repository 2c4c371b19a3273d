/*
 * identity.h: password hashing, the shared-memory failed-login table and
 * email addresses.
 */
#ifndef JOBSPY_IDENTITY_H
#define JOBSPY_IDENTITY_H

#include "postgres.h"

/* SQLSTATEs of the identity module (JS1xx), listed in docs/errors.md. */
#define ERRCODE_JS_ACCOUNT_LOCKED		MAKE_SQLSTATE('J','S','1','0','1')
#define ERRCODE_JS_ACCOUNT_INACTIVE		MAKE_SQLSTATE('J','S','1','0','2')
#define ERRCODE_JS_TOKEN_INVALID		MAKE_SQLSTATE('J','S','1','0','3')
#define ERRCODE_JS_LAST_OWNER			MAKE_SQLSTATE('J','S','1','0','4')

/* Password length limits, in bytes. */
#define PASSWORD_MIN_BYTES 8
#define PASSWORD_MAX_BYTES 1024

/*
 * Largest Argon2 cost the GUCs accept; a hash asking for more is never
 * verified (verification runs uninterruptibly at the hash's own cost).
 */
#define PASSWORD_MAX_MEMORY_KIB 4194304
#define PASSWORD_MAX_ITERATIONS 100

/* Slots in the failed-login table. */
#define LOGIN_FAILURE_SLOTS 4096

/*
 * The normal form of an email address (identity_email.c) into out, which
 * has room for 255 bytes: false when it is not a valid address.
 */
extern bool email_normalize(const char *in, size_t len, char *out);

/* Whether a name is one of pg_timezone_names (src/identity_timezone.c). */
extern bool timezone_known(const char *name, size_t len);

#endif							/* JOBSPY_IDENTITY_H */
