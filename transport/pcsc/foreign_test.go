//go:build cgo

package pcsc_test

import (
	"context"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/internal/hostseq"
	"github.com/go-iotsafe/iotsafe/transport/pcsc"
)

// rawPCSC inserts card into pcscd's vpcd reader and returns an exchange
// that sends the foreign hosts' APDUs to it through pcscd, as they are.
func rawPCSC(t *testing.T, opts emulator.Options) hostseq.Exchange {
	t.Helper()
	card, err := emulator.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(insert(t, card))
	tr, err := pcsc.Open(context.Background(), pcsc.Options{Reader: reader})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return func(t testing.TB, apduHex string) ([]byte, string) {
		t.Helper()
		b, err := hex.DecodeString(strings.ReplaceAll(apduHex, " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := tr.Transmit(context.Background(), b)
		if err != nil {
			t.Fatalf("%s: %v", apduHex, err)
		}
		return resp[:len(resp)-2], strings.ToUpper(hex.EncodeToString(resp[len(resp)-2:]))
	}
}

// The foreign hosts' sequences (internal/hostseq) through a real pcscd
// and vpcd, as emulator/atmodem and transport/modem run them over the
// modem pty.

// wolfSSL's port: 6881 on the unopened channel 1 (the port does not open
// it; a card answers so), then its sequences; on a T=0 card, 6143 and GET
// RESPONSE in class 01 (pcscd passes 61xx up).
func TestWolfSSLSequencesThroughPCSCD(t *testing.T) {
	x := rawPCSC(t, emulator.Options{})
	if _, sw := x(t, "01 A4 04 00 07 A0000005590010"); sw != "6881" {
		t.Fatalf("select on an unopened channel 1: %s, a card answers 6881", sw)
	}
	if ch, sw := x(t, "00 70 00 00 01"); len(ch) != 1 || ch[0] != 1 || sw != "9000" {
		t.Fatalf("open channel: %X %s", ch, sw)
	}
	if _, sw := x(t, "01 A4 04 00 07 A0000005590010"); sw != "9000" {
		t.Fatalf("select: %s", sw)
	}
	hostseq.WolfSSL(t, x)
}

func TestWolfSSLGetResponseThroughPCSCD(t *testing.T) {
	hostseq.WolfSSLT0(t, rawPCSC(t, emulator.Options{T0: true}))
}

func TestOrangeLibraryFlowThroughPCSCD(t *testing.T) {
	if hostseq.Orange(t, rawPCSC(t, emulator.Options{Profile: emulator.ProfileOrange})) {
		t.Fatal("the orange profile refused class 0X (6E00)")
	}
}

func TestSIMWithoutTheAppletThroughPCSCD(t *testing.T) {
	hostseq.NoApplet(t, rawPCSC(t, emulator.Options{}))
}

func TestZARIOTT0ThroughPCSCD(t *testing.T) {
	hostseq.ZARIOTT0(t, rawPCSC(t, emulator.Options{T0: true}))
}
