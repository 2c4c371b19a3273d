/*
 * Baseline for nostr_verify_event: libsecp256k1's own BIP-340
 * verification rate in one process (one core), verifying BIP-340 test
 * vector 1 over and over for the given seconds.  Prints verifications per
 * second.  Debian ships no bench binary of the library, hence this loop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <secp256k1.h>
#include <secp256k1_extrakeys.h>
#include <secp256k1_schnorrsig.h>

static void
unhex(const char *s, unsigned char *out, int n)
{
	for (int i = 0; i < n; i++)
		sscanf(s + 2 * i, "%2hhx", &out[i]);
}

int
main(int argc, char **argv)
{
	double		seconds = argc > 1 ? atof(argv[1]) : 10;
	unsigned char pub[32], msg[32], sig[64];
	secp256k1_xonly_pubkey pk;
	struct timespec t0, t;
	long		n = 0;
	double		elapsed;

	unhex("DFF1D77F2A671C5F36183726DB2341BE58FEAE1DA2DECED843240F7B502BA659", pub, 32);
	unhex("243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89", msg, 32);
	unhex("6896BD60EEAE296DB48A229FF71DFE071BDE413E6D43F917DC8DCF8C78DE3341"
		  "8906D11AC976ABCCB20B091292BFF4EA897EFCB639EA871CFA95F6DE339E4B0A", sig, 64);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do
	{
		for (int i = 0; i < 1000; i++, n++)
		{
			/* the key is parsed each time, as schnorr_verify does */
			if (!secp256k1_xonly_pubkey_parse(secp256k1_context_static, &pk, pub) ||
				!secp256k1_schnorrsig_verify(secp256k1_context_static, sig, msg, 32, &pk))
				return 1;
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		elapsed = (t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9;
	} while (elapsed < seconds);
	printf("%.0f\n", n / elapsed);
	return 0;
}
