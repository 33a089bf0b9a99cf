package load

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// A command name with spaces and parentheses; utime 250, stime 50 ticks.
	stat := "4242 (we (ird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 100 1000000 2000 18446744073709551615\n"
	cpu, err := parseStatCPU([]byte(stat))
	if err != nil || cpu != 3*time.Second {
		t.Errorf("parseStatCPU = %v, %v; want 3s", cpu, err)
	}
	for _, bad := range []string{"", "1 (x) S 1 2", "1 (x) S 1 2 3 4 5 6 7 8 9 10 x 50"} {
		if _, err := parseStatCPU([]byte(bad)); err == nil {
			t.Errorf("parseStatCPU(%q) accepted", bad)
		}
	}
}

func TestParseStatusMemory(t *testing.T) {
	status := "Name:\tconfab\nVmPeak:\t  999 kB\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\nThreads:\t7\n"
	rss, hwm, err := parseStatusMemory([]byte(status))
	if err != nil || rss != 1<<20 || hwm != 2<<20 {
		t.Errorf("parseStatusMemory = %d, %d, %v", rss, hwm, err)
	}
	if _, _, err := parseStatusMemory([]byte("Name:\tkthreadd\n")); err == nil {
		t.Error("status without memory accepted")
	}
}

func TestParseMachineCPU(t *testing.T) {
	stat := "cpu  100 10 50 1000 5 0 20 3 0 0\ncpu0 50 5 25 500 2 0 10 1 0 0\ncpu1 50 5 25 500 3 0 10 2 0 0\nintr 1 2 3\n"
	busy, cores, err := parseMachineCPU([]byte(stat))
	if err != nil || busy != 1830*time.Millisecond || cores != 2 {
		t.Errorf("parseMachineCPU = %v, %d, %v; want 1.83s, 2", busy, cores, err)
	}
	if _, _, err := parseMachineCPU([]byte("intr 1\n")); err == nil {
		t.Error("no cpu line accepted")
	}
}

func TestReadProcSelf(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc is Linux's")
	}
	s, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.RSS == 0 || s.PeakRSS < s.RSS {
		t.Errorf("sample %+v", s)
	}
	if _, err := ReadProc(1 << 30); err == nil || !strings.Contains(err.Error(), "process") {
		t.Errorf("ReadProc of no process: %v", err)
	}
	if busy, cores, err := ReadMachineCPU(); err != nil || busy <= 0 || cores < 1 {
		t.Errorf("ReadMachineCPU = %v, %d, %v", busy, cores, err)
	}
}
