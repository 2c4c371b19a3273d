/*
 * licensing_write.c: the rare writes of validation, through SPI as the
 * owner of the tables (the caller, jobspy_app, may validate but not write
 * them): a machine's first use, which takes a seat, and the log of
 * validations.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"

#include "core.h"
#include "licensing.h"

/*
 * Run one prepared statement as the tables' owner: the caller (jobspy_app)
 * may validate but not write the tables directly.  An error unwinds the
 * user id with the (sub)transaction.
 */
static int
run_as_owner(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types, Datum *values,
			 const char *nulls, Oid *save_user, int *save_sec)
{
	int			ret;

	GetUserIdAndSecContext(save_user, save_sec);
	SetUserIdAndSecContext(lic_rels.owner, *save_sec | SECURITY_LOCAL_USERID_CHANGE);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = SPI_execute_plan(jobspy_plan(plan, sql, nargs, types), values, nulls, false, 0);
	if (ret < 0)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	return ret;					/* the caller reads SPI_tuptable, then finish_as_owner() */
}

static void
finish_as_owner(Oid user, int sec)
{
	SPI_finish();
	SetUserIdAndSecContext(user, sec);
}

/*
 * Bind fingerprint to the licence while seats remain (license_machine_bind
 * locks the licence row, so concurrent first uses are counted one at a
 * time).  False when every seat is taken.
 */
bool
lic_machine_bind(const LicRow *lic, text *fingerprint, text *app_version, pg_uuid_t *machine)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[3] = {UUIDOID, TEXTOID, TEXTOID};
	Datum		values[3];
	char		nulls[4] = "   ";
	Oid			save_user;
	int			save_sec;
	bool		bound = false;

	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("a machine's first validation cannot be answered on a standby"),
				 errdetail("It takes a seat of the licence, which is a write."),
				 errhint("Validate the machine once against the primary.")));
	values[0] = UUIDPGetDatum(&lic->id);
	values[1] = PointerGetDatum(fingerprint);
	values[2] = PointerGetDatum(app_version);
	nulls[2] = app_version ? ' ' : 'n';
	run_as_owner(&plan, "SELECT jobspy.license_machine_bind($1, $2, NULL, NULL, $3)",
				 3, types, values, nulls, &save_user, &save_sec);
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
		{
			*machine = *DatumGetUUIDP(d);
			bound = true;
		}
	}
	finish_as_owner(save_user, save_sec);
	return bound;
}

/*
 * The day's validations counted straight in the licence row, when the
 * store has no room for the licence: exact (the UPDATE locks the row, and
 * an entry made later reads the row's latest version, lic_count_take), at
 * the cost of a write.  The row's maximum decides, as the store's would.
 * After counting, the store is asked whether an entry of the licence was
 * made meanwhile; if so, the count is taken back from the row and the
 * caller counts in the entry.
 */
bool
lic_count_in_table(const LicRow *lic, TimestampTz now, int32 *left)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[3] = {UUIDOID, DATEOID, TIMESTAMPTZOID};
	Datum		values[3];
	Oid			save_user;
	int			save_sec;

	values[0] = UUIDPGetDatum(&lic->id);
	values[1] = DateADTGetDatum((DateADT) lic_utc_day(now));
	values[2] = TimestampTzGetDatum(now);
	run_as_owner(&plan,
				 "UPDATE jobspy.licenses l"
				 "   SET validation_count = l.validation_count OPERATOR(pg_catalog.+) 1,"
				 "       last_validated_at = greatest(l.last_validated_at, $3),"
				 "       validations_on_day = CASE WHEN l.validation_day OPERATOR(pg_catalog.=) $2"
				 "                                 THEN l.validations_on_day OPERATOR(pg_catalog.+) 1 ELSE 1 END,"
				 "       validation_day = $2"
				 " WHERE l.id OPERATOR(pg_catalog.=) $1"
				 "   AND (l.validation_day IS DISTINCT FROM $2"
				 "        OR l.validations_on_day OPERATOR(pg_catalog.<) l.max_validations_per_day)"
				 " RETURNING l.max_validations_per_day OPERATOR(pg_catalog.-) l.validations_on_day",
				 3, types, values, NULL, &save_user, &save_sec);
	*left = -1;
	if (SPI_processed == 1)
	{
		bool		isnull;

		*left = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	finish_as_owner(save_user, save_sec);
	if (*left < 0 || lic_store_confirm_in_table(&lic->id))
		return true;
	lic_uncount_in_table(lic, now);
	return false;
}

/* Take back one validation lic_count_in_table counted in this transaction. */
void
lic_uncount_in_table(const LicRow *lic, TimestampTz now)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[2] = {UUIDOID, DATEOID};
	Datum		values[2];
	Oid			save_user;
	int			save_sec;

	values[0] = UUIDPGetDatum(&lic->id);
	values[1] = DateADTGetDatum((DateADT) lic_utc_day(now));
	run_as_owner(&plan,
				 "UPDATE jobspy.licenses l"
				 "   SET validation_count = l.validation_count OPERATOR(pg_catalog.-) 1,"
				 "       validations_on_day = l.validations_on_day OPERATOR(pg_catalog.-) 1"
				 " WHERE l.id OPERATOR(pg_catalog.=) $1 AND l.validation_day OPERATOR(pg_catalog.=) $2",
				 2, types, values, NULL, &save_user, &save_sec);
	finish_as_owner(save_user, save_sec);
}

/* The arguments of LIC_FAILURES_INSERT for n failures. */
void
lic_fail_arrays(const LicFailure *f, int n, Oid *types, Datum *values)
{
	static const Oid elem[6] = {DATEOID, UUIDOID, TEXTOID, TEXTOID, INT8OID, TIMESTAMPTZOID};
	static const Oid array[6] = {DATEARRAYOID, UUIDARRAYOID, TEXTARRAYOID, TEXTARRAYOID, INT8ARRAYOID,
	TIMESTAMPTZARRAYOID};
	static const pg_uuid_t no_licence;
	MemoryContext cxt = CurrentMemoryContext;
	ArrayBuildState *a[6];

	for (int k = 0; k < 6; k++)
		a[k] = initArrayResult(elem[k], cxt, false);
	for (int i = 0; i < n; i++)
	{
		const LicFailKey *key = &f[i].key;
		bool		no_lic = memcmp(&key->license, &no_licence, UUID_LEN) == 0;
		bool		no_hint = key->hint[0] == '\0';

		accumArrayResult(a[0], DateADTGetDatum((DateADT) key->day), false, DATEOID, cxt);
		accumArrayResult(a[1], UUIDPGetDatum(&key->license), no_lic, UUIDOID, cxt);
		accumArrayResult(a[2], no_hint ? (Datum) 0 :
						 PointerGetDatum(cstring_to_text_with_len(key->hint, sizeof(key->hint))),
						 no_hint, TEXTOID, cxt);
		accumArrayResult(a[3], CStringGetTextDatum(lic_fail_code_name(key->code)), false, TEXTOID, cxt);
		accumArrayResult(a[4], Int64GetDatum(f[i].count), false, INT8OID, cxt);
		accumArrayResult(a[5], TimestampTzGetDatum(f[i].last_at), false, TIMESTAMPTZOID, cxt);
	}
	for (int k = 0; k < 6; k++)
	{
		types[k] = array[k];
		values[k] = makeArrayResult(a[k], cxt);
	}
}

/* Failure counts added to license_validation_failures as the tables' owner. */
void
lic_fail_insert(const LicFailure *failures, int n)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[6];
	Datum		values[6];
	Oid			save_user;
	int			save_sec;

	lic_fail_arrays(failures, n, types, values);
	run_as_owner(&plan, LIC_FAILURES_INSERT, 6, types, values, NULL, &save_user, &save_sec);
	finish_as_owner(save_user, save_sec);
}

/* One row of the validation log; skipped where nothing may be written. */
void
lic_log_validation(const char *code, const LicRow *lic, text *fingerprint, text *app_version)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[5] = {UUIDOID, UUIDOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[5];
	char		nulls[6] = "     ";
	Oid			save_user;
	int			save_sec;

	if (RecoveryInProgress() || XactReadOnly)
		return;
	values[0] = lic ? UUIDPGetDatum(&lic->id) : (Datum) 0;
	values[1] = lic ? UUIDPGetDatum(&lic->user_id) : (Datum) 0;
	nulls[0] = nulls[1] = lic ? ' ' : 'n';
	values[2] = CStringGetTextDatum(code);
	/* Input too long for the log's columns is left out, not truncated. */
	values[3] = PointerGetDatum(fingerprint);
	nulls[3] = fingerprint && VARSIZE_ANY_EXHDR(fingerprint) <= MAX_FINGERPRINT ? ' ' : 'n';
	values[4] = PointerGetDatum(app_version);
	nulls[4] = app_version && VARSIZE_ANY_EXHDR(app_version) <= MAX_APP_VERSION ? ' ' : 'n';
	run_as_owner(&plan,
				 "INSERT INTO jobspy.license_validations"
				 " (license_id, user_id, result, fingerprint, app_version, ip_address)"
				 " VALUES ($1, $2, $3, $4, $5, pg_catalog.inet_client_addr())",
				 5, types, values, nulls, &save_user, &save_sec);
	finish_as_owner(save_user, save_sec);
}
