#!/usr/bin/env bash
# 32 clients finalize invoices of one series at once, each in its own
# transactions, and roll back every third: the committed invoices carry
# exactly the numbers 1..N of the series, no gap and no duplicate, and the
# series' counter is N.
. ../../tools/lib.sh
. ./tap.bash
set +e
db=jobspy_billing_numbers
clients=32
per_client=12

echo "1..4"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d $db >/dev/null <<SQL
CREATE EXTENSION jobspy_core;
SELECT jobspy.create_invoice_series('race', 'R-{NNNNN}');
INSERT INTO jobspy.users (id, email) VALUES ('0ae30000-0000-4000-8000-000000000001', 'race@example.com');
SELECT jobspy.create_customer('0ae30000-0000-4000-8000-000000000001');
CREATE TABLE public.drafts AS
SELECT g AS n, jobspy.create_invoice(c.id, 'USD', series => 'race') AS id FROM jobspy.customers c,
       generate_series(1, $clients * $per_client) g;
SELECT count(jobspy.add_invoice_line(id, 'x', 1, 100)) FROM public.drafts;
SQL
for c in $(seq 0 $((clients - 1))); do
    {
        for k in $(seq 1 $per_client); do
            n=$((c * per_client + k))
            end=COMMIT; [ $((n % 3)) = 0 ] && end=ROLLBACK
            printf "BEGIN;\nSELECT jobspy.finalize_invoice(id) FROM public.drafts WHERE n = %d;\n%s;\n" "$n" "$end"
        done
    } | psql -X -q -At -d $db >/dev/null 2>"/tmp/billing_numbers.$c.err" &
done
wait
errors=$(cat /tmp/billing_numbers.*.err | grep -c ERROR); rm -f /tmp/billing_numbers.*.err
committed=$(( clients * per_client - clients * per_client / 3 ))
check "$errors" 0 "$clients clients finalized $((clients * per_client)) invoices without an error"
check "$(q "SELECT count(*) FROM jobspy.invoices WHERE series = 'race' AND invoice_number IS NOT NULL")" "$committed" \
      "the $committed committed finalizations have numbers, the rolled-back ones none"
check "$(q "SELECT count(*) FROM jobspy.invoices i FULL JOIN generate_series(1, $committed) g
             ON i.invoice_number = 'R-' || lpad(g::text, 5, '0')
            WHERE i.series = 'race' AND i.invoice_number IS NOT NULL AND g IS NULL OR (i.id IS NULL)")" 0 \
      "their numbers are exactly R-00001 to R-$(printf %05d $committed): no gap, no duplicate"
check "$(q "SELECT last_number FROM jobspy.invoice_series WHERE series = 'race'")" "$committed" \
      "the series' counter stands at the last number given"
psql -X -q -d postgres -c "DROP DATABASE $db" >/dev/null
