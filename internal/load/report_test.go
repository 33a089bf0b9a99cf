package load

import (
	"bytes"
	"strings"
	"testing"
)

func TestTableRowMatchesHeader(t *testing.T) {
	rep := &Report{Server: &ProcStats{CPUPerPacketMicros: 4.5, CPUPercent: 30, RSSMiB: 90}}
	rep.Probes = &ProbeStats{Count: 1, JoinToFirstPacket: &Spread{Count: 1, P50: 40}}
	header := strings.Split(TableHeader(), "\n")
	if len(header) != 2 {
		t.Fatalf("header %q", TableHeader())
	}
	for _, row := range []string{rep.TableRow("1×200"), (&Report{}).TableRow("no server")} {
		if got, want := strings.Count(row, "|"), strings.Count(header[0], "|"); got != want {
			t.Errorf("row %q has %d bars, header %d", row, got, want)
		}
	}
	if got, want := strings.Count(header[1], "|"), strings.Count(header[0], "|"); got != want {
		t.Errorf("separator has %d bars, header %d", got, want)
	}
}

func TestFormatPartialReport(t *testing.T) {
	// A report without a server, groups or probes still formats.
	var b bytes.Buffer
	rep := &Report{Config: ReportConfig{Publishers: 1, Video: true}, Stalled: &GroupStats{Receivers: 1}}
	if err := rep.Format(&b); err != nil || !strings.Contains(b.String(), "stalled") {
		t.Errorf("Format: %v\n%s", err, b.String())
	}
}
