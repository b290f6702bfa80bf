package main

import (
	"strings"

	"github.com/spf13/cobra"
)

// helpExamples are the Examples of the main commands' help, by command
// path (after "iotsafe"). Commands that set their own keep them.
var helpExamples = map[string]string{
	"info":            "iotsafe --sim pcsc: info\niotsafe --sim modem:/dev/ttyUSB2?mode=cgla --json info",
	"ls":              "iotsafe --sim pcsc: ls\niotsafe --sim emulator:sim.json --json ls",
	"pubkey":          "iotsafe --sim pcsc: pubkey --key 01 > device-key.pem",
	"keygen":          "iotsafe --sim pcsc: keygen --key 02\niotsafe --sim pcsc: keygen --label device-key --replace",
	"sign":            "iotsafe --sim pcsc: sign --key 01 --in firmware.bin --out firmware.sig\nopenssl dgst -sha256 -verify device-key.pem -signature firmware.sig firmware.bin",
	"verify":          "iotsafe --sim pcsc: verify --key 30 --in firmware.bin --sig firmware.sig",
	"read-file":       "iotsafe --sim pcsc: read-file --label device-cert --pem --out device.pem",
	"dh":              "iotsafe --sim pcsc: dh --key 04 --peer server-ecdh.pem",
	"csr":             "iotsafe --sim pcsc: csr --key 01 --cn meter-7 --dns meter-7.devices.example > meter-7.csr",
	"provision":       "iotsafe --sim pcsc: provision --est https://est.example:8443 --est-ca est-ca.pem --factory-key device-key --cn 'meter-{key}'",
	"renew":           "iotsafe --sim pcsc: renew --key 02 --est https://est.example:8443 --est-ca est-ca.pem",
	"est-server":      "iotsafe est-server --dir /var/lib/iotsafe/ca --listen 0.0.0.0:8443 --name est.example.com --bootstrap-ca factory-ca.pem --admin-token-file admin.token",
	"bridge":          "iotsafe --sim modem:/dev/ttyUSB2 bridge --vpcd 127.0.0.1:35963",
	"emulator init":   "iotsafe emulator init --state sim.json\niotsafe emulator init --profile gsma-keytypes --state sim.json",
	"emulator serve":  "iotsafe emulator serve --state sim.json --vpcd 127.0.0.1:35963\niotsafe emulator serve --state sim.json --modem",
	"emulator admin":  "iotsafe --sim emulator:sim.json emulator admin ls\niotsafe --sim emulator:sim.json emulator admin deactivate --key 02\niotsafe --sim emulator:sim.json emulator admin put-public-key --id 30 --label vendor --in vendor.pem",
	"pkcs11 hash-pin": "echo 2468 | iotsafe pkcs11 hash-pin",
	"random N":        "iotsafe --sim pcsc: random 32 | xxd",
	"est-admin":       "iotsafe est-admin --server https://est.example:8443 --ca ca.pem --token-file admin.token revoke 0x1F2E",
	"pkcs11":          "iotsafe pkcs11 hash-pin < pin.txt",
	"emulator":        "iotsafe emulator init --state sim.json && iotsafe --sim emulator:sim.json info",
	"prf":             "iotsafe --sim pcsc: prf --secret 06 --prf-label 'key expansion' --seed 00112233 --length 32",
	"hkdf":            "iotsafe --sim pcsc: hkdf --secret 06 --info 73657373696f6e --length 32",
}

// addHelpExamples puts helpExamples into the command tree, indented as
// cobra shows them.
func addHelpExamples(root *cobra.Command) {
	var walk func(c *cobra.Command, path string)
	walk = func(c *cobra.Command, path string) {
		for _, sub := range c.Commands() {
			p := strings.TrimSpace(path + " " + sub.Use)
			if ex, ok := helpExamples[p]; ok && sub.Example == "" {
				sub.Example = "  " + strings.ReplaceAll(ex, "\n", "\n  ")
			}
			walk(sub, strings.TrimSpace(path+" "+sub.Name()))
		}
	}
	walk(root, "")
}
