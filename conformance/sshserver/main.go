// Command sshserver is the OpenSSH part of the PKCS#11 conformance suite: a
// minimal SSH server on 127.0.0.1 that accepts exactly one public key and
// answers every "exec" request with a fixed line and exit status 0, so that
// `ssh -o PKCS11Provider=LIB` can prove it authenticated with a token key.
// It stops after one session or after -timeout.
//
// Usage: sshserver -authorized KEY.pub -port-file FILE [-timeout 60s]
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"time"

	"golang.org/x/crypto/ssh"
)

func main() {
	authorized := flag.String("authorized", "", "the one authorized public key (authorized_keys line)")
	portFile := flag.String("port-file", "", "write the listening port here")
	timeout := flag.Duration("timeout", 60*time.Second, "stop after this long")
	flag.Parse()
	if err := run(*authorized, *portFile, *timeout); err != nil {
		log.Fatal("sshserver: ", err)
	}
}

func run(authorized, portFile string, timeout time.Duration) error {
	line, err := os.ReadFile(authorized)
	if err != nil {
		return err
	}
	want, _, _, _, err := ssh.ParseAuthorizedKey(line)
	if err != nil {
		return err
	}
	_, hostPriv, _ := ed25519.GenerateKey(rand.Reader)
	hostKey, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		return err
	}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
			if bytes.Equal(k.Marshal(), want.Marshal()) {
				return &ssh.Permissions{}, nil
			}
			return nil, errors.New("key not authorized")
		},
	}
	cfg.AddHostKey(hostKey)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	if err := os.WriteFile(portFile, []byte(fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)), 0o644); err != nil {
		return err
	}
	go func() { time.Sleep(timeout); log.Print("sshserver: timeout"); os.Exit(2) }()
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		sc, chans, reqs, err := ssh.NewServerConn(c, cfg)
		if err != nil {
			log.Print("handshake: ", err) // a key not authorized: wait for the next try
			continue
		}
		go ssh.DiscardRequests(reqs)
		for nc := range chans {
			if nc.ChannelType() != "session" {
				nc.Reject(ssh.UnknownChannelType, "session only")
				continue
			}
			ch, creqs, err := nc.Accept()
			if err != nil {
				return err
			}
			for r := range creqs {
				if r.Type != "exec" {
					r.Reply(r.Type == "env", nil)
					continue
				}
				r.Reply(true, nil)
				fmt.Fprintf(ch, "authenticated as %s with %s\n", sc.User(), ssh.FingerprintSHA256(want))
				status := make([]byte, 4)
				binary.BigEndian.PutUint32(status, 0)
				ch.SendRequest("exit-status", false, status)
				ch.Close()
				// Let the client close the connection (closing it first
				// makes ssh report a broken pipe).
				done := make(chan struct{})
				go func() { sc.Wait(); close(done) }()
				select {
				case <-done:
				case <-time.After(5 * time.Second):
					sc.Close()
				}
				return nil
			}
		}
	}
}
