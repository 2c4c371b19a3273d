/*
 * webhooks_secrets.c: provider signing secrets sealed with libsodium's
 * secretbox, and the SQL entry of signature verification.
 *
 * The sealing key lives outside the database tables, in the file
 * jobspy_webhook.key (32 random bytes, mode 0600) in the data directory:
 * a dump of the database, or a stolen copy of its tables, holds only
 * ciphertexts.  set_provider_secret makes the file when it is missing.
 * Each provider's secrets are sealed under a key derived from the file's
 * key and the provider's id, so a ciphertext moved to another provider does
 * not open.  A backend reads the file once; replacing it needs a restart.
 *
 * Sealed form: 24-byte nonce, then crypto_secretbox_easy's output.
 * Opened secrets live in memory whose context zeroes them when reset.
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "catalog/pg_type_d.h"
#include "storage/fd.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/uuid.h"

#include "core.h"
#include "webhooks.h"

#define KEY_FILE "jobspy_webhook.key"
#define KEY_BYTES crypto_secretbox_KEYBYTES
#define SEALED_MIN (crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)
#define MAX_SECRET 1024

static uint8 master_key[KEY_BYTES];
static bool master_loaded = false;

/* Read the key file into master_key; false when it does not exist. */
static bool
read_key_file(void)
{
	int			fd = OpenTransientFile(KEY_FILE, O_RDONLY | PG_BINARY);
	ssize_t		got;

	if (fd < 0)
	{
		if (errno == ENOENT)
			return false;
		ereport(ERROR, (errcode_for_file_access(),
						errmsg("could not open webhook key file \"%s\": %m", KEY_FILE)));
	}
	got = read(fd, master_key, KEY_BYTES);
	CloseTransientFile(fd);
	if (got != KEY_BYTES)
	{
		sodium_memzero(master_key, sizeof(master_key));
		ereport(ERROR, (errcode(ERRCODE_JS_NO_WEBHOOK_KEY),
						errmsg("webhook key file \"%s\" is not %d bytes", KEY_FILE, KEY_BYTES),
						errhint("Restore the file from a backup of this server's data directory.")));
	}
	master_loaded = true;
	return true;
}

/*
 * Make the key file: written under a private name, then linked into place,
 * so that of two backends making it at once one wins and both use its key.
 */
static void
create_key_file(void)
{
	char		tmp[MAXPGPATH];
	uint8		key[KEY_BYTES];
	int			fd;

	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", KEY_FILE, MyProcPid);
	randombytes_buf(key, sizeof(key));
	fd = OpenTransientFilePerm(tmp, O_WRONLY | O_CREAT | O_EXCL | PG_BINARY, S_IRUSR | S_IWUSR);
	if (fd < 0)
		ereport(ERROR, (errcode_for_file_access(), errmsg("could not create \"%s\": %m", tmp)));
	if (write(fd, key, sizeof(key)) != sizeof(key) || pg_fsync(fd) != 0)
	{
		int			save = errno;

		CloseTransientFile(fd);
		unlink(tmp);
		errno = save;
		ereport(ERROR, (errcode_for_file_access(), errmsg("could not write \"%s\": %m", tmp)));
	}
	CloseTransientFile(fd);
	sodium_memzero(key, sizeof(key));
	if (link(tmp, KEY_FILE) != 0 && errno != EEXIST)
	{
		int			save = errno;

		unlink(tmp);
		errno = save;
		ereport(ERROR, (errcode_for_file_access(), errmsg("could not create \"%s\": %m", KEY_FILE)));
	}
	unlink(tmp);
	fsync_fname(".", true);
}

/* The key sealing one provider's secrets. */
static void
provider_key(const pg_uuid_t *provider, bool create, uint8 out[KEY_BYTES])
{
	static const char domain[] = "jobspy webhook provider secret";
	crypto_generichash_state st;

	if (!master_loaded && !read_key_file())
	{
		if (!create)
			ereport(ERROR, (errcode(ERRCODE_JS_NO_WEBHOOK_KEY),
							errmsg("webhook key file \"%s\" is missing from the data directory", KEY_FILE),
							errdetail("Provider secrets are stored sealed with the key in that file."),
							errhint("Restore the file from a backup of this server, or set the provider secrets again with jobspy.set_provider_secret.")));
		create_key_file();
		if (!read_key_file())
			elog(ERROR, "webhook key file vanished after it was made");
	}
	crypto_generichash_init(&st, master_key, KEY_BYTES, KEY_BYTES);
	crypto_generichash_update(&st, (const uint8 *) domain, sizeof(domain));
	crypto_generichash_update(&st, provider->data, UUID_LEN);
	crypto_generichash_final(&st, out, KEY_BYTES);
}

PG_FUNCTION_INFO_V1(jobspy_webhook_seal);
Datum
jobspy_webhook_seal(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *provider = PG_GETARG_UUID_P(0);
	text	   *secret = PG_GETARG_TEXT_PP(1);
	size_t		len = VARSIZE_ANY_EXHDR(secret);
	uint8		key[KEY_BYTES];
	bytea	   *out;
	uint8	   *p;

	if (len < 1 || len > MAX_SECRET)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("a provider secret must be 1 to %d bytes", MAX_SECRET)));
	provider_key(provider, true, key);
	out = palloc(VARHDRSZ + SEALED_MIN + len);
	SET_VARSIZE(out, VARHDRSZ + SEALED_MIN + len);
	p = (uint8 *) VARDATA(out);
	randombytes_buf(p, crypto_secretbox_NONCEBYTES);
	crypto_secretbox_easy(p + crypto_secretbox_NONCEBYTES, (const uint8 *) VARDATA_ANY(secret), len,
						  p, key);
	sodium_memzero(key, sizeof(key));
	PG_RETURN_BYTEA_P(out);
}

static void
zero_on_reset(void *arg)
{
	WebhookSecret *s = (WebhookSecret *) arg;

	sodium_memzero((void *) s->key, s->len);
}

/* Open one sealed secret into out, in memory zeroed when its context goes. */
static void
open_secret(const pg_uuid_t *provider, bytea *sealed, WebhookSecret *out)
{
	size_t		len = VARSIZE_ANY_EXHDR(sealed);
	const uint8 *p = (const uint8 *) VARDATA_ANY(sealed);
	uint8		key[KEY_BYTES];
	uint8	   *plain;
	MemoryContextCallback *cb;
	bool		ok;

	provider_key(provider, false, key);
	plain = palloc0(Max(len, SEALED_MIN + 1) - SEALED_MIN);
	out->key = plain;
	out->len = len >= SEALED_MIN ? len - SEALED_MIN : 0;
	cb = palloc(sizeof(MemoryContextCallback));
	cb->func = zero_on_reset;
	cb->arg = out;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, cb);
	ok = len > SEALED_MIN &&
		crypto_secretbox_open_easy(plain, p + crypto_secretbox_NONCEBYTES,
								   len - crypto_secretbox_NONCEBYTES, p, key) == 0;
	sodium_memzero(key, sizeof(key));
	if (!ok)
		ereport(ERROR, (errcode(ERRCODE_JS_WEBHOOK_KEY_MISMATCH),
						errmsg("a stored provider secret does not open with this server's webhook key"),
						errdetail("The key file \"%s\" is not the one the secret was sealed with.", KEY_FILE),
						errhint("Restore the key file of the server the secrets were set on, or set them again with jobspy.set_provider_secret.")));
}

/*
 * jobspy.webhook_verify(scheme, provider_id, sealed bytea[], header, payload,
 * tolerance_seconds) -> text: VERIFIED, BAD_SIGNATURE, STALE_TIMESTAMP or
 * MALFORMED.  Internal to receive_webhook (owner only).
 */
PG_FUNCTION_INFO_V1(jobspy_webhook_verify);
Datum
jobspy_webhook_verify(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"VERIFIED", "BAD_SIGNATURE", "STALE_TIMESTAMP", "MALFORMED"};
	text	   *scheme;
	pg_uuid_t  *provider;
	ArrayType  *sealed;
	text	   *header;
	text	   *payload;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			nsecrets = 0;
	WebhookSecret *secrets;
	WebhookVerdict v;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(5))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("webhook_verify: scheme, provider, secrets and tolerance are required")));
	if (PG_ARGISNULL(3) || PG_ARGISNULL(4))
		PG_RETURN_TEXT_P(cstring_to_text(names[WEBHOOK_MALFORMED]));
	scheme = PG_GETARG_TEXT_PP(0);
	provider = PG_GETARG_UUID_P(1);
	sealed = PG_GETARG_ARRAYTYPE_P(2);
	header = PG_GETARG_TEXT_PP(3);
	payload = PG_GETARG_TEXT_PP(4);

	deconstruct_array(sealed, BYTEAOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	secrets = palloc0(sizeof(WebhookSecret) * Max(n, 1));
	for (int i = 0; i < n; i++)
		if (!nulls[i])
			open_secret(provider, DatumGetByteaPP(elems[i]), &secrets[nsecrets++]);

	if (strcmp(text_to_cstring(scheme), "stripe") == 0)
		v = webhook_verify_stripe(VARDATA_ANY(header), VARSIZE_ANY_EXHDR(header),
								  VARDATA_ANY(payload), VARSIZE_ANY_EXHDR(payload),
								  secrets, nsecrets,
								  (int64) (timestamptz_to_time_t(jobspy_now())),
								  (int64) PG_GETARG_INT32(5));
	else if (strcmp(text_to_cstring(scheme), "hmac_sha256") == 0)
		v = webhook_verify_hmac(VARDATA_ANY(header), VARSIZE_ANY_EXHDR(header),
								VARDATA_ANY(payload), VARSIZE_ANY_EXHDR(payload),
								secrets, nsecrets);
	else
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("unknown webhook signature scheme \"%s\"", text_to_cstring(scheme)),
						errhint("The schemes are stripe and hmac_sha256.")));

	for (int i = 0; i < nsecrets; i++)
		sodium_memzero((void *) secrets[i].key, secrets[i].len);
	PG_RETURN_TEXT_P(cstring_to_text(names[v]));
}
