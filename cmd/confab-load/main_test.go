package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestParseBitrate(t *testing.T) {
	for in, want := range map[string]int{"1.5M": 1_500_000, "800k": 800_000, "64K": 64_000, "2m": 2_000_000, "1500000": 1_500_000} {
		if got, err := parseBitrate(in); err != nil || got != want {
			t.Errorf("parseBitrate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "M", "fast", "-1M", "0"} {
		if _, err := parseBitrate(bad); err == nil {
			t.Errorf("parseBitrate(%q) accepted", bad)
		}
	}
}

func TestParseFlags(t *testing.T) {
	var stderr bytes.Buffer
	cfg, out, err := parseFlags([]string{"-url", "http://127.0.0.1:9", "-publishers", "10", "-subscribers", "0",
		"-duration", "20s", "-video-bitrate", "800k", "-pid", "42", "-json", "-row", "10×10"}, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.URL != "http://127.0.0.1:9" || cfg.Publishers != 10 || cfg.Subscribers != 0 || cfg.Duration != 20*time.Second ||
		cfg.VideoBitrate != 800_000 || cfg.ServerPID != 42 || !out.json || out.row != "10×10" || cfg.Logger == nil {
		t.Errorf("config %+v, output %+v", cfg, out)
	}
}

func TestRunExitCodes(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-table-header"}, &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "| scenario |") {
		t.Errorf("-table-header: exit %d, output %q", code, stdout.String())
	}
	for _, args := range [][]string{{"-nope"}, {"-video-bitrate", "x"}, {"extra"}, {"-log-level", "loud"}, {"-publishers", "0"}} {
		stdout.Reset()
		stderr.Reset()
		if code := run(args, &stdout, &stderr); code != 2 || stderr.Len() == 0 {
			t.Errorf("%q: exit %d, stderr %q; want 2 and a message", args, code, stderr.String())
		}
	}
	// A run that cannot start exits 1, here before touching the network.
	stderr.Reset()
	if code := run([]string{"-subscribers", "-1", "-log-level", "error"}, &stdout, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), "negative subscriber count") {
		t.Errorf("negative subscribers: exit %d, stderr %q", code, stderr.String())
	}
}
