package sfu

import (
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// TestReceptionLoss: the loss count is expected minus received, across
// gaps, late packets and the sequence-number wrap.
func TestReceptionLoss(t *testing.T) {
	cases := []struct {
		name string
		seqs []uint16
		lost uint64
	}{
		{"in order", []uint16{1, 2, 3, 4}, 0},
		{"one gap", []uint16{1, 2, 4, 5}, 1},
		{"gap filled later", []uint16{1, 2, 4, 3, 5}, 0},
		{"across the wrap", []uint16{65534, 65535, 0, 2}, 1},
		{"late packet before the wrap", []uint16{65535, 1, 0}, 0},
		{"a duplicate offsets a loss (RFC 3550 A.3)", []uint16{1, 1, 3}, 0},
	}
	for _, tc := range cases {
		checkLost(t, tc.name, tc.seqs, tc.lost)
	}
}

// checkLost notes packets of sequence numbers seqs on a new reception and
// checks that it counts lost as lost.
func checkLost(t *testing.T, name string, seqs []uint16, lost uint64) {
	t.Helper()
	r := newReception(90000)
	at := time.Now()
	for _, s := range seqs {
		r.add(s, 0, at)
	}
	if got := r.lost(); got != lost {
		t.Errorf("%s: lost %d, want %d", name, got, lost)
	}
}

// TestReceptionNACK: what is missing is asked for once per run, at most
// maxNackTries times, until it arrives; only within the window, never before
// the first packet, and across the wrap.
func TestReceptionNACK(t *testing.T) {
	at := time.Now()
	r := newReception(90000)
	for _, s := range []uint16{65530, 65531, 65534, 1, 2} {
		r.add(s, 0, at)
	}
	want := []uint16{65532, 65533, 65535, 0}
	if got := r.missing(nil, 1); !slices.Equal(got, want) {
		t.Fatalf("missing %v, want %v", got, want)
	}
	r.add(65535, 0, at) // retransmitted
	want = []uint16{65532, 65533, 0}
	for try := 2; try <= maxNackTries; try++ {
		if got := r.missing(nil, 1); !slices.Equal(got, want) {
			t.Fatalf("try %d: missing %v, want %v", try, got, want)
		}
	}
	if got := r.missing(nil, 1); len(got) != 0 {
		t.Fatalf("missing %v after %d tries, want none", got, maxNackTries)
	}

	// A gap within the window is asked for whole, its slots starting
	// with no tries.
	r.add(1+receptionWindow, 0, at)
	want = nil
	for s := uint16(3); s <= receptionWindow; s++ {
		want = append(want, s)
	}
	if got := r.missing(nil, 1); !slices.Equal(got, want) {
		t.Fatalf("after a gap: %d missing, want %d from %d to %d", len(got), len(want), want[0], want[len(want)-1])
	}
	// A jump past the window (the sender restarted its numbering, or the
	// loss is too old to repair) asks for nothing; a gap after it does.
	r.add(2+3*receptionWindow, 0, at)
	if got := r.missing(nil, 1); len(got) != 0 {
		t.Fatalf("after a jump: %d missing, want none", len(got))
	}
	r.add(4+3*receptionWindow, 0, at)
	if got := r.missing(nil, 1); !slices.Equal(got, []uint16{3 + 3*receptionWindow}) {
		t.Fatalf("after a jump and a gap: missing %v, want [%d]", got, 3+3*receptionWindow)
	}

	// Noting packets and finding what is missing allocate nothing.
	buf := make([]uint16, 0, receptionWindow)
	seq := uint16(4 + 3*receptionWindow)
	allocs := testing.AllocsPerRun(100, func() {
		seq += 2
		r.add(seq, uint32(seq)*3000, at)
		buf = r.missing(buf[:0], 1)
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per packet", allocs)
	}
}

// TestReceptionRestart: a sequence-number jump is taken for a restart of
// the sender's numbering (RFC 3550 A.1) only when the next packet follows
// it, and is then not counted as loss; a lone stray packet is not counted
// at all, and a gap up to maxDropout is loss.
func TestReceptionRestart(t *testing.T) {
	cases := []struct {
		name string
		seqs []uint16
		lost uint64
	}{
		{"restart ahead", []uint16{10, 11, 12, 20000, 20001, 20002}, 0},
		{"restart behind", []uint16{50000, 50001, 30000, 30001, 30003}, 1},
		{"restart across the wrap", []uint16{65000, 65001, 40000, 40001}, 0},
		{"a stray packet", []uint16{10, 11, 40000, 12, 13}, 0},
		{"a long gap is loss", []uint16{10, 11, 2011, 2012}, 1999},
		{"late within the misorder bound", []uint16{200, 202, 201, 300 - maxMisorder}, 0},
	}
	for _, tc := range cases {
		checkLost(t, tc.name, tc.seqs, tc.lost)
	}

	// After a restart, gaps are found and asked for in the new numbering.
	r := newReception(90000)
	at := time.Now()
	for _, s := range []uint16{10, 11, 12, 40000, 40001, 40003} {
		r.add(s, 0, at)
	}
	if got := r.missing(nil, 1); !slices.Equal(got, []uint16{40002}) {
		t.Fatalf("after a restart: missing %v, want [40002]", got)
	}
	if rr, _ := r.report(1, at); rr.TotalLost != 1 || uint16(rr.LastSequenceNumber) != 40003 {
		t.Fatalf("after a restart: report %+v, want 1 lost, last 40003", rr)
	}
}

// TestReceptionFreshNACKs: a packet newly missing is asked for at once,
// once; the loop's next regular run leaves it (it was just asked for) and
// the one after asks again. Only a packet that opens a gap reports it.
func TestReceptionFreshNACKs(t *testing.T) {
	r := newReception(90000)
	at := time.Now()
	for _, s := range []uint16{1, 2, 3} {
		if r.add(s, 0, at) {
			t.Fatalf("packet %d in order reported a gap", s)
		}
	}
	if !r.add(5, 0, at) {
		t.Fatal("packet 5 after 3 did not report a gap")
	}
	if got := r.freshNACKs(nil); !slices.Equal(got, []uint16{4}) {
		t.Fatalf("fresh NACKs %v, want [4]", got)
	}
	if got := r.freshNACKs(nil); len(got) != 0 {
		t.Fatalf("fresh NACKs again: %v, want none", got)
	}
	if r.add(6, 0, at) {
		t.Fatal("packet 6 after 5 reported a gap")
	}
	r.add(8, 0, at) // 7 missing
	if got := r.missing(nil, 1); !slices.Equal(got, []uint16{7}) {
		t.Fatalf("regular run after a fresh NACK of 4: %v, want [7]", got)
	}
	if got := r.missing(nil, 1); !slices.Equal(got, []uint16{4, 7}) {
		t.Fatalf("next regular run: %v, want [4 7]", got)
	}
	if got := r.freshNACKs(nil); len(got) != 0 {
		t.Fatalf("fresh NACKs for packets already asked for: %v", got)
	}
}

// TestReceptionReport: a report tells the highest extended sequence number,
// the loss since the last report and in all, the jitter, and answers the
// latest sender report.
func TestReceptionReport(t *testing.T) {
	const ssrc, rate = 1234, 90000
	r := newReception(rate)
	start := time.Now()
	if _, ok := r.report(ssrc, start); ok {
		t.Fatal("a report before any packet")
	}
	// Four frames 33 ms apart, the third 5 ms late, sequence numbers
	// 65534, 65535, 0 (lost), 1.
	for i, s := range []uint16{65534, 65535, 1} {
		frame := i
		if i == 2 {
			frame = 3
		}
		at := start.Add(time.Duration(frame) * 33 * time.Millisecond)
		if i == 1 {
			at = at.Add(5 * time.Millisecond)
		}
		r.add(s, uint32(frame*2970), at)
	}
	ntp := uint64(0x1122334455667788)
	r.senderReport(ntp, start.Add(100*time.Millisecond))
	rr, ok := r.report(ssrc, start.Add(600*time.Millisecond))
	if !ok {
		t.Fatal("no report")
	}
	if rr.SSRC != ssrc || rr.LastSequenceNumber != 1<<16|1 || rr.TotalLost != 1 || rr.FractionLost != 64 {
		t.Fatalf("report %+v: want SSRC %d, last sequence number %d, 1 lost, fraction 64", rr, ssrc, 1<<16|1)
	}
	// 5 ms is 450 timestamp units: the jitter steps by 450/16 for the late
	// frame, then by (450 - 28)/16 for the next, on time and so 5 ms early
	// against the late one.
	if rr.Jitter < 50 || rr.Jitter > 60 {
		t.Fatalf("jitter %d, want about 54", rr.Jitter)
	}
	if rr.LastSenderReport != 0x33445566 || rr.Delay != 65536/2 {
		t.Fatalf("LSR %#x, DLSR %d; want %#x, %d", rr.LastSenderReport, rr.Delay, 0x33445566, 65536/2)
	}
	// The next report counts loss since this one.
	r.add(2, 4*2970, start.Add(132*time.Millisecond))
	if rr, _ = r.report(ssrc, start.Add(time.Second)); rr.FractionLost != 0 || rr.TotalLost != 1 {
		t.Fatalf("second report: fraction %d, total %d; want 0, 1", rr.FractionLost, rr.TotalLost)
	}
}

// TestFindSenderReport: the sender report of the stream is found in a
// compound packet, after other packets; others' and malformed ones are not.
func TestFindSenderReport(t *testing.T) {
	compound, err := rtcp.Marshal([]rtcp.Packet{
		&rtcp.ReceiverReport{SSRC: 9},
		&rtcp.SenderReport{SSRC: 7, NTPTime: 42},
		&rtcp.SenderReport{SSRC: 8, NTPTime: 43},
	})
	if err != nil {
		t.Fatal(err)
	}
	if ntp, ok := findSenderReport(compound, 8); !ok || ntp != 43 {
		t.Fatalf("found %d, %v; want 43", ntp, ok)
	}
	if _, ok := findSenderReport(compound, 9); ok {
		t.Fatal("a receiver report taken for a sender report")
	}
	broken := slices.Clone(compound)
	binary.BigEndian.PutUint16(broken[2:4], 200) // longer than the packet
	if _, ok := findSenderReport(broken, 8); ok {
		t.Fatal("found a sender report in a malformed packet")
	}
}

// TestNextCompound: a run's RTCP is cut into compound packets of at most
// maxRTCPSize bytes, in order, each starting with a receiver report of the
// path's SSRC (the SSRC the SRTCP nonce is made of).
func TestNextCompound(t *testing.T) {
	const ssrc = 99
	pkts := []rtcp.Packet{&rtcp.ReceiverReport{SSRC: ssrc}}
	for i := range 200 {
		pkts = append(pkts, &rtcp.TransportLayerNack{MediaSSRC: uint32(i), Nacks: []rtcp.NackPair{{PacketID: uint16(i)}}})
	}
	var got []rtcp.Packet
	compounds := 0
	for first, rest := true, pkts; len(rest) > 0; first = false {
		var c []rtcp.Packet
		c, rest = nextCompound(nil, rest, ssrc, first)
		compounds++
		raw, err := rtcp.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if len(raw) > maxRTCPSize {
			t.Fatalf("compound %d is %d bytes", compounds, len(raw))
		}
		rr, ok := c[0].(*rtcp.ReceiverReport)
		if !ok || rr.SSRC != ssrc {
			t.Fatalf("compound %d starts with %T", compounds, c[0])
		}
		if !first {
			c = c[1:]
		}
		got = append(got, c...)
	}
	if compounds < 2 || !slices.Equal(got, pkts) {
		t.Fatalf("%d compounds carrying %d of %d packets, in order: %v", compounds, len(got), len(pkts), slices.Equal(got, pkts))
	}
}

// TestRTCPRunIdlePeer: a run of the RTCP loop for a peer with nothing to
// say (a subscriber between its reports) sends nothing and allocates
// nothing: at 1 × 200 that is most peers, ten times a second.
func TestRTCPRunIdlePeer(t *testing.T) {
	p := &Peer{
		owner:     &API{},
		rx:        newDirectReceiver(nil, nil),
		published: map[*Track]struct{}{},
	}
	var s rtcpScratch
	now := time.Now()
	p.sendRTCP(now, false, &s) // sizes the scratch
	if allocs := testing.AllocsPerRun(100, func() { p.sendRTCP(now, false, &s) }); allocs != 0 {
		t.Fatalf("%.1f allocations per run", allocs)
	}
}

// TestReceptionNACKEvery: with a round trip of three runs, a missing packet
// is asked for every third run, a fresh request counting as made in the
// coming run; at most maxNackTries times.
func TestReceptionNACKEvery(t *testing.T) {
	r := newReception(90000)
	at := time.Now()
	r.add(1, 0, at)
	r.add(3, 0, at) // 2 missing
	if got := r.freshNACKs(nil); !slices.Equal(got, []uint16{2}) {
		t.Fatalf("fresh NACKs %v, want [2]", got)
	}
	var asked []int
	for run := 1; run <= 40; run++ {
		if got := r.missing(nil, 3); len(got) > 0 {
			if !slices.Equal(got, []uint16{2}) {
				t.Fatalf("run %d asked for %v", run, got)
			}
			asked = append(asked, run)
		}
	}
	want := []int{4, 7, 10, 13, 16, 19, 22, 25, 28} // and the fresh one: 10
	if !slices.Equal(asked, want) {
		t.Fatalf("asked in runs %v, want %v", asked, want)
	}
}

// TestNACKEvery: the retries' spacing in runs is the round trip rounded up,
// one run before it is known, and bounded.
func TestNACKEvery(t *testing.T) {
	p := &Peer{owner: &API{rtcpInterval: 100 * time.Millisecond}}
	for _, tc := range []struct {
		rtt  time.Duration
		want uint16
	}{
		{0, 1}, {300 * time.Microsecond, 1}, {100 * time.Millisecond, 1},
		{150 * time.Millisecond, 2}, {250 * time.Millisecond, 3}, {time.Minute, maxNackEvery},
	} {
		p.rtt.Store(int64(tc.rtt))
		if got := p.nackEvery(); got != tc.want {
			t.Errorf("round trip %v: every %d runs, want %d", tc.rtt, got, tc.want)
		}
	}
}
