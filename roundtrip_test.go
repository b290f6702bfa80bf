package iotsafe_test

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"math/big"
	"sync"
	"testing"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/apdu"
	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/spec"
)

type setup struct {
	name string
	opts emulator.Options
}

func variant(p emulator.Profile, change func(v *emulator.Variant)) *emulator.Variant {
	v, _ := p.Variant()
	change(&v)
	return &v
}

// setups are the card variants every round trip runs against.
var setups = []setup{
	{"gsma", emulator.Options{Profile: emulator.ProfileGSMA}},
	{"thales-mvp", emulator.Options{Profile: emulator.ProfileThalesMVP}},
	{"gsma-T0", emulator.Options{Profile: emulator.ProfileGSMA, T0: true}},
	{"thales-mvp-T0", emulator.Options{Profile: emulator.ProfileThalesMVP, T0: true}},
	{"zariot-like 3-byte IDs, DER, new keygen IDs", emulator.Options{Variant: variant(emulator.ProfileGSMA, func(v *emulator.Variant) {
		v.IDLen, v.DERSignatures, v.KeygenNewIDs = 3, true, true
	})}},
	{"short applet id, 1-byte hash field, grouped list in 40-byte parts", emulator.Options{Variant: variant(emulator.ProfileGSMA, func(v *emulator.Variant) {
		v.AppletIDLen, v.HashFieldLen, v.GroupObjects, v.ObjectListChunk, v.FileInfoWrapper = 14, 1, true, 40, false
	})}},
	{"20-byte IDs, one-byte signature length", emulator.Options{Variant: variant(emulator.ProfileGSMA, func(v *emulator.Variant) {
		v.IDLen, v.SigStyle = 20, spec.SigLenOneByte
	})}},
}

func open(t testing.TB, opts emulator.Options) (*iotsafe.Applet, *emulator.Card) {
	t.Helper()
	card, err := emulator.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	a, err := iotsafe.Open(context.Background(), card, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a, card
}

func id(v emulator.Variant, b byte) iotsafe.Ref {
	r := make([]byte, v.IDLen)
	r[len(r)-1] = b
	return iotsafe.ByID(r...)
}

func rawToDER(t testing.TB, raw []byte) []byte {
	der, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(raw[:32]), new(big.Int).SetBytes(raw[32:])})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestRoundTrip(t *testing.T) {
	for _, su := range setups {
		t.Run(su.name, func(t *testing.T) {
			ctx := context.Background()
			a, card := open(t, su.opts)
			v := card.Variant()
			info, err := a.ApplicationInfo(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// The class family is learned at the first IoT SAFE command.
			if !bytes.Equal(a.AID(), v.AID) || a.Channel() != 1 || a.ClassFamily() != v.Family {
				t.Fatalf("selected %X on %d in %v", a.AID(), a.Channel(), a.ClassFamily())
			}
			if info.Version != 1 || len(info.AppletID) != v.AppletIDLen || info.HashAlgorithms&spec.HashSHA256 == 0 || info.MaxSessions != 4 {
				t.Fatalf("application info %+v", info)
			}
			objs, err := a.Objects(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(objs) != 11 {
				t.Fatalf("%d objects, want the 11 of the factory layout", len(objs))
			}
			dev, err := a.Find(ctx, spec.KindPrivateKey, iotsafe.ByLabel("device-key"))
			if err != nil || !bytes.Equal(dev.ID, id(v, 1).ID) || !dev.Active() {
				t.Fatalf("device-key: %+v %v", dev, err)
			}
			fi, err := a.ObjectInfo(ctx, spec.KindFile, id(v, 2))
			if err != nil || fi.Label != "device-cert" || fi.FileSize == 0 || fi.FileUsage != spec.FileUsageCertificate {
				t.Fatalf("file info %+v %v", fi, err)
			}

			// Random, more than one APDU's worth.
			r, err := a.GetRandom(ctx, 300)
			if err != nil || len(r) != 300 {
				t.Fatalf("random: %d %v", len(r), err)
			}

			// The certificate file holds the certificate of key 01.
			certDER, err := a.ReadFile(ctx, id(v, 2))
			if err != nil {
				t.Fatal(err)
			}
			cert, err := x509.ParseCertificate(certDER)
			if err != nil {
				t.Fatal(err)
			}
			point, err := a.ReadPublicKey(ctx, id(v, 1))
			if err != nil {
				t.Fatal(err)
			}
			pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
			if err != nil || !pub.Equal(cert.PublicKey) {
				t.Fatalf("public key 01 does not match the certificate: %v", err)
			}
			byLabel, err := a.ReadFile(ctx, iotsafe.ByLabel("data"))
			if err != nil || len(byLabel) != 512 || !bytes.HasPrefix(byLabel, []byte("go-iotsafe emulator data file")) {
				t.Fatalf("data file: %q %v", byLabel[:32], err)
			}

			// Signatures in the three modes, with each hash.
			msg := bytes.Repeat([]byte("IoT SAFE "), 130) // 1170 bytes: several blocks
			for _, h := range []iotsafe.Hash{iotsafe.HashSHA256, iotsafe.HashSHA384, iotsafe.HashSHA512} {
				hh := h.CryptoHash().New()
				hh.Write(msg)
				digest := hh.Sum(nil)
				sig, err := a.Sign(ctx, id(v, 1), h, digest)
				if err != nil {
					t.Fatalf("sign %v: %v", h, err)
				}
				if len(sig) != 64 || !ecdsa.VerifyASN1(pub, digest, rawToDER(t, sig)) {
					t.Fatalf("sign %v: signature does not verify", h)
				}
				if err := a.Verify(ctx, id(v, 1), h, digest, sig); err != nil {
					t.Fatalf("verify %v on card: %v", h, err)
				}
				full, err := a.SignMessage(ctx, iotsafe.ByLabel("device-key"), h, msg)
				if err != nil || !ecdsa.VerifyASN1(pub, digest, rawToDER(t, full)) {
					t.Fatalf("sign message %v: %v", h, err)
				}
				if err := a.VerifyMessage(ctx, id(v, 1), h, msg, full); err != nil {
					t.Fatalf("verify message %v: %v", h, err)
				}
			}
			for _, n := range []int{0, 1, 63, 64, 65, 200, 1000} {
				m := msg[:n]
				sig, err := a.SignLastBlock(ctx, id(v, 1), m)
				d := sha256.Sum256(m)
				if err != nil || !ecdsa.VerifyASN1(pub, d[:], rawToDER(t, sig)) {
					t.Fatalf("last-block sign of %d bytes: %v", n, err)
				}
			}
			d := sha256.Sum256(msg)
			sig, _ := a.Sign(ctx, id(v, 1), iotsafe.HashSHA256, d[:])
			sig[10] ^= 1
			if err := a.Verify(ctx, id(v, 1), iotsafe.HashSHA256, d[:], sig); !errors.Is(err, iotsafe.ErrSignatureMismatch) {
				t.Fatalf("tampered signature: %v", err)
			}
			if err := a.VerifyMessage(ctx, id(v, 1), iotsafe.HashSHA256, msg[1:], rawToDER(t, sig)); !errors.Is(err, iotsafe.ErrSignatureMismatch) {
				t.Fatalf("tampered message: %v", err)
			}

			// Key generation in the empty container.
			kp, err := a.GenerateKeyPair(ctx, id(v, 2))
			if err != nil {
				t.Fatal(err)
			}
			if v.KeygenNewIDs == bytes.Equal(kp.PrivateID, id(v, 2).ID) {
				t.Fatalf("keygen IDs %X (card assigns new IDs: %v)", kp.PrivateID, v.KeygenNewIDs)
			}
			newPub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), kp.Point)
			if err != nil {
				t.Fatal(err)
			}
			sig, err = a.Sign(ctx, iotsafe.ByID(kp.PrivateID...), iotsafe.HashSHA256, d[:])
			if err != nil || !ecdsa.VerifyASN1(newPub, d[:], rawToDER(t, sig)) {
				t.Fatalf("signing with the generated key: %v", err)
			}
			rp, err := a.ReadPublicKey(ctx, iotsafe.ByID(kp.PublicID...))
			if err != nil || !bytes.Equal(rp, kp.Point) {
				t.Fatalf("read back generated public key: %v", err)
			}

			// ECDH on the card equals crypto/ecdh on the host.
			peer, _ := ecdh.P256().GenerateKey(rand.Reader)
			if _, err := a.ComputeDH(ctx, id(v, 4), id(v, 5)); !errors.Is(err, iotsafe.ErrConditionsNotSatisfied) {
				t.Fatalf("DH before the peer key is put: %v", err)
			}
			if err := a.PutPublicKey(ctx, id(v, 5), peer.PublicKey().Bytes()); err != nil {
				t.Fatal(err)
			}
			z, err := a.ComputeDH(ctx, id(v, 4), iotsafe.ByLabel("peer-key"))
			if err != nil {
				t.Fatal(err)
			}
			dhPoint, _ := a.ReadPublicKey(ctx, id(v, 4))
			cardPub, _ := ecdh.P256().NewPublicKey(dhPoint)
			want, _ := peer.ECDH(cardPub)
			if !bytes.Equal(z, want) {
				t.Fatal("card ECDH differs from crypto/ecdh")
			}

			// PRF (the Thales vector, secret given inline) and HKDF.
			prf, err := a.ComputePRF(ctx, iotsafe.PRFParams{SecretValue: hx("C0485B054863F6DFA458789768B9035C6CACB160DD1A01834811F5783309DB81"),
				Label: []byte("extended master secret"), Seed: hx("CE15B44D68440B652624244DB8D2FB7DD601C759E9EB627FB10529AB0DB76049"), Length: 255})
			if err != nil || !bytes.Equal(prf[:48], hx("A1F02A766DA04C8FD83A40E358267528F8D815C48E3DC353D55FE3861C350622C78B48FE6F49F6E13E1B6B175CFE59FB")) {
				t.Fatalf("PRF vector: %X %v", prf, err)
			}
			if _, err := a.ComputePRF(ctx, iotsafe.PRFParams{Secret: id(v, 6), Label: []byte("key expansion"), Seed: r[:32], Length: 40}); err != nil {
				t.Fatalf("PRF with the SIM secret: %v", err)
			}
			ikm := []byte("input keying material")
			prk, err := a.ComputeHKDF(ctx, iotsafe.HKDFParams{IKM: ikm, Salt: []byte("salt"), Hash: iotsafe.HashSHA384})
			wantPRK, _ := hkdf.Extract(sha512.New384, ikm, []byte("salt"))
			if err != nil || !bytes.Equal(prk, wantPRK) {
				t.Fatalf("HKDF extract: %v", err)
			}
			okm, err := a.ComputeHKDF(ctx, iotsafe.HKDFParams{IKM: ikm, Salt: []byte("salt"), Info: []byte("ctx"), Hash: iotsafe.HashSHA256, Length: 42})
			wantOKM, _ := hkdf.Key(sha256.New, ikm, []byte("salt"), "ctx", 42)
			if err != nil || !bytes.Equal(okm, wantOKM) {
				t.Fatalf("HKDF: %v", err)
			}
			if _, err := a.ComputeHKDF(ctx, iotsafe.HKDFParams{Secret: iotsafe.ByLabel("psk"), Hash: iotsafe.HashSHA256, Length: 16}); err != nil {
				t.Fatalf("HKDF with the SIM secret: %v", err)
			}

			// Misuse gives typed errors.
			if _, err := a.Sign(ctx, iotsafe.ByID(0x7F), iotsafe.HashSHA256, d[:]); !errors.Is(err, iotsafe.ErrNotFound) {
				t.Fatalf("unknown key: %v", err)
			}
			var ce *iotsafe.CardError
			if _, err := a.Sign(ctx, id(v, 4), iotsafe.HashSHA256, d[:]); !errors.As(err, &ce) || ce.SW != apdu.SWConditionsNotSatisfied || !errors.Is(err, iotsafe.ErrConditionsNotSatisfied) {
				t.Fatalf("signing with a key-agreement key: %v", err)
			}
			if _, err := a.Sign(ctx, id(v, 1), iotsafe.HashSHA256, d[:20]); err == nil {
				t.Fatal("short digest accepted")
			}
			// The applet still works after the failures.
			if _, err := a.Sign(ctx, id(v, 1), iotsafe.HashSHA256, d[:]); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func hx(s string) []byte {
	b := make([]byte, len(s)/2)
	for i := range b {
		var v byte
		for _, c := range s[2*i : 2*i+2] {
			v <<= 4
			switch {
			case c >= '0' && c <= '9':
				v |= byte(c - '0')
			case c >= 'A' && c <= 'F':
				v |= byte(c - 'A' + 10)
			case c >= 'a' && c <= 'f':
				v |= byte(c - 'a' + 10)
			}
		}
		b[i] = v
	}
	return b
}

// A steady-state signature costs exactly two APDUs on the gsma profile.
func TestSignatureCostsTwoAPDUs(t *testing.T) {
	a, card := open(t, emulator.Options{})
	ctx := context.Background()
	d := sha256.Sum256([]byte("x"))
	if _, err := a.Sign(ctx, iotsafe.ByID(1), iotsafe.HashSHA256, d[:]); err != nil {
		t.Fatal(err)
	}
	before := card.APDUCount()
	for i := 0; i < 10; i++ {
		if _, err := a.Sign(ctx, iotsafe.ByID(1), iotsafe.HashSHA256, d[:]); err != nil {
			t.Fatal(err)
		}
	}
	if n := card.APDUCount() - before; n != 20 {
		t.Fatalf("10 steady-state signatures cost %d APDUs, want 20", n)
	}
}

func TestConcurrentSigning(t *testing.T) {
	a, _ := open(t, emulator.Options{})
	ctx := context.Background()
	point, err := a.ReadPublicKey(ctx, iotsafe.ByID(1))
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				d := sha256.Sum256([]byte{byte(g), byte(i)})
				sig, err := a.Sign(ctx, iotsafe.ByID(1), iotsafe.HashSHA256, d[:])
				if err != nil {
					errs <- err
					return
				}
				if !ecdsa.VerifyASN1(pub, d[:], rawToDER(t, sig)) {
					errs <- errors.New("signature does not verify")
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// Remote administration: 6984 while it runs on the object, then 63CF
// makes the client drop its caches and see the new file.
func TestRemoteAdministration(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/sim.json"
	device, err := emulator.Create(path, emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hooked := 0
	a, err := iotsafe.Open(context.Background(), device, &iotsafe.Options{OnRemoteAdmin: func() { hooked++ }})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx := context.Background()
	before, err := a.ReadFile(ctx, iotsafe.ByID(0x10))
	if err != nil {
		t.Fatal(err)
	}
	gen := a.Generation()

	// The operator's side: another Card value on the same state file, as
	// another process would have.
	operator, err := emulator.Open(path, emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer operator.Close()
	s, err := operator.BeginAdmin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := operator.BeginAdmin(); !errors.Is(err, emulator.ErrAdminInProgress) {
		t.Fatalf("second admin session: %v", err)
	}
	if err := s.PutFile([]byte{0x10}, "data", spec.FileUsageGeneral, spec.AccessRead, []byte("new contents")); err != nil {
		t.Fatal(err)
	}
	if err := s.DeactivateKey(spec.KindPrivateKey, []byte{0x01}); err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("x"))
	_, err = a.Sign(ctx, iotsafe.ByID(1), iotsafe.HashSHA256, d[:])
	if !errors.Is(err, iotsafe.ErrRemoteAdminInProgress) || !iotsafe.IsRetryable(err) {
		t.Fatalf("signing during administration: %v", err)
	}
	// The cached file is still served from the cache (no card access).
	if got, _ := a.ReadFile(ctx, iotsafe.ByID(0x10)); !bytes.Equal(got, before) {
		t.Fatal("cache changed before the administration ended")
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	// The next command answers 63CF: success, and caches are dropped.
	if _, err := a.GetRandom(ctx, 8); err != nil {
		t.Fatal(err)
	}
	if a.Generation() == gen || hooked != 1 {
		t.Fatalf("63CF did not drop the caches (generation %d -> %d, hook %d)", gen, a.Generation(), hooked)
	}
	got, err := a.ReadFile(ctx, iotsafe.ByID(0x10))
	if err != nil || string(got) != "new contents" {
		t.Fatalf("after administration read %q, %v", got, err)
	}
	if _, err := a.Sign(ctx, iotsafe.ByID(1), iotsafe.HashSHA256, d[:]); !errors.Is(err, iotsafe.ErrConditionsNotSatisfied) {
		t.Fatalf("signing with the deactivated key: %v", err)
	}
	// 63CF came once only.
	g2 := a.Generation()
	if _, err := a.GetRandom(ctx, 8); err != nil || a.Generation() != g2 {
		t.Fatalf("63CF answered twice: %v", err)
	}
}

// ReadFileTail returns the end of a file as ReadFile returns the whole, on
// every card variant, in one command when the tail fits one answer; a
// tail longer than the file is the whole file; a file already read costs
// no command; an absent file is ErrNotFound.
func TestReadFileTail(t *testing.T) {
	for _, su := range setups {
		t.Run(su.name, func(t *testing.T) {
			ctx := context.Background()
			a, card := open(t, su.opts)
			cert := id(card.Variant(), 2)
			// The whole file, read by a second session on the same card.
			other, err := iotsafe.Open(ctx, card, nil)
			if err != nil {
				t.Fatal(err)
			}
			full, err := other.ReadFile(ctx, cert) // (closing it would close the card)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.Objects(ctx); err != nil {
				t.Fatal(err)
			}
			for _, n := range []int{64, 256, 300, 5000} {
				before := card.APDUCount()
				tail, size, err := a.ReadFileTail(ctx, cert, n)
				if err != nil {
					t.Fatalf("tail %d: %v", n, err)
				}
				// (Over T=0 each answer takes a GET RESPONSE.)
				if cmds, want := card.APDUCount()-before, map[bool]uint64{false: 1, true: 2}[su.opts.T0]; n <= 256 && cmds != want {
					t.Errorf("tail of %d bytes took %d exchanges, want %d", n, cmds, want)
				}
				if size != len(full) || !bytes.Equal(tail, full[max(0, len(full)-n):]) {
					t.Fatalf("tail of %d bytes: %d bytes, size %d; the file has %d", n, len(tail), size, len(full))
				}
			}
			if _, err := a.ReadFile(ctx, cert); err != nil {
				t.Fatal(err)
			}
			before := card.APDUCount()
			tail, size, err := a.ReadFileTail(ctx, cert, 64)
			if err != nil || size != len(full) || !bytes.Equal(tail, full[len(full)-64:]) || card.APDUCount() != before {
				t.Fatalf("tail of a file read before: %v, %d commands", err, card.APDUCount()-before)
			}
			if _, _, err := a.ReadFileTail(ctx, iotsafe.ByLabel("no-such-file"), 64); !errors.Is(err, iotsafe.ErrNotFound) {
				t.Fatalf("absent file: %v", err)
			}
		})
	}
}

// padReads is a link (a modem, a reader) that adds bytes to the card's
// Read File answers while pad is set: more than the file holds.
type padReads struct {
	*emulator.Card
	pad bool
}

func (p *padReads) Transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	resp, err := p.Card.Transmit(ctx, cmd)
	if err != nil || !p.pad || len(cmd) < 2 || cmd[1] != spec.InsReadFile || len(resp) < 2 || resp[len(resp)-2] != 0x90 {
		return resp, err
	}
	sw := resp[len(resp)-2:]
	out := append(bytes.Clone(resp[:len(resp)-2]), bytes.Repeat([]byte{0xA5}, 16)...)
	return append(out, sw...), nil
}

// A link that answers a Read File, whole or from the tail's offset, with
// more bytes than the file has left gets an error that says so, never
// data with the extra bytes; nothing of it is cached, so that the file
// reads right once the link behaves.
func TestReadFileOversizedAnswer(t *testing.T) {
	ctx := context.Background()
	card, err := emulator.New(emulator.Options{Profile: emulator.ProfileGSMA})
	if err != nil {
		t.Fatal(err)
	}
	link := &padReads{Card: card}
	a, err := iotsafe.Open(ctx, link, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	cert := id(card.Variant(), 2)
	link.pad = true
	if tail, _, err := a.ReadFileTail(ctx, cert, 64); !errors.Is(err, iotsafe.ErrMalformedResponse) {
		t.Fatalf("tail read with 16 extra bytes: %x, %v (want ErrMalformedResponse)", tail, err)
	}
	if data, err := a.ReadFile(ctx, cert); !errors.Is(err, iotsafe.ErrMalformedResponse) {
		t.Fatalf("whole read with 16 extra bytes: %d bytes, %v (want ErrMalformedResponse)", len(data), err)
	}
	link.pad = false
	data, err := a.ReadFile(ctx, cert)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x509.ParseCertificate(data); err != nil || bytes.Contains(data, bytes.Repeat([]byte{0xA5}, 16)) {
		t.Fatalf("the file after the link recovered: %v", err)
	}
	tail, size, err := a.ReadFileTail(ctx, cert, 64)
	if err != nil || size != len(data) || !bytes.Equal(tail, data[len(data)-64:]) {
		t.Fatalf("tail after the link recovered: %v", err)
	}
}
