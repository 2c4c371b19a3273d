#!/usr/bin/env bash
# Secrets are compared in constant time: a source check over src/ and sql/.
#
# A MAC, signature, password, token or secret is compared with
# sodium_memcmp (or crypto_verify_*), whose time does not depend on where
# the first difference is; memcmp, strcmp, strncmp and bcmp stop there.
# Stored secrets are keyed hashes (BLAKE2b under jobspy.hash_keys), found by
# an index or a memcmp of the hash: timing that lookup tells a caller
# nothing, since without the key no one can choose a hash's first bytes.
# Passwords are checked by libsodium's crypto_pwhash_str_verify.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.bash"
root=$(cd "$here/../.." && pwd)
echo "1..6"

# A comparison whose operands name a secret: a lower-case identifier with a
# word (between underscores) of a MAC, signature, password, token or secret
# among the call's arguments; string literals and upper-case constants are
# not operands that hold a secret.
pattern='\b(memcmp|strcmp|strncmp|bcmp|strcasecmp)[[:space:]]*\([^;]*\b([a-z0-9]+_)*(mac|macs|secret|secrets|password|passwd|token|signature|sig|tag|hmac|expected)(_[a-z0-9]+)*\b'
compares() { sed -E 's/"([^"\\]|\\.)*"/""/g' "$@" | grep -cE "$pattern"; }
check "$(printf '%s\n' 'if (memcmp(mac, expected, MAC_BYTES) == 0)' 'ok = strcmp(header_sig, want) == 0;' \
           'memcmp(a->key_hash, b->key_hash, SECRET_HASH_BYTES)' 'strcmp(scheme, "hmac_sha256")' \
           'memcmp(way->machines[i].fingerprint, fp, len)' | compares)" 2 \
      "the check finds a memcmp of a MAC and a strcmp of a signature, and passes a hash lookup, a scheme name, machines"
hits=$(for f in "$root"/src/*.c "$root"/src/*.h; do
           sed -E 's/"([^"\\]|\\.)*"/""/g' "$f" | grep -nE "$pattern" | sed "s|^|${f#$root/}:|"
       done)
check "${hits:-none}" none "no memcmp, strcmp, strncmp or bcmp in src/ compares a MAC, signature, password, token or secret"

# Every C file that computes a MAC compares it with sodium_memcmp.
macs=$(grep -lE 'crypto_auth_hmacsha256|crypto_auth\(' "$root"/src/*.c)
missing=""
for f in $macs; do grep -qE 'sodium_memcmp|crypto_verify_(16|32|64)|crypto_auth_verify' "$f" || missing+=" ${f#$root/}"; done
check "$([ -n "$macs" ] && echo "${missing:-none}")" none \
      "each C file that computes a MAC compares it with sodium_memcmp ($(echo $macs | sed "s|$root/||g"))"

# Passwords: libsodium's verifier, never a comparison of hash strings.
check "$(grep -c 'crypto_pwhash_str_verify' "$root/src/identity.c")" 1 "passwords are checked by crypto_pwhash_str_verify"
# SQL: no secret compared as text (a password, a token, a secret column
# against an argument); lookups go through secret_hash_candidates.
sqlhits=$(grep -nEi "\b(password|secret|session_token|refresh_token|license_key)\b[[:space:]]*(=|<>|!=)[[:space:]]*[a-z_]*\b(password|secret|token|license_key)\b" \
              $(ls "$root"/sql/*.sql | grep -v 'jobspy_core--') | grep -v '^\s*--' | sed "s|$root/||")
check "${sqlhits:-none}" none "no SQL compares a password, token, secret or licence key as text"
check "$(grep -c 'secret_hash_candidates' "$root/sql/identity.sql" | awk '{print ($1 >= 4)}')" 1 \
      "session, refresh, verification and reset tokens are found by their keyed hashes"
