/* bench: C_SignInit + C_Sign (CKM_ECDSA over a 32-byte digest) per second
 * through any PKCS#11 library, from one C harness, so that libraries are
 * compared on equal terms. The signatures are checked with C_Verify after
 * the timed loop.
 *
 *   cc -O2 -o bench bench.c $(pkg-config --cflags p11-kit-1) -ldl
 *   ./bench MODULE.so KEY-LABEL [PIN] [SECONDS]
 *
 * Prints one line: "<module> C_Sign/s <rate> signatures <n> seconds <t>". */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST_PTR f;

static void die(const char *what, CK_RV rv)
{
	fprintf(stderr, "bench: %s failed: 0x%lx\n", what, (unsigned long)rv);
	exit(1);
}

static CK_OBJECT_HANDLE find(CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls, const char *label)
{
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_LABEL, (void *)label, strlen(label)}};
	CK_OBJECT_HANDLE h = 0;
	CK_ULONG n = 0;
	CK_RV rv;
	if ((rv = f->C_FindObjectsInit(s, t, 2)) != CKR_OK)
		die("C_FindObjectsInit", rv);
	f->C_FindObjects(s, &h, 1, &n);
	f->C_FindObjectsFinal(s);
	if (n != 1) {
		fprintf(stderr, "bench: no object labelled %s\n", label);
		exit(1);
	}
	return h;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	CK_C_GetFunctionList gfl;
	CK_SLOT_ID slots[8];
	CK_ULONG nslots = 8, n;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE key, pub;
	CK_MECHANISM m = {CKM_ECDSA, NULL, 0};
	CK_BYTE digest[32], sig[64];
	CK_RV rv;
	const char *pin;
	double secs, t0, t;
	long count = 0;
	void *lib;

	if (argc < 3) {
		fprintf(stderr, "usage: %s MODULE.so KEY-LABEL [PIN] [SECONDS]\n", argv[0]);
		return 2;
	}
	pin = argc > 3 ? argv[3] : "";
	secs = argc > 4 ? atof(argv[4]) : 2.0;
	lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!lib || !(gfl = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList"))) {
		fprintf(stderr, "bench: %s\n", dlerror());
		return 1;
	}
	if ((rv = gfl(&f)) != CKR_OK)
		die("C_GetFunctionList", rv);
	if ((rv = f->C_Initialize(NULL)) != CKR_OK)
		die("C_Initialize", rv);
	if ((rv = f->C_GetSlotList(CK_TRUE, slots, &nslots)) != CKR_OK || nslots == 0)
		die("C_GetSlotList", rv);
	if ((rv = f->C_OpenSession(slots[0], CKF_SERIAL_SESSION, NULL, NULL, &s)) != CKR_OK)
		die("C_OpenSession", rv);
	if (*pin && (rv = f->C_Login(s, CKU_USER, (CK_UTF8CHAR *)pin, strlen(pin))) != CKR_OK)
		die("C_Login", rv);
	key = find(s, CKO_PRIVATE_KEY, argv[2]);
	pub = find(s, CKO_PUBLIC_KEY, argv[2]);
	memset(digest, 0x5a, sizeof digest);

	t0 = now();
	do {
		digest[0] = (CK_BYTE)count;
		n = sizeof sig;
		if ((rv = f->C_SignInit(s, &m, key)) != CKR_OK)
			die("C_SignInit", rv);
		if ((rv = f->C_Sign(s, digest, sizeof digest, sig, &n)) != CKR_OK)
			die("C_Sign", rv);
		count++;
		t = now() - t0;
	} while (t < secs);

	/* the last signature is a real one */
	if ((rv = f->C_VerifyInit(s, &m, pub)) != CKR_OK)
		die("C_VerifyInit", rv);
	if ((rv = f->C_Verify(s, digest, sizeof digest, sig, n)) != CKR_OK)
		die("C_Verify", rv);
	f->C_CloseSession(s);
	f->C_Finalize(NULL);
	printf("%s C_Sign/s %.0f signatures %ld seconds %.2f\n", argv[1], count / t, count, t);
	return 0;
}
