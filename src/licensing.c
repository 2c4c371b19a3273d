/*
 * licensing.c: the licensing module's registration (its GUCs, its shared
 * memory) and the cache of the relation and column numbers of the tables
 * that validation reads.  licensing.h lists the module's other files.
 *
 * validate_license() takes the licence, its user and its machine from the
 * cache that all backends share or straight from their unique indexes; its
 * counts go to a table in shared memory, which flush_license_validations()
 * (run by maintain()) writes to the tables in batches.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "core.h"
#include "licensing.h"

int			licensing_max_counters = 262144;
bool		licensing_log_successes = false;

LicRels		lic_rels;

/* The relations validation reads, looked up by the core's cache (core_cache.c). */
enum
{
	LR_LICENSES, LR_LICENSES_BY_HASH, LR_LICENSES_BY_ID, LR_USERS, LR_USERS_PKEY, LR_MACHINES, LR_MACHINES_BY_FP
};
static const char *const lic_rel_names[] = {
	[LR_LICENSES] = "licenses",
	[LR_LICENSES_BY_HASH] = "licenses_license_key_hash_key",
	[LR_LICENSES_BY_ID] = "licenses_id_idx",
	[LR_USERS] = "users",
	[LR_USERS_PKEY] = "users_pkey",
	[LR_MACHINES] = "license_machines",
	[LR_MACHINES_BY_FP] = "license_machines_user_id_license_id_fingerprint_key",
};

/* A change to any of them: lic_rels, and the schema stamp, are read again. */
static void
lic_rels_forget(void)
{
	lic_rels.valid = false;
}

static JobspyRels lic_rel_set = {
	.names = lic_rel_names, .nrels = lengthof(lic_rel_names), .forget = lic_rels_forget,
};

static void
rels_load(void)
{
	LicRels		r;

	jobspy_rels_require(&lic_rel_set);
	r.licenses = lic_rel_set.oids[LR_LICENSES];
	r.licenses_by_hash = lic_rel_set.oids[LR_LICENSES_BY_HASH];
	r.licenses_by_id = lic_rel_set.oids[LR_LICENSES_BY_ID];
	r.users = lic_rel_set.oids[LR_USERS];
	r.users_pkey = lic_rel_set.oids[LR_USERS_PKEY];
	r.machines = lic_rel_set.oids[LR_MACHINES];
	r.machines_by_fingerprint = lic_rel_set.oids[LR_MACHINES_BY_FP];
	r.owner = lic_rel_set.owner;
	r.l_id = jobspy_attnum(r.licenses, "id");
	r.l_user = jobspy_attnum(r.licenses, "user_id");
	r.l_hash = jobspy_attnum(r.licenses, "license_key_hash");
	r.l_type = jobspy_attnum(r.licenses, "license_type");
	r.l_status = jobspy_attnum(r.licenses, "status");
	r.l_expires = jobspy_attnum(r.licenses, "expires_at");
	r.l_features = jobspy_attnum(r.licenses, "features");
	r.l_max_machines = jobspy_attnum(r.licenses, "max_machines");
	r.l_max_per_day = jobspy_attnum(r.licenses, "max_validations_per_day");
	r.l_day = jobspy_attnum(r.licenses, "validation_day");
	r.l_on_day = jobspy_attnum(r.licenses, "validations_on_day");
	r.u_id = jobspy_attnum(r.users, "id");
	r.u_status = jobspy_attnum(r.users, "status");
	r.m_id = jobspy_attnum(r.machines, "id");
	r.m_user = jobspy_attnum(r.machines, "user_id");
	r.m_license = jobspy_attnum(r.machines, "license_id");
	r.m_fingerprint = jobspy_attnum(r.machines, "fingerprint");
	{
		Oid			read[] = {r.licenses, r.users, r.machines};

		r.schema = license_cache_schema(read, lengthof(read));
	}
	lic_rels = r;
	/* An invalidation that arrived meanwhile makes the next call read them again. */
	lic_rels.valid = lic_rel_set.valid;
}

void
lic_rels_require(void)
{
	if (!lic_rels.valid)
		rels_load();
}

/* ---- registration -------------------------------------------------------------- */

void
jobspy_licensing_init(void)
{
	if (process_shared_preload_libraries_in_progress)
		DefineCustomIntVariable("jobspy.licensing_max_counters",
								"How many licences and machines validated between two flushes shared memory can count.",
								"Each takes 48 bytes; maintain() flushes them and frees those of machines and of past days.",
								&licensing_max_counters,
								262144, 1024, 64 * 1024 * 1024,
								PGC_POSTMASTER, 0,
								NULL, NULL, NULL);
	if (process_shared_preload_libraries_in_progress)
		DefineCustomIntVariable("jobspy.licensing_failure_counters",
								"How many counts of failed validations (per licence, key hint, code and day) shared memory keeps between two flushes.",
								"Each takes 48 bytes; past 7/8 of them, failures are added to jobspy.license_validation_failures directly.",
								&licensing_failure_counters,
								65536, 64, 64 * 1024 * 1024,
								PGC_POSTMASTER, 0,
								NULL, NULL, NULL);
	DefineCustomIntVariable("jobspy.licensing_failure_log_every",
							"Log every Nth failed licence validation in jobspy.license_validations; 0 logs none.",
							"Every failure is counted in jobspy.license_validation_failures whatever this says.",
							&licensing_failure_log_every,
							100, 0, INT_MAX,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("jobspy.licensing_failure_log_per_second",
							"At most this many failed validations a second go to jobspy.license_validations; 0 sets no limit.",
							"A flood of failures then costs a bounded number of durable writes a second.",
							&licensing_failure_log_per_second,
							10, 0, 1000000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("jobspy.licensing_log_successes",
							 "Log successful licence validations in jobspy.license_validations too.",
							 "Failures are logged as jobspy.licensing_failure_log_every says.",
							 &licensing_log_successes,
							 false,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
	jobspy_rels_register(&lic_rel_set);
	license_cache_init();
	lic_store_register();
	lic_fail_register();
}
