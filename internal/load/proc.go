package load

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat. The
// kernel fixes it at 100 on every architecture Go runs Linux on (it is what
// `getconf CLK_TCK` prints), whatever the kernel's own HZ.
const clockTicks = 100

// ProcSample is what /proc tells about a process at one moment.
type ProcSample struct {
	// CPU is user plus system time since the process started, in steps of
	// 10 ms.
	CPU time.Duration
	// RSS is the resident set (VmRSS), and PeakRSS its high-water mark
	// (VmHWM), in bytes.
	RSS, PeakRSS uint64
}

// ReadProc samples process pid from /proc (Linux only).
func ReadProc(pid int) (ProcSample, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ProcSample{}, fmt.Errorf("read process %d: %w", pid, err)
	}
	cpu, err := parseStatCPU(stat)
	if err != nil {
		return ProcSample{}, fmt.Errorf("process %d: %w", pid, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ProcSample{}, fmt.Errorf("read process %d: %w", pid, err)
	}
	rss, hwm, err := parseStatusMemory(status)
	if err != nil {
		return ProcSample{}, fmt.Errorf("process %d: %w", pid, err)
	}
	return ProcSample{CPU: cpu, RSS: rss, PeakRSS: hwm}, nil
}

// parseStatCPU reads utime and stime (fields 14 and 15) of /proc/PID/stat.
// The command name (field 2) is in parentheses and may hold spaces and
// parentheses itself, so fields are counted from the last ')'.
func parseStatCPU(stat []byte) (time.Duration, error) {
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, errors.New("malformed stat: no command name")
	}
	fields := strings.Fields(string(stat[end+1:]))
	// fields[0] is field 3 (state); utime is field 14.
	const utime, stime = 14 - 3, 15 - 3
	if len(fields) <= stime {
		return 0, fmt.Errorf("malformed stat: %d fields", len(fields)+2)
	}
	var ticks uint64
	for _, i := range []int{utime, stime} {
		v, err := strconv.ParseUint(fields[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("malformed stat field %d: %w", i+3, err)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// parseStatusMemory reads VmRSS and VmHWM (in kB) of /proc/PID/status.
func parseStatusMemory(status []byte) (rss, hwm uint64, err error) {
	var haveRSS, haveHWM bool
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		f := strings.Fields(value)
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("malformed %s line %q", key, sc.Text())
		}
		kb, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("malformed %s: %w", key, err)
		}
		if key == "VmRSS" {
			rss, haveRSS = kb*1024, true
		} else {
			hwm, haveHWM = kb*1024, true
		}
	}
	if !haveRSS || !haveHWM {
		return 0, 0, errors.New("status has no VmRSS or VmHWM (a kernel thread or a zombie?)")
	}
	return rss, hwm, nil
}

// ReadMachineCPU returns the CPU time all cores of the machine have spent
// busy since boot (user, nice, system, irq, softirq and steal time of the
// first line of /proc/stat), and the number of cores it counts.
func ReadMachineCPU() (busy time.Duration, cores int, err error) {
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, fmt.Errorf("read machine CPU: %w", err)
	}
	return parseMachineCPU(stat)
}

func parseMachineCPU(stat []byte) (time.Duration, int, error) {
	var busy uint64
	cores := 0
	found := false
	sc := bufio.NewScanner(bytes.NewReader(stat))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		if f[0] != "cpu" {
			cores++
			continue
		}
		// cpu user nice system idle iowait irq softirq steal ...
		if len(f) < 9 {
			return 0, 0, fmt.Errorf("malformed /proc/stat line %q", sc.Text())
		}
		for _, i := range []int{1, 2, 3, 6, 7, 8} {
			v, err := strconv.ParseUint(f[i], 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("malformed /proc/stat field %d: %w", i, err)
			}
			busy += v
		}
		found = true
	}
	if !found {
		return 0, 0, errors.New("no cpu line in /proc/stat")
	}
	return time.Duration(busy) * time.Second / clockTicks, cores, nil
}

// ReadUDPDrops returns how many datagrams the kernel has dropped, since
// each was opened, on the UDP sockets process pid holds now (the drops
// column of /proc/PID/net/udp and udp6: a full receive buffer, mostly), and
// how many such sockets it holds.
func ReadUDPDrops(pid int) (drops uint64, sockets int, err error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0, fmt.Errorf("list sockets of process %d: %w", pid, err)
	}
	inodes := make(map[string]bool, len(fds))
	for _, fd := range fds {
		link, err := os.Readlink(dir + "/" + fd.Name())
		if err != nil {
			continue // closed meanwhile
		}
		if inode, ok := strings.CutPrefix(link, "socket:["); ok {
			inodes[strings.TrimSuffix(inode, "]")] = true
		}
	}
	for _, name := range []string{"udp", "udp6"} {
		table, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, name))
		if errors.Is(err, os.ErrNotExist) {
			continue // no IPv6
		}
		if err != nil {
			return 0, 0, fmt.Errorf("read UDP sockets of process %d: %w", pid, err)
		}
		d, n, err := parseUDPDrops(table, inodes)
		if err != nil {
			return 0, 0, fmt.Errorf("process %d: %s: %w", pid, name, err)
		}
		drops += d
		sockets += n
	}
	return drops, sockets, nil
}

// parseUDPDrops sums the drops column of the sockets of a /proc/net/udp
// table whose inode is listed.
func parseUDPDrops(table []byte, inodes map[string]bool) (drops uint64, sockets int, err error) {
	sc := bufio.NewScanner(bytes.NewReader(table))
	first := true
	for sc.Scan() {
		if first { // the header
			first = false
			continue
		}
		// sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
		f := strings.Fields(sc.Text())
		if len(f) < 13 {
			return 0, 0, fmt.Errorf("malformed line %q", sc.Text())
		}
		if !inodes[f[9]] {
			continue
		}
		d, err := strconv.ParseUint(f[len(f)-1], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("malformed drops in %q: %w", sc.Text(), err)
		}
		drops += d
		sockets++
	}
	return drops, sockets, sc.Err()
}
