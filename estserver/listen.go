package estserver

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// Connection limits of LimitListener's defaults.
const (
	// DefaultConnsPerClient bounds the connections one client address
	// holds at once: a device needs one or two.
	DefaultConnsPerClient = 32
	// DefaultConnsTotal bounds all connections, below the process's
	// file-descriptor limit (see LimitListener).
	DefaultConnsTotal = 4096
)

// LimitListener wraps a TCP listener so that one client address cannot
// hold more than perClient connections and all together no more than
// total (capped at three quarters of the process's file-descriptor limit,
// so that the server keeps descriptors for its files and the others).
// A connection over either limit is closed as soon as it is accepted,
// which frees its descriptor at once: a client that opens thousands of idle
// connections keeps only its share, and the others go on enrolling.
// Zero means the default.
func LimitListener(ln net.Listener, perClient, total int) net.Listener {
	if perClient <= 0 {
		perClient = DefaultConnsPerClient
	}
	if total <= 0 {
		total = DefaultConnsTotal
	}
	if n := maxOpenFiles(); n > 0 && n < uint64(total)*4/3 {
		total = max(int(n)*3/4, 1)
	}
	return &limitListener{Listener: ln, perClient: perClient, total: total, byClient: map[string]int{}}
}

type limitListener struct {
	net.Listener
	perClient, total int

	mu       sync.Mutex
	byClient map[string]int
	open     int
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		l.mu.Lock()
		if l.open >= l.total || l.byClient[host] >= l.perClient {
			l.mu.Unlock()
			c.Close()
			continue
		}
		l.open++
		l.byClient[host]++
		l.mu.Unlock()
		return &limitedConn{Conn: c, l: l, host: host}, nil
	}
}

type limitedConn struct {
	net.Conn
	l    *limitListener
	host string
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		defer c.l.mu.Unlock()
		c.l.open--
		if c.l.byClient[c.host]--; c.l.byClient[c.host] <= 0 {
			delete(c.l.byClient, c.host)
		}
	})
	return err
}

// HTTPServer returns an http.Server for h with the bounds a server on the
// Internet needs: the TLS handshake and the request headers within 5 s,
// the whole request (body included) within 20 s, the answer within 30 s,
// idle keep-alive connections closed after 30 s, headers of at most
// 16 KiB. Request bodies are bounded by the handler (64 KiB).
func HTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       20 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
}
