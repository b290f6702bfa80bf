package emulator

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"io"
	"math/big"

	"github.com/go-iotsafe/iotsafe/apdu"
	"github.com/go-iotsafe/iotsafe/internal/keys"
	"github.com/go-iotsafe/iotsafe/spec"
)

// How the store keeps the key material of each key type (object.Value):
//
//	P-256, brainpoolP256r1: private key = 32-byte scalar, public key =
//	                        uncompressed point 04||X||Y
//	RSA-2048:               private key = PKCS#1 RSAPrivateKey DER, public
//	                        key = PKCS#1 RSAPublicKey DER
//
// On the wire an RSA public key is 49 { 81 modulus, 82 exponent } inside
// tag 34 (spec.EncodeRSAPublicKeyData); an RSA signature is the 256-byte
// big-endian value in 33 01 00. RSASSA-PSS uses MGF1 with the signing hash
// and a salt as long as that hash, as TLS 1.3 (RFC 8446 §4.2.3) requires.

// genKey generates a key pair of an IoT SAFE key type and returns the
// private and public values as the store keeps them.
func genKey(rnd io.Reader, keyType byte) (priv, pub hexBytes, err error) {
	switch k := spec.KindOfKeyType(keyType); k {
	case spec.KeyKindP256, spec.KeyKindBrainpoolP256:
		key, err := ecdsa.GenerateKey(keys.Curve(k), rnd)
		if err != nil {
			return nil, nil, err
		}
		priv = key.D.FillBytes(make([]byte, 32))
		pub = make([]byte, spec.P256PointLen)
		pub[0] = 4
		key.X.FillBytes(pub[1:33])
		key.Y.FillBytes(pub[33:])
		return priv, pub, nil
	case spec.KeyKindRSA2048:
		key, err := rsa.GenerateKey(rnd, 2048)
		if err != nil {
			return nil, nil, err
		}
		return x509.MarshalPKCS1PrivateKey(key), x509.MarshalPKCS1PublicKey(&key.PublicKey), nil
	}
	return nil, nil, errorf("key type %02X cannot be generated", keyType)
}

// parsePrivate returns the key of a private key object.
func parsePrivate(o *object) (crypto.Signer, error) {
	switch k := spec.KindOfKeyType(o.KeyType); k {
	case spec.KeyKindP256, spec.KeyKindBrainpoolP256:
		c := keys.Curve(k)
		d := new(big.Int).SetBytes(o.Value)
		if len(o.Value) != 32 || d.Sign() == 0 || d.Cmp(c.Params().N) >= 0 {
			return nil, errorf("private key %X: scalar out of range", []byte(o.ID))
		}
		x, y := c.ScalarBaseMult(o.Value)
		return &ecdsa.PrivateKey{PublicKey: ecdsa.PublicKey{Curve: c, X: x, Y: y}, D: d}, nil
	case spec.KeyKindRSA2048:
		return x509.ParsePKCS1PrivateKey(o.Value)
	}
	return nil, errorf("private key %X of key type %02X", []byte(o.ID), o.KeyType)
}

// publicKeyData returns the value of tag 34 for a public key object: an
// RSA key as 49 { 81 n, 82 e }, or with der as the PKCS#1 DER (the
// Variant's RSAPublicKeyDER, for an applet that answers ASN.1).
func publicKeyData(o *object, der bool) ([]byte, error) {
	if spec.KindOfKeyType(o.KeyType) == spec.KeyKindRSA2048 {
		pub, err := x509.ParsePKCS1PublicKey(o.Value)
		if err != nil {
			return nil, err
		}
		if der {
			return x509.MarshalPKCS1PublicKey(pub), nil
		}
		return spec.EncodeRSAPublicKeyData(pub.N.Bytes(), big.NewInt(int64(pub.E)).Bytes()), nil
	}
	return spec.EncodePublicKeyData(o.Value), nil
}

// storedPublic checks public key data sent by Put Public Key against the
// key type of the target object and returns the value to store.
func storedPublic(keyType byte, value []byte) (hexBytes, bool) {
	d, err := spec.ParsePublicKeyData(value)
	if err != nil {
		return nil, false
	}
	pub, err := keys.Public(keyType, d)
	if err != nil {
		return nil, false
	}
	if r, ok := pub.(*rsa.PublicKey); ok {
		return x509.MarshalPKCS1PublicKey(r), true
	}
	return hexBytes(d.Point), true
}

// publicKey returns the Go key of a public key object.
func publicKey(o *object) (crypto.PublicKey, error) {
	if spec.KindOfKeyType(o.KeyType) == spec.KeyKindRSA2048 {
		return x509.ParsePKCS1PublicKey(o.Value)
	}
	return keys.ECPublic(spec.KindOfKeyType(o.KeyType), o.Value)
}

// algAllowed reports whether an object may run signature algorithm alg
// (one bit of tag 92): the object lists it, and its key type can do it.
func algAllowed(o *object, alg byte) bool {
	return o.SigAlgs&alg != 0 && spec.KindOfKeyType(o.KeyType).SigAlgsFor()&alg != 0
}

// cardSign signs a digest made with hash h; ECDSA signatures are r||s.
func cardSign(rnd io.Reader, key crypto.Signer, alg byte, h uint16, digest []byte) ([]byte, error) {
	ch := cryptoHash(h)
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rnd, k, digest)
		if err != nil {
			return nil, err
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig, nil
	case *rsa.PrivateKey:
		if alg == spec.SigRSAPSS {
			return rsa.SignPSS(rnd, k, ch, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: ch})
		}
		return rsa.SignPKCS1v15(rnd, k, ch, digest)
	}
	return nil, fmt.Errorf("key of type %T", key)
}

// cardVerify verifies sig over digest with a public key object.
func cardVerify(o *object, alg byte, h uint16, digest, sig []byte) apdu.StatusWord {
	pub, err := publicKey(o)
	if err != nil {
		return apdu.SWIntegrity
	}
	ch := cryptoHash(h)
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if len(sig) != 64 {
			if sig, err = spec.SignatureFromDER(sig, 32); err != nil {
				return apdu.SWIncorrectData
			}
		}
		if !ecdsa.Verify(k, digest, new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
			return apdu.SWSignatureMismatch
		}
	case *rsa.PublicKey:
		if len(sig) != spec.RSA2048Bytes {
			return apdu.SWIncorrectData
		}
		if alg == spec.SigRSAPSS {
			err = rsa.VerifyPSS(k, ch, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: ch})
		} else {
			err = rsa.VerifyPKCS1v15(k, ch, digest, sig)
		}
		if err != nil {
			return apdu.SWSignatureMismatch
		}
	default:
		return apdu.SWIntegrity
	}
	return apdu.SWSuccess
}

func cryptoHash(h uint16) crypto.Hash {
	switch h {
	case spec.HashSHA384:
		return crypto.SHA384
	case spec.HashSHA512:
		return crypto.SHA512
	}
	return crypto.SHA256
}
