package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/go-iotsafe/iotsafe/pkcs11mod"
)

func newPKCS11Cmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pkcs11",
		Short: "Helpers for the PKCS#11 library (libiotsafe-pkcs11.so)",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "hash-pin",
		Short: "Read a user PIN from standard input and print the hash for user-pin in pkcs11.conf",
		Long: "IoT SAFE has no PIN; the PKCS#11 token requires no login unless a user PIN is configured. This reads " +
			"the PIN (first line of standard input, never an argument, so that it stays out of the process list and " +
			"shell history) and prints its salted PBKDF2-SHA256 hash for the user-pin line of a [slot] section.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			pin := strings.TrimRight(line, "\r\n")
			if pin == "" {
				return errors.New("no PIN on standard input")
			}
			h, err := pkcs11mod.HashPIN(pin)
			if err != nil {
				return err
			}
			return g.emit(map[string]string{"user_pin": h}, func(w io.Writer) { fmt.Fprintf(w, "user-pin: %s\n", h) })
		},
	})
	return cmd
}
