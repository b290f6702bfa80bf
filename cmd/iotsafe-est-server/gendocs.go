//go:build gendocs

package main

import "github.com/go-iotsafe/iotsafe/internal/gendocs"

// With -tags gendocs the server gains the hidden gen-docs command (man
// pages and completions for its package).
func init() { extraCommands = append(extraCommands, gendocs.Command) }
