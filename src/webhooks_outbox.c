/*
 * webhooks_outbox.c: the C entry to the outbox of domain events, for
 * modules whose state changes are written in C.  The SQL function
 * jobspy.emit_event() is the one place the rule lives (validation, the
 * row, the NOTIFY); this calls it through one kept SPI plan.
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/uuid.h"

#include "core.h"
#include "webhooks.h"

int64
jobspy_emit_event(const char *topic, const char *entity_type, const char *entity_id,
				  Jsonb *payload, const pg_uuid_t *user_id)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[5] = {TEXTOID, TEXTOID, TEXTOID, JSONBOID, UUIDOID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	bool		isnull;
	int64		id;
	int			ret;

	if (topic == NULL || entity_type == NULL || entity_id == NULL)
		elog(ERROR, "jobspy_emit_event: topic, entity type and entity id are required");

	values[0] = CStringGetTextDatum(topic);
	values[1] = CStringGetTextDatum(entity_type);
	values[2] = CStringGetTextDatum(entity_id);
	values[3] = payload ? JsonbPGetDatum(payload)
		: DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"));
	values[4] = user_id ? UUIDPGetDatum(user_id) : (Datum) 0;
	if (user_id == NULL)
		nulls[4] = 'n';

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = SPI_execute_plan(jobspy_plan(&plan, "SELECT jobspy.emit_event($1, $2, $3, $4, $5)", 5, types),
						   values, nulls, false, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	return id;
}
