/*
 * identity_timezone.c: jobspy.timezone_known(name), whether a name is one
 * of pg_timezone_names.
 *
 * pg_timezone_names reads every zone file of the time zone database each
 * time it is queried (about 20 ms), which made create_user cost that much
 * a call.  The names are read once per backend, with the same rules as
 * that view (a zone that cannot convert the current time, or whose
 * abbreviation is over 31 characters, is left out), and kept in a hash
 * table in TopMemoryContext.  A backend reads the database as it was when
 * it first asked; zones added by an update of it are known to new backends.
 */
#include "postgres.h"

#include "fmgr.h"
#include "pgtime.h"
#include "access/xact.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/hsearch.h"

#include "identity.h"

typedef struct ZoneName
{
	char		name[TZ_STRLEN_MAX + 1];
} ZoneName;

static HTAB *zone_names = NULL;

static HTAB *
read_zone_names(void)
{
	HASHCTL		ctl;
	HTAB	   *names;
	pg_tzenum  *zones;
	pg_tz	   *tz;
	TimestampTz now = GetCurrentTransactionStartTimestamp();

	ctl.keysize = ctl.entrysize = sizeof(ZoneName);
	names = hash_create("jobspy time zone names", 1024, &ctl, HASH_ELEM | HASH_STRINGS);
	zones = pg_tzenumerate_start();
	while ((tz = pg_tzenumerate_next(zones)) != NULL)
	{
		const char *name = pg_get_timezone_name(tz);
		struct pg_tm tm;
		fsec_t		fsec;
		int			offset;
		const char *abbrev;

		if (timestamp2tm(now, &offset, &tm, &fsec, &abbrev, tz) != 0 ||
			(abbrev && strlen(abbrev) > 31) || strlen(name) > TZ_STRLEN_MAX)
			continue;
		(void) hash_search(names, name, HASH_ENTER, NULL);
	}
	pg_tzenumerate_end(zones);
	return names;
}

bool
timezone_known(const char *name, size_t len)
{
	ZoneName	key;

	if (len == 0 || len > TZ_STRLEN_MAX || memchr(name, '\0', len) != NULL)
		return false;
	if (zone_names == NULL)
		zone_names = read_zone_names();
	memset(key.name, 0, sizeof(key.name));
	memcpy(key.name, name, len);
	return hash_search(zone_names, key.name, HASH_FIND, NULL) != NULL;
}

/* jobspy.timezone_known(name text) -> boolean */
PG_FUNCTION_INFO_V1(jobspy_timezone_known);
Datum
jobspy_timezone_known(PG_FUNCTION_ARGS)
{
	text	   *name = PG_GETARG_TEXT_PP(0);

	PG_RETURN_BOOL(timezone_known(VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name)));
}
