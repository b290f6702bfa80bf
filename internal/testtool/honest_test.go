package testtool

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// From the newcomer's review: with IOTSAFE_REQUIRE_TOOLS=1 two tests
// still skipped when their tool was missing. Every skip in the project's
// tests goes through Need or Missing, or sits right under a check of
// EnvRequire: this test reads every test file and fails on any other.
func TestEverySkipHonoursRequireTools(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	skip := regexp.MustCompile(`\b[tb]\.Skipf?\(`)
	var bad []string
	filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() && (d.Name() == ".git" || d.Name() == "build") {
			return filepath.SkipDir
		}
		if !strings.HasSuffix(path, "_test.go") || filepath.Dir(path) == filepath.Join(root, "internal", "testtool") {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			t.Error(err)
			return nil
		}
		defer f.Close()
		var prev []string
		sc := bufio.NewScanner(f)
		for n := 1; sc.Scan(); n++ {
			line := sc.Text()
			if skip.MatchString(line) {
				guarded := false
				for _, p := range prev {
					guarded = guarded || strings.Contains(p, EnvRequire) || strings.Contains(p, "Required()")
				}
				if !guarded {
					rel, _ := filepath.Rel(root, path)
					bad = append(bad, rel+":"+strconv.Itoa(n)+": "+strings.TrimSpace(line))
				}
			}
			prev = append(prev, line)
			if len(prev) > 4 {
				prev = prev[1:]
			}
		}
		return nil
	})
	for _, b := range bad {
		t.Errorf("a skip that ignores %s=1 (use testtool.Need or testtool.Missing): %s", EnvRequire, b)
	}
}
