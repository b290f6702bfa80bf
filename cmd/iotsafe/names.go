package main

import (
	"fmt"

	"github.com/go-iotsafe/iotsafe/spec"
)

func funcNames(f byte) []string {
	var out []string
	for _, x := range []struct {
		bit  byte
		name string
	}{{spec.FuncSignature, "signature"}, {spec.FuncKeyGeneration, "key-generation"},
		{spec.FuncKeyAgreement, "key-agreement"}, {spec.FuncKeyDerivation, "key-derivation"}} {
		if f&x.bit != 0 {
			out = append(out, x.name)
		}
	}
	return out
}

func hashNames(h uint16) []string {
	var out []string
	for _, x := range []struct {
		bit  uint16
		name string
	}{{spec.HashSHA256, "SHA-256"}, {spec.HashSHA384, "SHA-384"}, {spec.HashSHA512, "SHA-512"}} {
		if h&x.bit != 0 {
			out = append(out, x.name)
		}
	}
	return out
}

func sigNames(s byte) []string {
	var out []string
	for _, x := range []struct {
		bit  byte
		name string
	}{{spec.SigRSAPKCS1, "RSA-PKCS1"}, {spec.SigRSAPSS, "RSA-PSS"}, {spec.SigECDSA, "ECDSA"}, {spec.SigCMAC, "AES-CMAC"}} {
		if s&x.bit != 0 {
			out = append(out, x.name)
		}
	}
	return out
}

func accessNames(a byte) []string {
	var out []string
	if a&spec.AccessRead != 0 {
		out = append(out, "read")
	}
	if a&spec.AccessUpdate != 0 {
		out = append(out, "update")
	}
	if out == nil {
		out = []string{"none"}
	}
	return out
}

func stateName(s byte) string {
	if s == spec.StateActivated {
		return "active"
	}
	return "empty"
}

func keyTypeName(t byte) string {
	switch t {
	case spec.KeyTypeP256Persistent:
		return "P-256"
	case spec.KeyTypeP256Volatile:
		return "P-256(volatile)"
	case spec.KeyTypeBrainpoolPersistent:
		return "brainpoolP256r1"
	case spec.KeyTypeBrainpoolVolatile:
		return "brainpoolP256r1(volatile)"
	case spec.KeyTypeRSA2048:
		return "RSA-2048"
	case spec.KeyTypeHMAC:
		return "HMAC"
	case spec.KeyTypeAESCMAC:
		return "AES-CMAC"
	case 0:
		return ""
	}
	return fmt.Sprintf("type-%02X", t)
}

func fileUsageName(u byte) string {
	switch u {
	case spec.FileUsageCertificate:
		return "certificate"
	case spec.FileUsageGeneral:
		return "data"
	}
	return fmt.Sprintf("usage-%02X", u)
}
