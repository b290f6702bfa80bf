package atmodem_test

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/emulator/atmodem"
	"github.com/go-iotsafe/iotsafe/internal/hostseq"
)

// wolfCSIM writes an APDU the way wolfSSL's IoT SAFE port
// (wolfcrypt/src/port/iotsafe/iotsafe.c) does: the length in a 3-character
// field with a leading space under 100 ("AT+CSIM= 10,"), upper-case hex,
// CR LF.
func wolfCSIM(apduHex string) string {
	h := strings.ToUpper(strings.ReplaceAll(apduHex, " ", ""))
	return fmt.Sprintf("AT+CSIM=%3d,\"%s\"\r\n", len(h), h)
}

type rawModem struct {
	t *testing.T
	f *os.File
	r *bufio.Reader
}

// send writes an AT line and returns the +CSIM payload (hex) and the final
// result, as wolfSSL's expect_tok reads them.
func (m *rawModem) send(line string) (payload, final string) {
	m.t.Helper()
	if _, err := m.f.WriteString(line); err != nil {
		m.t.Fatal(err)
	}
	m.f.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		l, err := m.r.ReadString('\n')
		if err != nil {
			m.t.Fatalf("%q: %v", line, err)
		}
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "+CSIM:"):
			i := strings.IndexByte(l, '"')
			payload = strings.Trim(l[i:], "\"")
		case l == "OK" || l == "ERROR" || strings.HasPrefix(l, "+CME ERROR"):
			return payload, l
		}
	}
}

// exchange sends APDUs as wolfSSL's port formats them and splits the
// +CSIM payload into data and status word.
func (m *rawModem) exchange(t testing.TB, apduHex string) ([]byte, string) {
	t.Helper()
	pl, fin := m.send(wolfCSIM(apduHex))
	if fin != "OK" || len(pl) < 4 {
		t.Fatalf("%s: +CSIM %q, %s", apduHex, pl, fin)
	}
	data, err := hex.DecodeString(pl[:len(pl)-4])
	if err != nil {
		t.Fatalf("%s: +CSIM %q: %v", apduHex, pl, err)
	}
	return data, pl[len(pl)-4:]
}

func openRaw(t *testing.T, opts emulator.Options, q atmodem.Quirks) *rawModem {
	t.Helper()
	card, err := emulator.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	p, err := atmodem.NewPTY(card, q)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	f, err := os.OpenFile(p.Path(), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &rawModem{t: t, f: f, r: bufio.NewReader(f)}
}

// wolfSSL's IoT SAFE sequences (internal/hostseq.WolfSSL), as AT+CSIM
// strings byte for byte as its port builds them (a 3-character length
// field, upper-case hex), to the emulator behind the fake modem on a real
// pty; then its T=0 path. One difference: wolfSSL sends its class-81
// commands without opening channel 1 (MANAGE CHANNEL); a card, and the
// emulator, answer 6881 to that, so the test opens the channel first.
// transport/pcsc runs the same sequences through pcscd.
func TestWolfSSLSequences(t *testing.T) {
	m := openRaw(t, emulator.Options{}, atmodem.Quirks{Echo: true})
	if _, fin := m.send("ATE0\r\n"); fin != "OK" {
		t.Fatalf("ATE0: %s", fin)
	}
	if _, sw := m.exchange(t, "01 A4 04 00 07 A0000005590010"); sw != "6881" {
		t.Fatalf("select on an unopened channel 1: %s, a card answers 6881", sw)
	}
	if pl, _ := m.send(wolfCSIM("00 70 00 00 01")); pl != "019000" {
		t.Fatalf("open channel: %s", pl)
	}
	// The select string wolfSSL hard-codes (no padded length field).
	if pl, _ := m.send("AT+CSIM=24,\"01A4040007A0000005590010\"\r\n"); pl != "9000" {
		t.Fatalf("wolfSSL's select: %s", pl)
	}
	hostseq.WolfSSL(t, m.exchange)

	m0 := openRaw(t, emulator.Options{T0: true}, atmodem.Quirks{})
	hostseq.WolfSSLT0(t, m0.exchange)
}
