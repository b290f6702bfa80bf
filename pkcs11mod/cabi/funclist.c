/* The function lists of libiotsafe-pkcs11 (PKCS#11 2.40 and 3.0) and the
 * functions this token does not offer. Everything else is implemented in Go
 * (main.go) and exported from there. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>
#include "pkcs11_glue.h"
#include "_cgo_export.h"

/* The Go helpers these C functions call, inside the fork gate as every
 * entry point (entry.c). */
static CK_RV iotsafeCheckSession(CK_SESSION_HANDLE h)
{
	IOTSAFE_GATED(iotsafeGoCheckSession(h));
}

static CK_RV iotsafeCheckSlot(CK_SLOT_ID id)
{
	IOTSAFE_GATED(iotsafeGoCheckSlot(id));
}

static CK_RV iotsafeGetOperationState(CK_SESSION_HANDLE h, CK_BYTE_PTR p, CK_ULONG_PTR n)
{
	IOTSAFE_GATED(iotsafeGoGetOperationState(h, p, n));
}

static CK_RV iotsafeSetOperationState(CK_SESSION_HANDLE h, CK_BYTE_PTR p, CK_ULONG n, CK_OBJECT_HANDLE enc, CK_OBJECT_HANDLE auth)
{
	IOTSAFE_GATED(iotsafeGoSetOperationState(h, p, n, enc, auth));
}

static CK_RV iotsafeCopyObject(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR out)
{
	IOTSAFE_GATED(iotsafeGoCopyObject(h, o, t, n, out));
}

/* Functions of operations a SIM keystore does not have (encryption,
 * wrapping, secret key generation, operation state, token and PIN
 * administration, which the operator does over the air). */

CK_RV C_InitToken(CK_SLOT_ID a, CK_UTF8CHAR_PTR b, CK_ULONG c, CK_UTF8CHAR_PTR d)
{
	(void)a; (void)b; (void)c; (void)d;
	CK_RV rv = iotsafeCheckSlot(a);
	if (rv != CKR_OK)
		return rv;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_InitPIN(CK_SESSION_HANDLE a, CK_UTF8CHAR_PTR b, CK_ULONG c)
{
	(void)a; (void)b; (void)c;
	CK_RV rv = iotsafeCheckSession(a);
	if (rv != CKR_OK)
		return rv;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_SetPIN(CK_SESSION_HANDLE a, CK_UTF8CHAR_PTR b, CK_ULONG c, CK_UTF8CHAR_PTR d, CK_ULONG e)
{
	(void)a; (void)b; (void)c; (void)d; (void)e;
	CK_RV rv = iotsafeCheckSession(a);
	if (rv != CKR_OK)
		return rv;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_GetOperationState(CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG_PTR c)
{
	CK_RV rv = iotsafeCheckSession(a);
	if (rv != CKR_OK)
		return rv;
	if (c == NULL)
		return CKR_ARGUMENTS_BAD;
	return iotsafeGetOperationState(a, b, c);
}

CK_RV C_SetOperationState(CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_OBJECT_HANDLE d, CK_OBJECT_HANDLE e)
{
	CK_RV rv = iotsafeCheckSession(a);
	if (rv != CKR_OK)
		return rv;
	if (b == NULL)
		return CKR_ARGUMENTS_BAD;
	return iotsafeSetOperationState(a, b, c, d, e);
}

/* Card objects are not copyable; host-side and session objects are (the
 * engine's CopyObject says which). */
CK_RV C_CopyObject(CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b, CK_ATTRIBUTE_PTR c, CK_ULONG d, CK_OBJECT_HANDLE_PTR e)
{
	CK_RV rv = iotsafeCheckSession(a);
	if (rv != CKR_OK)
		return rv;
	if ((c == NULL && d > 0) || e == NULL)
		return CKR_ARGUMENTS_BAD;
	return iotsafeCopyObject(a, b, c, d, e);
}

CK_RV C_EncryptInit(CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c)
{
	(void)a; (void)b; (void)c;
	CK_RV rv = iotsafeCheckSession(a);
	if (rv != CKR_OK)
		return rv;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_Encrypt(CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e)
{
	(void)a; (void)b; (void)c; (void)d; (void)e;
	CK_RV rv = iotsafeCheckSession(a);
	if (rv != CKR_OK)
		return rv;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_EncryptUpdate(CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e)
{
	(void)a; (void)b; (void)c; (void)d; (void)e;
	CK_RV rv = iotsafeCheckSession(a);
	if (rv != CKR_OK)
		return rv;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_EncryptFinal(CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG_PTR c)
{
	(void)a; (void)b; (void)c;
	CK_RV rv = iotsafeCheckSession(a);
	if (rv != CKR_OK)
		return rv;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_DecryptInit(CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c)
{
	(void)a; (void)b; (void)c;
	CK_RV rv = iotsafeCheckSession(a);
	if (rv != CKR_OK)
		return rv;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_Decrypt(CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e)
{
	(void)a; (void)b; (void)c; (void)d; (void)e;
	CK_RV rv = iotsafeCheckSession(a);
	if (rv != CKR_OK)
		return rv;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_DecryptUpdate(CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e)
{
	(void)a; (void)b; (void)c; (void)d; (void)e;
	CK_RV rv = iotsafeCheckSession(a);
	if (rv != CKR_OK)
		return rv;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_DecryptFinal(CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG_PTR c)
{
	(void)a; (void)b; (void)c;
	CK_RV rv = iotsafeCheckSession(a);
	if (rv != CKR_OK)
		return rv;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_DigestKey(CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b)
{
	(void)a; (void)b;
	CK_RV rv = iotsafeCheckSession(a);
	if (rv != CKR_OK)
		return rv;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_SignRecoverInit(CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c)
{
	(void)a; (void)b; (void)c;
	CK_RV rv = iotsafeCheckSession(a);
	if (rv != CKR_OK)
		return rv;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_SignRecover(CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e)
{
	(void)a; (void)b; (void)c; (void)d; (void)e;
	CK_RV rv = iotsafeCheckSession(a);
	if (rv != CKR_OK)
		return rv;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_VerifyRecoverInit(CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c)
{
	(void)a; (void)b; (void)c;
	CK_RV rv = iotsafeCheckSession(a);
	if (rv != CKR_OK)
		return rv;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_VerifyRecover(CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e)
{
	(void)a; (void)b; (void)c; (void)d; (void)e;
	CK_RV rv = iotsafeCheckSession(a);
	if (rv != CKR_OK)
		return rv;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_DigestEncryptUpdate(CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e)
{
	(void)a; (void)b; (void)c; (void)d; (void)e;
	CK_RV rv = iotsafeCheckSession(a);
	if (rv != CKR_OK)
		return rv;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_DecryptDigestUpdate(CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e)
{
	(void)a; (void)b; (void)c; (void)d; (void)e;
	CK_RV rv = iotsafeCheckSession(a);
	if (rv != CKR_OK)
		return rv;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_SignEncryptUpdate(CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e)
{
	(void)a; (void)b; (void)c; (void)d; (void)e;
	CK_RV rv = iotsafeCheckSession(a);
	if (rv != CKR_OK)
		return rv;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_DecryptVerifyUpdate(CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e)
{
	(void)a; (void)b; (void)c; (void)d; (void)e;
	CK_RV rv = iotsafeCheckSession(a);
	if (rv != CKR_OK)
		return rv;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_GenerateKey(CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_ATTRIBUTE_PTR c, CK_ULONG d, CK_OBJECT_HANDLE_PTR e)
{
	(void)a; (void)b; (void)c; (void)d; (void)e;
	CK_RV rv = iotsafeCheckSession(a);
	if (rv != CKR_OK)
		return rv;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_WrapKey(CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c, CK_OBJECT_HANDLE d, CK_BYTE_PTR e, CK_ULONG_PTR f)
{
	(void)a; (void)b; (void)c; (void)d; (void)e; (void)f;
	CK_RV rv = iotsafeCheckSession(a);
	if (rv != CKR_OK)
		return rv;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_UnwrapKey(CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c, CK_BYTE_PTR d, CK_ULONG e, CK_ATTRIBUTE_PTR f, CK_ULONG g, CK_OBJECT_HANDLE_PTR h)
{
	(void)a; (void)b; (void)c; (void)d; (void)e; (void)f; (void)g; (void)h;
	CK_RV rv = iotsafeCheckSession(a);
	if (rv != CKR_OK)
		return rv;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

/* Legacy parallel functions. */
CK_RV C_GetFunctionStatus(CK_SESSION_HANDLE a)
{
	(void)a;
	return CKR_FUNCTION_NOT_PARALLEL;
}

CK_RV C_CancelFunction(CK_SESSION_HANDLE a)
{
	(void)a;
	return CKR_FUNCTION_NOT_PARALLEL;
}

/* PKCS#11 3.0 message-based functions: not offered. */
static CK_RV iotsafe_SessionCancel(CK_SESSION_HANDLE a, CK_FLAGS b)
{
	(void)a; (void)b;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV iotsafe_MessageEncryptInit(CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c)
{
	(void)a; (void)b; (void)c;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV iotsafe_EncryptMessage(CK_SESSION_HANDLE a, CK_VOID_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG e, CK_BYTE_PTR f, CK_ULONG g, CK_BYTE_PTR h, CK_ULONG_PTR i)
{
	(void)a; (void)b; (void)c; (void)d; (void)e; (void)f; (void)g; (void)h; (void)i;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV iotsafe_EncryptMessageBegin(CK_SESSION_HANDLE a, CK_VOID_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG e)
{
	(void)a; (void)b; (void)c; (void)d; (void)e;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV iotsafe_EncryptMessageNext(CK_SESSION_HANDLE a, CK_VOID_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG e, CK_BYTE_PTR f, CK_ULONG_PTR g, CK_FLAGS h)
{
	(void)a; (void)b; (void)c; (void)d; (void)e; (void)f; (void)g; (void)h;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV iotsafe_MessageEncryptFinal(CK_SESSION_HANDLE a)
{
	(void)a;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV iotsafe_MessageDecryptInit(CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c)
{
	(void)a; (void)b; (void)c;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV iotsafe_DecryptMessage(CK_SESSION_HANDLE a, CK_VOID_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG e, CK_BYTE_PTR f, CK_ULONG g, CK_BYTE_PTR h, CK_ULONG_PTR i)
{
	(void)a; (void)b; (void)c; (void)d; (void)e; (void)f; (void)g; (void)h; (void)i;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV iotsafe_DecryptMessageBegin(CK_SESSION_HANDLE a, CK_VOID_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG e)
{
	(void)a; (void)b; (void)c; (void)d; (void)e;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV iotsafe_DecryptMessageNext(CK_SESSION_HANDLE a, CK_VOID_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG e, CK_BYTE_PTR f, CK_ULONG_PTR g, CK_FLAGS h)
{
	(void)a; (void)b; (void)c; (void)d; (void)e; (void)f; (void)g; (void)h;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV iotsafe_MessageDecryptFinal(CK_SESSION_HANDLE a)
{
	(void)a;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV iotsafe_MessageSignInit(CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c)
{
	(void)a; (void)b; (void)c;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV iotsafe_SignMessage(CK_SESSION_HANDLE a, CK_VOID_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG e, CK_BYTE_PTR f, CK_ULONG_PTR g)
{
	(void)a; (void)b; (void)c; (void)d; (void)e; (void)f; (void)g;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV iotsafe_SignMessageBegin(CK_SESSION_HANDLE a, CK_VOID_PTR b, CK_ULONG c)
{
	(void)a; (void)b; (void)c;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV iotsafe_SignMessageNext(CK_SESSION_HANDLE a, CK_VOID_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG e, CK_BYTE_PTR f, CK_ULONG_PTR g)
{
	(void)a; (void)b; (void)c; (void)d; (void)e; (void)f; (void)g;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV iotsafe_MessageSignFinal(CK_SESSION_HANDLE a)
{
	(void)a;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV iotsafe_MessageVerifyInit(CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c)
{
	(void)a; (void)b; (void)c;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV iotsafe_VerifyMessage(CK_SESSION_HANDLE a, CK_VOID_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG e, CK_BYTE_PTR f, CK_ULONG g)
{
	(void)a; (void)b; (void)c; (void)d; (void)e; (void)f; (void)g;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV iotsafe_VerifyMessageBegin(CK_SESSION_HANDLE a, CK_VOID_PTR b, CK_ULONG c)
{
	(void)a; (void)b; (void)c;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV iotsafe_VerifyMessageNext(CK_SESSION_HANDLE a, CK_VOID_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG e, CK_BYTE_PTR f, CK_ULONG g)
{
	(void)a; (void)b; (void)c; (void)d; (void)e; (void)f; (void)g;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV iotsafe_MessageVerifyFinal(CK_SESSION_HANDLE a)
{
	(void)a;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

/* C_LoginUser (3.0): this token has no named users; without a user name it
 * is C_Login. */
static CK_RV iotsafe_LoginUser(CK_SESSION_HANDLE h, CK_USER_TYPE t, CK_UTF8CHAR_PTR pin, CK_ULONG pinLen, CK_UTF8CHAR_PTR user, CK_ULONG userLen)
{
	if (user != NULL && userLen != 0)
		return CKR_USER_TYPE_INVALID;
	return C_Login(h, t, pin, pinLen);
}

/* The PKCS#11 2.40 functions, in CK_FUNCTION_LIST order: the whole 2.40
 * list, and the start of the 3.0 one. */
#define IOTSAFE_FUNCTIONS_2_40 \
	C_Initialize, \
	C_Finalize, \
	C_GetInfo, \
	C_GetFunctionList, \
	C_GetSlotList, \
	C_GetSlotInfo, \
	C_GetTokenInfo, \
	C_GetMechanismList, \
	C_GetMechanismInfo, \
	C_InitToken, \
	C_InitPIN, \
	C_SetPIN, \
	C_OpenSession, \
	C_CloseSession, \
	C_CloseAllSessions, \
	C_GetSessionInfo, \
	C_GetOperationState, \
	C_SetOperationState, \
	C_Login, \
	C_Logout, \
	C_CreateObject, \
	C_CopyObject, \
	C_DestroyObject, \
	C_GetObjectSize, \
	C_GetAttributeValue, \
	C_SetAttributeValue, \
	C_FindObjectsInit, \
	C_FindObjects, \
	C_FindObjectsFinal, \
	C_EncryptInit, \
	C_Encrypt, \
	C_EncryptUpdate, \
	C_EncryptFinal, \
	C_DecryptInit, \
	C_Decrypt, \
	C_DecryptUpdate, \
	C_DecryptFinal, \
	C_DigestInit, \
	C_Digest, \
	C_DigestUpdate, \
	C_DigestKey, \
	C_DigestFinal, \
	C_SignInit, \
	C_Sign, \
	C_SignUpdate, \
	C_SignFinal, \
	C_SignRecoverInit, \
	C_SignRecover, \
	C_VerifyInit, \
	C_Verify, \
	C_VerifyUpdate, \
	C_VerifyFinal, \
	C_VerifyRecoverInit, \
	C_VerifyRecover, \
	C_DigestEncryptUpdate, \
	C_DecryptDigestUpdate, \
	C_SignEncryptUpdate, \
	C_DecryptVerifyUpdate, \
	C_GenerateKey, \
	C_GenerateKeyPair, \
	C_WrapKey, \
	C_UnwrapKey, \
	C_DeriveKey, \
	C_SeedRandom, \
	C_GenerateRandom, \
	C_GetFunctionStatus, \
	C_CancelFunction, \
	C_WaitForSlotEvent,

static CK_FUNCTION_LIST list240 = {
	{2, 40},
	IOTSAFE_FUNCTIONS_2_40
};

static CK_FUNCTION_LIST_3_0 list30 = {
	{3, 0},
	IOTSAFE_FUNCTIONS_2_40
	C_GetInterfaceList,
	C_GetInterface,
	iotsafe_LoginUser,
	iotsafe_SessionCancel,
	iotsafe_MessageEncryptInit,
	iotsafe_EncryptMessage,
	iotsafe_EncryptMessageBegin,
	iotsafe_EncryptMessageNext,
	iotsafe_MessageEncryptFinal,
	iotsafe_MessageDecryptInit,
	iotsafe_DecryptMessage,
	iotsafe_DecryptMessageBegin,
	iotsafe_DecryptMessageNext,
	iotsafe_MessageDecryptFinal,
	iotsafe_MessageSignInit,
	iotsafe_SignMessage,
	iotsafe_SignMessageBegin,
	iotsafe_SignMessageNext,
	iotsafe_MessageSignFinal,
	iotsafe_MessageVerifyInit,
	iotsafe_VerifyMessage,
	iotsafe_VerifyMessageBegin,
	iotsafe_VerifyMessageNext,
	iotsafe_MessageVerifyFinal,
};

static CK_UTF8CHAR interfaceName[] = "PKCS 11";

static CK_INTERFACE interfaces[] = {
	{interfaceName, &list30, 0},
	{interfaceName, &list240, 0},
};

#define NINTERFACES (sizeof(interfaces) / sizeof(interfaces[0]))

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList)
{
	if (ppFunctionList == NULL)
		return CKR_ARGUMENTS_BAD;
	*ppFunctionList = &list240;
	return CKR_OK;
}

CK_RV C_GetInterfaceList(CK_INTERFACE_PTR pInterfacesList, CK_ULONG_PTR pulCount)
{
	if (pulCount == NULL)
		return CKR_ARGUMENTS_BAD;
	if (pInterfacesList == NULL) {
		*pulCount = NINTERFACES;
		return CKR_OK;
	}
	if (*pulCount < NINTERFACES) {
		*pulCount = NINTERFACES;
		return CKR_BUFFER_TOO_SMALL;
	}
	memcpy(pInterfacesList, interfaces, sizeof(interfaces));
	*pulCount = NINTERFACES;
	return CKR_OK;
}

CK_RV C_GetInterface(CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion, CK_INTERFACE_PTR_PTR ppInterface, CK_FLAGS flags)
{
	size_t i;
	if (ppInterface == NULL)
		return CKR_ARGUMENTS_BAD;
	if (pInterfaceName != NULL && strcmp((const char *)pInterfaceName, (const char *)interfaceName) != 0)
		return CKR_ARGUMENTS_BAD;
	for (i = 0; i < NINTERFACES; i++) {
		CK_VERSION *v = (CK_VERSION *)interfaces[i].pFunctionList;
		if (pVersion != NULL && (v->major != pVersion->major || v->minor != pVersion->minor))
			continue;
		if ((interfaces[i].flags & flags) != flags)
			continue;
		*ppInterface = &interfaces[i];
		return CKR_OK;
	}
	return CKR_ARGUMENTS_BAD;
}

CK_RV iotsafe_call_create_mutex(CK_CREATEMUTEX f, void **m) { return f(m); }
CK_RV iotsafe_call_mutex(CK_LOCKMUTEX f, void *m) { return f(m); }

/* At process exit, close what C_Finalize would have closed: applications
 * that never call it (many do not) would otherwise leave a logical channel
 * open on the SIM for each run, until the card runs out of channels. Only
 * in the process that initialized the library (a forked child that calls
 * exit() must not touch the Go runtime it inherited). */
/* The process the Go runtime lives in: the one that loaded the library.
 * A forked child inherits the library but not the runtime's threads, so at
 * its exit nothing may run Go code, even when the child called
 * C_Initialize again (which used to re-arm the handler for the child's pid
 * and hang its exit() for good). */
static pid_t iotsafe_runtime_pid;

/* How long fork() waits, after the runtime is prepared, for its threads to
 * go idle (see iotsafe_fork_prepare). */
#ifndef IOTSAFE_FORK_SETTLE_US
#define IOTSAFE_FORK_SETTLE_US 10000
#endif

/* The fork gate. A child forked while another thread was inside the
 * library inherited that call's locks (the session's, the SIM's) held by
 * a thread it does not have, and hung in its first call. Every call holds
 * the gate shared while it runs (C_WaitForSlotEvent only while it looks at
 * the slots, not while it sleeps); fork() takes it exclusively first
 * (pthread_atfork), so it waits until the calls under way have returned
 * and lets no new one start, and the child starts with no library lock
 * held. Writers are preferred, so that a thread that calls in a loop
 * cannot hold a fork off. */
static pthread_rwlock_t iotsafe_gate;
static void iotsafe_gate_init(void)
{
	pthread_rwlockattr_t a;
	pthread_rwlockattr_init(&a);
#ifdef PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP
	pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
	pthread_rwlock_init(&iotsafe_gate, &a);
	pthread_rwlockattr_destroy(&a);
}
void iotsafe_gate_enter(void) { pthread_rwlock_rdlock(&iotsafe_gate); }
void iotsafe_gate_leave(void) { pthread_rwlock_unlock(&iotsafe_gate); }
/* The Go runtime must leave the child a way to run: see
 * iotsafeForkPrepare (main.go). */
static void iotsafe_fork_prepare(void)
{
	pthread_rwlock_wrlock(&iotsafe_gate);
	iotsafeForkPrepare();
	/* The runtime's own threads are still busy for a while after that:
	 * the system monitor, woken by the stop of the world, polls with a
	 * delay that grows to 10 ms and takes the scheduler's lock on each
	 * round until it goes back to sleep. A fork in one of those moments
	 * left the child that lock held by a thread it does not have, and its
	 * first call hung (conformance/fork.c: about 1 run in 40 failed;
	 * with 2 ms of settling 1 in 150; with 10 ms none in 300). Wait,
	 * outside Go, until the monitor sleeps again. */
	usleep(IOTSAFE_FORK_SETTLE_US);
}
static void iotsafe_fork_parent(void)
{
	iotsafeForkParent();
	pthread_rwlock_unlock(&iotsafe_gate);
}
/* In the child the forking thread is the only one: a fresh gate. */
static void iotsafe_fork_child(void)
{
	iotsafe_gate_init();
}

__attribute__((constructor)) static void iotsafe_loaded(void)
{
	iotsafe_runtime_pid = getpid();
	iotsafe_gate_init();
	pthread_atfork(iotsafe_fork_prepare, iotsafe_fork_parent, iotsafe_fork_child);
}
static void iotsafe_exit_handler(void)
{
	if (getpid() == iotsafe_runtime_pid)
		iotsafeAtExit();
}
void iotsafe_register_atexit(void)
{
	static int registered;
	if (!registered) {
		registered = 1;
		atexit(iotsafe_exit_handler);
	}
}
