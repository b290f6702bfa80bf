// Command mqtt publishes a message to an MQTT broker over mutual TLS with
// the SIM-held key (github.com/eclipse/paho.mqtt.golang): the broker, e.g.
// mosquitto with require_certificate, authenticates the device by the
// certificate whose private key is on the SIM.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/examples/internal/mosquitto"
	"github.com/go-iotsafe/iotsafe/signer"
	"github.com/go-iotsafe/iotsafe/simuri"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "mqtt:", err)
		os.Exit(1)
	}
}

// sessions keeps, per applet, the credential chooser and its TLS session
// cache, so that a device that publishes again resumes its session (no SIM
// signature) until the SIM changes.
var sessions sync.Map // *iotsafe.Applet -> *tls.Config (without RootCAs)

// Publish connects to broker (ssl://host:port) with the SIM credential the
// broker accepts and publishes payload to topic with QoS 1.
func Publish(ctx context.Context, a *iotsafe.Applet, broker string, roots *x509.CertPool, clientID, topic string, payload []byte) error {
	v, ok := sessions.Load(a)
	if !ok {
		creds := signer.NewClientCertificates(a)
		v, _ = sessions.LoadOrStore(a, &tls.Config{GetClientCertificate: creds.GetClientCertificate,
			ClientSessionCache: creds.SessionCache(0), MinVersion: tls.VersionTLS12})
	}
	cfg := v.(*tls.Config).Clone()
	cfg.RootCAs = roots
	return mosquitto.Publish(ctx, broker, cfg, clientID, topic, payload)
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("mqtt", flag.ContinueOnError)
	sim := fs.String("sim", os.Getenv(simuri.EnvVar), "SIM URI")
	broker := fs.String("broker", "ssl://127.0.0.1:8883", "broker URL")
	caFile := fs.String("ca", "", "PEM file of the broker's CA")
	topic := fs.String("topic", "devices/telemetry", "topic")
	msg := fs.String("message", "hello from a SIM-held key", "payload")
	id := fs.String("client-id", "iotsafe-device", "MQTT client ID")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *caFile == "" {
		return errors.New("--ca is required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pemBytes, err := os.ReadFile(*caFile)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemBytes) {
		return fmt.Errorf("%s holds no PEM certificate", *caFile)
	}
	t, err := simuri.Open(ctx, *sim)
	if err != nil {
		return err
	}
	a, err := iotsafe.Open(ctx, t, nil)
	if err != nil {
		t.Close()
		return err
	}
	defer a.Close()
	if err := Publish(ctx, a, *broker, roots, *id, *topic, []byte(*msg)); err != nil {
		return err
	}
	fmt.Fprintf(out, "published %q to %s on %s\n", *msg, *topic, *broker)
	return nil
}
