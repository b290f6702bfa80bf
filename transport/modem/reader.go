package modem

import (
	"errors"
	"io"
	"os"
	"sync"
	"time"
)

// timedReader reads with a bound on the wait: (0, nil) when nothing came.
type timedReader interface {
	readTimeout(p []byte, wait time.Duration) (int, error)
	close()
}

// newTimedReader picks the way to read r with a timeout: a serial port's
// own read timeout, a read deadline (pipes, sockets, files that support
// one), or, for any other reader, a goroutine that reads ahead (only for
// lines that no other process shares).
func newTimedReader(r io.Reader) timedReader {
	switch x := r.(type) {
	case interface {
		SetReadTimeout(time.Duration) error
		Read([]byte) (int, error)
	}:
		return &timeoutReader{r: x}
	case interface {
		SetReadDeadline(time.Time) error
		Read([]byte) (int, error)
	}:
		if x.SetReadDeadline(time.Time{}) == nil {
			return &deadlineReader{r: x}
		}
	}
	g := &goReader{data: make(chan []byte, 16), done: make(chan struct{})}
	go g.run(r)
	return g
}

type timeoutReader struct {
	r interface {
		SetReadTimeout(time.Duration) error
		Read([]byte) (int, error)
	}
}

func (t *timeoutReader) readTimeout(p []byte, wait time.Duration) (int, error) {
	if err := t.r.SetReadTimeout(max(wait, 0)); err != nil {
		return 0, err
	}
	return t.r.Read(p)
}

func (t *timeoutReader) close() {}

type deadlineReader struct {
	r interface {
		SetReadDeadline(time.Time) error
		Read([]byte) (int, error)
	}
}

func (d *deadlineReader) readTimeout(p []byte, wait time.Duration) (int, error) {
	if err := d.r.SetReadDeadline(time.Now().Add(max(wait, 0))); err != nil {
		return 0, err
	}
	n, err := d.r.Read(p)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = nil
	}
	return n, err
}

func (d *deadlineReader) close() {}

type goReader struct {
	data    chan []byte
	done    chan struct{}
	once    sync.Once
	pending []byte
	err     error
}

func (g *goReader) run(r io.Reader) {
	for {
		b := make([]byte, 512)
		n, err := r.Read(b)
		if n > 0 {
			select {
			case g.data <- b[:n]:
			case <-g.done:
				return
			}
		}
		if err != nil {
			g.err = err
			close(g.data)
			return
		}
	}
}

func (g *goReader) readTimeout(p []byte, wait time.Duration) (int, error) {
	if len(g.pending) == 0 {
		t := time.NewTimer(max(wait, 0))
		defer t.Stop()
		select {
		case b, ok := <-g.data:
			if !ok {
				return 0, g.err
			}
			g.pending = b
		case <-t.C:
			return 0, nil
		}
	}
	n := copy(p, g.pending)
	g.pending = g.pending[n:]
	return n, nil
}

func (g *goReader) close() { g.once.Do(func() { close(g.done) }) }
