/*
 * webhooks.h: provider event intake (signatures, deduplication, ordering),
 * applying provider events, and the outbox of domain events.
 */
#ifndef JOBSPY_WEBHOOKS_H
#define JOBSPY_WEBHOOKS_H

#include "postgres.h"
#include "utils/jsonb.h"

/*
 * Write a domain event to the outbox in the current transaction, as
 * jobspy.emit_event() does (docs/webhooks.md); returns its id.  payload may
 * be NULL for an empty object, user_id NULL when the event concerns nobody
 * in particular.  Runs SQL through SPI: the caller must not be inside an
 * SPI connection it still uses, or must have pushed its own.
 */
extern int64 jobspy_emit_event(const char *topic, const char *entity_type, const char *entity_id,
							   Jsonb *payload, const pg_uuid_t *user_id);

#endif							/* JOBSPY_WEBHOOKS_H */
