/*
 * webhooks.h: provider event intake (signatures, deduplication, ordering),
 * applying provider events, and the outbox of domain events.
 */
#ifndef JOBSPY_WEBHOOKS_H
#define JOBSPY_WEBHOOKS_H

#include "postgres.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

/* SQLSTATEs of the webhooks module (docs/errors.md). */
#define ERRCODE_JS_NO_WEBHOOK_KEY		MAKE_SQLSTATE('J','S','6','0','1')
#define ERRCODE_JS_WEBHOOK_KEY_MISMATCH	MAKE_SQLSTATE('J','S','6','0','2')
/* Raised by the SQL that applies Stripe events (sql/webhooks_stripe.sql). */
#define ERRCODE_JS_PROVIDER_CUSTOMER_UNKNOWN	MAKE_SQLSTATE('J','S','6','0','3')
#define ERRCODE_JS_PROVIDER_TOTALS_DIFFER	MAKE_SQLSTATE('J','S','6','0','4')

/* What a signature check found. */
typedef enum WebhookVerdict
{
	WEBHOOK_VERIFIED,
	WEBHOOK_BAD_SIGNATURE,
	WEBHOOK_STALE_TIMESTAMP,
	WEBHOOK_MALFORMED
} WebhookVerdict;

/* One live signing secret of a provider, in the clear (zeroed after use). */
typedef struct WebhookSecret
{
	const uint8 *key;
	size_t		len;
} WebhookSecret;

/*
 * Stripe's scheme: header "t=...,v1=..." over payload, now and tolerance in
 * seconds (webhooks_verify.c).
 */
extern WebhookVerdict webhook_verify_stripe(const char *header, size_t header_len,
											const char *payload, size_t payload_len,
											const WebhookSecret *secrets, int nsecrets,
											int64 now, int64 tolerance);

/* Plain HMAC-SHA256 of the body, in hex or base64 (webhooks_verify.c). */
extern WebhookVerdict webhook_verify_hmac(const char *header, size_t header_len,
										  const char *payload, size_t payload_len,
										  const WebhookSecret *secrets, int nsecrets);

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
