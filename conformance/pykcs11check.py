# PyKCS11 against a PKCS#11 library: find the key pair by label, sign with
# CKM_ECDSA and CKM_ECDSA_SHA256 (when the token offers it), verify with
# python3-cryptography. With a PIN it logs in first (SoftHSM2, for the
# side-by-side run in consumers.sh).
# Usage: python3 pykcs11check.py MODULE KEY-LABEL [PIN]
import sys, hashlib
import PyKCS11
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives import hashes
lib = PyKCS11.PyKCS11Lib(); lib.load(sys.argv[1])
slot = lib.getSlotList(tokenPresent=True)[0]
s = lib.openSession(slot)
if len(sys.argv) > 3:
    s.login(sys.argv[3])
key = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY), (PyKCS11.CKA_LABEL, sys.argv[2])])[0]
pub = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PUBLIC_KEY), (PyKCS11.CKA_LABEL, sys.argv[2])])[0]
point = bytes(s.getAttributeValue(pub, [PyKCS11.CKA_EC_POINT])[0])
if point[0] == 0x04 and len(point) != 65:
    point = point[2:]
pk = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
msg = b"signed by the SIM through PyKCS11"
def der(sig):
    r, s_ = int.from_bytes(bytes(sig[:32]), "big"), int.from_bytes(bytes(sig[32:]), "big")
    return utils.encode_dss_signature(r, s_)
sig = s.sign(key, hashlib.sha256(msg).digest(), PyKCS11.Mechanism(PyKCS11.CKM_ECDSA, None))
pk.verify(der(sig), hashlib.sha256(msg).digest(), ec.ECDSA(utils.Prehashed(hashes.SHA256())))
if "CKM_ECDSA_SHA256" in lib.getMechanismList(slot):
    sig = s.sign(key, msg, PyKCS11.Mechanism(PyKCS11.CKM_ECDSA_SHA256, None))
    pk.verify(der(sig), msg, ec.ECDSA(hashes.SHA256()))
    print("PyKCS11: CKM_ECDSA and CKM_ECDSA_SHA256 signatures verified with python3-cryptography")
else:
    print("PyKCS11: CKM_ECDSA signature verified with python3-cryptography (no CKM_ECDSA_SHA256 on this token)")
