/* fork: a PKCS#11 application that forks, in every pattern the
 * specification allows, after initializing the library and signing once in
 * the parent. Each child must end by itself, within 20 s, with the status
 * its pattern expects; the parent must still sign afterwards.
 *
 *   cc -O2 -I pkcs11mod/cabi -o fork fork.c $(pkg-config --cflags p11-kit-1) -ldl
 *   IOTSAFE_SIM=emulator:sim.json ./fork build/libiotsafe-pkcs11.so device-key [PIN]
 *
 * Patterns: the child calls nothing and returns from main (exit handlers
 * run); the child _exit()s; the child execs /bin/true; the child follows
 * the rules (C_Initialize, which answers CKR_CRYPTOKI_ALREADY_INITIALIZED
 * or OK, else C_Finalize then C_Initialize) and signs, then exits. The
 * last pattern's signing result is reported (it may need p11-kit server),
 * but a hang or a crash in any pattern fails. Then ten children are forked
 * while another thread of the parent signs in a loop (so that a fork lands
 * inside a library call; the thread stops once the child is made): each
 * must C_Initialize, sign and exit within 10 s.
 * Exit status 0 when no child hung or crashed, every child of the
 * signing-thread round signed, and the parent still signs. */
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "pkcs11_glue.h"

static CK_FUNCTION_LIST_PTR f;
static const char *label, *pin;

/* sign_once opens a session, finds the key by label, signs 32 bytes. */
static CK_RV sign_once(void)
{
	CK_SLOT_ID slots[8];
	CK_ULONG n = 8;
	CK_RV rv = f->C_GetSlotList(CK_TRUE, slots, &n);
	if (rv != CKR_OK || n == 0)
		return rv != CKR_OK ? rv : CKR_TOKEN_NOT_PRESENT;
	CK_SESSION_HANDLE h;
	if ((rv = f->C_OpenSession(slots[0], CKF_SERIAL_SESSION, NULL, NULL, &h)) != CKR_OK)
		return rv;
	if (pin)
		f->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_LABEL, (void *)label, strlen(label)}};
	CK_OBJECT_HANDLE k;
	CK_ULONG found = 0;
	if ((rv = f->C_FindObjectsInit(h, t, 2)) != CKR_OK)
		goto out;
	rv = f->C_FindObjects(h, &k, 1, &found);
	f->C_FindObjectsFinal(h);
	if (rv == CKR_OK && found != 1)
		rv = CKR_KEY_HANDLE_INVALID;
	if (rv != CKR_OK)
		goto out;
	CK_MECHANISM m = {CKM_ECDSA, NULL, 0};
	CK_BYTE d[32] = {1, 2, 3}, sig[256];
	CK_ULONG sl = sizeof sig;
	if ((rv = f->C_SignInit(h, &m, k)) == CKR_OK)
		rv = f->C_Sign(h, d, sizeof d, sig, &sl);
out:
	f->C_CloseSession(h);
	return rv;
}

static int failures;

/* run forks and runs child() in the child; want is its exit status. */
static void run(const char *name, int (*child)(void), int want)
{
	pid_t p = fork();
	if (p < 0) {
		perror("fork");
		failures++;
		return;
	}
	if (p == 0) {
		alarm(20); /* a hang ends as SIGALRM, reported below */
		exit(child());
	}
	int st;
	if (waitpid(p, &st, 0) < 0) {
		perror("waitpid");
		failures++;
		return;
	}
	if (WIFSIGNALED(st)) {
		printf("FAIL %s: the child died of signal %d%s\n", name, WTERMSIG(st),
		       WTERMSIG(st) == SIGALRM ? " (it hung)" : "");
		failures++;
	} else if (WEXITSTATUS(st) != want && want >= 0) {
		printf("FAIL %s: the child exited %d, want %d\n", name, WEXITSTATUS(st), want);
		failures++;
	} else {
		printf("ok   %s: the child exited %d\n", name, WEXITSTATUS(st));
	}
}

static int child_nothing(void) { return 0; }
static int child_underscore_exit(void) { _exit(3); }
static int child_exec(void)
{
	execl("/bin/true", "true", (char *)NULL);
	return 127;
}
/* The rules: C_Initialize in the child; if the library says it is
 * initialized already, C_Finalize and C_Initialize again; then sign.
 * Exit 0 when the signature worked, 10 when the library refused cleanly. */
static int child_reinit(void)
{
	CK_RV rv = f->C_Initialize(NULL);
	if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		f->C_Finalize(NULL);
		rv = f->C_Initialize(NULL);
	}
	if (rv != CKR_OK) {
		printf("     child: C_Initialize = 0x%lx\n", (unsigned long)rv);
		return 10;
	}
	rv = sign_once();
	printf("     child: sign = 0x%lx\n", (unsigned long)rv);
	f->C_Finalize(NULL);
	return rv == CKR_OK ? 0 : 10;
}
/* The same without C_Finalize at the end: the library's exit handler. */
static int child_reinit_no_finalize(void)
{
	CK_RV rv = f->C_Initialize(NULL);
	if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		f->C_Finalize(NULL);
		rv = f->C_Initialize(NULL);
	}
	if (rv != CKR_OK)
		return 10;
	return sign_once() == CKR_OK ? 0 : 10;
}

/* A thread of the parent that signs until told to stop. */
static volatile int stop_signing;
static int signed_in_thread, sign_errors_in_thread;
static void *signing_thread(void *arg)
{
	(void)arg;
	while (!stop_signing) {
		if (sign_once() == CKR_OK)
			signed_in_thread++;
		else
			sign_errors_in_thread++;
	}
	return NULL;
}

/* fork_while_signing forks n children, each while signing_thread signs in
 * a loop (the fork lands inside a library call or between two); once the
 * child is made the parent's thread stops, so that the child does not
 * compete with a signing loop for the SIM (the emulator's state file lock
 * is polled, and a tight loop in another process could hold it off). Each
 * child follows the rules and must sign within 10 s. */
static void fork_while_signing(int n)
{
	int ok = 0;
	for (int i = 0; i < n; i++) {
		pthread_t th;
		stop_signing = 0;
		if (pthread_create(&th, NULL, signing_thread, NULL) != 0) {
			perror("pthread_create");
			failures++;
			return;
		}
		usleep(20000 + 7919 * i % 50000); /* land at different points of a signature */
		pid_t p = fork();
		if (p == 0) {
			alarm(10);
			_exit(child_reinit());
		}
		stop_signing = 1;
		pthread_join(th, NULL);
		if (p < 0) {
			perror("fork");
			failures++;
			break;
		}
		int st;
		waitpid(p, &st, 0);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
			ok++;
		else
			printf("FAIL child %d forked during a signature: %s %d%s\n", i, WIFSIGNALED(st) ? "signal" : "exit",
			       WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st),
			       WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM ? " (it hung)" : "");
	}
	printf("%s %d of %d children forked while another thread signed initialized, signed and exited within 10 s (the thread signed %d times, %d errors)\n",
	       ok == n ? "ok  " : "FAIL", ok, n, signed_in_thread, sign_errors_in_thread);
	if (ok != n || sign_errors_in_thread)
		failures++;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s MODULE KEY-LABEL [PIN]\n", argv[0]);
		return 2;
	}
	label = argv[2];
	pin = argc > 3 ? argv[3] : NULL;
	setvbuf(stdout, NULL, _IONBF, 0);
	void *lib = dlopen(argv[1], RTLD_NOW);
	if (!lib) {
		fprintf(stderr, "%s\n", dlerror());
		return 2;
	}
	CK_C_GetFunctionList gfl = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList");
	if (!gfl || gfl(&f) != CKR_OK || f->C_Initialize(NULL) != CKR_OK) {
		fprintf(stderr, "cannot initialize %s\n", argv[1]);
		return 2;
	}
	if (sign_once() != CKR_OK) {
		fprintf(stderr, "the parent cannot sign\n");
		return 2;
	}
	run("child calls nothing and returns from main", child_nothing, 0);
	run("child _exit()s", child_underscore_exit, 3);
	run("child execs /bin/true", child_exec, 0);
	run("child re-initializes, signs, finalizes", child_reinit, -1);
	run("child re-initializes, signs, exits without C_Finalize", child_reinit_no_finalize, -1);
	fork_while_signing(10);
	CK_RV rv = sign_once();
	if (rv != CKR_OK) {
		printf("FAIL the parent cannot sign after the forks: 0x%lx\n", (unsigned long)rv);
		failures++;
	} else {
		printf("ok   the parent still signs\n");
	}
	f->C_Finalize(NULL);
	printf("fork: %d failure(s)\n", failures);
	return failures ? 1 : 0;
}
