package pkcs11mod_test

import (
	"fmt"
	"log"

	"github.com/go-iotsafe/iotsafe/pkcs11mod"
)

// The PKCS#11 library (libiotsafe-pkcs11.so) reads this configuration from
// /etc/iotsafe/pkcs11.conf, or the file named by $IOTSAFE_PKCS11_CONF; with
// neither, one slot for $IOTSAFE_SIM. One [slot] section per SIM.
func ExampleParseConfig() {
	cfg, err := pkcs11mod.ParseConfig([]byte(`
store: /var/lib/iotsafe/pkcs11
log: /var/log/iotsafe-pkcs11.log

[slot]
sim: pcsc:
label: device

[slot]
sim: modem:/dev/ttyUSB2?mode=cgla
`))
	if err != nil {
		log.Fatal(err)
	}
	for i, s := range cfg.Slots {
		fmt.Printf("slot %d: %s\n", i, s.SIM)
	}
	// Output:
	// slot 0: pcsc:
	// slot 1: modem:/dev/ttyUSB2?mode=cgla
}
