module github.com/go-iotsafe/iotsafe

go 1.25

require (
	github.com/eclipse/paho.mqtt.golang v1.5.0
	github.com/smallstep/pkcs7 v0.2.3
	github.com/spf13/cobra v1.10.1
)

require (
	github.com/creack/goselect v0.1.2 // indirect
	github.com/creack/pty v1.1.24 // indirect
	github.com/ebfe/scard v0.0.0-20241214075232-7af069cabc25 // indirect
	github.com/gorilla/websocket v1.5.3 // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/spf13/pflag v1.0.9 // indirect
	go.bug.st/serial v1.6.4 // indirect
	golang.org/x/net v0.27.0 // indirect
	golang.org/x/sync v0.7.0 // indirect
	golang.org/x/sys v0.22.0 // indirect
)
