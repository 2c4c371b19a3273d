/*
 * keys.h: licence keys, random tokens and keyed hashing of secrets.
 */
#ifndef JOBSPY_KEYS_H
#define JOBSPY_KEYS_H

#include "postgres.h"

/* Canonical licence key: XXXX-XXXX-XXXX-XXXX plus the terminating NUL. */
#define LICENSE_KEY_LEN 19

/* Output size of the keyed hash (BLAKE2b-256). */
#define SECRET_HASH_BYTES 32

/*
 * Normalise a licence key typed by a person (case, spaces, dashes,
 * look-alike letters) into out; false when it is not a well-formed key with
 * a correct checksum.
 */
extern bool license_key_normalize(const char *input, size_t len, char out[LICENSE_KEY_LEN + 1]);

/*
 * The symbols of licence keys (Crockford's base 32), shared with other
 * human-typed codes such as referral codes: the value of an upper-case
 * symbol (look-alikes O, I, L read as 0, 1, 1), -1 for none, and the
 * symbol of a value in 0..31.
 */
extern int	key_digit(char c);
extern char key_symbol(int value);

/* Bytes from libsodium's CSPRNG through a small per-backend pool. */
extern void key_random_bytes(unsigned char *out, size_t n);

/* A fresh licence key in canonical form, from libsodium's CSPRNG. */
extern void license_key_generate(char out[LICENSE_KEY_LEN + 1]);

/*
 * Keyed hashes of a secret under every live key, the key new hashes use
 * first.  Returns how many were written to out (at most max).  Purpose
 * separates domains ("license", "session", ...), so that one secret hashed
 * for two uses gives two unrelated values.
 */
extern int	secret_hash_candidates(const char *purpose, const char *secret, size_t len,
								   uint8 out[][SECRET_HASH_BYTES], int max);

/* The hash under the key new hashes use. */
extern void secret_hash(const char *purpose, const char *secret, size_t len,
						uint8 out[SECRET_HASH_BYTES]);

#endif							/* JOBSPY_KEYS_H */
