/*
 * loyalty.h: the loyalty module (businesses, members, purchases, the points
 * ledger, tiers, coupons, referral codes, prepaid credits, community events,
 * RFM).  The rules live in sql/loyalty*.sql; C holds what people type (phone
 * numbers and referral codes, src/loyalty.c), the balance at jobspy.now()
 * (src/loyalty_balance.c) and the hot write paths: grants
 * (src/loyalty_grant.c), purchases (src/loyalty_purchase.c) and spends
 * (src/loyalty_spend.c).
 */
#ifndef JOBSPY_LOYALTY_H
#define JOBSPY_LOYALTY_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "utils/uuid.h"

/*
 * SQLSTATEs of the loyalty module (JS7xx), listed in docs/errors.md.  The
 * SQL functions raise them by their text; these names are for C callers.
 */
#define ERRCODE_JS_PURCHASE_CONFLICT	MAKE_SQLSTATE('J','S','7','0','1')
#define ERRCODE_JS_SPEND_CONFLICT		MAKE_SQLSTATE('J','S','7','0','2')
#define ERRCODE_JS_COUPON_REFUSED		MAKE_SQLSTATE('J','S','7','0','3')
#define ERRCODE_JS_REFUND_EXCEEDS		MAKE_SQLSTATE('J','S','7','0','4')
#define ERRCODE_JS_LEDGER_APPEND_ONLY	MAKE_SQLSTATE('J','S','7','0','5')
#define ERRCODE_JS_REDEMPTION_CONFLICT	MAKE_SQLSTATE('J','S','7','0','6')

/* Referral code: 7 random symbols and a check symbol, shown XXXX-XXXX. */
#define REFERRAL_CODE_LEN 9

/*
 * A phone number in E.164 form ("+" and 8 to 15 digits) into out, from what
 * a person typed; country_code (digits, may be NULL) is the calling code
 * used for a number written without an international prefix.  False when
 * it cannot be one.
 */
extern bool phone_normalize(const char *input, size_t len, const char *country_code,
							char out[17]);

/* A fresh referral code in canonical form. */
extern void referral_code_generate(char out[REFERRAL_CODE_LEN + 1]);

/* The canonical form of a typed referral code, false when malformed or its check fails. */
extern bool referral_code_normalize(const char *input, size_t len, char out[REFERRAL_CODE_LEN + 1]);

/*
 * A member's spendable points at now from its row's balance and next_expiry
 * (src/loyalty_balance.c): the balance, less the remainders of grants
 * already expired that maintain() has not yet written off.
 */
extern int64 loyalty_live_balance(pg_uuid_t *user_id, int64 balance, bool next_isnull,
								  TimestampTz next, TimestampTz now);

/* A member's points as a write left them. */
typedef struct LoyaltyMemberPoints
{
	int64		balance;
	bool		next_isnull;
	TimestampTz next_expiry;
} LoyaltyMemberPoints;

/*
 * A member's running spend (loyalty_members.window_spend, window_from,
 * window_currency) as a purchase leaves it, written with the member's row.
 */
typedef struct LoyaltyWindow
{
	int64		spend;
	TimestampTz from;
	Datum		currency;
} LoyaltyWindow;

/*
 * Grant points to a member whose row the caller holds locked, with that
 * row's debt, which the grant settles first (src/loyalty_grant.c): the
 * member's balance, a ledger grant expiring at expires, its remainder, and
 * a debt row when some was settled.  Returns the grant's ledger id; fills
 * *after (may be NULL) with the member's balance and next expiry.  window
 * (may be NULL: unchanged) is the member's running spend to write with the
 * balance.  The caller is connected to SPI.
 */
extern int64 loyalty_grant_points(Datum user, int64 points, const char *kind, TimestampTz expires,
								  Datum purchase, bool purchase_null, Datum business, bool business_null,
								  Datum reference, bool reference_null, int64 debt,
								  const LoyaltyWindow *window, LoyaltyMemberPoints *after);

#endif							/* JOBSPY_LOYALTY_H */
