/*
 * nostr.h: Nostr identity (seed 003): BIP-340 Schnorr signatures over
 * secp256k1, NIP-01 event ids and NIP-19 npub public keys.
 */
#ifndef JOBSPY_NOSTR_H
#define JOBSPY_NOSTR_H

#include "postgres.h"

/* SQLSTATE of the identity module (JS1xx), listed in docs/errors.md. */
#define ERRCODE_JS_NOSTR_KEY_CHECKSUM	MAKE_SQLSTATE('J','S','1','0','5')

/* Sizes of BIP-340 objects, in bytes. */
#define NOSTR_PUBKEY_BYTES 32
#define NOSTR_SIG_BYTES 64

/*
 * True when sig is a valid BIP-340 signature of msg under the x-only
 * public key; false also when the key is not a point of the curve.
 */
extern bool nostr_schnorr_verify(const unsigned char *pubkey32,
								 const unsigned char *msg, size_t msglen,
								 const unsigned char *sig64);

/* True when the 32 bytes are the x coordinate of a point of the curve. */
extern bool nostr_pubkey_on_curve(const unsigned char *pubkey32);

#endif							/* JOBSPY_NOSTR_H */
