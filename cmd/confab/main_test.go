package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadConfigExits: a bad configuration stops the binary before it serves,
// with exit status 2 and a message naming the key.
func TestBadConfigExits(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"invalid YAML", []string{"-config", file("bad.yaml", "http: [")}, nil, "YAML"},
		{"unknown key", []string{"-config", file("unknown.yaml", "ice:\n  udpport: 5\n")}, nil, "ice.udpport"},
		{"port out of range", nil, map[string]string{"CONFAB_ICE_UDP_PORT": "70000"}, "ice.udpPort"},
		{"bad IP", nil, map[string]string{"CONFAB_ICE_IPS": "127.0.0.1,not-an-ip"}, "ice.ips"},
		{"missing file", []string{"-config", filepath.Join(dir, "nope.yaml")}, nil, "nope.yaml"},
		{"unknown flag", []string{"-bogus"}, nil, "bogus"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			getenv := func(k string) string { return tc.env[k] }
			code := run(tc.args, getenv, io.Discard, &stderr)
			if code != 2 {
				t.Fatalf("exit status %d, want 2; stderr: %s", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("stderr %q does not name %q", stderr.String(), tc.want)
			}
		})
	}
}
