// Package transporttest is the conformance kit every transport passes: it
// drives a transport connected to an IoT SAFE card (the emulator, or a real
// card with the GSMA applet) with raw APDUs and checks round trips, long
// answers, 61xx chains through transport.Normalize, error status words,
// context cancellation, concurrent callers on their own logical channels,
// and use after Close. Applet drives the applet client over a transport
// (signatures checked by crypto/ecdsa and crypto/rsa), and BenchRoundTrip
// and BenchSign are the benchmarks every transport reports.
package transporttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-iotsafe/iotsafe/apdu"
	"github.com/go-iotsafe/iotsafe/spec"
	"github.com/go-iotsafe/iotsafe/transport"
)

// Run runs the kit. open returns a fresh transport to a card holding the
// GSMA IoT SAFE applet (spec.AIDGSMA) that takes IoT SAFE commands in the
// proprietary class; each subtest opens its own and closes it.
func Run(t *testing.T, open func(t *testing.T) transport.Transport) {
	t.Run("RoundTrip", func(t *testing.T) {
		tr := transport.Normalize(open(t))
		defer tr.Close()
		ch := openChannel(t, tr)
		sw := selectApplet(t, tr, ch)
		if sw != apdu.SWSuccess {
			t.Fatalf("SELECT answered %s", sw)
		}
		closeChannel(t, tr, ch)
	})
	t.Run("LongAnswers", func(t *testing.T) {
		tr := transport.Normalize(open(t))
		defer tr.Close()
		ch := openChannel(t, tr)
		selectApplet(t, tr, ch)
		cla, _ := apdu.CLA(apdu.Proprietary, ch)
		for _, n := range []int{1, 200, 255, 256} {
			data, sw := exchange(t, tr, apdu.Command{CLA: cla, INS: spec.InsGetRandom, Ne: n})
			if sw != apdu.SWSuccess || len(data) != n {
				t.Fatalf("Get Random %d: %d bytes, %s", n, len(data), sw)
			}
		}
		// The object list is longer than one answer on most cards: with
		// 6300 continuation, and 61xx chains on T=0 cards, it must arrive
		// whole and parse.
		var list []byte
		p2 := byte(0)
		for i := 0; i < 64; i++ {
			data, sw := exchange(t, tr, apdu.Command{CLA: cla, INS: spec.InsGetData, P1: spec.GetDataObjectList, P2: p2, Ne: 256})
			list = append(list, data...)
			if sw == apdu.SWMoreData {
				p2 = 1
				continue
			}
			if !sw.OK() {
				t.Fatalf("object list: %s", sw)
			}
			break
		}
		if _, err := apdu.ParseTLVs(list); err != nil || len(list) < 100 {
			t.Fatalf("object list of %d bytes does not parse: %v", len(list), err)
		}
		closeChannel(t, tr, ch)
	})
	t.Run("ErrorStatusWords", func(t *testing.T) {
		tr := transport.Normalize(open(t))
		defer tr.Close()
		ch := openChannel(t, tr)
		cla, _ := apdu.CLA(apdu.Interindustry, ch)
		if _, sw := exchange(t, tr, apdu.Command{CLA: cla, INS: spec.InsSelect, P1: 0x04, Data: []byte{0xA0, 0, 0, 0, 0x99, 0x99, 0x99}}); sw != apdu.SWNotFound {
			t.Fatalf("SELECT of an absent AID answered %s, want 6A82", sw)
		}
		selectApplet(t, tr, ch)
		pcla, _ := apdu.CLA(apdu.Proprietary, ch)
		if _, sw := exchange(t, tr, apdu.Command{CLA: pcla, INS: 0x99}); sw != apdu.SWInvalidInstruction {
			t.Fatalf("unknown instruction answered %s, want 6D00", sw)
		}
		// The transport still works after errors.
		if data, sw := exchange(t, tr, apdu.Command{CLA: pcla, INS: spec.InsGetRandom, Ne: 8}); sw != apdu.SWSuccess || len(data) != 8 {
			t.Fatalf("after errors: %s", sw)
		}
		closeChannel(t, tr, ch)
	})
	t.Run("ContextCancelled", func(t *testing.T) {
		tr := transport.Normalize(open(t))
		defer tr.Close()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		start := time.Now()
		_, err := tr.Transmit(ctx, []byte{0x00, 0x70, 0x00, 0x00, 0x01})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Transmit with a cancelled context: %v", err)
		}
		if time.Since(start) > 2*time.Second {
			t.Fatal("Transmit with a cancelled context did not return promptly")
		}
		// And the transport works afterwards.
		ch := openChannel(t, tr)
		closeChannel(t, tr, ch)
	})
	t.Run("ConcurrentCallers", func(t *testing.T) {
		tr := transport.Normalize(open(t))
		defer tr.Close()
		var wg sync.WaitGroup
		errs := make(chan error, 3)
		for g := 0; g < 3; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- concurrentWork(tr)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("Close", func(t *testing.T) {
		tr := open(t)
		if err := tr.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if _, err := tr.Transmit(context.Background(), []byte{0x00, 0x70, 0x00, 0x00, 0x01}); !errors.Is(err, transport.ErrClosed) {
			t.Fatalf("Transmit after Close: %v, want transport.ErrClosed", err)
		}
	})
}

func concurrentWork(tr transport.Transport) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	do := func(c apdu.Command) ([]byte, apdu.StatusWord, error) {
		b, _ := c.Bytes()
		raw, err := tr.Transmit(ctx, b)
		if err != nil {
			return nil, 0, err
		}
		r, err := apdu.ParseResponse(raw)
		return r.Data, r.SW, err
	}
	data, sw, err := do(apdu.Command{CLA: 0x00, INS: spec.InsManageChannel, Ne: 1})
	if err != nil || sw != apdu.SWSuccess || len(data) != 1 {
		return fmt.Errorf("open channel: %X %s %v", data, sw, err)
	}
	ch := int(data[0])
	icla, _ := apdu.CLA(apdu.Interindustry, ch)
	pcla, _ := apdu.CLA(apdu.Proprietary, ch)
	if _, sw, err := do(apdu.Command{CLA: icla, INS: spec.InsSelect, P1: 0x04, Data: spec.AIDGSMA}); err != nil || sw != apdu.SWSuccess {
		return fmt.Errorf("select on channel %d: %s %v", ch, sw, err)
	}
	for i := 0; i < 5; i++ {
		if d, sw, err := do(apdu.Command{CLA: pcla, INS: spec.InsGetRandom, Ne: 64}); err != nil || sw != apdu.SWSuccess || len(d) != 64 {
			return fmt.Errorf("random on channel %d: %s %v", ch, sw, err)
		}
	}
	if _, sw, err := do(apdu.Command{CLA: 0x00, INS: spec.InsManageChannel, P1: 0x80, P2: byte(ch)}); err != nil || sw != apdu.SWSuccess {
		return fmt.Errorf("close channel %d: %s %v", ch, sw, err)
	}
	return nil
}

func exchange(t *testing.T, tr transport.Transport, c apdu.Command) ([]byte, apdu.StatusWord) {
	t.Helper()
	b, err := c.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	raw, err := tr.Transmit(ctx, b)
	if err != nil {
		t.Fatalf("Transmit(%X): %v", b, err)
	}
	r, err := apdu.ParseResponse(raw)
	if err != nil {
		t.Fatalf("answer to %X: %v", b, err)
	}
	return bytes.Clone(r.Data), r.SW
}

func openChannel(t *testing.T, tr transport.Transport) int {
	t.Helper()
	data, sw := exchange(t, tr, apdu.Command{CLA: 0x00, INS: spec.InsManageChannel, Ne: 1})
	if sw != apdu.SWSuccess || len(data) != 1 || data[0] == 0 || data[0] > apdu.MaxChannel {
		t.Fatalf("MANAGE CHANNEL open: %X %s", data, sw)
	}
	return int(data[0])
}

func selectApplet(t *testing.T, tr transport.Transport, ch int) apdu.StatusWord {
	t.Helper()
	cla, _ := apdu.CLA(apdu.Interindustry, ch)
	_, sw := exchange(t, tr, apdu.Command{CLA: cla, INS: spec.InsSelect, P1: 0x04, Data: spec.AIDGSMA})
	return sw
}

func closeChannel(t *testing.T, tr transport.Transport, ch int) {
	t.Helper()
	if _, sw := exchange(t, tr, apdu.Command{CLA: 0x00, INS: spec.InsManageChannel, P1: 0x80, P2: byte(ch)}); sw != apdu.SWSuccess {
		t.Fatalf("MANAGE CHANNEL close %d: %s", ch, sw)
	}
}
