package main

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	in := `goos: linux
pkg: github.com/go-iotsafe/iotsafe
BenchmarkSign-2        	    1000	     30000 ns/op	    1200 B/op	      20 allocs/op
BenchmarkSign-2        	    1000	     32000 ns/op	    1300 B/op	      21 allocs/op
BenchmarkSign-2        	    1000	     31000 ns/op	    1250 B/op	      20 allocs/op
BenchmarkECDSASign-2   	    1000	     25000 ns/op
pkg: github.com/go-iotsafe/iotsafe/transport/modem
BenchmarkRoundTrip/pty-2 	 500	    120000 ns/op	 42.0 bytes/sig
ok  	github.com/go-iotsafe/iotsafe	3.1s
`
	rs, order, err := parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(order) != 3 {
		t.Fatalf("got %d benchmarks: %v", len(order), order)
	}
	s := find(rs, "BenchmarkSign")
	if s == nil || median(s.nsPerOp) != 31000 || median(s.extra["allocs/op"]) != 20 {
		t.Fatalf("BenchmarkSign parsed as %+v", s)
	}
	if got := rate(s); got != "32258" {
		t.Fatalf("rate = %s", got)
	}
	m := find(rs, "BenchmarkRoundTrip/pty")
	if m == nil || m.pkg != "transport/modem" || median(m.extra["bytes/sig"]) != 42 {
		t.Fatalf("custom metric parsed as %+v", m)
	}
	if median([]float64{1, 2, 3, 4}) != 2.5 {
		t.Fatal("median of an even count")
	}
}
