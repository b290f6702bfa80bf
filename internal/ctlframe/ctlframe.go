// Package ctlframe cuts the byte stream of a modem's control channel (a
// cdc-wdm device, a proxy's socket, a pseudo-terminal) into whole MBIM or
// QMUX messages: they may arrive split or joined, and each starts with its
// own length. The transports read answers with it and the emulator's fake
// devices read requests with it, so both ends cut the stream the same way.
package ctlframe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"

	"github.com/go-iotsafe/iotsafe/internal/ctlchan"
)

// Split returns the length of the whole message at the start of b, 0 when
// b does not hold it all yet, or an error when b cannot start a message
// (mbimmsg.Frame, qmimsg.Frame).
type Split func(b []byte) (int, error)

// ErrGarbage is matched by the error of Next when the stream holds bytes
// that start no message; they are dropped.
var ErrGarbage = errors.New("garbage on the control channel")

// chunk is the size of one read: more than a whole message of either
// protocol as the transports announce them.
const chunk = 4096

// Reader keeps the bytes read past the last whole message.
type Reader struct {
	split Split
	buf   []byte
	chunk []byte
	// In, when set, counts the bytes read.
	In *atomic.Int64
}

// NewReader returns a Reader that cuts with split.
func NewReader(split Split) *Reader { return &Reader{split: split, chunk: make([]byte, chunk)} }

// Next returns the next whole message, reading src as needed. The message
// is the caller's. A read error is returned as it is, the bytes of a
// message begun kept (Buffered tells how many). Garbage is reported as
// ErrGarbage and dropped with all the bytes held, so that the next read
// starts afresh: neither protocol has a marker to find the next message
// by, but a cdc-wdm device gives one USB transfer per read, from a
// message's start.
func (r *Reader) Next(src io.Reader) ([]byte, error) {
	for {
		n, err := r.split(r.buf)
		if err != nil {
			dropped := len(r.buf)
			r.buf = nil
			return nil, fmt.Errorf("%w (%d bytes dropped): %w", ErrGarbage, dropped, err)
		}
		if n > 0 {
			msg := append([]byte(nil), r.buf[:n]...)
			r.buf = r.buf[n:]
			return msg, nil
		}
		m, err := src.Read(r.chunk)
		if m > 0 {
			r.buf = append(r.buf, r.chunk[:m]...)
			if r.In != nil {
				r.In.Add(int64(m))
			}
		}
		if err != nil && m == 0 {
			return nil, err
		}
	}
}

// Buffered returns how many bytes of a message begun are held.
func (r *Reader) Buffered() int { return len(r.buf) }

// Drop forgets the bytes held (a new connection, a truncated message).
func (r *Reader) Drop() { r.buf = nil }

// Serve reads requests from rw until ctx ends or rw fails, and writes the
// answers handle returns for each (none for a message it drops). Garbage is
// logged and dropped; the device keeps serving. in and out, when set,
// count the bytes read and written.
func Serve(ctx context.Context, rw io.ReadWriter, split Split, handle func(context.Context, []byte) [][]byte, log *slog.Logger, in, out *atomic.Int64) error {
	rd := NewReader(split)
	rd.In = in
	for ctx.Err() == nil {
		msg, err := rd.Next(rw)
		if errors.Is(err, ErrGarbage) {
			log.Warn("fake modem: message dropped", "err", err)
			continue
		}
		if err != nil {
			return err
		}
		for _, a := range handle(ctx, msg) {
			if _, err := rw.Write(a); err != nil {
				return err
			}
			if out != nil {
				out.Add(int64(len(a)))
			}
		}
	}
	return ctx.Err()
}

// Err names what an error of Next on the control channel of path means:
// garbage (base), a message cut short by the deadline (base, its bytes
// dropped so the next exchange starts clean), or what ctlchan.IOError says
// of the read error (the device or proxy gone, no answer in time, the
// caller's context ending).
func (r *Reader) Err(ctx context.Context, err error, path string, base error) error {
	switch {
	case errors.Is(err, ErrGarbage):
		return fmt.Errorf("%w: %s: %w", base, path, err)
	case r.Buffered() > 0 && errors.Is(err, os.ErrDeadlineExceeded):
		r.Drop()
		return fmt.Errorf("%w: truncated message on the control channel: %w", base, ctlchan.IOError(ctx, path, base, err))
	}
	return ctlchan.IOError(ctx, path, base, err)
}
