package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// Every function main.go exports as iotsafeGo_C_X has its C entry point
// C_X in entry.c, which passes the parameters in the order Go declares
// them and, except for C_WaitForSlotEvent, holds the fork gate around the
// call; and no entry point calls a function main.go does not export.
func TestEntryPoints(t *testing.T) {
	goSrc, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	cSrc, err := os.ReadFile("entry.c")
	if err != nil {
		t.Fatal(err)
	}
	exports := regexp.MustCompile(`(?s)//export iotsafeGo_(C_\w+)\nfunc iotsafeGo_C_\w+\((.*?)\) (?:\(rv C\.CK_RV\)|C\.CK_RV) \{`).FindAllStringSubmatch(string(goSrc), -1)
	if len(exports) < 30 {
		t.Fatalf("%d exports found in main.go", len(exports))
	}
	entries := map[string]string{}
	for _, m := range regexp.MustCompile(`(?s)\nCK_RV (C_\w+)\(([^)]*)\)\n\{\n(.*?)\n\}`).FindAllStringSubmatch(string(cSrc), -1) {
		entries[m[1]] = m[3]
	}
	for _, e := range exports {
		name, params := e[1], e[2]
		body, ok := entries[name]
		if !ok {
			t.Errorf("%s: exported by main.go, no entry point in entry.c", name)
			continue
		}
		delete(entries, name)
		var names []string
		var pending []string
		for _, p := range strings.Split(strings.ReplaceAll(params, "\n", " "), ",") {
			f := strings.Fields(p)
			switch len(f) {
			case 0:
			case 1:
				pending = append(pending, f[0])
			default:
				names = append(names, append(pending, f[0])...)
				pending = nil
			}
		}
		call := "iotsafeGo_" + name + "(" + strings.Join(names, ", ") + ")"
		want := "\tIOTSAFE_GATED(" + call + ");"
		if name == "C_WaitForSlotEvent" {
			want = "\treturn " + call + ";"
		}
		if body != want {
			t.Errorf("%s: entry point is\n%s\nwant\n%s", name, body, want)
		}
	}
	for name := range entries {
		t.Errorf("%s: entry point in entry.c for no export of main.go", name)
	}
}
