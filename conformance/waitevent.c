/* waitevent: a host that waits in C_WaitForSlotEvent, as strongSwan's
 * charon does for its whole life: C_Initialize, one thread blocked in
 * C_WaitForSlotEvent for SECONDS, then C_Finalize (which ends the wait).
 * bench/idle.sh counts the APDUs the SIM sees meanwhile.
 *
 *   cc -O2 -I pkcs11mod/cabi -o waitevent waitevent.c $(pkg-config --cflags p11-kit-1) -ldl -lpthread
 *   IOTSAFE_SIM=... ./waitevent build/libiotsafe-pkcs11.so SECONDS */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "pkcs11_glue.h"

static CK_FUNCTION_LIST_PTR f;
static int events;

static void *waiter(void *arg)
{
	(void)arg;
	for (;;) {
		CK_SLOT_ID slot;
		CK_RV rv = f->C_WaitForSlotEvent(0, &slot, NULL);
		if (rv != CKR_OK)
			return NULL; /* CKR_CRYPTOKI_NOT_INITIALIZED after C_Finalize */
		events++;
	}
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s MODULE SECONDS\n", argv[0]);
		return 2;
	}
	void *lib = dlopen(argv[1], RTLD_NOW);
	CK_C_GetFunctionList gfl = lib ? (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList") : NULL;
	if (!gfl || gfl(&f) != CKR_OK || f->C_Initialize(NULL) != CKR_OK) {
		fprintf(stderr, "cannot initialize %s\n", argv[1]);
		return 2;
	}
	CK_SLOT_ID slots[4];
	CK_ULONG n = 4;
	if (f->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK || n == 0) {
		fprintf(stderr, "no token\n");
		return 2;
	}
	pthread_t th;
	pthread_create(&th, NULL, waiter, NULL);
	sleep((unsigned)atoi(argv[2]));
	f->C_Finalize(NULL);
	pthread_join(th, NULL);
	printf("waited %s s, %d slot events\n", argv[2], events);
	return 0;
}
