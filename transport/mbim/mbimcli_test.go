package mbim_test

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/internal/proxytest"
	"github.com/go-iotsafe/iotsafe/internal/testtool"
	"github.com/go-iotsafe/iotsafe/transport/mbim"
	"github.com/go-iotsafe/iotsafe/transport/transporttest"
)

// requireTool finds a program (testtool.Need).
func requireTool(t *testing.T, name string) string { t.Helper(); return testtool.Need(t, name) }

func mbimcli(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("mbimcli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// libmbim's mbimcli (software nobody here wrote) drives the fake MBIM
// function: the ATR, OPEN_CHANNEL with the GSMA applet's AID, APDUs on the
// channel (Get Random, Get Data), CLOSE_CHANNEL, and an APDU on the closed
// channel, which the function refuses with
// MBIM_STATUS_MS_INVALID_LOGICAL_CHANNEL. mbimcli prints the Status field
// in decimal: 144 is 0x0090, SW 90 00 with SW1 in the lowest byte.
func TestMbimcli(t *testing.T) {
	bin := requireTool(t, "mbimcli")
	r := newRig(t, emulator.Options{})
	dev := r.pty.Path()
	if out := mbimcli(t, bin, "-d", dev, "--ms-query-uicc-atr"); !strings.Contains(out, strings.ToUpper(hexColons(r.card.ATR()))) {
		t.Fatalf("ATR: %s", out)
	}
	out := mbimcli(t, bin, "-d", dev, "--ms-set-uicc-open-channel=application-id=A0000005590010,channel-group=1")
	m := regexp.MustCompile(`status: (\d+)\s+channel: (\d+)`).FindStringSubmatch(out)
	if m == nil || m[1] != "144" {
		t.Fatalf("open channel: %s", out)
	}
	ch := m[2]
	apduArg := func(cmd string) string {
		return fmt.Sprintf("--ms-set-uicc-apdu=channel=%s,secure-message=none,classbyte-type=inter-industry,command=%s", ch, cmd)
	}
	out = mbimcli(t, bin, "-d", dev, apduArg("8084000008"))
	if !regexp.MustCompile(`status: 144\s+response: ([0-9A-F]{2}:){7}[0-9A-F]{2}\b`).MatchString(out) {
		t.Fatalf("Get Random over mbimcli: %s", out)
	}
	out = mbimcli(t, bin, "-d", dev, apduArg("80CB000000"))
	if !strings.Contains(out, "status: 144") || !strings.Contains(out, "response: 10:01:01:11:20") {
		t.Fatalf("Get Data over mbimcli: %s", out)
	}
	out = mbimcli(t, bin, "-d", dev, "--ms-set-uicc-close-channel=channel="+ch+",channel-group=1")
	if !strings.Contains(out, "status: 144") {
		t.Fatalf("close channel: %s", out)
	}
	cmd := exec.Command(bin, "-d", dev, apduArg("8084000008"))
	b, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(b), "0x87430003") {
		t.Fatalf("APDU on a closed channel: %v\n%s", err, b)
	}
}

func hexColons(b []byte) string {
	var s []string
	for _, x := range b {
		s = append(s, fmt.Sprintf("%02X", x))
	}
	return strings.Join(s, ":")
}

// Through the real mbim-proxy (libmbim's, what ModemManager shares the
// device through): mbimcli -p opens a channel and exchanges an APDU, and
// two clients of the proxy sign at once, each on its own logical channel,
// every signature checked by crypto/ecdsa. The test starts the proxy
// itself and stops it; when one already runs (ModemManager's), the test
// leaves it alone and is skipped.
func TestThroughMbimProxy(t *testing.T) {
	bin := requireTool(t, "mbimcli")
	proxy := proxytest.Start(t, mbim.ProxySocket, "/usr/libexec/mbim-proxy", "--empty-timeout=0")
	r := newRig(t, emulator.Options{})
	dev := r.pty.Path()
	out := mbimcli(t, bin, "-p", "-d", dev, "--ms-set-uicc-open-channel=application-id=A0000005590010,channel-group=1")
	m := regexp.MustCompile(`status: 144\s+channel: (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("open channel through the proxy: %s", out)
	}
	out = mbimcli(t, bin, "-p", "-d", dev, "--ms-set-uicc-apdu=channel="+m[1]+",secure-message=none,classbyte-type=inter-industry,command=8084000004")
	if !strings.Contains(out, "status: 144") {
		t.Fatalf("APDU through the proxy: %s", out)
	}
	mbimcli(t, bin, "-p", "-d", dev, "--ms-set-uicc-close-channel=channel="+m[1]+",channel-group=1")

	transporttest.ThroughProxy(t, func() (transporttest.Proxied, error) {
		return mbim.Open(context.Background(), dev, &mbim.Options{Proxy: mbim.ProxyOn})
	}, proxy.Stop, proxy.Restart)
}
