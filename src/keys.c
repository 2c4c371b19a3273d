/*
 * keys.c: licence-key generation, normalisation and checksum; random
 * tokens; keyed hashing of secrets.
 *
 * A licence key is 16 characters of Crockford's base-32 alphabet (no I, L,
 * O or U), shown as XXXX-XXXX-XXXX-XXXX.  The first 14 characters are
 * random (70 bits); the last two make the whole key, read as a base-32
 * number, a multiple of the prime 1021.  A single substitution changes that
 * number by d * 32^k and a swap of neighbours by d * 31 * 32^k, with
 * 0 < |d| < 32; neither is a multiple of 1021, so both are always caught.
 *
 * Secrets (licence keys, tokens) are stored as BLAKE2b-256 keyed hashes.
 * The keys live in jobspy.hash_keys, readable by the extension owner only;
 * this file reads that table directly (no SQL, no privilege check) and
 * caches the keys per backend until a change to the table invalidates them.
 */
#include "postgres.h"

#include <sodium.h>

#include "fmgr.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_type_d.h"
#include "commands/trigger.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "core.h"
#include "keys.h"

#define KEY_CHARS 16
#define KEY_RANDOM_CHARS 14
#define KEY_MODULUS 1021

static const char key_alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* Value of an upper-cased character, or -1; maps look-alikes O, I, L. */
/* The value of each byte as a key symbol, -1 for none; built on first use. */
static int8 key_digits[256];

int
key_digit(char c)
{
	if (key_digits['1'] == 0)
	{
		memset(key_digits, -1, sizeof(key_digits));
		for (int i = 0; key_alphabet[i]; i++)
			key_digits[(unsigned char) key_alphabet[i]] = i;
		key_digits['O'] = 0;
		key_digits['I'] = key_digits['L'] = 1;
	}
	return key_digits[(unsigned char) c];
}

char
key_symbol(int value)
{
	Assert(value >= 0 && value < 32);
	return key_alphabet[value];
}

static void
key_format(const int digits[KEY_CHARS], char out[LICENSE_KEY_LEN + 1])
{
	int			o = 0;

	for (int i = 0; i < KEY_CHARS; i++)
	{
		if (i > 0 && i % 4 == 0)
			out[o++] = '-';
		out[o++] = key_alphabet[digits[i]];
	}
	out[o] = '\0';
}

/*
 * Random bytes for keys come from a small per-backend pool refilled from
 * libsodium: its generator asks the kernel on every call, and one system
 * call per key would cost more than the rest of the work together.  Bytes
 * are wiped from the pool as they are handed out.
 */
static unsigned char key_pool[1024];
static size_t key_pool_left = 0;

void
key_random_bytes(unsigned char *out, size_t n)
{
	unsigned char *from;

	Assert(n <= sizeof(key_pool));
	if (key_pool_left < n)
	{
		randombytes_buf(key_pool, sizeof(key_pool));
		key_pool_left = sizeof(key_pool);
	}
	from = key_pool + sizeof(key_pool) - key_pool_left;
	memcpy(out, from, n);
	sodium_memzero(from, n);
	key_pool_left -= n;
}

void
license_key_generate(char out[LICENSE_KEY_LEN + 1])
{
	unsigned char bytes[10];	/* 80 bits, of which the first 70 are used */
	int			digits[KEY_CHARS];
	int			rest = 0;
	int			check;

	key_random_bytes(bytes, sizeof(bytes));
	for (int i = 0; i < KEY_RANDOM_CHARS; i++)
	{
		int			bit = i * 5;
		int			pair = (bytes[bit / 8] << 8) | bytes[bit / 8 + 1];

		digits[i] = (pair >> (11 - bit % 8)) & 31;
		rest = (rest * 32 + digits[i]) % KEY_MODULUS;
	}
	/* Solve rest * 1024 + check = 0 (mod 1021) for check in [0, 1021). */
	check = (KEY_MODULUS - (rest * 1024) % KEY_MODULUS) % KEY_MODULUS;
	digits[14] = check / 32;
	digits[15] = check % 32;
	key_format(digits, out);
	sodium_memzero(bytes, sizeof(bytes));
	sodium_memzero(digits, sizeof(digits));
}

bool
license_key_normalize(const char *input, size_t len, char out[LICENSE_KEY_LEN + 1])
{
	int			digits[KEY_CHARS];
	int			n = 0;
	int			rest = 0;

	for (size_t i = 0; i < len; i++)
	{
		char		c = input[i];
		int			d;

		if (c == '-' || c == ' ' || c == '\t' || c == '\n' || c == '\r')
			continue;
		if (c >= 'a' && c <= 'z')
			c = c - 'a' + 'A';
		d = key_digit(c);
		if (d < 0 || n == KEY_CHARS)
			return false;
		digits[n++] = d;
	}
	if (n != KEY_CHARS)
		return false;
	for (int i = 0; i < KEY_CHARS; i++)
		rest = (rest * 32 + digits[i]) % KEY_MODULUS;
	if (rest != 0)
		return false;
	key_format(digits, out);
	return true;
}

PG_FUNCTION_INFO_V1(jobspy_generate_license_key);
Datum
jobspy_generate_license_key(PG_FUNCTION_ARGS)
{
	char		key[LICENSE_KEY_LEN + 1];

	license_key_generate(key);
	PG_RETURN_TEXT_P(cstring_to_text(key));
}

PG_FUNCTION_INFO_V1(jobspy_license_key_is_valid);
Datum
jobspy_license_key_is_valid(PG_FUNCTION_ARGS)
{
	text	   *input = PG_GETARG_TEXT_PP(0);
	char		key[LICENSE_KEY_LEN + 1];

	PG_RETURN_BOOL(license_key_normalize(VARDATA_ANY(input), VARSIZE_ANY_EXHDR(input), key));
}

PG_FUNCTION_INFO_V1(jobspy_normalize_license_key);
Datum
jobspy_normalize_license_key(PG_FUNCTION_ARGS)
{
	text	   *input = PG_GETARG_TEXT_PP(0);
	char		key[LICENSE_KEY_LEN + 1];

	if (!license_key_normalize(VARDATA_ANY(input), VARSIZE_ANY_EXHDR(input), key))
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(key));
}

/*
 * Random tokens: nbytes from the CSPRNG, base64url without padding, so
 * they travel in URLs and headers unchanged.
 */
PG_FUNCTION_INFO_V1(jobspy_random_token);
Datum
jobspy_random_token(PG_FUNCTION_ARGS)
{
	int32		nbytes = PG_GETARG_INT32(0);
	unsigned char buf[64];
	char		out[sodium_base64_ENCODED_LEN(64, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
	text	   *result;

	if (nbytes < 16 || nbytes > 64)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("token length must be between 16 and 64 bytes"),
				 errdetail("The length asked for was %d bytes.", nbytes)));
	randombytes_buf(buf, nbytes);
	sodium_bin2base64(out, sizeof(out), buf, nbytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	result = cstring_to_text(out);
	sodium_memzero(buf, sizeof(buf));
	sodium_memzero(out, sizeof(out));
	PG_RETURN_TEXT_P(result);
}

/* ---- keyed hashing ---------------------------------------------------- */

#define MAX_HASH_KEYS 16

typedef struct HashKey
{
	int32		key_id;
	unsigned char secret[crypto_generichash_KEYBYTES];
	/* BLAKE2b keyed with the secret, before any data: keying costs a compression. */
	crypto_generichash_state keyed;
} HashKey;

/* Per-backend cache: keys[0] is the active key, the rest verify only. */
static HashKey hash_keys[MAX_HASH_KEYS];
static int	n_hash_keys = 0;
static bool hash_keys_valid = false;

static void
hash_keys_forget(void)
{
	sodium_memzero(hash_keys, sizeof(hash_keys));
	n_hash_keys = 0;
	hash_keys_valid = false;
}

/* The table, looked up once per backend; a change to it forgets the keys. */
static const char *const hash_keys_rel_names[] = {"hash_keys"};
static JobspyRels hash_keys_rels = {
	.names = hash_keys_rel_names, .nrels = 1, .forget = hash_keys_forget,
};

/*
 * Load the live keys.  The active key is the earliest-created row in state
 * 'active' (a restore can leave a second, never-used one from CREATE
 * EXTENSION beside the restored key); 'verify' keys follow it.  Takes
 * AccessShareLock on jobspy.hash_keys.
 */
static void
hash_keys_load(void)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tuple;
	Snapshot	snapshot;
	TimestampTz active_created = 0;
	int			active = -1;

	hash_keys_forget();
	rel = table_open(jobspy_rel(&hash_keys_rels, 0), AccessShareLock);
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	scan = table_beginscan(rel, snapshot, 0, NULL);
	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		bool		isnull[4];
		Datum		key_id = heap_getattr(tuple, 1, RelationGetDescr(rel), &isnull[0]);
		Datum		secret = heap_getattr(tuple, 2, RelationGetDescr(rel), &isnull[1]);
		Datum		state = heap_getattr(tuple, 3, RelationGetDescr(rel), &isnull[2]);
		Datum		created = heap_getattr(tuple, 4, RelationGetDescr(rel), &isnull[3]);
		bytea	   *sb;
		char	   *st;
		HashKey    *slot;

		if (isnull[0] || isnull[1] || isnull[2] || isnull[3])
			continue;
		st = TextDatumGetCString(state);
		if (strcmp(st, "retired") == 0)
			continue;
		if (n_hash_keys == MAX_HASH_KEYS)
		{
			table_endscan(scan);
			UnregisterSnapshot(snapshot);
			table_close(rel, AccessShareLock);
			hash_keys_forget();
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("jobspy.hash_keys holds more than %d keys that are not retired", MAX_HASH_KEYS),
					 errhint("Retire keys no longer needed with jobspy.retire_hash_key().")));
		}
		sb = DatumGetByteaPP(secret);
		if (VARSIZE_ANY_EXHDR(sb) != crypto_generichash_KEYBYTES)
			continue;
		slot = &hash_keys[n_hash_keys];
		slot->key_id = DatumGetInt32(key_id);
		memcpy(slot->secret, VARDATA_ANY(sb), crypto_generichash_KEYBYTES);
		crypto_generichash_init(&slot->keyed, slot->secret, sizeof(slot->secret), SECRET_HASH_BYTES);
		if (strcmp(st, "active") == 0 &&
			(active < 0 || DatumGetTimestampTz(created) < active_created))
		{
			active = n_hash_keys;
			active_created = DatumGetTimestampTz(created);
		}
		n_hash_keys++;
	}
	table_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);

	if (active < 0)
	{
		hash_keys_forget();
		ereport(ERROR,
				(errcode(ERRCODE_JS_NO_HASH_KEY),
				 errmsg("jobspy_core has no active hash key"),
				 errhint("Run SELECT jobspy.rotate_hash_key() as the extension owner.")));
	}
	if (active != 0)
	{
		HashKey		tmp = hash_keys[0];

		hash_keys[0] = hash_keys[active];
		hash_keys[active] = tmp;
		sodium_memzero(&tmp, sizeof(tmp));
	}
	hash_keys_valid = true;
}

static void
keyed_hash(const HashKey *key, const char *purpose, const char *secret, size_t len,
		   uint8 out[SECRET_HASH_BYTES])
{
	crypto_generichash_state st = key->keyed;

	/* The purpose and its NUL keep domains apart. */
	crypto_generichash_update(&st, (const unsigned char *) purpose, strlen(purpose) + 1);
	crypto_generichash_update(&st, (const unsigned char *) secret, len);
	crypto_generichash_final(&st, out, SECRET_HASH_BYTES);
	sodium_memzero(&st, sizeof(st));
}

int
secret_hash_candidates(const char *purpose, const char *secret, size_t len,
					   uint8 out[][SECRET_HASH_BYTES], int max)
{
	int			n;

	if (!hash_keys_valid)
		hash_keys_load();
	n = Min(n_hash_keys, max);
	for (int i = 0; i < n; i++)
		keyed_hash(&hash_keys[i], purpose, secret, len, out[i]);
	return n;
}

void
secret_hash(const char *purpose, const char *secret, size_t len, uint8 out[SECRET_HASH_BYTES])
{
	secret_hash_candidates(purpose, secret, len, (uint8 (*)[SECRET_HASH_BYTES]) out, 1);
}

static bytea *
hash_to_bytea(const uint8 hash[SECRET_HASH_BYTES])
{
	bytea	   *result = (bytea *) palloc(VARHDRSZ + SECRET_HASH_BYTES);

	SET_VARSIZE(result, VARHDRSZ + SECRET_HASH_BYTES);
	memcpy(VARDATA(result), hash, SECRET_HASH_BYTES);
	return result;
}

static char *
purpose_arg(text *purpose)
{
	char	   *p = text_to_cstring(purpose);

	if (p[0] == '\0' || strlen(p) > 63)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("hash purpose must be 1 to 63 bytes")));
	return p;
}

PG_FUNCTION_INFO_V1(jobspy_secret_hash);
Datum
jobspy_secret_hash(PG_FUNCTION_ARGS)
{
	char	   *purpose = purpose_arg(PG_GETARG_TEXT_PP(0));
	text	   *secret = PG_GETARG_TEXT_PP(1);
	uint8		hash[SECRET_HASH_BYTES];

	secret_hash(purpose, VARDATA_ANY(secret), VARSIZE_ANY_EXHDR(secret), hash);
	PG_RETURN_BYTEA_P(hash_to_bytea(hash));
}

PG_FUNCTION_INFO_V1(jobspy_secret_hash_candidates);
Datum
jobspy_secret_hash_candidates(PG_FUNCTION_ARGS)
{
	char	   *purpose = purpose_arg(PG_GETARG_TEXT_PP(0));
	text	   *secret = PG_GETARG_TEXT_PP(1);
	uint8		hashes[MAX_HASH_KEYS][SECRET_HASH_BYTES];
	Datum		elems[MAX_HASH_KEYS];
	int			n;

	n = secret_hash_candidates(purpose, VARDATA_ANY(secret), VARSIZE_ANY_EXHDR(secret),
							   hashes, MAX_HASH_KEYS);
	for (int i = 0; i < n; i++)
		elems[i] = PointerGetDatum(hash_to_bytea(hashes[i]));
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, n, BYTEAOID, -1, false, TYPALIGN_INT));
}

/* Raw random bytes for new hash and signing keys. */
PG_FUNCTION_INFO_V1(jobspy_random_bytes);
Datum
jobspy_random_bytes(PG_FUNCTION_ARGS)
{
	int32		n = PG_GETARG_INT32(0);
	bytea	   *result;

	if (n < 1 || n > 1024)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("random byte count must be between 1 and 1024")));
	result = (bytea *) palloc(VARHDRSZ + n);
	SET_VARSIZE(result, VARHDRSZ + n);
	randombytes_buf(VARDATA(result), n);
	PG_RETURN_BYTEA_P(result);
}

/*
 * Statement trigger on jobspy.hash_keys: every backend drops its cached keys
 * when the change commits (a relcache invalidation reaches them all).
 */
PG_FUNCTION_INFO_V1(jobspy_hash_keys_changed);
Datum
jobspy_hash_keys_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = jobspy_trigger_data(fcinfo, "jobspy.hash_keys_changed()");

	CacheInvalidateRelcache(trigdata->tg_relation);
	hash_keys_forget();
	return PointerGetDatum(NULL);
}

void
jobspy_keys_init(void)
{
	jobspy_rels_register(&hash_keys_rels);
}
