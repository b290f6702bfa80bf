package simuri

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-iotsafe/iotsafe/apdu"
	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/transport"
)

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "my sim.json")
	c, err := emulator.Create(path, emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	ctx := context.Background()
	for _, uri := range []string{"emulator:" + path, "emulator:" + strings.ReplaceAll(path, " ", "%20") + "?t0=1&timing=off"} {
		tr, err := Open(ctx, uri)
		if err != nil {
			t.Fatalf("%s: %v", uri, err)
		}
		resp, err := tr.Transmit(ctx, []byte{0x00, 0x70, 0x00, 0x00, 0x01})
		if err != nil || len(resp) < 2 {
			t.Fatalf("%s: %X %v", uri, resp, err)
		}
		tr.Close()
	}
	// ?extended=1: the card takes extended-length APDUs and its ATR says so.
	for q, want := range map[string]bool{"": false, "?extended=1": true, "?extended=1&t0=1": false} {
		tr, err := Open(ctx, "emulator:"+strings.ReplaceAll(path, " ", "%20")+q)
		if err != nil {
			t.Fatal(err)
		}
		if got := apdu.ExtendedLengthInATR(tr.(transport.AnswerToReset).ATR()); got != want {
			t.Errorf("%q: ATR says extended %v", q, got)
		}
		tr.Close()
	}
	for uri, want := range map[string]string{
		"":                            "no SIM given",
		"emulator:":                   "names no state file",
		"emulator:" + path + "?x=1":   "unknown parameter",
		"emulator:" + path + "?t0=xx": "not a boolean",
		"pcsc:No%20Such%20Reader":     "pcsc",
		"modem:/nonexistent/ttyUSB9":  "/nonexistent/ttyUSB9 does not exist",
		"tpm:/dev/tpm0":               "unknown scheme",
		"emulator:" + dir + "/none":   "state file",
	} {
		if _, err := Open(ctx, uri); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%q) = %v, want an error saying %q", uri, err, want)
		}
	}
}
