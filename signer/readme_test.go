package signer_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The README's Go example is ExampleNew, which go test runs and checks:
// this test fails when the two drift apart.
func TestREADMEGoExampleIsExampleNew(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```go\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("the README has no Go block")
	}
	src, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	body := regexp.MustCompile("(?s)func ExampleNew\\(\\) \\{\n(.*?)\n\t// Output:").FindSubmatch(src)
	if body == nil {
		t.Fatal("ExampleNew not found")
	}
	var lines []string
	for _, l := range strings.Split(string(body[1]), "\n") {
		lines = append(lines, strings.TrimPrefix(l, "\t"))
	}
	if got, want := strings.TrimSpace(string(m[1])), strings.TrimSpace(strings.Join(lines, "\n")); got != want {
		t.Fatalf("the README's Go block is not ExampleNew's body:\nREADME:\n%s\nExampleNew:\n%s", got, want)
	}
}
