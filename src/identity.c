/*
 * identity.c: password hashing (Argon2id through libsodium) and the table
 * of failed logins in shared memory.
 *
 * Passwords are hashed with crypto_pwhash_str_alg into standard PHC strings
 * ($argon2id$v=19$m=...,t=...,p=1$salt$hash).  The cost comes from the GUCs
 * jobspy.password_memory_kib and jobspy.password_iterations.  Hashing is a
 * single libsodium call that cannot be interrupted from inside; interrupts
 * are checked just before and just after it, so a cancel waits at most one
 * hash (tens of milliseconds at the defaults).
 *
 * Failed logins are counted here rather than in a table because the login
 * that fails raises 28P01, which rolls back whatever it wrote.  The table is
 * a fixed array of LOGIN_FAILURE_SLOTS entries keyed by user id, found by
 * linear probing from the uuid's first bytes.  When every slot is taken the
 * entry whose window started first and that is not locked is reused.
 *
 * Locking: one LWLock (tranche "jobspy_identity_logins") guards the whole
 * array; every reader takes it shared and every writer exclusive, for a few
 * hundred instructions at most, never across a call out of this file.
 * The state is not written out at shutdown: a lock that matters is copied
 * to users.locked_until by jobspy.maintain_identity() and by the next login.
 */
#include "postgres.h"

#include <ctype.h>
#include <sodium.h>

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/uuid.h"

#include "core.h"
#include "identity.h"

static int	password_memory_kib = 65536;
static char *row_user_id = NULL;
static int	password_iterations = 2;

typedef struct LoginFailure
{
	pg_uuid_t	user_id;
	bool		used;
	int32		failures;
	TimestampTz window_start;
	TimestampTz locked_until;	/* 0 when not locked */
} LoginFailure;

typedef struct LoginFailureTable
{
	LWLock	   *lock;
	LoginFailure slots[LOGIN_FAILURE_SLOTS];
} LoginFailureTable;

static LoginFailureTable *failures = NULL;

static Size
identity_shmem_size(void)
{
	return sizeof(LoginFailureTable);
}

static void
identity_shmem_startup(void *segment, bool found)
{
	failures = (LoginFailureTable *) segment;
	if (!found)
	{
		memset(failures, 0, sizeof(LoginFailureTable));
		failures->lock = &(GetNamedLWLockTranche("jobspy_identity_logins"))->lock;
	}
}

static const JobspyShmemSegment identity_segment = {
	.name = "jobspy_identity_logins",
	.size = identity_shmem_size,
	.nlocks = 1,
	.startup = identity_shmem_startup,
	.shutdown = NULL,
};

/*
 * jobspy.user_id must be empty or a uuid in its usual 8-4-4-4-12 form, so
 * that policies never fail on it.
 */
static bool
check_user_id(char **newval, void **extra, GucSource source)
{
	const char *s = *newval;
	bool		ok;

	if (s == NULL || s[0] == '\0')
		return true;
	ok = strlen(s) == 36;
	for (int i = 0; ok && i < 36; i++)
	{
		if (i == 8 || i == 13 || i == 18 || i == 23)
			ok = s[i] == '-';
		else
			ok = isxdigit((unsigned char) s[i]) != 0;
	}
	if (!ok)
	{
		GUC_check_errdetail("jobspy.user_id must be empty or a uuid.");
		return false;
	}
	return true;
}

void
jobspy_identity_init(void)
{
	DefineCustomStringVariable("jobspy.user_id",
							   "The user whose rows row-level security lets this session see.",
							   "Empty means no user: the policies show no rows.",
							   &row_user_id,
							   "",
							   PGC_USERSET,
							   0,
							   check_user_id, NULL, NULL);
	DefineCustomIntVariable("jobspy.password_memory_kib",
							"Memory used by each Argon2id password hash, in KiB.",
							"Applies to new hashes; a login re-hashes a password "
							"whose hash used other parameters.",
							&password_memory_kib,
							65536, 8, PASSWORD_MAX_MEMORY_KIB,
							PGC_SUSET, GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomIntVariable("jobspy.password_iterations",
							"Passes over memory of each Argon2id password hash.",
							NULL,
							&password_iterations,
							2, 1, PASSWORD_MAX_ITERATIONS,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	jobspy_shmem_register(&identity_segment);
}

static void
check_password_length(size_t len)
{
	if (len < PASSWORD_MIN_BYTES || len > PASSWORD_MAX_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("password must be from %d to %d bytes long",
						PASSWORD_MIN_BYTES, PASSWORD_MAX_BYTES),
				 errdetail("The password given is %s.",
						   len < PASSWORD_MIN_BYTES ? "too short" : "too long")));
}

PG_FUNCTION_INFO_V1(jobspy_hash_password);
Datum
jobspy_hash_password(PG_FUNCTION_ARGS)
{
	text	   *pw = PG_GETARG_TEXT_PP(0);
	size_t		len = VARSIZE_ANY_EXHDR(pw);
	char		out[crypto_pwhash_STRBYTES];
	int			rc;

	check_password_length(len);
	CHECK_FOR_INTERRUPTS();
	rc = crypto_pwhash_str_alg(out, VARDATA_ANY(pw), len,
							   (unsigned long long) password_iterations,
							   (size_t) password_memory_kib * 1024,
							   crypto_pwhash_ALG_ARGON2ID13);
	CHECK_FOR_INTERRUPTS();
	if (rc != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("password hashing ran out of memory"),
				 errdetail("Argon2id asked for %d KiB.", password_memory_kib),
				 errhint("Lower jobspy.password_memory_kib.")));
	PG_RETURN_TEXT_P(cstring_to_text(out));
}

/*
 * The number at *s, stopping at the first non-digit (*s moves past it);
 * -1 when there are no digits or it exceeds max.
 */
static int64
cost_number(const char **s, int64 max)
{
	int64		n = 0;
	const char *p = *s;

	if (!isdigit((unsigned char) *p))
		return -1;
	for (; isdigit((unsigned char) *p); p++)
	{
		n = n * 10 + (*p - '0');
		if (n > max)
			return -1;
	}
	*s = p;
	return n;
}

/*
 * True when the cost a PHC string asks for ("...$m=M,t=T,p=P$...") is one
 * the GUCs could have chosen: libsodium verifies at that cost in a single
 * call that cannot be interrupted, so a crafted hash could otherwise hold a
 * backend (and a fast shutdown) for weeks, or ask for terabytes.
 */
static bool
hash_cost_bounded(const char *buf)
{
	const char *s = strstr(buf, "$m=");

	if (s == NULL)
		return false;
	s += 3;
	if (cost_number(&s, PASSWORD_MAX_MEMORY_KIB) < 0 || strncmp(s, ",t=", 3) != 0)
		return false;
	s += 3;
	if (cost_number(&s, PASSWORD_MAX_ITERATIONS) < 0 || strncmp(s, ",p=", 3) != 0)
		return false;
	s += 3;
	return cost_number(&s, 255) >= 0 && *s == '$';
}

/* A PHC string libsodium can verify: bounded, NUL-free, Argon2, affordable. */
static bool
hash_usable(text *hash, char *buf)
{
	size_t		hlen = VARSIZE_ANY_EXHDR(hash);

	if (hlen == 0 || hlen >= crypto_pwhash_STRBYTES)
		return false;
	memcpy(buf, VARDATA_ANY(hash), hlen);
	buf[hlen] = '\0';
	if (strlen(buf) != hlen)
		return false;
	if (strncmp(buf, "$argon2id$", 10) != 0 && strncmp(buf, "$argon2i$", 9) != 0)
		return false;
	return hash_cost_bounded(buf);
}

PG_FUNCTION_INFO_V1(jobspy_verify_password);
Datum
jobspy_verify_password(PG_FUNCTION_ARGS)
{
	text	   *pw = PG_GETARG_TEXT_PP(0);
	text	   *hash = PG_GETARG_TEXT_PP(1);
	size_t		len = VARSIZE_ANY_EXHDR(pw);
	char		buf[crypto_pwhash_STRBYTES];
	int			rc;

	if (!hash_usable(hash, buf))
		PG_RETURN_BOOL(false);
	/*
	 * A password over the limit never matches, but still costs a hash:
	 * answering it at once would tell a login's caller that the address
	 * has an account (an unknown address costs a dummy hash).
	 */
	CHECK_FOR_INTERRUPTS();
	rc = crypto_pwhash_str_verify(buf, VARDATA_ANY(pw), Min(len, PASSWORD_MAX_BYTES));
	CHECK_FOR_INTERRUPTS();
	PG_RETURN_BOOL(rc == 0 && len <= PASSWORD_MAX_BYTES);
}

PG_FUNCTION_INFO_V1(jobspy_password_needs_rehash);
Datum
jobspy_password_needs_rehash(PG_FUNCTION_ARGS)
{
	text	   *hash = PG_GETARG_TEXT_PP(0);
	char		buf[crypto_pwhash_STRBYTES];

	if (!hash_usable(hash, buf) || strncmp(buf, "$argon2id$", 10) != 0)
		PG_RETURN_BOOL(true);
	PG_RETURN_BOOL(crypto_pwhash_str_needs_rehash(buf,
												  (unsigned long long) password_iterations,
												  (size_t) password_memory_kib * 1024) != 0);
}

/* Failed-login table. */

/*
 * The table exists only when the library was preloaded.  Without it logins
 * still work but failures are not counted (no lockout); docs/identity.md
 * says so.
 */
static bool
have_failures(void)
{
	return jobspy_preloaded() && failures != NULL;
}

/*
 * The slot of user, or NULL; with create, a free or reusable slot.  Caller
 * must hold failures->lock, exclusively when create is set.
 */
static LoginFailure *
find_slot(const pg_uuid_t *user, bool create, TimestampTz now)
{
	uint32		h;
	LoginFailure *victim = NULL;

	memcpy(&h, user->data, sizeof(h));
	for (int i = 0; i < LOGIN_FAILURE_SLOTS; i++)
	{
		LoginFailure *s = &failures->slots[(h + i) % LOGIN_FAILURE_SLOTS];

		if (s->used && memcmp(s->user_id.data, user->data, UUID_LEN) == 0)
			return s;
		if (!s->used)
		{
			if (!create)
				return NULL;
			victim = s;
			break;
		}
		if (create && s->locked_until <= now &&
			(victim == NULL || s->window_start < victim->window_start))
			victim = s;
	}
	if (victim)
	{
		memset(victim, 0, sizeof(LoginFailure));
		victim->used = true;
		victim->user_id = *user;
		victim->window_start = now;
	}
	return victim;
}

/*
 * login_failure_record(user_id, max_failures, window_seconds, lock_seconds)
 * counts one failure and returns the end of the lock it causes, or NULL.
 * Takes failures->lock exclusively.
 */
PG_FUNCTION_INFO_V1(jobspy_login_failure_record);
Datum
jobspy_login_failure_record(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *user = PG_GETARG_UUID_P(0);
	int32		maxf = PG_GETARG_INT32(1);
	int64		window = PG_GETARG_INT32(2);
	int64		lock = PG_GETARG_INT32(3);
	TimestampTz now = jobspy_wall_now();
	TimestampTz until = 0;
	LoginFailure *s;

	if (!have_failures())
		PG_RETURN_NULL();
	LWLockAcquire(failures->lock, LW_EXCLUSIVE);
	s = find_slot(user, true, now);
	if (s)
	{
		if (s->window_start + window * USECS_PER_SEC <= now)
		{
			s->window_start = now;
			s->failures = 0;
		}
		s->failures++;
		if (maxf > 0 && s->failures >= maxf && s->locked_until <= now)
		{
			s->locked_until = now + lock * USECS_PER_SEC;
			s->failures = 0;
			s->window_start = now;
		}
		until = s->locked_until;
	}
	LWLockRelease(failures->lock);
	if (until > now)
		PG_RETURN_TIMESTAMPTZ(until);
	PG_RETURN_NULL();
}

/*
 * login_locked_until(user_id): end of the user's current lock, or NULL.
 * Takes failures->lock shared.
 */
PG_FUNCTION_INFO_V1(jobspy_login_locked_until);
Datum
jobspy_login_locked_until(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *user = PG_GETARG_UUID_P(0);
	TimestampTz now = jobspy_wall_now();
	TimestampTz until = 0;
	LoginFailure *s;

	if (!have_failures())
		PG_RETURN_NULL();
	LWLockAcquire(failures->lock, LW_SHARED);
	s = find_slot(user, false, now);
	if (s)
		until = s->locked_until;
	LWLockRelease(failures->lock);
	if (until > now)
		PG_RETURN_TIMESTAMPTZ(until);
	PG_RETURN_NULL();
}

/*
 * login_failures_clear(user_id): forget the user's failures and lock.
 * Takes failures->lock exclusively.
 */
PG_FUNCTION_INFO_V1(jobspy_login_failures_clear);
Datum
jobspy_login_failures_clear(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *user = PG_GETARG_UUID_P(0);
	LoginFailure *s;

	if (!have_failures())
		PG_RETURN_VOID();
	LWLockAcquire(failures->lock, LW_EXCLUSIVE);
	s = find_slot(user, false, 0);
	if (s)
		s->used = false;
	/* Linear probing: later entries of the run stay reachable only if we
	 * leave a marker; re-insert the rest of the run instead. */
	if (s)
	{
		int			i = (int) (s - failures->slots);

		for (int k = 1; k < LOGIN_FAILURE_SLOTS; k++)
		{
			LoginFailure *n = &failures->slots[(i + k) % LOGIN_FAILURE_SLOTS];
			LoginFailure copy;
			LoginFailure *t;

			if (!n->used)
				break;
			copy = *n;
			n->used = false;
			t = find_slot(&copy.user_id, true, copy.window_start);
			if (t)
				*t = copy;
		}
	}
	LWLockRelease(failures->lock);
	PG_RETURN_VOID();
}

/*
 * login_locks(): every current lock, (user_id, locked_until).  Copies the
 * table under failures->lock shared, and builds the rows after releasing it.
 */
PG_FUNCTION_INFO_V1(jobspy_login_locks);
Datum
jobspy_login_locks(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz now = jobspy_wall_now();
	LoginFailure *copy;
	int			n = 0;

	InitMaterializedSRF(fcinfo, 0);
	if (!have_failures())
		return (Datum) 0;
	copy = palloc(sizeof(LoginFailure) * LOGIN_FAILURE_SLOTS);
	LWLockAcquire(failures->lock, LW_SHARED);
	for (int i = 0; i < LOGIN_FAILURE_SLOTS; i++)
		if (failures->slots[i].used && failures->slots[i].locked_until > now)
			copy[n++] = failures->slots[i];
	LWLockRelease(failures->lock);
	for (int i = 0; i < n; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = UUIDPGetDatum(&copy[i].user_id);
		values[1] = TimestampTzGetDatum(copy[i].locked_until);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
