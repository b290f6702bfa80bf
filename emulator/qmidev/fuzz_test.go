package qmidev

import (
	"context"
	"testing"

	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/internal/qmimsg"
)

// FuzzHandle: whatever a host writes, the fake device answers or drops it
// without panicking (`iotsafe emulator serve --qmi` must outlive a broken
// host), and each answer parses as a QMUX message.
func FuzzHandle(f *testing.F) {
	uim := func(id uint16, tlvs ...qmimsg.TLV) []byte {
		return qmimsg.Marshal(qmimsg.Message{Service: qmimsg.ServiceUIM, Client: 1, TID: 2, ID: id, TLVs: tlvs})
	}
	f.Add(qmimsg.Marshal(qmimsg.Message{Service: qmimsg.ServiceCTL, TID: 1, ID: qmimsg.CTLAllocateCID, TLVs: []qmimsg.TLV{{Type: 0x01, Value: []byte{qmimsg.ServiceUIM}}}}))
	f.Add(uim(qmimsg.UIMOpenLogicalChannel, qmimsg.TLV{Type: 0x01, Value: []byte{1}}, qmimsg.TLV{Type: 0x10, Value: qmimsg.U8Array([]byte{0xA0, 0x00, 0x00, 0x05, 0x59, 0x00, 0x10})}))
	f.Add(uim(qmimsg.UIMSendAPDU, qmimsg.TLV{Type: 0x01, Value: []byte{1}}, qmimsg.TLV{Type: 0x02, Value: qmimsg.U16Array([]byte{0x80, 0x84, 0x00, 0x00, 0x08})}, qmimsg.TLV{Type: 0x10, Value: []byte{1}}))
	f.Add(uim(qmimsg.UIMLogicalChannel, qmimsg.TLV{Type: 0x01, Value: []byte{1}}, qmimsg.TLV{Type: 0x11, Value: []byte{1}}))
	f.Add(uim(qmimsg.UIMGetCardStatus))
	card, err := emulator.New(emulator.Options{})
	if err != nil {
		f.Fatal(err)
	}
	d := New(card, nil)
	d.handle(context.Background(), qmimsg.Marshal(qmimsg.Message{Service: qmimsg.ServiceCTL, TID: 1, ID: qmimsg.CTLAllocateCID, TLVs: []qmimsg.TLV{{Type: 0x01, Value: []byte{qmimsg.ServiceUIM}}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if n, err := qmimsg.Frame(b); err != nil || n != len(b) {
			return // Serve never hands such bytes to handle
		}
		for _, out := range d.handle(context.Background(), b) {
			if _, err := qmimsg.Parse(out); err != nil {
				t.Fatalf("answer % x: %v", out, err)
			}
		}
	})
}
