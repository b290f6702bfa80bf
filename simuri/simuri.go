// Package simuri opens a SIM named by a URI, the one naming scheme every
// front end of go-iotsafe shares (CLI flags, PKCS#11 configuration, signer
// options, examples):
//
//	emulator:/var/lib/iotsafe/sim.json     the software SIM in that state file
//	emulator:sim.json?t0=1&timing=1         ... answering like a T=0 card, with SIM timing
//	emulator:sim.json?timing=1&stats=FILE   ... appending APDU count and model time to FILE at close
//	modem:/dev/ttyUSB2?baud=115200&mode=csim a SIM behind a cellular modem (mode csim or cgla,
//	                                         maxcmd=N for a modem's command length limit)
//	mbim:/dev/cdc-wdm0                      a SIM behind a modem's MBIM control channel (UICC low
//	                                         level access: the modem opens the applet's channel),
//	                                         through mbim-proxy when it runs (proxy=0: directly,
//	                                         proxy=1: require the proxy)
//	qmi:/dev/cdc-wdm0                       a SIM behind a modem's QMI control channel (UIM service:
//	                                         the modem opens the applet's channel), through qmi-proxy
//	                                         when it runs (proxy=0: directly, proxy=1: require it)
//	pcsc:                                   the first PC/SC reader whose card holds an IoT SAFE applet
//	pcsc:Virtual%20PCD%2000%2000            that PC/SC reader (needs cgo; a no-cgo build says so)
//
// It sits above the transports and the emulator, which is why it is a package
// of its own: the applet client (package iotsafe) knows only the
// transport.Transport interface.
package simuri

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/transport"
	"github.com/go-iotsafe/iotsafe/transport/mbim"
	"github.com/go-iotsafe/iotsafe/transport/modem"
	"github.com/go-iotsafe/iotsafe/transport/pcsc"
	"github.com/go-iotsafe/iotsafe/transport/qmi"
)

// EnvVar is the environment variable front ends read when no SIM URI is
// given.
const EnvVar = "IOTSAFE_SIM"

// Open opens the transport that uri names. The caller closes it.
func Open(ctx context.Context, uri string) (transport.Transport, error) {
	u, err := Parse(uri)
	if err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "emulator":
		return openEmulator(u)
	case "modem":
		return modem.OpenURI(ctx, u)
	case "mbim":
		return openMBIM(ctx, u)
	case "qmi":
		return openQMI(ctx, u)
	case "pcsc":
		return pcsc.OpenURI(ctx, u)
	}
	return nil, fmt.Errorf("SIM URI %q: unknown scheme %q (want emulator:, pcsc:, modem:, mbim: or qmi:)", uri, u.Scheme)
}

// openMBIM opens mbim:PATH (no parameters yet).
func openMBIM(ctx context.Context, u *url.URL) (transport.Transport, error) {
	path := u.Opaque
	if path == "" {
		path = u.Path
	}
	if path == "" {
		return nil, fmt.Errorf("SIM URI %q: give the MBIM device, e.g. mbim:/dev/cdc-wdm0", u.String())
	}
	var opts mbim.Options
	for k := range u.Query() {
		if k != "proxy" {
			return nil, fmt.Errorf("SIM URI %q: unknown parameter %q (mbim takes proxy=0|1)", u.String(), k)
		}
	}
	switch u.Query().Get("proxy") {
	case "":
	case "0":
		opts.Proxy = mbim.ProxyOff
	case "1":
		opts.Proxy = mbim.ProxyOn
	default:
		return nil, fmt.Errorf("SIM URI %q: proxy=0 (open the device directly) or proxy=1 (require mbim-proxy)", u.String())
	}
	return mbim.Open(ctx, path, &opts)
}

// openQMI opens qmi:PATH[?proxy=0|1].
func openQMI(ctx context.Context, u *url.URL) (transport.Transport, error) {
	path := u.Opaque
	if path == "" {
		path = u.Path
	}
	if path == "" {
		return nil, fmt.Errorf("SIM URI %q: give the QMI device, e.g. qmi:/dev/cdc-wdm0", u.String())
	}
	var opts qmi.Options
	for k := range u.Query() {
		if k != "proxy" {
			return nil, fmt.Errorf("SIM URI %q: unknown parameter %q (qmi takes proxy=0|1)", u.String(), k)
		}
	}
	switch u.Query().Get("proxy") {
	case "":
	case "0":
		opts.Proxy = qmi.ProxyOff
	case "1":
		opts.Proxy = qmi.ProxyOn
	default:
		return nil, fmt.Errorf("SIM URI %q: proxy=0 (open the device directly) or proxy=1 (require qmi-proxy)", u.String())
	}
	return qmi.Open(ctx, path, &opts)
}

// Parse checks the form of a SIM URI and returns it parsed.
func Parse(uri string) (*url.URL, error) {
	if uri == "" {
		return nil, fmt.Errorf("no SIM given: pass --sim URI or set %s (e.g. emulator:/path/sim.json, pcsc:, modem:/dev/ttyUSB2)", EnvVar)
	}
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("SIM URI %q: %w", uri, err)
	}
	switch u.Scheme {
	case "emulator", "pcsc", "modem", "mbim", "qmi":
	default:
		return nil, fmt.Errorf("SIM URI %q: unknown scheme %q (want emulator:, pcsc:, modem:, mbim: or qmi:)", uri, u.Scheme)
	}
	return u, nil
}

// EmulatorPath returns the state file an emulator: URI names.
func EmulatorPath(u *url.URL) (string, error) {
	p := u.Opaque
	if p == "" {
		p = u.Path
	}
	if p == "" {
		return "", fmt.Errorf("SIM URI %q names no state file (want emulator:/path/sim.json)", u.String())
	}
	if dec, err := url.PathUnescape(p); err == nil {
		p = dec
	}
	return p, nil
}

func openEmulator(u *url.URL) (transport.Transport, error) {
	path, err := EmulatorPath(u)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	var opts emulator.Options
	for k := range q {
		switch k {
		case "t0", "timing", "extended":
		case "stats":
			opts.StatsFile = q.Get("stats")
		default:
			return nil, fmt.Errorf("SIM URI %q: unknown parameter %q (emulator takes t0, extended, timing and stats)", u.String(), k)
		}
	}
	if opts.T0, err = boolParam(q, "t0"); err != nil {
		return nil, err
	}
	if opts.ExtendedLength, err = boolParam(q, "extended"); err != nil {
		return nil, err
	}
	timing, err := boolParam(q, "timing")
	if err != nil {
		return nil, err
	}
	if timing {
		opts.Timing = emulator.DefaultTiming()
	}
	card, err := emulator.Open(path, opts)
	if err != nil {
		return nil, err
	}
	return card, nil
}

func boolParam(q url.Values, name string) (bool, error) {
	v := q.Get(name)
	if v == "" {
		return false, nil
	}
	switch strings.ToLower(v) {
	case "on", "yes":
		return true, nil
	case "off", "no":
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("SIM URI parameter %s=%q is not a boolean", name, v)
	}
	return b, nil
}
