package iotsafe_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/apdu"
	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/spec"
	"github.com/go-iotsafe/iotsafe/transport"
)

func h(s string) []byte {
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "\n", "", "\t", "").Replace(s))
	if err != nil {
		panic(err)
	}
	return b
}

// step is one exchange of a golden vector: the command the reference
// implementation sends (after normalization, see below) and the card's
// answer.
type step struct{ cmd, resp string }

// scripted is a card that checks every command against a vector.
type scripted struct {
	t     testing.TB
	steps []step
	i     int
	// norm rewrites what our client sent before comparison, for the
	// documented differences (session number, class family).
	norm func(c []byte) []byte
}

func (s *scripted) Transmit(_ context.Context, cmd []byte) ([]byte, error) {
	s.t.Helper()
	if s.i >= len(s.steps) {
		s.t.Fatalf("client sent an extra command %X", cmd)
	}
	st := s.steps[s.i]
	s.i++
	got := append([]byte(nil), cmd...)
	if s.norm != nil {
		got = s.norm(got)
	}
	if want := h(st.cmd); !bytes.Equal(got, want) {
		s.t.Fatalf("step %d: client sent %X, the vector has %X", s.i, got, want)
	}
	return h(st.resp), nil
}

func (s *scripted) Close() error { return nil }

func (s *scripted) done() {
	s.t.Helper()
	if s.i != len(s.steps) {
		s.t.Fatalf("%d of %d vector steps ran", s.i, len(s.steps))
	}
}

const (
	mvpAID = "A00000003053F12401770101495341"
	sig64  = "1111111111111111111111111111111111111111111111111111111111111111" +
		"2222222222222222222222222222222222222222222222222222222222222222"
	thHash = "7712AAE3BBAAE5C007475A7336F3DDE0BC63380A348D2390C3519E782E9A8298"
	thPeer = "049E5B7F778B7997617C8993B6406608EFE2D3F2D6751D6B3F5F5320FFFD6A7DC9A8F6C5C1474F64D668364AE2ED8DC4C1C6C4767423B013937B4499F52C4F89A0"
	// appInfo is an application information answer advertising 4 sessions.
	appInfo = "100101 1120" + "00000000000000000000000000000000000000000000000000000000000000AA" +
		"B10108 B20108 B30108 B40104 90010F 91020007 920104 930101 940103 B70104"
)

// The Orange library's sequences (vectors A2). Our client chooses session 1
// for signatures as Orange does; the class byte is the channel (01): the
// client is set to the interindustry class, as the Orange partner applets
// accept. Our client verifies on session 2 (Orange: 1), normalized here.
func TestVectorsOrange(t *testing.T) {
	msg := h("ABCDEF")
	hash := sha256.Sum256([]byte("IoT SAFE"))
	s := &scripted{t: t, norm: func(c []byte) []byte {
		if c[1] == spec.InsVerifySigInit || c[1] == spec.InsVerifySigUpdate {
			c[3] = 0x01 // our verify session 2 is Orange's 1
		}
		return c
	}, steps: []step{
		{"00 70 00 00 01", "01 9000"},
		{"01 A4 04 00 07 A0000005590010", "9000"},
		{"01 84 00 00 20", strings.Repeat("5A", 32) + "9000"},
		{"01 CB 00 00 00", appInfo + "9000"},
		{"01 2A 00 01 0D 84 01 01 A1 01 03 91 02 00 01 92 01 04", "9000"},
		{"01 2B 80 01 22 9E 20" + hex.EncodeToString(hash[:]) + "00", "3340" + sig64 + "9000"},
		{"01 2A 00 01 0D 84 01 01 A1 01 01 91 02 00 01 92 01 04", "9000"},
		{"01 2B 80 01 05 9B 03 AB CD EF 00", "3340" + sig64 + "9000"},
		{"01 2C 00 01 0D 85 01 01 A1 01 01 91 02 00 01 92 01 04", "9000"},
		{"01 2D 80 01 47 9B 03 AB CD EF 33 40" + sig64, "9000"},
		{"00 70 80 01", "9000"},
	}}
	a, err := iotsafe.Open(context.Background(), s, &iotsafe.Options{Class: iotsafe.ClassInterindustry})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if r, err := a.GetRandom(ctx, 32); err != nil || len(r) != 32 {
		t.Fatal(err)
	}
	sig, err := a.Sign(ctx, iotsafe.ByID(1), iotsafe.HashSHA256, hash[:])
	if err != nil || !bytes.Equal(sig, h(sig64)) {
		t.Fatalf("sign: %X %v", sig, err)
	}
	if _, err := a.SignMessage(ctx, iotsafe.ByID(1), iotsafe.HashSHA256, msg); err != nil {
		t.Fatal(err)
	}
	// The card wrote 33 40: the client answers Verify in the same style.
	if err := a.VerifyMessage(ctx, iotsafe.ByID(1), iotsafe.HashSHA256, msg, h(sig64)); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	s.done()
}

// The Thales middleware's unit-test sequences (vectors B1-B7) on the MVP
// applet, logical channel 1, interindustry class. Thales signs on session
// 0, we on 1 (normalized); Thales appends Le 00 to the case-3 Put Public Key
// commands, which we send without Le since no data comes back (normalized
// by appending it).
func TestVectorsThales(t *testing.T) {
	s := &scripted{t: t, norm: func(c []byte) []byte {
		if c[1] == spec.InsComputeSigInit || c[1] == spec.InsComputeSigUpdate {
			c[3] = 0x00
		}
		if c[1] == spec.InsPutPublicKeyInit || c[1] == spec.InsPutPublicKeyUpdate {
			c = append(c, 0x00)
		}
		return c
	}, steps: []step{
		{"00 70 00 00 01", "01 9000"},
		{"01 A4 04 00 0F" + mvpAID, "9000"},
		{"01 84 00 00 20", strings.Repeat("A5", 32) + "9000"},
		{"01 CB 00 00 00", appInfo + "9000"},
		{"01 2A 00 00 0D 84 01 01 A1 01 03 91 02 00 01 92 01 04", "9000"},
		{"01 2B 80 00 22 9E 20" + thHash + "00", "330040" + sig64 + "9000"},
		{"01 B9 00 00 03 84 01 04 00", "840104 850104 3445 4943 8641" + thPeer + "9000"},
		{"01 24 00 00 03 85 01 05 00", "9000"},
		{"01 D8 80 00 47 3445 4943 8641" + thPeer + "00", "9000"},
		{"01 46 00 00 06 84 01 04 85 01 05 00", strings.Repeat("33", 32) + "9000"},
		{"01 48 00 00 5D D1 20 C0485B054863F6DFA458789768B9035C6CACB160DD1A01834811F5783309DB81" +
			"D2 36 657874656E646564206D617374657220736563726574 CE15B44D68440B652624244DB8D2FB7DD601C759E9EB627FB10529AB0DB76049" +
			"D3 01 FF 00", strings.Repeat("77", 255) + "9000"},
		// Certificate read (B6): the object list lacks file 02, so the
		// client asks for its information, then reads it.
		{"01 CB 01 00 00", "9000"},
		{"01 CB C3 00 03 83 01 02 00", "C316 730464617461 830102 600101 4A0101 210102 20020105" + "9000"},
		{"01 B0 00 00 03 83 01 02 00", strings.Repeat("30", 256) + "9000"},
		{"01 B0 01 00 03 83 01 02 00", strings.Repeat("31", 5) + "9000"},
		{"00 70 80 01", "9000"},
	}}
	a, err := iotsafe.Open(context.Background(), s, &iotsafe.Options{AID: h(mvpAID), Class: iotsafe.ClassInterindustry})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := a.GetRandom(ctx, 32); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Sign(ctx, iotsafe.ByID(1), iotsafe.HashSHA256, h(thHash)); err != nil {
		t.Fatal(err)
	}
	kp, err := a.GenerateKeyPair(ctx, iotsafe.ByID(4))
	if err != nil || !bytes.Equal(kp.Point, h(thPeer)) {
		t.Fatalf("keygen: %v", err)
	}
	if err := a.PutPublicKey(ctx, iotsafe.ByID(5), h(thPeer)); err != nil {
		t.Fatal(err)
	}
	if z, err := a.ComputeDH(ctx, iotsafe.ByID(4), iotsafe.ByID(5)); err != nil || len(z) != 32 {
		t.Fatal(err)
	}
	if _, err := a.ComputePRF(ctx, iotsafe.PRFParams{
		SecretValue: h("C0485B054863F6DFA458789768B9035C6CACB160DD1A01834811F5783309DB81"),
		Label:       []byte("extended master secret"),
		Seed:        h("CE15B44D68440B652624244DB8D2FB7DD601C759E9EB627FB10529AB0DB76049"), Length: 255}); err != nil {
		t.Fatal(err)
	}
	f, err := a.ReadFile(ctx, iotsafe.ByID(2))
	if err != nil || len(f) != 261 {
		t.Fatalf("read file: %d %v", len(f), err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	s.done()
}

// The Thales PKCS#11 module's sequences (vectors C1, C5): object list with
// 6300 continuation, read public key; and the real ZARIOT card's T=0
// answers (61xx then GET RESPONSE in class 0X on the channel).
func TestVectorsThalesPKCS11AndT0(t *testing.T) {
	obj1 := "C1 11 74 03 6B6579 84 01 01 60 01 00 4A 01 01 4B 01 13"
	obj2 := "C2 0C 85 01 01 60 01 01 4A 01 01 4B 01 13"
	s := &scripted{t: t, steps: []step{
		{"00 70 00 00 01", "01 9000"},
		{"01 A4 04 00 07 A0000005590010", "9000"},
		{"81 CB 01 00 00", obj1 + "6300"},
		{"81 CB 01 01 00", obj2 + "9000"},
		{"81 CD 00 00 03 85 01 01 00", "6147"},
		{"01 C0 00 00 47", "3445 4943 8641" + thPeer + "9000"},
		{"00 70 80 01", "9000"},
	}}
	a, err := iotsafe.Open(context.Background(), s, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	objs, err := a.Objects(ctx)
	if err != nil || len(objs) != 2 || objs[0].Label != "key" || objs[1].Kind != spec.KindPublicKey {
		t.Fatalf("objects %+v %v", objs, err)
	}
	p, err := a.ReadPublicKey(ctx, iotsafe.ByID(1))
	if err != nil || !bytes.Equal(p, h(thPeer)) {
		t.Fatalf("read public key: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	s.done()
}

// The client falls back to the interindustry class on 6E00 and keeps it;
// it tries the Thales AID when the GSMA one is absent (a real 1NCE trace
// answers 6A82 to the GSMA AID).
func TestClassAndAIDFallback(t *testing.T) {
	s := &scripted{t: t, steps: []step{
		{"00 70 00 00 01", "02 9000"},
		{"02 A4 04 00 07 A0000005590010", "6A82"},
		{"02 A4 04 00 0F" + mvpAID, "9000"},
		{"82 84 00 00 08", "6E00"},
		{"02 84 00 00 08", "0102030405060708 9000"},
		{"02 84 00 00 04", "01020304 9000"},
		{"00 70 80 02", "9000"},
	}}
	a, err := iotsafe.Open(context.Background(), s, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := a.GetRandom(ctx, 8); err != nil {
		t.Fatal(err)
	}
	if _, err := a.GetRandom(ctx, 4); err != nil {
		t.Fatal(err)
	}
	if a.ClassFamily() != apdu.Interindustry || a.Channel() != 2 || !bytes.Equal(a.AID(), h(mvpAID)) {
		t.Fatal("fallbacks not remembered")
	}
	a.Close()
	s.done()

	none := &scripted{t: t, steps: []step{
		{"00 70 00 00 01", "01 9000"},
		{"01 A4 04 00 07 A0000005590010", "6A82"},
		{"01 A4 04 00 0F" + mvpAID, "6A82"},
		{"01 A4 04 00 07 A0000002480400", "6A82"},
		{"00 70 80 01", "9000"},
	}}
	_, err = iotsafe.Open(context.Background(), none, nil)
	if !errors.Is(err, iotsafe.ErrAppletNotFound) || !errors.Is(err, iotsafe.ErrNotFound) {
		t.Fatalf("no applet: %v", err)
	}
	// The error names every AID tried, with the card's answer to each.
	for _, aid := range []string{"A0000005590010", mvpAID, "A0000002480400"} {
		if !strings.Contains(err.Error(), strings.ToUpper(aid)+" (6A82") {
			t.Errorf("the error does not name AID %s: %v", aid, err)
		}
	}
	none.done()
}

// fixed answers every IoT SAFE command with resp once the applet is
// selected on the basic channel.
func fixed(resp []byte) transport.Func {
	return func(_ context.Context, cmd []byte) ([]byte, error) {
		if cmd[1] == spec.InsSelect {
			return []byte{0x90, 0x00}, nil
		}
		return append([]byte(nil), resp...), nil
	}
}

func TestStatusWordErrors(t *testing.T) {
	tests := []struct {
		sw   uint16
		want error
	}{
		{0x6A82, iotsafe.ErrNotFound}, {0x6A88, iotsafe.ErrNotFound},
		{0x6985, iotsafe.ErrConditionsNotSatisfied}, {0x6982, iotsafe.ErrSecurityStatus},
		{0x6984, iotsafe.ErrRemoteAdminInProgress}, {0x6989, iotsafe.ErrRemoteAdminFailed},
		{0x6A80, iotsafe.ErrIncorrectData}, {0x6700, iotsafe.ErrWrongLength},
		{0x6A86, iotsafe.ErrIncorrectParameters}, {0x6B00, iotsafe.ErrIncorrectParameters},
		{0x6D00, iotsafe.ErrNotSupported}, {0x6A81, iotsafe.ErrNotSupported},
		{0x6D01, iotsafe.ErrSignatureMismatch}, {0x6A84, iotsafe.ErrOutOfMemory},
		{0x6400, iotsafe.ErrIntegrity}, {0x6F00, iotsafe.ErrCardError}, {0x6581, iotsafe.ErrCardError},
	}
	d := sha256.Sum256(nil)
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%04X", tc.sw), func(t *testing.T) {
			a, err := iotsafe.Open(context.Background(), fixed([]byte{byte(tc.sw >> 8), byte(tc.sw)}),
				&iotsafe.Options{BasicChannel: true, Class: iotsafe.ClassProprietary})
			if err != nil {
				t.Fatal(err)
			}
			_, err = a.Sign(context.Background(), iotsafe.ByID(1), iotsafe.HashSHA256, d[:])
			var ce *iotsafe.CardError
			if !errors.Is(err, tc.want) || !errors.As(err, &ce) || uint16(ce.SW) != tc.sw || ce.Object != "private key ID 01" {
				t.Fatalf("got %v (%#v), want %v", err, ce, tc.want)
			}
			if iotsafe.IsRetryable(err) != (tc.sw == 0x6984) {
				t.Fatal("IsRetryable wrong")
			}
		})
	}
	// Read File offsets out of bounds.
	for _, sw := range []string{"6A86", "6981"} {
		a, _ := iotsafe.Open(context.Background(), transport.Func(func(_ context.Context, cmd []byte) ([]byte, error) {
			switch cmd[1] {
			case spec.InsSelect:
				return h("9000"), nil
			case spec.InsGetData:
				return h("C310 830102 600101 4A0101 210101 20020100 9000"), nil
			}
			return h(sw), nil
		}), &iotsafe.Options{BasicChannel: true})
		if _, err := a.ReadFile(context.Background(), iotsafe.ByID(2)); !errors.Is(err, iotsafe.ErrOffsetOutOfBounds) {
			t.Fatalf("read file %s: %v", sw, err)
		}
	}
}

func TestMalformedAnswers(t *testing.T) {
	d := sha256.Sum256(nil)
	ctx := context.Background()
	ops := map[string]func(a *iotsafe.Applet) error{
		"sign": func(a *iotsafe.Applet) error {
			_, err := a.Sign(ctx, iotsafe.ByID(1), iotsafe.HashSHA256, d[:])
			return err
		},
		"objects": func(a *iotsafe.Applet) error { _, err := a.Objects(ctx); return err },
		"info":    func(a *iotsafe.Applet) error { _, err := a.ApplicationInfo(ctx); return err },
		"random":  func(a *iotsafe.Applet) error { _, err := a.GetRandom(ctx, 16); return err },
		"pubkey":  func(a *iotsafe.Applet) error { _, err := a.ReadPublicKey(ctx, iotsafe.ByID(1)); return err },
		"keygen":  func(a *iotsafe.Applet) error { _, err := a.GenerateKeyPair(ctx, iotsafe.ByID(2)); return err },
		"dh": func(a *iotsafe.Applet) error {
			_, err := a.ComputeDH(ctx, iotsafe.ByID(4), iotsafe.ByID(5))
			return err
		},
		"prf": func(a *iotsafe.Applet) error {
			_, err := a.ComputePRF(ctx, iotsafe.PRFParams{SecretValue: []byte{1}, Length: 16})
			return err
		},
		"objinfo": func(a *iotsafe.Applet) error { _, err := a.ObjectInfo(ctx, spec.KindFile, iotsafe.ByID(2)); return err },
	}
	answers := map[string]string{
		"empty":                "",
		"one byte":             "90",
		"success without data": "9000",
		"truncated TLV":        "3300 40AABB 9000",
		"length past the end":  "C1 20 8401 9000",
		"unknown outer tag":    "E1 03 840101 9000",
		"object without ID":    "C1 03 600101 9000",
		"public key not a TLV": "3402 4900 9000",
		"bad length byte":      "C1 84 00000001 00 9000",
		"garbage":              "FFFFFFFF 9000",
	}
	for an, resp := range answers {
		for on, op := range ops {
			t.Run(an+"/"+on, func(t *testing.T) {
				a, err := iotsafe.Open(ctx, fixed(h(resp)), &iotsafe.Options{BasicChannel: true, Class: iotsafe.ClassProprietary})
				if err != nil {
					t.Fatal(err)
				}
				if err := op(a); err == nil && !(on == "objects" && an == "success without data") {
					t.Fatalf("answer %q to %s accepted", resp, on)
				}
			})
		}
	}
}

func FuzzObjectList(f *testing.F) {
	for _, s := range []string{
		"C11074036B6579840101600100 4A01014B0113",
		"C10C 840101 600101 4A0101 4B0113 C10C 840102 600101 4A0100 4B0113",
		"C118 840101 600101 4A0101 840102 600101 4A0101 7403616263",
		"C316 730464617461 830102 600101 4A0101 210102 20020105",
		"C40A 860106 600100 4A0101 940103",
		"", "C100", "C3028300",
	} {
		f.Add(h(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		objs, err := iotsafe.ParseObjectList(b)
		if err != nil {
			if !errors.Is(err, iotsafe.ErrMalformedResponse) {
				t.Fatalf("error %v does not wrap ErrMalformedResponse", err)
			}
			return
		}
		for _, o := range objs {
			if len(o.ID) == 0 || len(o.ID) > 20 || len(o.Label) > 60 {
				t.Fatalf("accepted object %+v", o)
			}
		}
	})
}

// FuzzResponses answers every IoT SAFE command of every operation with the
// fuzzed bytes: the client must return (data or an error), never panic.
func FuzzResponses(f *testing.F) {
	for _, s := range []string{"9000", "3300400102 9000", "6100", "6C10", "6300", "63CF", "",
		"840104 850104 3445 4943 8641" + thPeer + "9000", appInfo + "9000"} {
		f.Add(h(s))
	}
	d := sha256.Sum256(nil)
	f.Fuzz(func(t *testing.T, resp []byte) {
		ctx := context.Background()
		a, err := iotsafe.Open(ctx, fixed(resp), &iotsafe.Options{BasicChannel: true, Class: iotsafe.ClassProprietary})
		if err != nil {
			return
		}
		_, _ = a.ApplicationInfo(ctx)
		_, _ = a.Objects(ctx)
		_, _ = a.Sign(ctx, iotsafe.ByID(1), iotsafe.HashSHA256, d[:])
		_, _ = a.SignMessage(ctx, iotsafe.ByID(1), iotsafe.HashSHA256, make([]byte, 300))
		_ = a.Verify(ctx, iotsafe.ByID(1), iotsafe.HashSHA256, d[:], make([]byte, 64))
		_, _ = a.GenerateKeyPair(ctx, iotsafe.ByID(2))
		_, _ = a.ReadPublicKey(ctx, iotsafe.ByID(1))
		_, _ = a.ReadFile(ctx, iotsafe.ByID(2))
		_, _ = a.ObjectInfo(ctx, spec.KindFile, iotsafe.ByID(2))
		_, _ = a.GetRandom(ctx, 4)
		_, _ = a.ComputeDH(ctx, iotsafe.ByID(4), iotsafe.ByID(5))
	})
}

// The TLS 1.2 PRF vectors of the Thales iot-safe-middleware unit tests
// (tests/unit/src/rot_tests_unit_applet_tests.cpp, ComputePRF): an extended
// master secret from a 32-byte premaster secret, then 255 bytes of key
// expansion from that master secret, computed on the card from a secret
// value in the command, as the middleware sends it. The expected bytes are the
// middleware's, not ours. Its unit tests, built by hand against `iotsafe
// emulator serve --modem` on the thales-mvp profile, pass (docs/foreign-hosts.md).
func TestVectorsThalesPRF(t *testing.T) {
	const (
		secret1 = "C0485B054863F6DFA458789768B9035C6CACB160DD1A01834811F5783309DB81"
		seed1   = "CE15B44D68440B652624244DB8D2FB7DD601C759E9EB627FB10529AB0DB76049"
		master  = "A1F02A766DA04C8FD83A40E358267528F8D815C48E3DC353D55FE3861C350622C78B48FE6F49F6E13E1B6B175CFE59FB"
		seed2   = "CB52E451A752CA812EA9646F2E5A0EC138C3D4D8AEFA744E17F01499867450815DCADEED3917D046311A4B5D73BBD75E" +
			"500CE963A7D05D8122EA9745F2E0D9E9"
		keyBlock = "ED6C6644C075653F1919FD05A11A93C8057267B9C2CBD09E6D8882B355473E8E179737CDC0063BBFEE5D6524EAC1724B" +
			"575141D716427B9FAAF75C9F0E0903A5411130F27372494D8AF520EFFAD64CF34CA2231D2BD7B4CF015C40E85D4C62B2" +
			"B75888ACA4D57995365342F62F2395E47FE05E754953BA2E1AC7A1D7F966E92C352020395E6CCB5970DD8A67398CE1CE" +
			"09586A20F6D4E0912BAADB683B41442070F9590BBB175D0EDFDC2D85C0B0C6849A7E187155F8E987B0D81FC43F516C9A" +
			"229692EBD7AC88C50CA14715DF328023C49D8776A2AB7CF8B5258D269A2F17BA6BD6F753F39DEC1890BAA4283B313992" +
			"2D80D1E7D3DA69669877125B8C0B41"
	)
	for _, p := range []emulator.Profile{emulator.ProfileThalesMVP, emulator.ProfileGSMA} {
		t.Run(string(p), func(t *testing.T) {
			a, _ := open(t, emulator.Options{Profile: p})
			ctx := context.Background()
			got, err := a.ComputePRF(ctx, iotsafe.PRFParams{SecretValue: h(secret1),
				Label: []byte("extended master secret"), Seed: h(seed1), Length: 48})
			if err != nil || !bytes.Equal(got, h(master)) {
				t.Fatalf("master secret: %X %v\nthe middleware expects %s", got, err, master)
			}
			got, err = a.ComputePRF(ctx, iotsafe.PRFParams{SecretValue: h(master),
				Label: []byte("key expansion"), Seed: h(seed2), Length: 255})
			if err != nil || !bytes.Equal(got, h(keyBlock)) {
				t.Fatalf("key expansion: %X %v\nthe middleware expects %s", got, err, keyBlock)
			}
		})
	}
}
