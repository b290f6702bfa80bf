package emulator_test

import (
	"testing"

	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/transport"
	"github.com/go-iotsafe/iotsafe/transport/transporttest"
)

// The in-process emulator passes the transport kit, as a T=1 and a T=0 card.
func TestTransportKit(t *testing.T) {
	for _, t0 := range []bool{false, true} {
		t.Run(map[bool]string{false: "T1", true: "T0"}[t0], func(t *testing.T) {
			transporttest.Run(t, func(t *testing.T) transport.Transport {
				c, err := emulator.New(emulator.Options{T0: t0})
				if err != nil {
					t.Fatal(err)
				}
				return c
			})
		})
	}
}
