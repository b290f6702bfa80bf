package signer_test

import (
	"context"
	"crypto/tls"
	"io"
	"sync/atomic"
	"testing"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/signer"
	"github.com/go-iotsafe/iotsafe/spec"
)

// sigCounter counts the Compute Signature commands that reach the card.
type sigCounter struct {
	*emulator.Card
	n atomic.Int32
}

func (s *sigCounter) Transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	if len(cmd) > 1 && cmd[1] == spec.InsComputeSigInit {
		s.n.Add(1)
	}
	return s.Card.Transmit(ctx, cmd)
}

func (s *sigCounter) Close() error { return nil }

// A reconnection resumes its TLS session and makes no signature on the SIM;
// after the operator changes the SIM (63CF), the stored sessions are
// dropped and the next connection is a full handshake. TLS 1.3 (PSK) and
// TLS 1.2 (tickets), against crypto/tls on 127.0.0.1.
func TestSessionResumptionMakesNoSIMSignature(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			f := newFixture(t, emulator.Options{})
			sc := &sigCounter{Card: f.card}
			a, err := iotsafe.Open(context.Background(), sc, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			srv, roots := startTLS(t, f.ca, func(c *tls.Config) { c.MinVersion, c.MaxVersion = v, v })
			creds := signer.NewClientCertificates(a)
			creds.SessionPollInterval = -1 // see the operator's change at once
			cfg := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", GetClientCertificate: creds.GetClientCertificate,
				ClientSessionCache: creds.SessionCache(0), MinVersion: v, MaxVersion: v}
			dial := func() (resumed bool, sigs int32) {
				t.Helper()
				before := sc.n.Load()
				c, err := tls.Dial("tcp", srv.ln.Addr().String(), cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if _, err := io.ReadAll(c); err != nil { // reads the session ticket too
					t.Fatal(err)
				}
				return c.ConnectionState().DidResume, sc.n.Load() - before
			}
			if resumed, sigs := dial(); resumed || sigs != 1 {
				t.Fatalf("first connection: resumed %v, %d SIM signatures (want a full handshake, 1)", resumed, sigs)
			}
			for i := 0; i < 3; i++ {
				if resumed, sigs := dial(); !resumed || sigs != 0 {
					t.Fatalf("reconnection %d: resumed %v, %d SIM signatures (want resumed, 0)", i, resumed, sigs)
				}
			}
			// The operator changes the SIM: the sessions go.
			adm, err := f.card.BeginAdmin()
			if err != nil {
				t.Fatal(err)
			}
			if err := adm.PutFile([]byte{0x10}, "data", spec.FileUsageGeneral, spec.AccessRead, []byte("new")); err != nil {
				t.Fatal(err)
			}
			if err := adm.Commit(); err != nil {
				t.Fatal(err)
			}
			if resumed, sigs := dial(); resumed || sigs != 1 {
				t.Fatalf("after a remote administration: resumed %v, %d SIM signatures (want a full handshake)", resumed, sigs)
			}
			if resumed, _ := dial(); !resumed {
				t.Fatal("the new session is not resumed")
			}
		})
	}
}
