/*
 * stubs.c: just enough of the PostgreSQL backend for a parser of src/ to run
 * inside a libFuzzer target, outside the server.
 *
 * ereport(ERROR) is how a parser refuses its input, so errfinish() jumps back
 * to the target (fuzz_try), which counts the input as rejected; a crash or a
 * sanitizer report is a finding.  palloc() hands out memory that
 * fuzz_reset() frees after each input, as a memory context would.
 */
#define _GNU_SOURCE				/* vasprintf */
#include "postgres.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"

sigjmp_buf	fuzz_jump;
static int	pending_level;
static void **allocations;
static size_t n_allocations, max_allocations;

static void *
remember(void *p)
{
	if (p == NULL)
		abort();
	if (n_allocations == max_allocations)
	{
		max_allocations = max_allocations ? 2 * max_allocations : 64;
		allocations = realloc(allocations, max_allocations * sizeof(void *));
		if (allocations == NULL)
			abort();
	}
	allocations[n_allocations++] = p;
	return p;
}

void
fuzz_reset(void)
{
	for (size_t i = 0; i < n_allocations; i++)
		free(allocations[i]);
	n_allocations = 0;
}

void *palloc(Size size) { return remember(malloc(size ? size : 1)); }
void *palloc0(Size size) { return remember(calloc(1, size ? size : 1)); }
void pfree(void *p) { (void) p; }			/* freed by fuzz_reset */

char *
psprintf(const char *fmt, ...)
{
	va_list		ap;
	char	   *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	return remember(s);
}

bool
errstart(int elevel, const char *domain)
{
	pending_level = elevel;
	return elevel >= ERROR;				/* lesser messages are dropped */
}

bool
errstart_cold(int elevel, const char *domain)
{
	return errstart(elevel, domain);
}

void
errfinish(const char *filename, int lineno, const char *funcname)
{
	if (pending_level >= ERROR)
		siglongjmp(fuzz_jump, 1);
}

int errcode(int sqlerrcode) { return 0; }
int errmsg(const char *fmt, ...) { return 0; }
int errmsg_internal(const char *fmt, ...) { return 0; }
int errdetail(const char *fmt, ...) { return 0; }
int errhint(const char *fmt, ...) { return 0; }

/* What the server would run and a parser must not reach. */
void
fuzz_unreachable(const char *server_function)
{
	fprintf(stderr, "a parser reached %s, which needs the server\n", server_function);
	abort();
}

void
ExceptionalCondition(const char *conditionName, const char *errorType,
					 const char *fileName, int lineNumber)
{
	fprintf(stderr, "%s: %s at %s:%d\n", errorType, conditionName, fileName, lineNumber);
	abort();
}
