/* misuse: drives a PKCS#11 library the way buggy or hostile callers do and
 * checks that each call returns the CK_RV the specification names, and that
 * the process survives: NULL pointers, invalid handles, calls in the wrong
 * order, short buffers, C_Finalize/C_Initialize cycles, application mutex
 * callbacks, and 16 threads signing at once.
 *
 *   cc -O2 -I pkcs11mod/cabi -o misuse misuse.c $(pkg-config --cflags p11-kit-1) -ldl -lpthread
 *   IOTSAFE_SIM=emulator:sim.json ./misuse build/libiotsafe-pkcs11.so device-key [rsa-key]
 *
 * With a third argument, the label of an RSA-2048 key pair, the RSA
 * mechanisms get the same treatment (PSS parameters missing or short, the
 * two-call length convention with 256-byte signatures, input the card
 * cannot sign, a mechanism of the other key type).
 *
 * Exit status 0 when every check passed; each failure is printed. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pkcs11_glue.h" /* p11-kit's pkcs11.h and the PKCS#11 3.0 interface types */

static CK_FUNCTION_LIST_PTR f;
static int failures, checks;
static const char *key_label;
static const char *rsa_label;

#define CHECK(call, want)                                                               \
	do {                                                                            \
		CK_RV got_ = (call);                                                    \
		checks++;                                                               \
		if (got_ != (CK_RV)(want)) {                                            \
			failures++;                                                     \
			fprintf(stderr, "FAIL %s:%d: %s = 0x%lx, want %s (0x%lx)\n", __FILE__, \
				__LINE__, #call, (unsigned long)got_, #want, (unsigned long)(want)); \
		}                                                                       \
	} while (0)

#define EXPECT(cond)                                                                    \
	do {                                                                            \
		checks++;                                                               \
		if (!(cond)) {                                                          \
			failures++;                                                     \
			fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                       \
	} while (0)

static CK_SLOT_ID first_slot(void)
{
	CK_SLOT_ID slots[8];
	CK_ULONG n = 8;
	if (f->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK || n == 0) {
		fprintf(stderr, "no slot with a token\n");
		exit(2);
	}
	return slots[0];
}

static CK_OBJECT_HANDLE find_label(CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls, const char *label)
{
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, &cls, sizeof cls},
		{CKA_LABEL, (void *)label, strlen(label)},
	};
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	CK_ULONG n = 0;
	if (f->C_FindObjectsInit(s, t, 2) != CKR_OK)
		return CK_INVALID_HANDLE;
	f->C_FindObjects(s, &h, 1, &n);
	f->C_FindObjectsFinal(s);
	return n == 1 ? h : CK_INVALID_HANDLE;
}

static CK_OBJECT_HANDLE find(CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls) { return find_label(s, cls, key_label); }

static CK_BYTE digest[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
			     17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

/* ---- RSA mechanisms -------------------------------------------------------- */

static void rsa_misuse(void)
{
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE key, pub, ec;
	CK_BYTE sig[300];
	CK_ULONG n;
	CK_RSA_PKCS_PSS_PARAMS pp = {CKM_SHA256, CKG_MGF1_SHA256, 32};
	CK_MECHANISM pss = {CKM_RSA_PKCS_PSS, &pp, sizeof pp};
	CK_MECHANISM pss_null = {CKM_RSA_PKCS_PSS, NULL, sizeof pp};
	CK_MECHANISM pss_short = {CKM_RSA_PKCS_PSS, &pp, sizeof pp - 1};
	CK_MECHANISM pkcs = {CKM_RSA_PKCS, NULL, 0};
	CK_MECHANISM sha256_pkcs = {CKM_SHA256_RSA_PKCS, NULL, 0};
	CK_MECHANISM ecdsa = {CKM_ECDSA, NULL, 0};

	CHECK(f->C_Initialize(NULL), CKR_OK);
	CHECK(f->C_OpenSession(first_slot(), CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
	key = find_label(s, CKO_PRIVATE_KEY, rsa_label);
	pub = find_label(s, CKO_PUBLIC_KEY, rsa_label);
	ec = find(s, CKO_PRIVATE_KEY);
	EXPECT(key != CK_INVALID_HANDLE && pub != CK_INVALID_HANDLE);

	/* PSS parameters: missing, NULL with a length, short */
	{
		CK_MECHANISM none = {CKM_RSA_PKCS_PSS, NULL, 0};
		CHECK(f->C_SignInit(s, &none, key), CKR_MECHANISM_PARAM_INVALID);
	}
	CHECK(f->C_SignInit(s, &pss_null, key), CKR_MECHANISM_PARAM_INVALID);
	CHECK(f->C_SignInit(s, &pss_short, key), CKR_MECHANISM_PARAM_INVALID);
	pp.sLen = 20;
	CHECK(f->C_SignInit(s, &pss, key), CKR_MECHANISM_PARAM_INVALID);
	pp.sLen = 32;
	/* the two-call convention with a 256-byte signature */
	CHECK(f->C_SignInit(s, &pss, key), CKR_OK);
	CHECK(f->C_Sign(s, digest, 32, NULL, &n), CKR_OK);
	EXPECT(n == 256);
	n = 255;
	CHECK(f->C_Sign(s, digest, 32, sig, &n), CKR_BUFFER_TOO_SMALL);
	EXPECT(n == 256);
	CHECK(f->C_Sign(s, digest, 32, sig, NULL), CKR_ARGUMENTS_BAD);
	n = sizeof sig;
	CHECK(f->C_Sign(s, digest, 32, sig, &n), CKR_OK);
	EXPECT(n == 256);
	CHECK(f->C_VerifyInit(s, &pss, pub), CKR_OK);
	CHECK(f->C_Verify(s, digest, 32, sig, 256), CKR_OK);
	CHECK(f->C_VerifyInit(s, &pss, pub), CKR_OK);
	CHECK(f->C_Verify(s, digest, 32, sig, 255), CKR_SIGNATURE_LEN_RANGE);
	/* a digest of the wrong length for the PSS hash */
	CHECK(f->C_SignInit(s, &pss, key), CKR_OK);
	n = sizeof sig;
	CHECK(f->C_Sign(s, digest, 31, sig, &n), CKR_DATA_LEN_RANGE);
	/* CKM_RSA_PKCS over data that is no DigestInfo */
	CHECK(f->C_SignInit(s, &pkcs, key), CKR_OK);
	n = sizeof sig;
	CHECK(f->C_Sign(s, digest, 32, sig, &n), CKR_DATA_INVALID);
	/* multi-part with a short final buffer */
	CHECK(f->C_SignInit(s, &sha256_pkcs, key), CKR_OK);
	CHECK(f->C_SignUpdate(s, digest, 32), CKR_OK);
	n = 3;
	CHECK(f->C_SignFinal(s, sig, &n), CKR_BUFFER_TOO_SMALL);
	EXPECT(n == 256);
	CHECK(f->C_SignFinal(s, sig, &n), CKR_OK);
	/* a mechanism of the other key type */
	CHECK(f->C_SignInit(s, &ecdsa, key), CKR_KEY_TYPE_INCONSISTENT);
	CHECK(f->C_SignInit(s, &sha256_pkcs, ec), CKR_KEY_TYPE_INCONSISTENT);
	CHECK(f->C_CloseSession(s), CKR_OK);
	CHECK(f->C_Finalize(NULL), CKR_OK);
}

static CK_RV sign_once(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key, CK_BYTE *sig, CK_ULONG *len)
{
	CK_MECHANISM m = {CKM_ECDSA, NULL, 0};
	CK_RV rv = f->C_SignInit(s, &m, key);
	if (rv != CKR_OK)
		return rv;
	return f->C_Sign(s, digest, sizeof digest, sig, len);
}

/* ---- argument and order checks ------------------------------------------ */

static void misuse(void)
{
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE s, ro;
	CK_OBJECT_HANDLE key, pub;
	CK_ULONG n;
	CK_BYTE buf[256];
	CK_MECHANISM ecdsa = {CKM_ECDSA, NULL, 0};
	CK_INFO info;

	/* before C_Initialize */
	CHECK(f->C_GetInfo(&info), CKR_CRYPTOKI_NOT_INITIALIZED);
	CHECK(f->C_GetSlotList(CK_TRUE, NULL, &n), CKR_CRYPTOKI_NOT_INITIALIZED);
	CHECK(f->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);

	/* C_Initialize arguments */
	{
		CK_C_INITIALIZE_ARGS a;
		memset(&a, 0, sizeof a);
		a.pReserved = (void *)1;
		CHECK(f->C_Initialize(&a), CKR_ARGUMENTS_BAD);
		memset(&a, 0, sizeof a);
		a.CreateMutex = (CK_CREATEMUTEX)1; /* some but not all functions */
		CHECK(f->C_Initialize(&a), CKR_ARGUMENTS_BAD);
		memset(&a, 0, sizeof a);
		a.flags = CKF_LIBRARY_CANT_CREATE_OS_THREADS | CKF_OS_LOCKING_OK;
		CHECK(f->C_Initialize(&a), CKR_OK);
		CHECK(f->C_Initialize(NULL), CKR_CRYPTOKI_ALREADY_INITIALIZED);
		CHECK(f->C_Finalize((void *)1), CKR_ARGUMENTS_BAD);
		CHECK(f->C_Finalize(NULL), CKR_OK);
		CHECK(f->C_Initialize(NULL), CKR_OK);
	}

	CHECK(f->C_GetInfo(NULL), CKR_ARGUMENTS_BAD);
	CHECK(f->C_GetInfo(&info), CKR_OK);
	EXPECT(info.cryptokiVersion.major == 2 && info.cryptokiVersion.minor == 40);

	/* slot list: NULL count, count query, short buffer */
	CHECK(f->C_GetSlotList(CK_TRUE, NULL, NULL), CKR_ARGUMENTS_BAD);
	CHECK(f->C_GetSlotList(CK_TRUE, NULL, &n), CKR_OK);
	EXPECT(n >= 1);
	{
		CK_SLOT_ID one;
		CK_ULONG zero = 0;
		CHECK(f->C_GetSlotList(CK_FALSE, &one, &zero), CKR_BUFFER_TOO_SMALL);
		EXPECT(zero >= 1);
	}
	slot = first_slot();
	{
		CK_SLOT_INFO si;
		CK_TOKEN_INFO ti;
		CHECK(f->C_GetSlotInfo(slot, NULL), CKR_ARGUMENTS_BAD);
		CHECK(f->C_GetSlotInfo(9999, &si), CKR_SLOT_ID_INVALID);
		CHECK(f->C_GetTokenInfo(slot, NULL), CKR_ARGUMENTS_BAD);
		CHECK(f->C_GetTokenInfo(9999, &ti), CKR_SLOT_ID_INVALID);
		CHECK(f->C_GetTokenInfo(slot, &ti), CKR_OK);
	}
	/* mechanisms */
	{
		CK_MECHANISM_INFO mi;
		CK_MECHANISM_TYPE one;
		CK_ULONG cnt = 0;
		CHECK(f->C_GetMechanismList(slot, NULL, NULL), CKR_ARGUMENTS_BAD);
		CHECK(f->C_GetMechanismList(slot, &one, &cnt), CKR_BUFFER_TOO_SMALL);
		EXPECT(cnt > 1);
		CHECK(f->C_GetMechanismInfo(slot, CKM_ECDSA, NULL), CKR_ARGUMENTS_BAD);
		CHECK(f->C_GetMechanismInfo(slot, CKM_AES_ECB, &mi), CKR_MECHANISM_INVALID);
		CHECK(f->C_GetMechanismInfo(slot, CKM_ECDSA, &mi), CKR_OK);
		EXPECT(mi.flags & CKF_SIGN);
	}

	/* sessions */
	CHECK(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, NULL), CKR_ARGUMENTS_BAD);
	CHECK(f->C_OpenSession(slot, 0, NULL, NULL, &s), CKR_SESSION_PARALLEL_NOT_SUPPORTED);
	CHECK(f->C_OpenSession(9999, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_SLOT_ID_INVALID);
	CHECK(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
	CHECK(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &ro), CKR_OK);
	{
		CK_SESSION_INFO si;
		CHECK(f->C_GetSessionInfo(s, NULL), CKR_ARGUMENTS_BAD);
		CHECK(f->C_GetSessionInfo(0xdead, &si), CKR_SESSION_HANDLE_INVALID);
		CHECK(f->C_GetSessionInfo(s, &si), CKR_OK);
	}
	CHECK(f->C_CloseSession(0xdead), CKR_SESSION_HANDLE_INVALID);

	/* find: wrong order and bad arguments */
	CHECK(f->C_FindObjects(s, (CK_OBJECT_HANDLE *)buf, 1, &n), CKR_OPERATION_NOT_INITIALIZED);
	CHECK(f->C_FindObjectsFinal(s), CKR_OPERATION_NOT_INITIALIZED);
	CHECK(f->C_FindObjectsInit(s, NULL, 1), CKR_ARGUMENTS_BAD);
	CHECK(f->C_FindObjectsInit(s, NULL, 0), CKR_OK);
	CHECK(f->C_FindObjectsInit(s, NULL, 0), CKR_OPERATION_ACTIVE);
	CHECK(f->C_FindObjects(s, NULL, 1, &n), CKR_ARGUMENTS_BAD);
	CHECK(f->C_FindObjects(s, (CK_OBJECT_HANDLE *)buf, 1, NULL), CKR_ARGUMENTS_BAD);
	CHECK(f->C_FindObjectsFinal(s), CKR_OK);

	key = find(s, CKO_PRIVATE_KEY);
	pub = find(s, CKO_PUBLIC_KEY);
	EXPECT(key != CK_INVALID_HANDLE && pub != CK_INVALID_HANDLE);

	/* attributes */
	{
		CK_BYTE point[128];
		CK_BYTE small[4];
		CK_ATTRIBUTE a[3];
		CHECK(f->C_GetAttributeValue(s, key, NULL, 1), CKR_ARGUMENTS_BAD);
		CHECK(f->C_GetAttributeValue(s, 0xdead, a, 0), CKR_OBJECT_HANDLE_INVALID);
		a[0].type = CKA_EC_POINT; a[0].pValue = NULL; a[0].ulValueLen = 0;
		CHECK(f->C_GetAttributeValue(s, pub, a, 1), CKR_OK);
		EXPECT(a[0].ulValueLen == 67);
		a[0].pValue = small; a[0].ulValueLen = sizeof small;
		CHECK(f->C_GetAttributeValue(s, pub, a, 1), CKR_BUFFER_TOO_SMALL);
		EXPECT(a[0].ulValueLen == CK_UNAVAILABLE_INFORMATION);
		a[0].pValue = point; a[0].ulValueLen = sizeof point;
		CHECK(f->C_GetAttributeValue(s, pub, a, 1), CKR_OK);
		EXPECT(a[0].ulValueLen == 67 && point[0] == 0x04 && point[1] == 0x41 && point[2] == 0x04);
		/* a sensitive value, an unknown type, and a good one in one call */
		a[0].type = CKA_VALUE; a[0].pValue = point; a[0].ulValueLen = sizeof point;
		a[1].type = 0x7fff0001UL; a[1].pValue = NULL; a[1].ulValueLen = 0;
		a[2].type = CKA_EC_PARAMS; a[2].pValue = point + 80; a[2].ulValueLen = 40;
		{
			CK_RV rv = f->C_GetAttributeValue(s, key, a, 3);
			checks++;
			if (rv != CKR_ATTRIBUTE_SENSITIVE && rv != CKR_ATTRIBUTE_TYPE_INVALID) {
				failures++;
				fprintf(stderr, "FAIL: mixed C_GetAttributeValue = 0x%lx\n", (unsigned long)rv);
			}
		}
		EXPECT(a[0].ulValueLen == CK_UNAVAILABLE_INFORMATION);
		EXPECT(a[1].ulValueLen == CK_UNAVAILABLE_INFORMATION);
		EXPECT(a[2].ulValueLen == 10); /* the P-256 OID, still filled in */
		CHECK(f->C_GetObjectSize(s, key, NULL), CKR_ARGUMENTS_BAD);
	}
	/* card objects are read-only */
	CHECK(f->C_DestroyObject(s, key), CKR_ACTION_PROHIBITED);
	CHECK(f->C_DestroyObject(s, 0xdead), CKR_OBJECT_HANDLE_INVALID);
	/* nothing is copyable (CKA_COPYABLE false) */
	{
		CK_OBJECT_HANDLE copy = 0;
		CHECK(f->C_CopyObject(s, key, NULL, 0, &copy), CKR_ACTION_PROHIBITED);
		CHECK(f->C_CopyObject(s, key, NULL, 0, NULL), CKR_ARGUMENTS_BAD);
		CHECK(f->C_CopyObject(s, key, NULL, 1, &copy), CKR_ARGUMENTS_BAD);
		CHECK(f->C_CopyObject(s, 0xdead, NULL, 0, &copy), CKR_OBJECT_HANDLE_INVALID);
		CHECK(f->C_CopyObject(0xdead, key, NULL, 0, &copy), CKR_SESSION_HANDLE_INVALID);
	}

	/* signing: wrong order, bad handles, two-call convention, short buffer */
	n = sizeof buf;
	CHECK(f->C_Sign(s, digest, 32, buf, &n), CKR_OPERATION_NOT_INITIALIZED);
	CHECK(f->C_SignFinal(s, buf, &n), CKR_OPERATION_NOT_INITIALIZED);
	CHECK(f->C_SignInit(s, NULL, key), CKR_ARGUMENTS_BAD);
	CHECK(f->C_SignInit(s, &ecdsa, 0xdead), CKR_KEY_HANDLE_INVALID);
	CHECK(f->C_SignInit(0xdead, &ecdsa, key), CKR_SESSION_HANDLE_INVALID);
	{
		CK_MECHANISM aes = {CKM_AES_ECB, NULL, 0};
		CHECK(f->C_SignInit(s, &aes, key), CKR_MECHANISM_INVALID);
	}
	CHECK(f->C_SignInit(s, &ecdsa, pub), CKR_KEY_FUNCTION_NOT_PERMITTED);
	CHECK(f->C_SignInit(s, &ecdsa, key), CKR_OK);
	CHECK(f->C_SignInit(s, &ecdsa, key), CKR_OPERATION_ACTIVE);
	CHECK(f->C_Sign(s, digest, 32, buf, NULL), CKR_ARGUMENTS_BAD);
	CHECK(f->C_Sign(s, NULL, 32, buf, &n), CKR_ARGUMENTS_BAD);
	n = 0;
	CHECK(f->C_Sign(s, digest, 32, NULL, &n), CKR_OK); /* length query */
	EXPECT(n == 64);
	n = 10;
	CHECK(f->C_Sign(s, digest, 32, buf, &n), CKR_BUFFER_TOO_SMALL); /* keeps the operation */
	EXPECT(n == 64);
	n = sizeof buf;
	CHECK(f->C_Sign(s, digest, 32, buf, &n), CKR_OK);
	EXPECT(n == 64);
	n = sizeof buf;
	CHECK(f->C_Sign(s, digest, 32, buf, &n), CKR_OPERATION_NOT_INITIALIZED); /* ended */

	/* verification: good, bad, wrong length */
	{
		CK_BYTE sig[64];
		memcpy(sig, buf, 64);
		CHECK(f->C_VerifyInit(s, &ecdsa, pub), CKR_OK);
		CHECK(f->C_Verify(s, digest, 32, sig, 64), CKR_OK);
		sig[5] ^= 1;
		CHECK(f->C_VerifyInit(s, &ecdsa, pub), CKR_OK);
		CHECK(f->C_Verify(s, digest, 32, sig, 64), CKR_SIGNATURE_INVALID);
		CHECK(f->C_VerifyInit(s, &ecdsa, pub), CKR_OK);
		CHECK(f->C_Verify(s, digest, 32, sig, 63), CKR_SIGNATURE_LEN_RANGE);
		CHECK(f->C_Verify(s, digest, 32, sig, 64), CKR_OPERATION_NOT_INITIALIZED);
	}
	/* multi-part ECDSA-SHA256 with a short final buffer */
	{
		CK_MECHANISM m = {CKM_ECDSA_SHA256, NULL, 0};
		CHECK(f->C_SignInit(s, &m, key), CKR_OK);
		CHECK(f->C_SignUpdate(s, digest, 16), CKR_OK);
		CHECK(f->C_SignUpdate(s, NULL, 16), CKR_ARGUMENTS_BAD);
		CHECK(f->C_SignUpdate(s, digest + 16, 16), CKR_OK);
		n = 3;
		CHECK(f->C_SignFinal(s, buf, &n), CKR_BUFFER_TOO_SMALL);
		EXPECT(n == 64);
		CHECK(f->C_SignFinal(s, buf, &n), CKR_OK);
		CHECK(f->C_VerifyInit(s, &m, pub), CKR_OK);
		CHECK(f->C_VerifyUpdate(s, digest, 32), CKR_OK);
		CHECK(f->C_VerifyFinal(s, buf, 64), CKR_OK);
	}
	/* random */
	CHECK(f->C_GenerateRandom(s, NULL, 16), CKR_ARGUMENTS_BAD);
	CHECK(f->C_GenerateRandom(s, buf, 16), CKR_OK);
	CHECK(f->C_GenerateRandom(s, buf, 0), CKR_OK);

	/* a data object in a read-only session, then in a read-write one */
	{
		CK_OBJECT_CLASS cls = CKO_DATA;
		CK_BBOOL yes = CK_TRUE;
		CK_ATTRIBUTE t[] = {
			{CKA_CLASS, &cls, sizeof cls},
			{CKA_TOKEN, &yes, sizeof yes},
			{CKA_LABEL, "misuse", 6},
			{CKA_VALUE, "hello", 5},
		};
		CK_OBJECT_HANDLE h;
		CHECK(f->C_CreateObject(ro, t, 4, &h), CKR_SESSION_READ_ONLY);
		CHECK(f->C_CreateObject(s, t, 4, NULL), CKR_ARGUMENTS_BAD);
		CHECK(f->C_CreateObject(s, NULL, 4, &h), CKR_ARGUMENTS_BAD);
		yes = CK_FALSE; /* a session object: gone with the session */
		CHECK(f->C_CreateObject(s, t, 4, &h), CKR_OK);
		/* the application's own object is copyable (PKCS#11 default),
		 * as google/pkcs11test's DataObjectTest expects: copy, destroy
		 * the copy, its handle is then invalid, the original stays */
		{
			CK_OBJECT_HANDLE c2 = 0;
			CK_BBOOL no = CK_FALSE;
			CK_ATTRIBUTE relabel[] = {{CKA_LABEL, "copy", 4}, {CKA_COPYABLE, &no, sizeof no}};
			CK_ATTRIBUTE val = {CKA_VALUE, buf, sizeof buf};
			CHECK(f->C_CopyObject(s, h, NULL, 0, &c2), CKR_OK);
			CHECK(f->C_DestroyObject(s, c2), CKR_OK);
			CHECK(f->C_GetAttributeValue(s, c2, &val, 1), CKR_OBJECT_HANDLE_INVALID);
			CHECK(f->C_GetAttributeValue(s, h, &val, 1), CKR_OK);
			CHECK(f->C_CopyObject(s, h, relabel, 2, &c2), CKR_OK);
			CHECK(f->C_CopyObject(s, c2, NULL, 0, &c2), CKR_ACTION_PROHIBITED);
			CHECK(f->C_DestroyObject(s, c2), CKR_OK);
		}
		CHECK(f->C_DestroyObject(s, h), CKR_OK);
		CHECK(f->C_DestroyObject(s, h), CKR_OBJECT_HANDLE_INVALID);
	}

	/* a digest's state saved and restored into another session (how
	 * SunPKCS11 clones a MessageDigest), and the misuse of both calls */
	{
		CK_MECHANISM sha = {CKM_SHA256, NULL, 0};
		CK_BYTE st[512], d1[32], d2[32];
		CK_ULONG n = sizeof st, l1 = sizeof d1, l2 = sizeof d2;
		CHECK(f->C_GetOperationState(s, st, &n), CKR_OPERATION_NOT_INITIALIZED);
		CHECK(f->C_DigestInit(s, &sha), CKR_OK);
		CHECK(f->C_DigestUpdate(s, (CK_BYTE *)"abc", 3), CKR_OK);
		CHECK(f->C_GetOperationState(s, st, NULL), CKR_ARGUMENTS_BAD);
		n = 1;
		CHECK(f->C_GetOperationState(s, st, &n), CKR_BUFFER_TOO_SMALL);
		n = 0;
		CHECK(f->C_GetOperationState(s, NULL, &n), CKR_OK);
		CHECK(f->C_GetOperationState(s, st, &n), CKR_OK);
		CHECK(f->C_SetOperationState(ro, NULL, n, 0, 0), CKR_ARGUMENTS_BAD);
		CHECK(f->C_SetOperationState(ro, st, 5, 0, 0), CKR_SAVED_STATE_INVALID);
		CHECK(f->C_SetOperationState(ro, st, n, 0, 0), CKR_OK);
		CHECK(f->C_DigestFinal(s, d1, &l1), CKR_OK);
		CHECK(f->C_DigestFinal(ro, d2, &l2), CKR_OK);
		if (l1 != 32 || l2 != 32 || memcmp(d1, d2, 32) != 0) {
			failures++;
			printf("FAIL: the restored digest differs from the original\n");
		}
	}

	/* login: the token asks for none */
	CHECK(f->C_Login(s, CKU_USER, NULL, 4), CKR_ARGUMENTS_BAD);

	CHECK(f->C_CloseSession(ro), CKR_OK);
	CHECK(f->C_CloseSession(ro), CKR_SESSION_HANDLE_INVALID);

	/* a session does not outlive C_Finalize */
	CHECK(f->C_Finalize(NULL), CKR_OK);
	CHECK(f->C_GetSessionInfo(s, (CK_SESSION_INFO *)buf), CKR_CRYPTOKI_NOT_INITIALIZED);
	CHECK(f->C_Initialize(NULL), CKR_OK);
	CHECK(f->C_GetSessionInfo(s, (CK_SESSION_INFO *)buf), CKR_SESSION_HANDLE_INVALID);
	CHECK(f->C_Finalize(NULL), CKR_OK);
}

/* ---- cycles ------------------------------------------------------------- */

static void cycles(int rounds)
{
	int i;
	for (i = 0; i < rounds; i++) {
		CK_SESSION_HANDLE s;
		CK_BYTE sig[64];
		CK_ULONG n = sizeof sig;
		CHECK(f->C_Initialize(NULL), CKR_OK);
		CHECK(f->C_OpenSession(first_slot(), CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
		CHECK(sign_once(s, find(s, CKO_PRIVATE_KEY), sig, &n), CKR_OK);
		/* C_Finalize with the session still open */
		CHECK(f->C_Finalize(NULL), CKR_OK);
	}
}

/* ---- threads ------------------------------------------------------------ */

#define THREADS 16
#define PER_THREAD 40

static int thread_failures;
static pthread_mutex_t tf_mu = PTHREAD_MUTEX_INITIALIZER;

static void *signer(void *arg)
{
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE key, pub;
	int i, bad = 0;
	(void)arg;
	if (f->C_OpenSession(first_slot(), CKF_SERIAL_SESSION, NULL, NULL, &s) != CKR_OK) {
		bad++;
		goto out;
	}
	key = find(s, CKO_PRIVATE_KEY);
	pub = find(s, CKO_PUBLIC_KEY);
	for (i = 0; i < PER_THREAD; i++) {
		CK_BYTE sig[64];
		CK_ULONG n = sizeof sig;
		CK_MECHANISM m = {CKM_ECDSA, NULL, 0};
		if (sign_once(s, key, sig, &n) != CKR_OK || n != 64) {
			bad++;
			continue;
		}
		if (f->C_VerifyInit(s, &m, pub) != CKR_OK || f->C_Verify(s, digest, 32, sig, 64) != CKR_OK)
			bad++;
	}
	f->C_CloseSession(s);
out:
	pthread_mutex_lock(&tf_mu);
	thread_failures += bad;
	pthread_mutex_unlock(&tf_mu);
	return NULL;
}

static void threads(void)
{
	pthread_t t[THREADS];
	int i;
	thread_failures = 0;
	for (i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, signer, NULL);
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	checks++;
	if (thread_failures) {
		failures++;
		fprintf(stderr, "FAIL: %d of %d threaded sign+verify failed\n", thread_failures, THREADS * PER_THREAD);
	}
}

/* application mutex callbacks (no CKF_OS_LOCKING_OK): the library must use them */
static int app_locks;
static CK_RV app_create(CK_VOID_PTR_PTR m)
{
	pthread_mutex_t *p = malloc(sizeof *p);
	if (!p)
		return CKR_HOST_MEMORY;
	pthread_mutex_init(p, NULL);
	*m = p;
	return CKR_OK;
}
static CK_RV app_destroy(CK_VOID_PTR m)
{
	pthread_mutex_destroy(m);
	free(m);
	return CKR_OK;
}
static CK_RV app_lock(CK_VOID_PTR m)
{
	pthread_mutex_lock(m);
	app_locks++; /* under the lock */
	return CKR_OK;
}
static CK_RV app_unlock(CK_VOID_PTR m)
{
	pthread_mutex_unlock(m);
	return CKR_OK;
}

/* PKCS#11 3.0 interfaces: the list, both versions by C_GetInterface, and
 * the 3.0 function list working (C_LoginUser, a message function). */
static void interfaces(void *lib)
{
	CK_C_GetInterfaceList gil = (CK_C_GetInterfaceList)dlsym(lib, "C_GetInterfaceList");
	CK_C_GetInterface gi = (CK_C_GetInterface)dlsym(lib, "C_GetInterface");
	CK_INTERFACE list[4], *ifc = NULL;
	CK_ULONG n = 0;
	CK_VERSION v30 = {3, 0}, v240 = {2, 40}, v99 = {9, 9};
	CK_FUNCTION_LIST_3_0 *f3;
	CK_SESSION_HANDLE s;
	EXPECT(gil != NULL && gi != NULL);
	if (gil == NULL || gi == NULL)
		return;
	CHECK(gil(NULL, NULL), CKR_ARGUMENTS_BAD);
	CHECK(gil(NULL, &n), CKR_OK);
	EXPECT(n == 2);
	n = 1;
	CHECK(gil(list, &n), CKR_BUFFER_TOO_SMALL);
	n = 4;
	CHECK(gil(list, &n), CKR_OK);
	EXPECT(n == 2 && strcmp((char *)list[0].pInterfaceName, "PKCS 11") == 0);
	CHECK(gi((CK_UTF8CHAR *)"PKCS 11", &v240, NULL, 0), CKR_ARGUMENTS_BAD);
	CHECK(gi((CK_UTF8CHAR *)"Vendor X", NULL, &ifc, 0), CKR_ARGUMENTS_BAD);
	CHECK(gi((CK_UTF8CHAR *)"PKCS 11", &v99, &ifc, 0), CKR_ARGUMENTS_BAD);
	CHECK(gi((CK_UTF8CHAR *)"PKCS 11", &v240, &ifc, 0), CKR_OK);
	EXPECT(ifc != NULL && ((CK_VERSION *)ifc->pFunctionList)->minor == 40);
	CHECK(gi(NULL, NULL, &ifc, 0), CKR_OK); /* the default: the newest */
	CHECK(gi((CK_UTF8CHAR *)"PKCS 11", &v30, &ifc, 0), CKR_OK);
	f3 = ifc ? (CK_FUNCTION_LIST_3_0 *)ifc->pFunctionList : NULL;
	EXPECT(f3 != NULL && f3->version.major == 3);
	if (f3 == NULL)
		return;
	CHECK(f3->C_Initialize(NULL), CKR_OK);
	CHECK(f3->C_OpenSession(first_slot(), CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
	CHECK(f3->C_LoginUser(s, CKU_USER, (CK_UTF8CHAR *)"1234", 4, (CK_UTF8CHAR *)"bob", 3), CKR_USER_TYPE_INVALID);
	CHECK(f3->C_MessageSignInit(s, NULL, 0), CKR_FUNCTION_NOT_SUPPORTED);
	CHECK(f3->C_SessionCancel(s, 0), CKR_FUNCTION_NOT_SUPPORTED);
	CHECK(f3->C_Finalize(NULL), CKR_OK);
}

int main(int argc, char **argv)
{
	void *lib;
	CK_C_GetFunctionList gfl;
	if (argc < 3) {
		fprintf(stderr, "usage: %s MODULE.so KEY-LABEL [RSA-KEY-LABEL]\n", argv[0]);
		return 2;
	}
	key_label = argv[2];
	rsa_label = argc > 3 ? argv[3] : NULL;
	lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 2;
	}
	gfl = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList");
	if (!gfl) {
		fprintf(stderr, "no C_GetFunctionList\n");
		return 2;
	}
	CHECK(gfl(NULL), CKR_ARGUMENTS_BAD);
	CHECK(gfl(&f), CKR_OK);

	misuse();
	printf("misuse: argument/order checks done\n");
	if (rsa_label) {
		rsa_misuse();
		printf("misuse: RSA mechanism checks done\n");
	}
	interfaces(lib);
	printf("misuse: PKCS#11 3.0 interface checks done\n");
	cycles(20);
	printf("misuse: 20 C_Initialize/C_Finalize cycles done\n");

	CHECK(f->C_Initialize(NULL), CKR_OK);
	threads();
	CHECK(f->C_Finalize(NULL), CKR_OK);
	printf("misuse: %d threads x %d signatures (OS locking) done\n", THREADS, PER_THREAD);

	{
		CK_C_INITIALIZE_ARGS a;
		memset(&a, 0, sizeof a);
		a.CreateMutex = app_create;
		a.DestroyMutex = app_destroy;
		a.LockMutex = app_lock;
		a.UnlockMutex = app_unlock;
		CHECK(f->C_Initialize(&a), CKR_OK);
		threads();
		CHECK(f->C_Finalize(NULL), CKR_OK);
		EXPECT(app_locks > THREADS * PER_THREAD);
		printf("misuse: %d threads x %d signatures (application mutexes, %d locks) done\n",
		       THREADS, PER_THREAD, app_locks);
	}

	/* functions this library does not have answer CKR_FUNCTION_NOT_SUPPORTED,
	 * but only after the checks every function makes: initialized first,
	 * then the session handle (or slot) */
	CHECK(f->C_EncryptInit(1, NULL, 0), CKR_CRYPTOKI_NOT_INITIALIZED);
	CHECK(f->C_SetPIN(1, NULL, 0, NULL, 0), CKR_CRYPTOKI_NOT_INITIALIZED);
	CHECK(f->C_InitToken(0, NULL, 0, NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
	CHECK(f->C_CopyObject(1, 1, NULL, 0, NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
	CHECK(f->C_Initialize(NULL), CKR_OK);
	CHECK(f->C_EncryptInit(0xdead, NULL, 0), CKR_SESSION_HANDLE_INVALID);
	CHECK(f->C_DigestKey(0xdead, 1), CKR_SESSION_HANDLE_INVALID);
	CHECK(f->C_InitToken(0xdead, NULL, 0, NULL), CKR_SLOT_ID_INVALID);
	{
		CK_SESSION_HANDLE us;
		CK_SLOT_ID sl[8];
		CK_ULONG nsl = 8;
		CHECK(f->C_GetSlotList(CK_TRUE, sl, &nsl), CKR_OK);
		CHECK(f->C_OpenSession(sl[0], CKF_SERIAL_SESSION, NULL, NULL, &us), CKR_OK);
		CHECK(f->C_EncryptInit(us, NULL, 0), CKR_FUNCTION_NOT_SUPPORTED);
		CHECK(f->C_GenerateKey(us, NULL, NULL, 0, NULL), CKR_FUNCTION_NOT_SUPPORTED);
		CHECK(f->C_CloseSession(us), CKR_OK);
	}
	CHECK(f->C_Finalize(NULL), CKR_OK);

	printf("misuse: %d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
