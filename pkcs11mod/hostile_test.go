package pkcs11mod

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/emulator/atmodem"
	"github.com/go-iotsafe/iotsafe/spec"
	"github.com/go-iotsafe/iotsafe/transport"
	"github.com/go-iotsafe/iotsafe/transport/modem"
)

// The attack of the security review, through the PKCS#11 library: the SIM
// is behind a modem whose link repeats, delays, drops or reorders the
// answers of the signature and verification commands. C_Sign either fails
// or returns a signature that verifies in software; C_Verify never accepts
// a wrong signature; once the link is sane again, the token works.
func TestHostileModemThroughPKCS11(t *testing.T) {
	card, err := emulator.New(emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := atmodem.NewPTY(card, atmodem.Quirks{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	m := &Module{
		Open: func(ctx context.Context, _ string) (transport.Transport, error) {
			return modem.Open(ctx, p.Path(), 115200, modem.Options{})
		},
		ConfigSource: func() (*Config, error) {
			return &Config{Store: t.TempDir(), Log: filepath.Join(t.TempDir(), "log"), Slots: []SlotConfig{{SIM: "modem"}}}, nil
		},
	}
	must(t, "Initialize", m.Initialize(0))
	defer m.Finalize()
	f := &fixture{m: m}
	h := f.session(t, false)
	key := f.one(t, h, CKO_PRIVATE_KEY, "device-key")
	pubObj := f.one(t, h, CKO_PUBLIC_KEY, "device-key")
	pub := f.publicKey(t, h, "device-key")
	d := sha256.Sum256([]byte("telemetry"))
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	r, s, _ := ecdsa.Sign(rand.Reader, other, d[:])
	wrong := append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	for _, h0 := range []atmodem.Hostile{
		{Kind: atmodem.FaultRepeat, INS: spec.InsComputeSigInit}, {Kind: atmodem.FaultRepeat, INS: spec.InsComputeSigUpdate},
		{Kind: atmodem.FaultLate, INS: spec.InsComputeSigUpdate}, {Kind: atmodem.FaultDrop, INS: spec.InsComputeSigUpdate},
		{Kind: atmodem.FaultReorder, INS: spec.InsComputeSigInit}, {Kind: atmodem.FaultReorder, INS: spec.InsComputeSigUpdate},
		{Kind: atmodem.FaultRepeat, AnyINS: true}, {Kind: atmodem.FaultReorder, AnyINS: true},
	} {
		p.Modem.SetHostile([]atmodem.Hostile{h0}, time.Second)
		for i := 0; i < 3; i++ {
			if rv := m.SignInit(h, Mechanism{Type: CKM_ECDSA}, key); rv == CKR_OK {
				sig, _, rv := m.Sign(h, d[:], 64)
				if rv == CKR_OK && !rawVerify(pub, d[:], sig) {
					t.Fatalf("fault %+v: C_Sign returned a signature that does not verify", h0)
				}
			}
			if rv := m.VerifyInit(h, Mechanism{Type: CKM_ECDSA}, pubObj); rv == CKR_OK {
				if rv := m.Verify(h, d[:], wrong); rv == CKR_OK {
					t.Fatalf("fault %+v: C_Verify accepted a wrong signature", h0)
				}
			}
		}
		p.Modem.SetHostile(nil, 0)
		time.Sleep(1100 * time.Millisecond) // a late answer lands
		sig := f.sign(t, h, CKM_ECDSA, key, d[:])
		if !rawVerify(pub, d[:], sig) {
			t.Fatalf("after fault %+v the token signs wrongly", h0)
		}
	}
}
