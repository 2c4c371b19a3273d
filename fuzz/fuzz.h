/*
 * fuzz.h: what a libFuzzer target of fuzz/ shares with stubs.c.
 *
 * FUZZ_TRY(ok, call) runs a parser and sets ok: true when the parser
 * returned, false when it refused the input with ereport(ERROR).
 */
#ifndef JOBSPY_FUZZ_H
#define JOBSPY_FUZZ_H

#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>

extern sigjmp_buf fuzz_jump;
extern void fuzz_reset(void);
extern void fuzz_unreachable(const char *server_function) __attribute__((noreturn));

#define FUZZ_TRY(ok, call) \
	do { \
		if (sigsetjmp(fuzz_jump, 0) == 0) { call; (ok) = true; } \
		else (ok) = false; \
	} while (0)

/* A property that must hold for every input: a finding when it does not. */
#define FUZZ_REQUIRE(cond) do { if (!(cond)) abort(); } while (0)

#endif
