package web

import (
	"io/fs"
	"regexp"
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
}

// Nothing may be fetched from the internet: no URL in any file of the page.
func TestFSFetchesNothingOutside(t *testing.T) {
	fsys := FS()
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		for _, bad := range []string{"http://", "https://", "//cdn", "@import", "url("} {
			if strings.Contains(string(b), bad) {
				t.Errorf("%s contains %q", name, bad)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Every module the page imports is in the page.
func TestFSModulesResolve(t *testing.T) {
	fsys := FS()
	imports := regexp.MustCompile(`(?m)^import .* from '\./([^']+)';$`)
	names, err := fs.Glob(fsys, "*.js")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 2 {
		t.Fatalf("only %v: the page is split into modules", names)
	}
	for _, name := range names {
		b, _ := fs.ReadFile(fsys, name)
		for _, m := range imports.FindAllStringSubmatch(string(b), -1) {
			if _, err := fs.Stat(fsys, m[1]); err != nil {
				t.Errorf("%s imports %s, which is not in the page: %v", name, m[1], err)
			}
		}
	}
}
