/* The C entry points of the functions implemented in Go (main.go, where
 * each is exported as iotsafeGo_C_...). Each holds the fork gate (see
 * funclist.c) from before the thread enters the Go runtime until after it
 * has left it: a fork then never finds a calling thread in the middle of
 * the runtime's own transitions (taking a P on the way in, giving it back
 * on the way out), where it may hold a runtime lock that the child would
 * inherit held by a thread it does not have. C_WaitForSlotEvent takes the
 * gate itself, only while it looks at the slots (not while it sleeps).
 * TestEntryPoints checks that each Go export has its entry point here,
 * with its parameters in order. */
#include "pkcs11_glue.h"
#include "_cgo_export.h"

CK_RV C_Initialize(CK_VOID_PTR pInitArgs)
{
	IOTSAFE_GATED(iotsafeGo_C_Initialize(pInitArgs));
}

CK_RV C_Finalize(CK_VOID_PTR pReserved)
{
	IOTSAFE_GATED(iotsafeGo_C_Finalize(pReserved));
}

CK_RV C_GetInfo(CK_INFO *pInfo)
{
	IOTSAFE_GATED(iotsafeGo_C_GetInfo(pInfo));
}

CK_RV C_GetSlotList(CK_BBOOL tokenPresent, CK_SLOT_ID *pSlotList, CK_ULONG *pulCount)
{
	IOTSAFE_GATED(iotsafeGo_C_GetSlotList(tokenPresent, pSlotList, pulCount));
}

CK_RV C_GetSlotInfo(CK_SLOT_ID slotID, CK_SLOT_INFO *pInfo)
{
	IOTSAFE_GATED(iotsafeGo_C_GetSlotInfo(slotID, pInfo));
}

CK_RV C_GetTokenInfo(CK_SLOT_ID slotID, CK_TOKEN_INFO *pInfo)
{
	IOTSAFE_GATED(iotsafeGo_C_GetTokenInfo(slotID, pInfo));
}

CK_RV C_GetMechanismList(CK_SLOT_ID slotID, CK_MECHANISM_TYPE *pList, CK_ULONG *pulCount)
{
	IOTSAFE_GATED(iotsafeGo_C_GetMechanismList(slotID, pList, pulCount));
}

CK_RV C_GetMechanismInfo(CK_SLOT_ID slotID, CK_MECHANISM_TYPE typ, CK_MECHANISM_INFO *pInfo)
{
	IOTSAFE_GATED(iotsafeGo_C_GetMechanismInfo(slotID, typ, pInfo));
}

CK_RV C_OpenSession(CK_SLOT_ID slotID, CK_FLAGS flags, CK_VOID_PTR pApplication, CK_NOTIFY notify, CK_SESSION_HANDLE *phSession)
{
	IOTSAFE_GATED(iotsafeGo_C_OpenSession(slotID, flags, pApplication, notify, phSession));
}

CK_RV C_CloseSession(CK_SESSION_HANDLE h)
{
	IOTSAFE_GATED(iotsafeGo_C_CloseSession(h));
}

CK_RV C_CloseAllSessions(CK_SLOT_ID slotID)
{
	IOTSAFE_GATED(iotsafeGo_C_CloseAllSessions(slotID));
}

CK_RV C_GetSessionInfo(CK_SESSION_HANDLE h, CK_SESSION_INFO *pInfo)
{
	IOTSAFE_GATED(iotsafeGo_C_GetSessionInfo(h, pInfo));
}

CK_RV C_Login(CK_SESSION_HANDLE h, CK_USER_TYPE userType, CK_UTF8CHAR *pPin, CK_ULONG ulPinLen)
{
	IOTSAFE_GATED(iotsafeGo_C_Login(h, userType, pPin, ulPinLen));
}

CK_RV C_Logout(CK_SESSION_HANDLE h)
{
	IOTSAFE_GATED(iotsafeGo_C_Logout(h));
}

CK_RV C_CreateObject(CK_SESSION_HANDLE h, CK_ATTRIBUTE *pTemplate, CK_ULONG ulCount, CK_OBJECT_HANDLE *phObject)
{
	IOTSAFE_GATED(iotsafeGo_C_CreateObject(h, pTemplate, ulCount, phObject));
}

CK_RV C_DestroyObject(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o)
{
	IOTSAFE_GATED(iotsafeGo_C_DestroyObject(h, o));
}

CK_RV C_GetObjectSize(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ULONG *pulSize)
{
	IOTSAFE_GATED(iotsafeGo_C_GetObjectSize(h, o, pulSize));
}

CK_RV C_GetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE *pTemplate, CK_ULONG ulCount)
{
	IOTSAFE_GATED(iotsafeGo_C_GetAttributeValue(h, o, pTemplate, ulCount));
}

CK_RV C_SetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE *pTemplate, CK_ULONG ulCount)
{
	IOTSAFE_GATED(iotsafeGo_C_SetAttributeValue(h, o, pTemplate, ulCount));
}

CK_RV C_FindObjectsInit(CK_SESSION_HANDLE h, CK_ATTRIBUTE *pTemplate, CK_ULONG ulCount)
{
	IOTSAFE_GATED(iotsafeGo_C_FindObjectsInit(h, pTemplate, ulCount));
}

CK_RV C_FindObjects(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE *phObject, CK_ULONG ulMaxObjectCount, CK_ULONG *pulObjectCount)
{
	IOTSAFE_GATED(iotsafeGo_C_FindObjects(h, phObject, ulMaxObjectCount, pulObjectCount));
}

CK_RV C_FindObjectsFinal(CK_SESSION_HANDLE h)
{
	IOTSAFE_GATED(iotsafeGo_C_FindObjectsFinal(h));
}

CK_RV C_DigestInit(CK_SESSION_HANDLE h, CK_MECHANISM *pMechanism)
{
	IOTSAFE_GATED(iotsafeGo_C_DigestInit(h, pMechanism));
}

CK_RV C_Digest(CK_SESSION_HANDLE h, CK_BYTE *pData, CK_ULONG ulDataLen, CK_BYTE *pDigest, CK_ULONG *pulDigestLen)
{
	IOTSAFE_GATED(iotsafeGo_C_Digest(h, pData, ulDataLen, pDigest, pulDigestLen));
}

CK_RV C_DigestUpdate(CK_SESSION_HANDLE h, CK_BYTE *pPart, CK_ULONG ulPartLen)
{
	IOTSAFE_GATED(iotsafeGo_C_DigestUpdate(h, pPart, ulPartLen));
}

CK_RV C_DigestFinal(CK_SESSION_HANDLE h, CK_BYTE *pDigest, CK_ULONG *pulDigestLen)
{
	IOTSAFE_GATED(iotsafeGo_C_DigestFinal(h, pDigest, pulDigestLen));
}

CK_RV C_SignInit(CK_SESSION_HANDLE h, CK_MECHANISM *pMechanism, CK_OBJECT_HANDLE hKey)
{
	IOTSAFE_GATED(iotsafeGo_C_SignInit(h, pMechanism, hKey));
}

CK_RV C_Sign(CK_SESSION_HANDLE h, CK_BYTE *pData, CK_ULONG ulDataLen, CK_BYTE *pSignature, CK_ULONG *pulSignatureLen)
{
	IOTSAFE_GATED(iotsafeGo_C_Sign(h, pData, ulDataLen, pSignature, pulSignatureLen));
}

CK_RV C_SignUpdate(CK_SESSION_HANDLE h, CK_BYTE *pPart, CK_ULONG ulPartLen)
{
	IOTSAFE_GATED(iotsafeGo_C_SignUpdate(h, pPart, ulPartLen));
}

CK_RV C_SignFinal(CK_SESSION_HANDLE h, CK_BYTE *pSignature, CK_ULONG *pulSignatureLen)
{
	IOTSAFE_GATED(iotsafeGo_C_SignFinal(h, pSignature, pulSignatureLen));
}

CK_RV C_VerifyInit(CK_SESSION_HANDLE h, CK_MECHANISM *pMechanism, CK_OBJECT_HANDLE hKey)
{
	IOTSAFE_GATED(iotsafeGo_C_VerifyInit(h, pMechanism, hKey));
}

CK_RV C_Verify(CK_SESSION_HANDLE h, CK_BYTE *pData, CK_ULONG ulDataLen, CK_BYTE *pSignature, CK_ULONG ulSignatureLen)
{
	IOTSAFE_GATED(iotsafeGo_C_Verify(h, pData, ulDataLen, pSignature, ulSignatureLen));
}

CK_RV C_VerifyUpdate(CK_SESSION_HANDLE h, CK_BYTE *pPart, CK_ULONG ulPartLen)
{
	IOTSAFE_GATED(iotsafeGo_C_VerifyUpdate(h, pPart, ulPartLen));
}

CK_RV C_VerifyFinal(CK_SESSION_HANDLE h, CK_BYTE *pSignature, CK_ULONG ulSignatureLen)
{
	IOTSAFE_GATED(iotsafeGo_C_VerifyFinal(h, pSignature, ulSignatureLen));
}

CK_RV C_GenerateKeyPair(CK_SESSION_HANDLE h, CK_MECHANISM *pMechanism, CK_ATTRIBUTE *pPublicKeyTemplate, CK_ULONG ulPublicKeyAttributeCount, CK_ATTRIBUTE *pPrivateKeyTemplate, CK_ULONG ulPrivateKeyAttributeCount, CK_OBJECT_HANDLE *phPublicKey, CK_OBJECT_HANDLE *phPrivateKey)
{
	IOTSAFE_GATED(iotsafeGo_C_GenerateKeyPair(h, pMechanism, pPublicKeyTemplate, ulPublicKeyAttributeCount, pPrivateKeyTemplate, ulPrivateKeyAttributeCount, phPublicKey, phPrivateKey));
}

CK_RV C_DeriveKey(CK_SESSION_HANDLE h, CK_MECHANISM *pMechanism, CK_OBJECT_HANDLE hBaseKey, CK_ATTRIBUTE *pTemplate, CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE *phKey)
{
	IOTSAFE_GATED(iotsafeGo_C_DeriveKey(h, pMechanism, hBaseKey, pTemplate, ulAttributeCount, phKey));
}

CK_RV C_SeedRandom(CK_SESSION_HANDLE h, CK_BYTE *pSeed, CK_ULONG ulSeedLen)
{
	IOTSAFE_GATED(iotsafeGo_C_SeedRandom(h, pSeed, ulSeedLen));
}

CK_RV C_GenerateRandom(CK_SESSION_HANDLE h, CK_BYTE *pRandomData, CK_ULONG ulRandomLen)
{
	IOTSAFE_GATED(iotsafeGo_C_GenerateRandom(h, pRandomData, ulRandomLen));
}

CK_RV C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID *pSlot, CK_VOID_PTR pReserved)
{
	return iotsafeGo_C_WaitForSlotEvent(flags, pSlot, pReserved);
}
