package ctlframe

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"testing"
	"testing/iotest"

	"github.com/go-iotsafe/iotsafe/internal/mbimmsg"
	"github.com/go-iotsafe/iotsafe/internal/qmimsg"
	"github.com/go-iotsafe/iotsafe/transport"
)

// chunks is a stream whose reads return the given pieces, one per read:
// what a cdc-wdm device (one USB transfer per read), a socket or a
// pseudo-terminal may deliver.
type chunks [][]byte

func (c *chunks) Read(p []byte) (int, error) {
	if len(*c) == 0 {
		return 0, io.EOF
	}
	n := copy(p, (*c)[0])
	if (*c)[0] = (*c)[0][n:]; len((*c)[0]) == 0 {
		*c = (*c)[1:]
	}
	return n, nil
}

// A hostile or broken modem: messages split in pieces and joined, a byte
// at a time, a length field of 4 GiB, a stream that ends inside a
// message. Every whole message comes out intact, garbage is an error that
// names it (and nothing is allocated for its length field), and the next
// read starts afresh.
func TestHostileStream(t *testing.T) {
	open := mbimmsg.Open(1, 4096)
	done := mbimmsg.Status(mbimmsg.TypeOpenDone, 1, 0)
	huge := append([]byte(nil), done...)
	huge[4], huge[5], huge[6], huge[7] = 0xFF, 0xFF, 0xFF, 0xFF
	joined := append(append([]byte(nil), open...), done...)
	src := &chunks{open[:5], open[5:], joined, huge, done[:1], done[1:2], done[2:], open, done[:10]}
	rd := NewReader(mbimmsg.Frame)
	for i, want := range [][]byte{open, open, done, nil, done, open} {
		got, err := rd.Next(src)
		if want == nil {
			if !errors.Is(err, ErrGarbage) || rd.Buffered() != 0 {
				t.Fatalf("message %d: garbage gave %v, %d bytes held", i, err, rd.Buffered())
			}
			continue
		}
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("message %d: % x %v", i, got, err)
		}
	}
	if _, err := rd.Next(src); !errors.Is(err, io.EOF) || rd.Buffered() != 10 {
		t.Fatalf("cut message: %v, %d bytes held", err, rd.Buffered())
	}
	// The cut message named for what it is when the deadline ends the read.
	err := rd.Err(context.Background(), os.ErrDeadlineExceeded, "/dev/cdc-wdm9", mbimmsg.ErrMessage)
	if !errors.Is(err, mbimmsg.ErrMessage) || !errors.Is(err, context.DeadlineExceeded) || rd.Buffered() != 0 {
		t.Fatalf("deadline inside a message: %v, %d bytes held", err, rd.Buffered())
	}
	if err := rd.Err(context.Background(), io.EOF, "/dev/cdc-wdm9", mbimmsg.ErrMessage); !errors.Is(err, transport.ErrCardRemoved) {
		t.Fatalf("end of stream: %v", err)
	}

	// QMUX: two messages in one read, then one with the wrong marker.
	q := qmimsg.Marshal(qmimsg.Message{Service: qmimsg.ServiceCTL, TID: 1, ID: qmimsg.CTLSync})
	rq := NewReader(qmimsg.Frame)
	qsrc := bytes.NewReader(append(append(append([]byte(nil), q...), q...), 0x02, 0x0c, 0x00, 0x00))
	for i := 0; i < 2; i++ {
		if got, err := rq.Next(qsrc); err != nil || !bytes.Equal(got, q) {
			t.Fatalf("QMUX %d: % x %v", i, got, err)
		}
	}
	if _, err := rq.Next(qsrc); !errors.Is(err, ErrGarbage) {
		t.Fatalf("QMUX marker: %v", err)
	}
}

// rw is a stream a fake device serves: requests in, answers out.
type rw struct {
	in  io.Reader
	out bytes.Buffer
}

func (s *rw) Read(p []byte) (int, error)  { return s.in.Read(p) }
func (s *rw) Write(p []byte) (int, error) { return s.out.Write(p) }

// Serve keeps serving after garbage and answers each whole request.
func TestServeAfterGarbage(t *testing.T) {
	open := mbimmsg.Open(7, 4096)
	in := append(append([]byte{0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}, open...), open...)
	s := &rw{in: iotest.OneByteReader(bytes.NewReader(in))}
	var n int
	err := Serve(context.Background(), s, mbimmsg.Frame, func(_ context.Context, msg []byte) [][]byte {
		n++
		return [][]byte{mbimmsg.Status(mbimmsg.TypeOpenDone, 7, 0)}
	}, slog.New(slog.DiscardHandler), nil, nil)
	if !errors.Is(err, io.EOF) {
		t.Fatalf("Serve ended with %v", err)
	}
	if n != 2 || s.out.Len() != 32 {
		t.Fatalf("%d requests answered, %d bytes written", n, s.out.Len())
	}
}
