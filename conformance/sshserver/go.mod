module github.com/go-iotsafe/iotsafe/conformance/sshserver

go 1.25

require golang.org/x/crypto v0.43.0

require golang.org/x/sys v0.37.0 // indirect
