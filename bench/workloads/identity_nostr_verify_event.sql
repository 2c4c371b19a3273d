-- nostr_verify_event: one signed note a call (its NIP-01 id recomputed and
-- its BIP-340 signature verified).  With BENCH_CLIENTS=1 BENCH_THREADS=1
-- it is one backend on one core, beside libsecp256k1's own one-core loop
-- (docs/benchmarks.md).
-- against: secp256k1_verify
SELECT jobspy.nostr_verify_event(e) FROM bench.nostr_event;
