package transport

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func h(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// script is a transport that checks each command against an expected one
// and answers with a canned response.
type script struct {
	t     *testing.T
	steps [][2]string // command, response
	i     int
}

func (s *script) Transmit(_ context.Context, cmd []byte) ([]byte, error) {
	s.t.Helper()
	if s.i >= len(s.steps) {
		s.t.Fatalf("unexpected extra command %X", cmd)
	}
	st := s.steps[s.i]
	s.i++
	if !bytes.Equal(cmd, h(st[0])) {
		s.t.Fatalf("step %d: sent %X, want %s", s.i, cmd, st[0])
	}
	return h(st[1]), nil
}

func (s *script) Close() error { return nil }

func (s *script) done() {
	s.t.Helper()
	if s.i != len(s.steps) {
		s.t.Fatalf("only %d of %d steps ran", s.i, len(s.steps))
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		name  string
		cmd   string
		steps [][2]string
		want  string
	}{
		{"plain", "8184000004", [][2]string{{"8184000004", "010203049000"}}, "010203049000"},
		{"61xx on channel 1, proprietary class", "812B8001229E20" + strings.Repeat("00", 32),
			[][2]string{{"812B8001229E20" + strings.Repeat("00", 32), "6143"}, {"01C0000043", "3300400102 9000"}}, "3300400102 9000"},
		{"61xx chain concatenates", "00CB010000", [][2]string{
			{"00CB010000", "AABB6102"}, {"00C0000002", "CCDD6101"}, {"00C0000001", "EE9000"}}, "AABBCCDDEE9000"},
		{"61xx on channel 5 uses 41", "C1840000 20", [][2]string{{"C184000020", "6120"}, {"41C0000020", "9000"}}, "9000"},
		{"61xx on channel 19 uses 4F", "CFCD0000", [][2]string{{"CFCD0000", "6100"}, {"4FC0000000", "019000"}}, "019000"},
		{"6Cxx case 2 replaces Le", "81CB000044", [][2]string{{"81CB000044", "6C40"}, {"81CB000040", "11223344 9000"}}, "11223344 9000"},
		{"6Cxx case 4 keeps Lc", "81CBC10003840101 00", [][2]string{{"81CBC1000384010100", "6C10"}, {"81CBC1000384010110", "9000"}}, "9000"},
		{"6Cxx case 3 appends Le, keeps Lc", "01B0000003830102", [][2]string{{"01B0000003830102", "6C32"}, {"01B000000383010232", "AA9000"}}, "AA9000"},
		{"6Cxx then 61xx", "0084000010", [][2]string{{"0084000010", "6C08"}, {"0084000008", "6108"}, {"00C0000008", "01020304050607089000"}}, "01020304050607089000"},
		{"9Fxx with GSM class", "A0A4000002 3F00", [][2]string{{"A0A40000023F00", "9F0F"}, {"A0C000000F", "9000"}}, "9000"},
		{"error SW passes through", "81CB010000", [][2]string{{"81CB010000", "6A82"}}, "6A82"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &script{t: t, steps: tc.steps}
			got, err := Normalize(s).Transmit(context.Background(), h(tc.cmd))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, h(tc.want)) {
				t.Fatalf("got %X, want %s", got, tc.want)
			}
			s.done()
		})
	}
}

func TestNormalizeErrors(t *testing.T) {
	ctx := context.Background()
	short := Func(func(context.Context, []byte) ([]byte, error) { return []byte{0x90}, nil })
	if _, err := Normalize(short).Transmit(ctx, h("00840000 08")); !errors.Is(err, ErrProtocol) {
		t.Fatalf("1-byte response: %v, want ErrProtocol", err)
	}
	n := 0
	endless := Func(func(context.Context, []byte) ([]byte, error) { n++; return []byte{0x61, 0x01}, nil })
	if _, err := Normalize(endless).Transmit(ctx, h("0084000008")); !errors.Is(err, ErrProtocol) {
		t.Fatalf("endless 61xx: %v, want ErrProtocol", err)
	}
	if n > maxGetResponse+1 {
		t.Fatalf("sent %d commands to an endless 61xx card", n)
	}
	removed := Func(func(context.Context, []byte) ([]byte, error) { return nil, ErrCardRemoved })
	if _, err := Normalize(removed).Transmit(ctx, h("0084000008")); !errors.Is(err, ErrCardRemoved) {
		t.Fatalf("transport error not passed through: %v", err)
	}
	bad6C := Func(func(context.Context, []byte) ([]byte, error) { return []byte{0x6C, 0x10}, nil })
	if _, err := Normalize(bad6C).Transmit(ctx, h("00A4")); err == nil {
		t.Fatal("6Cxx to an unparsable command accepted")
	}
	w := Normalize(removed)
	if Normalize(w) != w {
		t.Fatal("Normalize is not idempotent")
	}
}

type txCard struct {
	Func
	begun, ended int
}

func (c *txCard) Begin(context.Context) (func(), error) { c.begun++; return func() { c.ended++ }, nil }

func TestNormalizeForwardsTransactions(t *testing.T) {
	c := &txCard{Func: func(context.Context, []byte) ([]byte, error) { return []byte{0x90, 0}, nil }}
	tr, ok := Normalize(c).(Transactor)
	if !ok {
		t.Fatal("normalized transport is not a Transactor")
	}
	end, err := tr.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	end()
	if c.begun != 1 || c.ended != 1 {
		t.Fatalf("begin/end = %d/%d", c.begun, c.ended)
	}
}
