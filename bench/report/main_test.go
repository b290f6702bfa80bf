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

// The APDU table: a count over its goal is "**no**", one within it "yes",
// a comparison row (max 0) has no verdict, a benchmark not run says so.
func TestAPDUGoals(t *testing.T) {
	rs, _, err := parse(strings.NewReader(`pkg: github.com/go-iotsafe/iotsafe
BenchmarkA-2 	 10	 100 ns/op	 3.000 apdus/op
BenchmarkB-2 	 10	 100 ns/op	 2.000 apdus/op
`))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	writeAPDUGoals(&b, rs, []apduGoal{{"a", "BenchmarkA", 2}, {"b", "BenchmarkB", 2}, {"c", "BenchmarkA", 0}, {"d", "BenchmarkMissing", 2}})
	for _, want := range []string{"| a | A | 3.0 | 2.0 | **no** |", "| b | B | 2.0 | 2.0 | yes |", "| c | A | 3.0 | – | – |", "| d | BenchmarkMissing | not measured | 2.0 | – |"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("missing %q in\n%s", want, b.String())
		}
	}
}
