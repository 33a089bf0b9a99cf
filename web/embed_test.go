package web

import (
	"io/fs"
	"strings"
	"testing"
)

func TestFSHoldsThePage(t *testing.T) {
	fsys := FS()
	for _, name := range []string{"index.html", "app.js", "style.css"} {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		if len(b) == 0 {
			t.Fatalf("%s is empty", name)
		}
	}
	index, _ := fs.ReadFile(fsys, "index.html")
	for _, ref := range []string{`src="app.js"`, `href="style.css"`} {
		if !strings.Contains(string(index), ref) {
			t.Errorf("index.html does not reference %s", ref)
		}
	}
	// Nothing may be fetched from the internet.
	for _, name := range []string{"index.html", "app.js", "style.css"} {
		b, _ := fs.ReadFile(fsys, name)
		for _, bad := range []string{"http://", "https://", "//cdn"} {
			if strings.Contains(string(b), bad) {
				t.Errorf("%s contains %q", name, bad)
			}
		}
	}
}
