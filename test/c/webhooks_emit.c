/*
 * test/c/webhooks_emit.c: a SQL entry to jobspy_emit_event(), the outbox's C
 * helper (src/webhooks_outbox.c), which no module's SQL calls directly.
 * Built and loaded only by test/shell/webhooks_emit_c.sh; never installed.
 * The symbol resolves against the preloaded jobspy_core library.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "webhooks.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(test_emit_event);
Datum
test_emit_event(PG_FUNCTION_ARGS)
{
	/* SQL NULL becomes a NULL pointer, as a C caller would pass it. */
	char	   *topic = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *entity_type = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *entity_id = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	Jsonb	   *payload = PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3);
	pg_uuid_t  *user_id = PG_ARGISNULL(4) ? NULL : PG_GETARG_UUID_P(4);

	PG_RETURN_INT64(jobspy_emit_event(topic, entity_type, entity_id, payload, user_id));
}
