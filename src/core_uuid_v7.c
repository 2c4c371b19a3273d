/*
 * core_uuid_v7.c: time-ordered ids (RFC 9562 version 7) for the rows that
 * record events and transactions.
 *
 * A random (version 4) key lands on a random leaf of each index that holds
 * it; after a checkpoint, the first change of each leaf writes the whole
 * page to WAL, and commits wait for their WAL.  A payment's id keys three
 * indexes (its own, its audit row's, its outbox event's).  A version 7 id
 * starts with the time, so new keys gather at the right edge of their
 * indexes, on pages already written since the checkpoint.
 *
 * Layout: 48 bits of Unix time in milliseconds, the version (7), 12 bits of
 * the millisecond's fraction (RFC 9562 section 6.2, method 3), the variant
 * and 62 random bits.  Within a backend each id is greater than the one
 * before: when the clock has not moved on by a microsecond, the time used
 * is the last one plus a microsecond.
 */
#include "postgres.h"

#include <sodium.h>

#include "fmgr.h"
#include "datatype/timestamp.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "core.h"


/* Microseconds between the Unix epoch and PostgreSQL's (2000-01-01). */
#define UNIX_TO_POSTGRES_USECS \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY)

static int64 last_unix_usecs = 0;

/* See core.h. */
void
jobspy_uuid_v7(pg_uuid_t *uuid)
{
	int64		usecs = GetCurrentTimestamp() + UNIX_TO_POSTGRES_USECS;
	uint64		millis;
	uint32		fraction;

	if (usecs <= last_unix_usecs)
		usecs = last_unix_usecs + 1;
	last_unix_usecs = usecs;

	millis = (uint64) usecs / 1000;
	/* 0..999 microseconds as 0..4091 of 4096: distinct and in order. */
	fraction = (uint32) ((usecs % 1000) * 4096 / 1000);

	for (int i = 0; i < 6; i++)
		uuid->data[i] = (unsigned char) (millis >> (40 - 8 * i));
	uuid->data[6] = (unsigned char) (0x70 | (fraction >> 8));
	uuid->data[7] = (unsigned char) (fraction & 0xff);
	randombytes_buf(&uuid->data[8], 8);
	uuid->data[8] = (unsigned char) (0x80 | (uuid->data[8] & 0x3f));
}

PG_FUNCTION_INFO_V1(jobspy_uuid_v7_sql);
Datum
jobspy_uuid_v7_sql(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *uuid = palloc(sizeof(pg_uuid_t));

	jobspy_uuid_v7(uuid);
	PG_RETURN_UUID_P(uuid);
}
