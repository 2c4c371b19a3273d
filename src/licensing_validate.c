/*
 * licensing_validate.c: validate_license and seed 000's
 * check_license_rate_limit.
 *
 * Order of checks (docs/licensing.md): MALFORMED (format, checksum, sizes;
 * no lookup), NOT_FOUND, REVOKED, SUSPENDED, EXPIRED, USER_SUSPENDED,
 * FINGERPRINT_REQUIRED, RATE_LIMITED, then the machine: known, or bound now
 * while seats remain, else TOO_MANY_MACHINES.  Counts go to the store in
 * shared memory (licensing_store.c), and so do failures
 * (licensing_failures.c); only a machine's first use and the sampled
 * validation log write (licensing_write.c).
 */
#include "postgres.h"

#include "fmgr.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "core.h"
#include "keys.h"
#include "licensing.h"

typedef struct Verdict
{
	const char *code;
	LicRow	   *lic;			/* NULL before the licence is found */
	int32		remaining;		/* validations left today; -1 for NULL */
	char		hint[4];		/* the key's last four characters; zero: MALFORMED */
} Verdict;

static bool
text_empty(text *t)
{
	return t == NULL || VARSIZE_ANY_EXHDR(t) == 0;
}

/*
 * Count one validation of the licence today: in the store, or, when the
 * store has no room for the licence, in its row (a write, with a warning
 * naming the setting to raise).  *in_table says where.  Where no row can
 * be written (a standby, a read-only transaction), a validation that finds
 * no room is answered from the day's count the row showed, uncounted.
 */
static int32
count_one(const LicRow *lic, TimestampTz now, bool *in_table)
{
	int32		left;

	*in_table = false;
	while ((left = lic_count_take(lic, now)) == LIC_NO_ROOM)
	{
		lic_store_warn_full();
		if (RecoveryInProgress() || XactReadOnly)
		{
			int32		done = lic->stored_day == lic_utc_day(now) ? lic->stored_on_day : 0;

			return done < lic->max_per_day ? lic->max_per_day - done - 1 : -1;
		}
		if (lic_count_in_table(lic, now, &left))
		{
			*in_table = true;
			break;
		}
	}
	return left;
}

/* Give back the count count_one took (the machine was refused). */
static void
uncount_one(const LicRow *lic, TimestampTz now, bool in_table)
{
	if (in_table)
		lic_uncount_in_table(lic, now);
	else
		lic_count_give_back(lic, now);
}

/*
 * The machine is bound already or was bound now.  Called with a count
 * taken: an error (a lock timeout, a cancel) gives a count in the store
 * back, as a refusal does; one in the row goes with the rolled-back write.
 */
static bool
machine_usable(const LicCacheKey *key, uint64 generation, bool use_cache, const LicRow *lic,
			   text *fingerprint, text *app_version, TimestampTz now, bool in_table,
			   pg_uuid_t *machine)
{
	bool		usable = false;

	PG_TRY();
	{
		usable = lic_machine_bound(key, generation, use_cache, lic, fingerprint, machine) ||
			lic_machine_bind(lic, fingerprint, app_version, machine);
	}
	PG_CATCH();
	{
		if (!in_table)
			lic_count_give_back(lic, now);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return usable;
}

static void
validate(text *key_text, text *fingerprint, text *app_version, Verdict *v)
{
	char		key[LICENSE_KEY_LEN + 1];
	uint8		hashes[MAX_HASH_KEYS][SECRET_HASH_BYTES];
	LicCacheKey ck;
	uint64		generation = 0;
	LicRow	   *lic = palloc0(sizeof(LicRow));
	TimestampTz now = jobspy_now();
	pg_uuid_t	machine;
	bool		machine_known = false;	/* from the cache entry */
	LicCached	cached;
	bool		use_cache;
	bool		user_active;
	bool		in_table;

	v->lic = NULL;
	v->remaining = -1;
	memset(v->hint, 0, sizeof(v->hint));
	lic_rels_require();

	/* Malformed input costs no index probe. */
	if (key_text == NULL || VARSIZE_ANY_EXHDR(key_text) > MAX_KEY_INPUT ||
		!license_key_normalize(VARDATA_ANY(key_text), VARSIZE_ANY_EXHDR(key_text), key) ||
		(fingerprint && VARSIZE_ANY_EXHDR(fingerprint) > MAX_FINGERPRINT) ||
		(app_version && VARSIZE_ANY_EXHDR(app_version) > MAX_APP_VERSION))
	{
		v->code = "MALFORMED";
		return;
	}

	memcpy(v->hint, key + LICENSE_KEY_LEN - sizeof(v->hint), sizeof(v->hint));
	ck.licenses = lic_rels.licenses;
	ck.schema = lic_rels.schema;
	ck.hashes = hashes;
	ck.nhashes = secret_hash_candidates("license", key, LICENSE_KEY_LEN, hashes, MAX_HASH_KEYS);
	use_cache = license_cache_usable();
	if (use_cache && lic_from_cache(&ck, text_empty(fingerprint) ? NULL : fingerprint, &cached))
	{
		*lic = cached.row;
		user_active = cached.user_active;
		generation = cached.generation;
		machine_known = cached.machine_found;
		machine = cached.machine;
	}
	else if ((use_cache && license_cache_known_missing(&ck)) ||
			 !lic_read_license(&ck, lic, &user_active, &generation, use_cache))
	{
		v->code = "NOT_FOUND";
		return;
	}
	v->lic = lic;
	if (lic->status == LIC_REVOKED)
		v->code = "REVOKED";
	else if (lic->status == LIC_SUSPENDED)
		v->code = "SUSPENDED";
	else if (lic->status == LIC_EXPIRED || (lic->has_expiry && lic->expires_at <= now))
		v->code = "EXPIRED";
	else if (!user_active)
		v->code = "USER_SUSPENDED";
	else if (text_empty(fingerprint))
		v->code = "FINGERPRINT_REQUIRED";
	else if ((v->remaining = count_one(lic, now, &in_table)) < 0)
		v->code = "RATE_LIMITED";
	else if (machine_known ||
			 machine_usable(&ck, generation, use_cache, lic, fingerprint, app_version, now, in_table,
							&machine))
	{
		/* With no room, the machine's last-seen time waits for its next validation. */
		if (!lic_machine_seen(&machine, now))
			lic_store_warn_full();
		v->code = "VALID";
	}
	else
	{
		uncount_one(lic, now, in_table);
		v->remaining = -1;
		v->code = "TOO_MANY_MACHINES";
	}
}

/*
 * A failure is counted, in shared memory or, when that has no room at all,
 * in license_validation_failures; every licensing_failure_log_every-th is
 * logged in full.  Nothing is counted on a standby, whose counts no flush
 * could take, and nothing written in a read-only transaction.
 */
static void
note_failure(const Verdict *v, text *fingerprint, text *app_version)
{
	LicFailure	f;

	if (RecoveryInProgress())
		return;
	memset(&f, 0, sizeof(f));
	f.key.dbid = MyDatabaseId;
	f.last_at = jobspy_now();
	f.key.day = lic_utc_day(f.last_at);
	if (v->lic)
		f.key.license = v->lic->id;
	memcpy(f.key.hint, v->hint, sizeof(f.key.hint));
	f.key.code = lic_fail_code(v->code);
	f.count = 1;
	if (!lic_fail_count(&f.key, f.last_at))
	{
		if (!XactReadOnly)
			lic_fail_spill(&f);
		else
			(void) lic_fail_count_coarse(&f.key, f.last_at);	/* none when full: nothing may be written */
	}
	if (lic_fail_sampled())
		lic_log_validation(v->code, v->lic, fingerprint, app_version);
}

PG_FUNCTION_INFO_V1(jobspy_validate_license);
Datum
jobspy_validate_license(PG_FUNCTION_ARGS)
{
	text	   *key = PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0);
	text	   *fingerprint = PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1);
	text	   *app_version = PG_ARGISNULL(2) ? NULL : PG_GETARG_TEXT_PP(2);
	Verdict		v;
	Datum		values[8];
	bool		nulls[8];
	bool		valid;

	lic_store_require();
	lic_fail_require();
	validate(key, fingerprint, app_version, &v);
	valid = strcmp(v.code, "VALID") == 0;
	if (!valid)
		note_failure(&v, fingerprint, app_version);
	else if (licensing_log_successes)
		lic_log_validation(v.code, v.lic, fingerprint, app_version);

	memset(nulls, true, sizeof(nulls));
	values[0] = BoolGetDatum(valid);
	values[1] = CStringGetTextDatum(v.code);
	nulls[0] = nulls[1] = false;
	if (v.lic)
	{
		values[2] = UUIDPGetDatum(&v.lic->id);
		values[3] = UUIDPGetDatum(&v.lic->user_id);
		values[4] = PointerGetDatum(v.lic->license_type);
		values[5] = JsonbPGetDatum(v.lic->features);
		values[6] = TimestampTzGetDatum(v.lic->expires_at);
		nulls[2] = nulls[3] = nulls[4] = nulls[5] = false;
		nulls[6] = !v.lic->has_expiry;
	}
	if (v.remaining >= 0 || strcmp(v.code, "RATE_LIMITED") == 0)
	{
		values[7] = Int32GetDatum(Max(v.remaining, 0));
		nulls[7] = false;
	}
	return jobspy_return_row(fcinfo, values, nulls);
}

/* ---- check_license_rate_limit: seed 000's check, from the counters ------------ */

PG_FUNCTION_INFO_V1(jobspy_check_license_rate_limit);
Datum
jobspy_check_license_rate_limit(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *id = PG_GETARG_UUID_P(0);
	int32		max = PG_GETARG_INT32(1);
	int32		today = lic_utc_day(jobspy_now());
	int64		count;

	lic_store_require();
	count = lic_store_day_count(id, today);
	/* Not validated since the last restart: the day's count as last flushed. */
	if (count < 0)
		count = lic_stored_day_count(id, today);
	PG_RETURN_BOOL(count < max);
}
