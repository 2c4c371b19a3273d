/*
 * longjmp_unpoison.c: preloaded into a server whose jobspy_core is built
 * with AddressSanitizer (JOBSPY_SANITIZE, tools/lib.sh).
 *
 * PostgreSQL raises an error with siglongjmp, past frames of the library
 * that then never clear the shadow of their redzones.  Preloaded, ASan's
 * own siglongjmp clears the stack first, but preloading ASan into an
 * uninstrumented postgres hangs it at its first line (glibc 2.36), so the
 * runtime comes with the library instead, too late to interpose.  These
 * wrappers do that one job: clear the stack's shadow, then jump.  Without
 * them, the next frame on that stack reads stale redzones and ASan reports
 * an overflow that is not there.
 *
 * It also carries the sanitizers' options: a backend that loads the
 * library itself (not preloaded) reads no ASAN_OPTIONS, because PostgreSQL
 * writes its process titles over the environment first.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <setjmp.h>

typedef void (*jump_fn) (void *, int);

static void
unpoison_stack(void)
{
	/* Looked up at each jump: the runtime is loaded with the library, later. */
	void		(*handle_no_return) (void) = (void (*) (void)) dlsym(RTLD_DEFAULT, "__asan_handle_no_return");

	if (handle_no_return)
		handle_no_return();
}

static void __attribute__((noreturn))
jump(const char *name, void *env, int val)
{
	jump_fn		real = (jump_fn) dlsym(RTLD_NEXT, name);

	unpoison_stack();
	real(env, val);
	__builtin_unreachable();
}

/* What PostgreSQL's binaries call: Debian builds with _FORTIFY_SOURCE. */
void		__longjmp_chk(sigjmp_buf env, int val) __attribute__((noreturn));
void
__longjmp_chk(sigjmp_buf env, int val)
{
	jump("__longjmp_chk", env, val);
}

void
siglongjmp(sigjmp_buf env, int val)
{
	jump("siglongjmp", env, val);
}

void
longjmp(jmp_buf env, int val)
{
	jump("longjmp", env, val);
}

const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
	/* Leaks: a backend leaves its memory to the exit. */
	return "verify_asan_link_order=0:detect_leaks=0:abort_on_error=1";
}

const char *__ubsan_default_options(void);
const char *
__ubsan_default_options(void)
{
	return "print_stacktrace=1:halt_on_error=1:abort_on_error=1";
}
