package provision_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/estserver"
	"github.com/go-iotsafe/iotsafe/operator"
	"github.com/go-iotsafe/iotsafe/provision"
	"github.com/go-iotsafe/iotsafe/provision/est"
)

// Zero-touch provisioning: a key pair generated on the SIM, a CSR signed by
// it, enrolment over EST with the bootstrap password, and the certificate
// delivered to the SIM through the operator's administration path. Here
// the EST server (with its own CA) runs on 127.0.0.1 in the process and the
// operator is the software SIM's administration; in the field they are the
// fleet's EST server and the operator's over-the-air platform.
func ExampleProvision() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "provision-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// The fleet's EST server.
	ca, err := estserver.NewCA("fleet CA")
	if err != nil {
		log.Fatal(err)
	}
	srvKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srvCert, err := ca.IssueServer(srvKey.Public(), "127.0.0.1")
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(&estserver.Server{CA: ca, Username: "device", Password: "bootstrap"})
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{srvCert.Raw}, PrivateKey: srvKey}}, ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert) // the device's trust anchor for the EST server

	// The device's SIM (a software SIM in a state file).
	state := filepath.Join(dir, "sim.json")
	card, err := emulator.Create(state, emulator.Options{})
	if err != nil {
		log.Fatal(err)
	}
	a, err := iotsafe.Open(ctx, card, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()

	res, err := provision.Provision(ctx, &provision.Config{
		Applet:   a,
		Subject:  pkix.Name{CommonName: "meter-7"},
		EST:      &est.Client{Server: srv.URL, Roots: roots, Username: "device", Password: "bootstrap"},
		Operator: &operator.Emulator{Path: state},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s certified for SIM key %X, delivered to SIM file %X\n", res.Certificate.Subject.CommonName, res.Key.ID(), res.CertFile)
	// Output: meter-7 certified for SIM key 02, delivered to SIM file 20
}
