#!/usr/bin/env bash
# Offline licence tokens verify with an independent Ed25519 implementation
# (PyNaCl), decoded as the format says, and survive pg_dump and restore:
# a token issued before the dump verifies after it, under the same public key.
set -uo pipefail
. ./tap.bash   # before this test's own q(), which takes other arguments
PY=/usr/bin/python3
src=jobspy_lic_tokens_src
dst=jobspy_lic_tokens_dst
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
q() { local d=$1; shift; psql -X -q -At -v ON_ERROR_STOP=1 -d "$d" -c "$*"; }

echo "1..14"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $src" -c "DROP DATABASE IF EXISTS $dst" \
     -c "CREATE DATABASE $src" -c "CREATE DATABASE $dst" 2>/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d $src >/dev/null <<'SQL'
CREATE EXTENSION jobspy_core;
INSERT INTO jobspy.users (id, email) VALUES ('70ce0000-0000-4000-8000-000000000001', 'tokens@licensing.test');
CREATE TABLE public.issued AS
SELECT * FROM jobspy.issue_license('70ce0000-0000-4000-8000-000000000001', 'pro', features => '["sync", "offline"]');
SQL
lid=$(q $src "SELECT license_id FROM issued")
key=$(q $src "SELECT license_key FROM issued")
token=$(q $src "SELECT jobspy.license_token('$key', 'machine-π', '30 days')")
pk=$(q $src "SELECT jobspy.license_public_key()")
kid=$(q $src "SELECT key_id FROM jobspy.license_signing_keys WHERE state = 'active' ORDER BY created_at LIMIT 1")

# verify TOKEN PUBLIC_KEY: decode per the format, check the signature with
# PyNaCl, print the claims that matter, or why it was refused.
cat >"$tmp/verify.py" <<'PY'
import base64, json, re, sys
from nacl.signing import VerifyKey
from nacl.exceptions import BadSignatureError

def b64url(s):
    if not re.fullmatch(r'[A-Za-z0-9_-]*', s) or len(s) % 4 == 1:
        raise ValueError('not unpadded base64url')
    return base64.urlsafe_b64decode(s + '=' * (-len(s) % 4))

token, pk = sys.argv[1], base64.b64decode(sys.argv[2], validate=True)
parts = token.split('.')
if len(parts) != 3 or parts[0] != 'jsl1':
    print('malformed'); sys.exit()
try:
    sig = b64url(parts[2])
    VerifyKey(pk).verify(('jsl1.' + parts[1]).encode('ascii'), sig)
except BadSignatureError:
    print('bad signature'); sys.exit()
except ValueError as e:
    print('malformed', e); sys.exit()
c = json.loads(b64url(parts[1]).decode('utf-8'))
print(len(pk), len(sig), c['v'], c['kid'], c['lid'], c['typ'], ','.join(c['feat']), c['fp'], c['exp'] - c['iat'],
      type(c['iat']).__name__)
PY
verify() { "$PY" "$tmp/verify.py" "$1" "$2" 2>&1 | tail -1; }

check "$(verify "$token" "$pk")" "32 64 1 $kid $lid pro sync,offline machine-π 2592000 int" \
    "PyNaCl verifies the token with license_public_key(); the claims are v, kid, lid, typ, feat, fp, exp - iat = ttl"
check "$(q $src "SELECT jobspy.verify_license_token('$token', 'machine-π') ->> 'code'")" VALID "the database agrees"
payload=$(cut -d. -f2 <<<"$token")
i=$(( ${#payload} / 2 ))
c=${payload:$i:1}; if [ "$c" = A ]; then r=B; else r=A; fi
tampered="jsl1.${payload:0:$i}$r${payload:$((i + 1))}.$(cut -d. -f3 <<<"$token")"
check "$(verify "$tampered" "$pk")" "bad signature" "a character of the payload changed: PyNaCl refuses it"
forged_payload=$("$PY" -c 'import base64, json, sys
c = json.loads(base64.urlsafe_b64decode(sys.argv[1] + "=" * (-len(sys.argv[1]) % 4)))
c["typ"] = "enterprise"
print(base64.urlsafe_b64encode(json.dumps(c).encode()).decode().rstrip("="))' "$payload")
forged="jsl1.$forged_payload.$(cut -d. -f3 <<<"$token")"
check "$(verify "$forged" "$pk")" "bad signature" "claims rewritten (typ enterprise), signature kept: PyNaCl refuses it"
check "$(q $src "SELECT jobspy.verify_license_token('$forged') ->> 'code'")" BAD_SIGNATURE "and so does the database"
other_pk=$("$PY" -c 'import base64; from nacl.signing import SigningKey
print(base64.b64encode(bytes(SigningKey.generate().verify_key)).decode())')
check "$(verify "$token" "$other_pk")" "bad signature" "another public key does not verify it"

# A token PyNaCl signs with its own key, in the same format, is refused by
# the database (unknown signer), and verifies in Python: the format is the
# one described, not an accident of one implementation.
own=$("$PY" -c 'import base64, json, sys; from nacl.signing import SigningKey
k = SigningKey.generate()
p = base64.urlsafe_b64encode(json.dumps({"v": 1, "kid": sys.argv[1], "lid": sys.argv[2], "typ": "pro", "feat": [],
                                          "fp": "x", "iat": 1, "exp": 4102444800}).encode()).decode().rstrip("=")
s = k.sign(("jsl1." + p).encode()).signature
print("jsl1." + p + "." + base64.urlsafe_b64encode(s).decode().rstrip("="), base64.b64encode(bytes(k.verify_key)).decode())' "$kid" "$lid")
check "$(verify ${own% *} ${own#* })" "32 64 1 $kid $lid pro  x 4102444799 int" "a token made by PyNaCl verifies in PyNaCl"
check "$(q $src "SELECT jobspy.verify_license_token('${own% *}') ->> 'code'")" BAD_SIGNATURE \
    "the database refuses it: same kid, not its signature"

# Dump and restore: CREATE EXTENSION runs in the restore and makes a key of
# its own; the dumped key must stay the one that signs and verifies.
if pg_dump -Fc -d $src -f "$tmp/dump" 2>"$tmp/err"; then echo "ok $((n += 1)) - pg_dump"
else echo "not ok $((n += 1)) - pg_dump failed"; sed 's/^/# /' "$tmp/err"; fi
if pg_restore -d $dst --exit-on-error "$tmp/dump" 2>"$tmp/err"; then echo "ok $((n += 1)) - pg_restore, CREATE EXTENSION included"
else echo "not ok $((n += 1)) - pg_restore failed"; sed 's/^/# /' "$tmp/err" | head -20; fi
check "$(q $dst "SELECT jobspy.license_public_key()")" "$pk" "license_public_key() is the same after the restore"
check "$(q $dst "SELECT jobspy.verify_license_token('$token', 'machine-π') ->> 'code'")" VALID \
    "a token issued before the dump verifies in the restored database"
token2=$(q $dst "SELECT jobspy.license_token('$key', 'machine-π', '1 day')")
check "$(verify "$token2" "$pk" | cut -d' ' -f1-5,9)" "32 64 1 $kid $lid 86400" \
    "a token issued after the restore verifies in PyNaCl under the original public key"
q $dst "SELECT jobspy.rotate_license_signing_key()" >/dev/null
check "$(q $dst "SELECT (SELECT count(*) FROM jobspy.license_signing_keys) || '/' || (jobspy.verify_license_token('$token') ->> 'code')")" \
    "2/VALID" "rotating after the restore drops the unused key CREATE EXTENSION made; the old token still verifies"

psql -X -q -d postgres -c "DROP DATABASE $src" -c "DROP DATABASE $dst"
