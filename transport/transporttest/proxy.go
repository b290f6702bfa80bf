package transporttest

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/spec"
	"github.com/go-iotsafe/iotsafe/transport"
)

// Proxied is a transport that goes through a modem manager's proxy
// (libmbim's mbim-proxy, libqmi's qmi-proxy).
type Proxied interface {
	transport.Transport
	Proxied() bool
}

// ThroughProxy drives a transport through a real proxy: two clients sign
// at once (every signature checked with crypto/ecdsa: crosstalk between
// their channels would show); then the proxy goes away (stop) and an
// operation fails as a removed card; once it is back (restart) the same
// client reconnects by itself, and a new open works too. open opens a new
// client through the proxy; the SIM is the emulator's default profile.
func ThroughProxy(t *testing.T, open func() (Proxied, error), stop func(), restart func(t testing.TB)) {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for c := 0; c < 2; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			errs <- signThroughProxy(ctx, open, c)
		}(c)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	a := appletThrough(t, open)
	stop()
	digest := sha256.Sum256([]byte("after the proxy died"))
	if _, err := a.Sign(ctx, iotsafe.ByID(1), iotsafe.HashSHA256, digest[:]); !errors.Is(err, transport.ErrCardRemoved) {
		t.Fatalf("signing after the proxy died: %v", err)
	}
	restart(t)
	if _, err := a.Sign(ctx, iotsafe.ByID(1), iotsafe.HashSHA256, digest[:]); err != nil {
		t.Fatalf("the same client after the proxy came back: %v", err)
	}
	a.Close()
	a = appletThrough(t, open)
	defer a.Close()
	if _, err := a.Sign(ctx, iotsafe.ByID(1), iotsafe.HashSHA256, digest[:]); err != nil {
		t.Fatalf("signing through the restarted proxy: %v", err)
	}
}

// signThroughProxy is one client of ThroughProxy: 25 signatures, each
// verified with the key the client reads.
func signThroughProxy(ctx context.Context, open func() (Proxied, error), c int) error {
	d, err := open()
	if err != nil {
		return err
	}
	if !d.Proxied() {
		d.Close()
		return fmt.Errorf("client %d is not going through the proxy", c)
	}
	a, err := iotsafe.Open(ctx, d, nil)
	if err != nil {
		d.Close()
		return err
	}
	defer a.Close()
	pk, err := a.PublicKey(ctx, iotsafe.ByID(1))
	if err != nil {
		return err
	}
	for i := 0; i < 25; i++ {
		digest := sha256.Sum256([]byte(fmt.Sprintf("client %d message %d", c, i)))
		sig, err := a.Sign(ctx, iotsafe.ByID(1), iotsafe.HashSHA256, digest[:])
		if err != nil {
			return fmt.Errorf("client %d signature %d: %w", c, i, err)
		}
		der, _ := spec.SignatureToDER(sig)
		if !ecdsa.VerifyASN1(pk.(*ecdsa.PublicKey), digest[:], der) {
			return fmt.Errorf("client %d signature %d does not verify (crosstalk?)", c, i)
		}
	}
	return nil
}

func appletThrough(t *testing.T, open func() (Proxied, error)) *iotsafe.Applet {
	t.Helper()
	d, err := open()
	if err != nil {
		t.Fatalf("open through the proxy: %v", err)
	}
	a, err := iotsafe.Open(context.Background(), d, nil)
	if err != nil {
		d.Close()
		t.Fatal(err)
	}
	return a
}
