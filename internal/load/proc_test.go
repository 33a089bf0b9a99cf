package load

import (
	"net"
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

func TestParseUDPDrops(t *testing.T) {
	table := `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  123: 0100007F:C350 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1111 2 0000000000000000 7
  124: 0100007F:C351 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 2222 2 0000000000000000 5
  125: 0100007F:C352 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 3333 2 0000000000000000 100
`
	drops, n, err := parseUDPDrops([]byte(table), map[string]bool{"1111": true, "3333": true})
	if err != nil || drops != 107 || n != 2 {
		t.Errorf("parseUDPDrops = %d, %d, %v; want 107, 2", drops, n, err)
	}
	if _, _, err := parseUDPDrops([]byte("header\nshort line\n"), nil); err == nil {
		t.Error("malformed table accepted")
	}
}

func TestReadUDPDropsSelf(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc is Linux's")
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, n, err := ReadUDPDrops(os.Getpid()); err != nil || n < 1 {
		t.Errorf("ReadUDPDrops = %d sockets, %v", n, err)
	}
}
