-- Every trigger function of the extension refuses, with 39P01, a call that
-- the trigger manager did not make.  SQL itself refuses to call a function
-- declared RETURNS trigger, so each C symbol is reached here through a
-- function declared otherwise.
BEGIN;
SELECT plan(5);

CREATE SCHEMA misuse;
CREATE FUNCTION misuse.audit() RETURNS void LANGUAGE c AS 'jobspy_core', 'jobspy_audit_trigger';
CREATE FUNCTION misuse.updated_at() RETURNS void LANGUAGE c AS 'jobspy_core', 'jobspy_set_updated_at';
CREATE FUNCTION misuse.hash_keys() RETURNS void LANGUAGE c AS 'jobspy_core', 'jobspy_hash_keys_changed';
CREATE FUNCTION misuse.rules() RETURNS void LANGUAGE c AS 'jobspy_core', 'jobspy_rate_limit_rules_changed';
CREATE FUNCTION misuse.cache() RETURNS void LANGUAGE c AS 'jobspy_core', 'jobspy_license_cache_touch';

SELECT throws_ok('SELECT misuse.audit()', '39P01', 'jobspy.audit_trigger() must be called as a trigger',
                 'the audit trigger refuses a direct call');
SELECT throws_ok('SELECT misuse.updated_at()', '39P01', 'jobspy.set_updated_at() must be called as a trigger',
                 'set_updated_at refuses a direct call');
SELECT throws_ok('SELECT misuse.hash_keys()', '39P01', 'jobspy.hash_keys_changed() must be called as a trigger',
                 'hash_keys_changed refuses a direct call');
SELECT throws_ok('SELECT misuse.rules()', '39P01', 'jobspy.rate_limit_rules_changed() must be called as a trigger',
                 'rate_limit_rules_changed refuses a direct call');
SELECT throws_ok('SELECT misuse.cache()', '39P01', 'jobspy.license_cache_touch() must be called as a trigger',
                 'license_cache_touch refuses a direct call');

SELECT * FROM finish();
ROLLBACK;
