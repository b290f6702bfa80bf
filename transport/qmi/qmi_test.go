package qmi_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/emulator/qmidev"
	"github.com/go-iotsafe/iotsafe/internal/ctlframe"
	"github.com/go-iotsafe/iotsafe/internal/proxytest"
	"github.com/go-iotsafe/iotsafe/internal/testtool"
	"github.com/go-iotsafe/iotsafe/transport"
	"github.com/go-iotsafe/iotsafe/transport/qmi"
	"github.com/go-iotsafe/iotsafe/transport/transporttest"
)

type rig struct {
	card *emulator.Card
	pty  *qmidev.PTY
}

func newRig(t *testing.T, opts emulator.Options) *rig {
	t.Helper()
	card, err := emulator.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	p, err := qmidev.NewPTY(card, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return &rig{card: card, pty: p}
}

func (r *rig) open(t *testing.T) *qmi.Device {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := qmi.Open(ctx, r.pty.Path(), &qmi.Options{Proxy: qmi.ProxyOff})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestKit(t *testing.T) {
	r := newRig(t, emulator.Options{})
	transporttest.Run(t, func(t *testing.T) transport.Transport { return r.open(t) })
}

// The applet client over QMI: Open Logical Channel with the applet's AID,
// signatures of two APDUs at the card, an RSA signature's long answer.
func TestClientOverQMI(t *testing.T) {
	r := newRig(t, emulator.Options{Profile: emulator.ProfileKeyTypes})
	transporttest.Applet(t, r.open(t), r.card.APDUCount, false)
}

// Faults: a response with another transaction ID is skipped; a truncated
// one, garbage, no free channel, and the device disappearing are clear
// errors, and after a truncated answer or garbage the next command works.
func TestFaults(t *testing.T) {
	r := newRig(t, emulator.Options{})
	ctx := context.Background()
	a, err := iotsafe.Open(ctx, r.open(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("faults"))
	r.pty.Device.Fault(1, qmidev.FaultWrongTID)
	if _, err := a.Sign(ctx, iotsafe.ByID(1), iotsafe.HashSHA256, d[:]); err != nil {
		t.Fatal(err)
	}
	r.pty.Device.Fault(1, qmidev.FaultTruncate)
	tctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	_, err = a.GetRandom(tctx, 8)
	cancel()
	if err == nil {
		t.Fatal("a truncated answer was taken")
	}
	// and the stream is in step again for the next command.
	if _, err := a.GetRandom(ctx, 8); err != nil {
		t.Fatalf("after a truncated answer: %v", err)
	}
	// Garbage before the answer: a clear error, no hang, and the next
	// command works.
	r.pty.Device.Fault(1, qmidev.FaultGarbage)
	tctx, cancel = context.WithTimeout(ctx, 5*time.Second)
	_, err = a.GetRandom(tctx, 8)
	cancel()
	if !errors.Is(err, qmi.ErrQMI) || !errors.Is(err, ctlframe.ErrGarbage) {
		t.Fatalf("garbage: %v", err)
	}
	if _, err := a.GetRandom(ctx, 8); err != nil {
		t.Fatalf("after garbage: %v", err)
	}
	// A channel closed underneath: a clear error (the device's result
	// code), no hang, and the next Open works.
	r2 := newRig(t, emulator.Options{})
	a2, err := iotsafe.Open(ctx, r2.open(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	r2.pty.Device.Fault(1, qmidev.FaultCloseChannel)
	tctx, cancel = context.WithTimeout(ctx, 5*time.Second)
	_, err = a2.Sign(tctx, iotsafe.ByID(1), iotsafe.HashSHA256, d[:])
	cancel()
	var re *qmi.ResultError
	if !errors.As(err, &re) || !errors.Is(err, qmi.ErrQMI) {
		t.Fatalf("channel closed underneath: %v", err)
	}
	if _, err := iotsafe.Open(ctx, r2.open(t), nil); err != nil {
		t.Fatal(err)
	}
	r3 := newRig(t, emulator.Options{})
	r3.pty.Device.MaxChannels = -1
	if _, err := iotsafe.Open(ctx, r3.open(t), nil); !errors.Is(err, qmi.ErrNoChannel) {
		t.Fatalf("no channel: %v", err)
	}
	r4 := newRig(t, emulator.Options{})
	a4, err := iotsafe.Open(ctx, r4.open(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	r4.pty.Close()
	tctx, cancel = context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := a4.Sign(tctx, iotsafe.ByID(1), iotsafe.HashSHA256, d[:]); !errors.Is(err, transport.ErrCardRemoved) {
		t.Fatalf("device gone: %v", err)
	}
}

// libqmi's qmicli 1.32 has no APDU command; what it has checks the fake's
// QMUX framing and service handling against software nobody here wrote:
// client allocation and release on the control service (every qmicli UIM
// command allocates a UIM client first and releases it at exit), the
// version list, and the UIM card status.
func TestQmicli(t *testing.T) {
	bin := testtool.Need(t, "qmicli")
	r := newRig(t, emulator.Options{})
	run := func(args ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// A pseudo-terminal is no cdc-wdm port: qmicli is told the mode.
		out, err := exec.CommandContext(ctx, bin, append([]string{"-d", r.pty.Path(), "--device-open-qmi"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("qmicli %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if out := run("--get-service-version-info"); !strings.Contains(out, "uim (1.46)") || !strings.Contains(out, "ctl (1.5)") {
		t.Fatalf("version info: %s", out)
	}
	for i := 0; i < 2; i++ { // the second run shows the first released its client
		if out := run("--uim-get-card-status"); !strings.Contains(out, "Card state: 'present'") {
			t.Fatalf("card status: %s", out)
		}
	}
	// After qmicli: our own client on the same device still works.
	a, err := iotsafe.Open(context.Background(), r.open(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.GetRandom(context.Background(), 8); err != nil {
		t.Fatal(err)
	}
}

// Through the real qmi-proxy (libqmi's, what ModemManager shares a QMI
// device through): qmicli -p reads the card status, and two clients of
// the proxy sign at once, each with its own UIM client and logical
// channel, every signature checked by crypto/ecdsa. The test starts the
// proxy and stops it; when one runs already (ModemManager's), it is left
// alone and the test skipped.
func TestThroughQmiProxy(t *testing.T) {
	proxy := proxytest.Start(t, qmi.ProxySocket, "/usr/libexec/qmi-proxy", "--empty-timeout=0")
	r := newRig(t, emulator.Options{})
	if bin, err := exec.LookPath("qmicli"); err == nil {
		out, err := exec.Command(bin, "-p", "-d", r.pty.Path(), "--device-open-qmi", "--uim-get-card-status").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Card state: 'present'") {
			t.Fatalf("qmicli through the proxy: %v\n%s", err, out)
		}
	}
	transporttest.ThroughProxy(t, func() (transporttest.Proxied, error) {
		return qmi.Open(context.Background(), r.pty.Path(), &qmi.Options{Proxy: qmi.ProxyOn})
	}, proxy.Stop, proxy.Restart)
}
