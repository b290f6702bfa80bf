// Command estgrowth measures the EST server as a fleet grows, and its
// replicas, from outside: real `iotsafe est-server` processes, enrolled
// through over HTTPS by concurrent clients (P-256 CSRs, password
// bootstrap). It prints Markdown sections for bench/REPORT.md:
//
//   - throughput (enrolments/s, p50 and p99) at concurrency 1, 8, 32, 128
//     on the default SQLite store;
//   - the growth table: with 10^3, 10^4, 10^5 certificates issued (and a
//     tenth of them, at most 10^4, revoked), start-up time, server RSS,
//     enrolment p50 at concurrency 1, revocation and CRL fetch times, the
//     database's size;
//   - one server against two replicas on one PostgreSQL (from Debian's
//     packages, started in a temporary directory), at concurrency 32.
//
// Usage: go run ./bench/estgrowth -bin build/iotsafe [-sizes 1000,10000,100000]
package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-iotsafe/iotsafe/estserver"
	"github.com/go-iotsafe/iotsafe/internal/pgtest"
	"github.com/go-iotsafe/iotsafe/provision/est"
)

var bin = flag.String("bin", "build/iotsafe", "the iotsafe binary")

// server is one EST server process: ours, or libest's example server.
type server struct {
	cmd   *exec.Cmd
	addr  string
	dir   string
	roots *x509.CertPool
	token string
	start time.Duration
	// The bootstrap password credentials its clients present.
	user, password string
}

var libest = flag.String("libest", os.Getenv("LIBEST_SERVER_DIR"),
	"a directory holding Cisco libest's example server, built by hand (this repository builds no libest) "+
		"and set up by its createCA.sh: estserver, estCA/, trustedcerts.crt, estExampleCA.cnf; "+
		"its throughput is then measured in the same run (default $LIBEST_SERVER_DIR)")

// startLibest starts libest's example estserver, as its runserver.sh does
// (its OpenSSL CA, HTTP basic authentication estuser/estpwd), on a copy of
// dir (the server writes its CA database there), and waits until it
// accepts connections.
func startLibest(dir, work string) (*server, error) {
	if out, err := exec.Command("cp", "-a", dir, work).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("copying %s: %v: %s", dir, err, out)
	}
	s := &server{addr: freeAddr(), dir: work, user: "estuser", password: "estpwd"}
	_, port, _ := net.SplitHostPort(s.addr)
	s.cmd = exec.Command("./estserver", "-c", "estCA/private/estservercertandkey.pem", "-k", "estCA/private/estservercertandkey.pem",
		"-r", "estrealm", "-p", port)
	s.cmd.Dir = work
	s.cmd.Env = append(os.Environ(), "EST_TRUSTED_CERTS=./trustedcerts.crt", "EST_CACERTS_RESP=./estCA/cacert.crt",
		"EST_OPENSSL_CACONFIG=./estExampleCA.cnf")
	t0 := time.Now()
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	for {
		if c, err := net.Dial("tcp", s.addr); err == nil {
			c.Close()
			break
		}
		if time.Since(t0) > 30*time.Second {
			s.stop()
			return nil, fmt.Errorf("libest's estserver did not listen on %s within 30 s", s.addr)
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.start = time.Since(t0)
	b, err := os.ReadFile(filepath.Join(work, "estCA", "cacert.crt"))
	if err != nil {
		s.stop()
		return nil, err
	}
	s.roots = x509.NewCertPool()
	if !s.roots.AppendCertsFromPEM(b) {
		s.stop()
		return nil, fmt.Errorf("no certificate in %s/estCA/cacert.crt", work)
	}
	return s, nil
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startServer starts est-server on dir (and store, when not "") and waits
// until it serves.
func startServer(dir, store string) *server {
	s := &server{addr: freeAddr(), dir: dir, token: "bench-admin-token-0123456789", user: "device", password: "bootstrap"}
	os.MkdirAll(dir, 0o700)
	tok := filepath.Join(dir, "admin-token")
	os.WriteFile(tok, []byte(s.token+"\n"), 0o600)
	ready := filepath.Join(dir, "ready-"+strings.ReplaceAll(s.addr, ":", "_"))
	args := []string{"est-server", "--dir", dir, "--listen", s.addr, "--user", "device", "--password", "bootstrap",
		"--ready-file", ready, "--admin-token-file", tok, "--conns-per-client", "1000"}
	if store != "" {
		args = append(args, "--store", store)
	}
	s.cmd = exec.Command(*bin, args...)
	s.cmd.Stderr = io.Discard
	t0 := time.Now()
	if err := s.cmd.Start(); err != nil {
		log.Fatal(err)
	}
	for time.Since(t0) < time.Minute {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	s.start = time.Since(t0)
	b, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		log.Fatalf("est-server on %s did not start: %v", dir, err)
	}
	blk, _ := pem.Decode(b)
	c, _ := x509.ParseCertificate(blk.Bytes)
	s.roots = x509.NewCertPool()
	s.roots.AddCert(c)
	return s
}

func (s *server) stop() { s.cmd.Process.Kill(); s.cmd.Wait() }

// rssKB is the server's resident memory.
func (s *server) rssKB() int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}

var seq atomic.Int64

// enrol runs n enrolments at concurrency c over servers (round robin); it
// returns the rate and the latencies of those that succeeded.
func enrol(servers []*server, n, c int) (float64, []time.Duration) {
	rate, lat, _ := enrolCount(servers, n, c)
	return rate, lat
}

// enrolCount is enrol, with the number of enrolments that failed.
func enrolCount(servers []*server, n, c int) (float64, []time.Duration, int64) {
	var mu sync.Mutex
	var lat []time.Duration
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			clients := make([]*est.Client, len(servers))
			for i, s := range servers {
				clients[i] = &est.Client{Server: "https://" + s.addr, Roots: s.roots, Username: s.user, Password: s.password}
			}
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				// A new key per request would measure key generation; a
				// new name per request with one key per worker is what
				// the server sees of a fleet.
				der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: fmt.Sprintf("dev-%d", seq.Add(1))}}, key)
				s0 := time.Now()
				if _, err := clients[int(i)%len(clients)].SimpleEnroll(context.Background(), der); err != nil {
					if failed.Add(1) == 1 {
						log.Printf("estgrowth: an enrolment failed: %v", err)
					}
					continue
				}
				d := time.Since(s0)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		log.Printf("%d enrolments failed", f)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return float64(len(lat)) / time.Since(t0).Seconds(), lat, failed.Load()
}

func pct(lat []time.Duration, p float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	return lat[int(float64(len(lat)-1)*p)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }

// populate issues n certificates (and revokes r of them) straight into the
// CA kept in dir, as a fleet's history would have left it.
func populate(dir string, n, r int) {
	ca, err := estserver.LoadOrCreateCA(dir, "bench CA")
	if err != nil {
		log.Fatal(err)
	}
	defer ca.Close()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var serials []*big.Int
	for i := 0; i < n; i++ {
		der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: fmt.Sprintf("fleet-%d", i)}}, key)
		csr, _ := x509.ParseCertificateRequest(der)
		c, err := ca.Issue(csr)
		if err != nil {
			log.Fatal(err)
		}
		if len(serials) < r {
			serials = append(serials, c.SerialNumber)
		}
	}
	for _, s := range serials {
		if err := ca.Revoke(s); err != nil {
			log.Fatal(err)
		}
	}
}

// adminTimes are the revocation (admin endpoint) and CRL fetch times, the
// median of k each: a CRL fetched after each revocation is signed anew.
func adminTimes(s *server, k int) (revoke, crlNew, crlCached time.Duration) {
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.roots}}}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	c := &est.Client{Server: "https://" + s.addr, Roots: s.roots, Username: "device", Password: "bootstrap"}
	var rv, cn, cc []time.Duration
	get := func() time.Duration {
		t0 := time.Now()
		resp, err := hc.Get("https://" + s.addr + "/crl")
		if err != nil {
			log.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return time.Since(t0)
	}
	for i := 0; i < k; i++ {
		der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: fmt.Sprintf("revoke-%d", seq.Add(1))}}, key)
		certs, err := c.SimpleEnroll(context.Background(), der)
		if err != nil {
			log.Fatal(err)
		}
		form := url.Values{"serial": {certs[0].SerialNumber.String()}}
		req, _ := http.NewRequest(http.MethodPost, "https://"+s.addr+"/admin/revoke", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+s.token)
		t0 := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			log.Fatalf("revoke: HTTP %d", resp.StatusCode)
		}
		rv = append(rv, time.Since(t0))
		cn = append(cn, get())
		cc = append(cc, get())
	}
	med := func(d []time.Duration) time.Duration {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return d[len(d)/2]
	}
	return med(rv), med(cn), med(cc)
}

func main() {
	sizes := flag.String("sizes", "1000,10000,100000", "certificates issued before each growth measurement")
	flag.Parse()
	base, err := os.MkdirTemp("", "iotsafe-estgrowth.")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(base)
	var out bytes.Buffer
	defer func() { os.Stdout.Write(out.Bytes()) }()

	// Throughput on the default store, and libest's in the same run (each
	// concurrency level on ours, then on libest's, on fresh servers).
	s := startServer(filepath.Join(base, "throughput"), "")
	var ls *server
	libestNote := "libest: not measured in this run (give `-libest DIR` or `LIBEST_SERVER_DIR`: a hand-built libest example server set up by its createCA.sh)."
	if *libest != "" {
		if ls, err = startLibest(*libest, filepath.Join(base, "libest")); err != nil {
			libestNote = fmt.Sprintf("libest: not measured (%v).", err)
		} else {
			libestNote = "libest: Cisco libest's example server (`estserver` with its OpenSSL CA and HTTP basic authentication, from the directory given as -libest or LIBEST_SERVER_DIR), started by this program beside ours; the same clients, CSRs and concurrency."
		}
	}
	fmt.Fprintf(&out, "\n## EST server (bench/estgrowth: `iotsafe est-server` processes, HTTPS clients, P-256 CSRs, password bootstrap)\n\n")
	fmt.Fprintf(&out, "Throughput on the default SQLite store, and Cisco libest's example server in the same run:\n\n")
	fmt.Fprintf(&out, "| Concurrency | enrolments/s | p50 ms | p99 ms | libest enrolments/s | libest p50 ms | libest p99 ms | ours / libest |\n|---|---|---|---|---|---|---|---|\n")
	for _, c := range []int{1, 8, 32, 128} {
		n := 300
		if c >= 32 {
			n = 1000
		}
		rate, lat := enrol([]*server{s}, n, c)
		lcols := "- | - | - | -"
		if ls != nil {
			lrate, llat, lfailed := enrolCount([]*server{ls}, n, c)
			lcols = fmt.Sprintf("%.0f | %s | %s | %.2f", lrate, ms(pct(llat, 0.5)), ms(pct(llat, 0.99)), rate/lrate)
			if lfailed > 0 {
				lcols = fmt.Sprintf("%.0f (%d of %d failed) | %s | %s | %.2f", lrate, lfailed, n, ms(pct(llat, 0.5)), ms(pct(llat, 0.99)), rate/lrate)
			}
		}
		fmt.Fprintf(&out, "| %d | %.0f | %s | %s | %s |\n", c, rate, ms(pct(lat, 0.5)), ms(pct(lat, 0.99)), lcols)
	}
	s.stop()
	if ls != nil {
		ls.stop()
	}
	fmt.Fprintf(&out, "\n%s\n", libestNote)

	// Growth.
	fmt.Fprintf(&out, "\nGrowth: the same server after a fleet's history (a tenth of it, at most 10^4, revoked); enrolment at concurrency 1 (200 requests), revocation through the admin endpoint and the CRL fetched after it (signed anew) and again (cached), medians of 20:\n\n")
	fmt.Fprintf(&out, "| Issued | Revoked | start-up ms | RSS MiB after | enrol p50 ms | enrol p99 ms | revoke ms | CRL new ms | CRL cached ms | ca.db MiB |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, f := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			log.Fatal(err)
		}
		r := min(n/10, 10000)
		dir := filepath.Join(base, "growth-"+f)
		t0 := time.Now()
		populate(dir, n, r)
		log.Printf("estgrowth: %d issued and %d revoked in %s", n, r, time.Since(t0).Round(time.Second))
		s := startServer(dir, "")
		_, lat := enrol([]*server{s}, 200, 1)
		rv, cn, cc := adminTimes(s, 20)
		rss := s.rssKB()
		s.stop()
		fi, _ := os.Stat(filepath.Join(dir, "ca.db"))
		size := float64(0)
		if fi != nil {
			size = float64(fi.Size()) / (1 << 20)
		}
		fmt.Fprintf(&out, "| %d | %d | %s | %.1f | %s | %s | %s | %s | %s | %.1f |\n", n, r, ms(s.start), float64(rss)/1024,
			ms(pct(lat, 0.5)), ms(pct(lat, 0.99)), ms(rv), ms(cn), ms(cc), size)
	}

	// Replicas on PostgreSQL.
	pg, err := pgtest.StartServer()
	if err != nil {
		fmt.Fprintf(&out, "\nReplicas on PostgreSQL: not measured (%v).\n", err)
		return
	}
	defer pg.Stop()
	one := startServer(filepath.Join(base, "pg-1"), pg.URL)
	r1, l1 := enrol([]*server{one}, 1000, 32)
	two := startServer(filepath.Join(base, "pg-2"), pg.URL)
	r2, l2 := enrol([]*server{one, two}, 1000, 32)
	one.stop()
	two.stop()
	fmt.Fprintf(&out, "\nPostgreSQL %s (Debian's, in a temporary directory, fsync off), concurrency 32, 1000 enrolments:\n\n", filepath.Base(filepath.Dir(pgtest.Bindir())))
	fmt.Fprintf(&out, "| Servers | enrolments/s | p50 ms | p99 ms |\n|---|---|---|---|\n")
	fmt.Fprintf(&out, "| 1 | %.0f | %s | %s |\n| 2 replicas | %.0f | %s | %s |\n", r1, ms(pct(l1, 0.5)), ms(pct(l1, 0.99)), r2, ms(pct(l2, 0.5)), ms(pct(l2, 0.99)))
	fmt.Fprintf(&out, "\nGoals (issue 23): at 10^5 issued, p50 enrolment within 1.5x of the p50 at 10^3, RSS under 100 MiB, start-up under 1 s, revocation and CRL fetch under 100 ms. On one 2-core machine the replicas share the CPU with the database and the clients: the table shows that they work together, not that they scale.\n")
}
