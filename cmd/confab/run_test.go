package main

import (
	"bufio"
	"io"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"
)

// running is the server started by startRun.
type running struct {
	code chan int
	mu   sync.Mutex
	logs []string
}

// startRun runs the server as main does, with env, and waits until it logs
// that it listens. It returns the values of the named log attributes (like
// "http") found so far.
func startRun(t *testing.T, env map[string]string) *running {
	t.Helper()
	logs, logw := io.Pipe()
	r := &running{code: make(chan int, 1)}
	go func() {
		r.code <- run(nil, func(k string) string { return env[k] }, io.Discard, logw)
		_ = logw.Close()
	}()
	lines := bufio.NewScanner(logs)
	for lines.Scan() {
		r.mu.Lock()
		r.logs = append(r.logs, lines.Text())
		r.mu.Unlock()
		if regexp.MustCompile(`msg="confab listening"`).MatchString(lines.Text()) {
			go func() {
				for lines.Scan() {
				}
			}()
			return r
		}
	}
	t.Fatalf("server ended before listening: %v", r.logs)
	return nil
}

// attr returns the value of key in the first log line that has it.
func (r *running) attr(key string) string {
	re := regexp.MustCompile(`\b` + key + `=(\S+)`)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.logs {
		if m := re.FindStringSubmatch(l); m != nil {
			return m[1]
		}
	}
	return ""
}

// stop sends the process SIGTERM and returns run's exit status.
func (r *running) stop(t *testing.T) int {
	t.Helper()
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-r.code:
		return c
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after SIGTERM")
		return -1
	}
}
