package mbimdev

import (
	"context"
	"testing"

	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/internal/mbimmsg"
)

// FuzzHandle: whatever a host writes, the fake function answers or drops
// it without panicking (`iotsafe emulator serve --mbim` must outlive a
// broken host), and each answer is a whole message of its own length.
func FuzzHandle(f *testing.F) {
	uicc := func(cid uint32, info []byte) []byte {
		return mbimmsg.MarshalCommand(mbimmsg.Command{TID: 2, Service: mbimmsg.ServiceUICC, CID: cid, CommandType: mbimmsg.CommandSet, Info: info})
	}
	f.Add(mbimmsg.Open(1, 4096))
	f.Add(uicc(mbimmsg.CIDOpenChannel, new(mbimmsg.Info).Bytes([]byte{0xA0, 0x00, 0x00, 0x05, 0x59, 0x00, 0x10}).Uint32(0).Uint32(1).Build()))
	f.Add(uicc(mbimmsg.CIDAPDU, new(mbimmsg.Info).Uint32(1).Uint32(0).Uint32(0).Bytes([]byte{0x80, 0x84, 0x00, 0x00, 0x08}).Build()))
	f.Add(uicc(mbimmsg.CIDCloseChannel, new(mbimmsg.Info).Uint32(1).Uint32(1).Build()))
	card, err := emulator.New(emulator.Options{})
	if err != nil {
		f.Fatal(err)
	}
	d := New(card, nil)
	d.handle(context.Background(), mbimmsg.Open(1, 4096))
	f.Fuzz(func(t *testing.T, b []byte) {
		if n, err := mbimmsg.Frame(b); err != nil || n != len(b) {
			return // Serve never hands such bytes to handle
		}
		for _, out := range d.handle(context.Background(), b) {
			if n, err := mbimmsg.Frame(out); err != nil || n != len(out) {
				t.Fatalf("answer % x is not one whole message (%d, %v)", out, n, err)
			}
		}
	})
}
