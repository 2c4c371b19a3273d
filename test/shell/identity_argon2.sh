#!/usr/bin/env bash
# Password hashes interoperate with another Argon2 implementation
# (argon2-cffi over the reference C code), in both directions, including
# non-ASCII passwords.
set -uo pipefail
. ./tap.bash   # before this test's own q(), which takes other arguments
PY=/usr/bin/python3
db=jobspy_identity_argon2
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -X -q -v ON_ERROR_STOP=1 -d $db -c 'CREATE EXTENSION jobspy_core'
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d $db -c "SET jobspy.password_memory_kib = 1024" -c "SET jobspy.password_iterations = 2" -c "$1"; }

echo "1..6"

pw='Ünïcødé pässwörd ✓'
h=$(q "SELECT jobspy.hash_password('$pw')")
got=$($PY -c 'import sys; from argon2 import PasswordHasher
try:
    print(PasswordHasher().verify(sys.argv[1], sys.argv[2]))
except Exception as e:
    print("no", type(e).__name__)' "$h" "$pw")
check "$got" True "argon2-cffi verifies a hash made by hash_password"
got=$($PY -c 'import sys; from argon2 import PasswordHasher
try:
    print(PasswordHasher().verify(sys.argv[1], sys.argv[2] + "x"))
except Exception as e:
    print("no")' "$h" "$pw")
check "$got" no "argon2-cffi rejects a wrong password against that hash"

for spec in "16 1 64" "32 3 4096"; do
    set -- $spec
    ph=$($PY -c 'import sys; from argon2 import PasswordHasher
print(PasswordHasher(time_cost=int(sys.argv[2]), memory_cost=int(sys.argv[3]), parallelism=1, hash_len=int(sys.argv[1])).hash(sys.argv[4]))' "$1" "$2" "$3" "$pw")
    check "$(q "SELECT jobspy.verify_password('$pw', '$ph')")" t "verify_password accepts argon2-cffi's hash (tag $1 bytes, t=$2, m=$3)"
    check "$(q "SELECT jobspy.verify_password('${pw}x', '$ph')")" f "verify_password rejects a wrong password against it (tag $1 bytes)"
done
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db"
