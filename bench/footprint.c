/* What a host pays for loading a PKCS#11 module: resident memory, threads
 * and address space (from /proc/self/status) before dlopen, after dlopen,
 * after C_Initialize (timed) and after the first use of a slot
 * (C_GetSlotList, C_GetTokenInfo), as p11-kit's proxy does in every program
 * that loads it. Prints one line of key=value.
 *
 *   footprint MODULE.so
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <p11-kit/pkcs11.h>

struct snap { long rss_kb, vm_kb, threads; };

static struct snap snap(void) {
	struct snap s = {0, 0, 0};
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	if (!f) return s;
	while (fgets(line, sizeof line, f)) {
		if (!strncmp(line, "VmRSS:", 6)) s.rss_kb = atol(line + 6);
		else if (!strncmp(line, "VmSize:", 7)) s.vm_kb = atol(line + 7);
		else if (!strncmp(line, "Threads:", 8)) s.threads = atol(line + 8);
	}
	fclose(f);
	return s;
}

static double now(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void print(const char *name, struct snap s, struct snap base) {
	printf(" %s_rss_kb=%ld %s_vm_kb=%ld %s_threads=%ld", name, s.rss_kb - base.rss_kb,
	       name, s.vm_kb - base.vm_kb, name, s.threads);
}

int main(int argc, char **argv) {
	if (argc != 2) { fprintf(stderr, "usage: footprint MODULE.so\n"); return 2; }
	struct snap base = snap();
	void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!h) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 1; }
	struct snap loaded = snap();
	CK_C_GetFunctionList gfl = (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList");
	CK_FUNCTION_LIST_PTR f;
	if (!gfl || gfl(&f) != CKR_OK) { fprintf(stderr, "C_GetFunctionList failed\n"); return 1; }
	CK_C_INITIALIZE_ARGS args;
	memset(&args, 0, sizeof args);
	args.flags = CKF_OS_LOCKING_OK;
	double t0 = now();
	CK_RV rv = f->C_Initialize(&args);
	double t1 = now();
	if (rv != CKR_OK) { fprintf(stderr, "C_Initialize: 0x%lx\n", rv); return 1; }
	struct snap inited = snap();
	CK_SLOT_ID slots[16];
	CK_ULONG n = 16;
	rv = f->C_GetSlotList(CK_FALSE, slots, &n);
	if (rv != CKR_OK) { fprintf(stderr, "C_GetSlotList: 0x%lx\n", rv); return 1; }
	CK_ULONG tokens = 0;
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		if (f->C_GetTokenInfo(slots[i], &ti) == CKR_OK) tokens++;
	}
	struct snap used = snap();
	f->C_Finalize(NULL);
	printf("base_rss_kb=%ld slots=%lu tokens=%lu init_ms=%.2f", base.rss_kb, n, tokens, (t1 - t0) * 1e3);
	print("loaded", loaded, base);
	print("initialized", inited, base);
	print("used", used, base);
	printf("\n");
	return 0;
}
