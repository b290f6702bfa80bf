package iotsafe_test

import (
	"context"
	"fmt"
	"log"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/spec"
)

// Open a SIM and list the keys its applet holds. A real SIM is opened the
// same way from its URI: t, err := simuri.Open(ctx, "pcsc:") (or
// "modem:/dev/ttyUSB2", "emulator:/var/lib/iotsafe/sim.json"); here the
// software SIM runs in the process.
func ExampleOpen() {
	ctx := context.Background()
	card, err := emulator.New(emulator.Options{}) // a transport.Transport
	if err != nil {
		log.Fatal(err)
	}
	a, err := iotsafe.Open(ctx, card, nil) // selects the applet on a logical channel
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	objs, err := a.Objects(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, o := range objs {
		if o.Kind == spec.KindPrivateKey && o.Active() {
			fmt.Println(o.String())
		}
	}
	// Output:
	// private key 01 "device-key"
	// private key 04 "ecdh-key"
}
