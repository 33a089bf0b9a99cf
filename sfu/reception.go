package sfu

import (
	"encoding/binary"
	"math"
	"sync"
	"time"

	"github.com/pion/rtcp"
)

// Reception: what the server tells a publisher about one of its streams.
// The track's forwarder notes every packet it reads (add); the server's RTCP
// loop (rtcploop.go) asks, every rtcpInterval, which packets to NACK,
// and once a second for the stream's reception report (RFC 3550 §6.4.1).
// When a packet opens a gap, the forwarder wakes the loop to NACK what is
// newly missing at once (freshNACKs), as libwebrtc does, so a repair does
// not wait up to an interval for its first request.
//
// pion's NACK generator and receiver-report interceptors did this before,
// each with a goroutine and ticker per publishing peer, a lock and a clock
// read per packet, and a map lookup by SSRC: about 6 % of the server's CPU
// at 10 publishers × 10 subscribers (docs/benchmarks.md, step 15).

const (
	// receptionWindow is how many sequence numbers back a missing packet
	// is still asked for (pion's NACK generator keeps 512).
	receptionWindow = 512
	// maxNackTries is how many times one missing packet is asked for, as
	// libwebrtc does (pion's generator asked until the packet left its
	// window). Requests are a round trip apart, and at least one
	// rtcpInterval (see missing).
	maxNackTries = 10
	// maxDropout and maxMisorder bound the sequence-number jumps taken for
	// loss and for reordering (RFC 3550 A.1's values); a larger jump is a
	// restart of the numbering, once the next packet confirms it.
	maxDropout  = 3000
	maxMisorder = 100
)

// reception is one published stream's reception state. add is called by
// the track's forwarder only; everything else by the RTCP loop. mu guards
// all of it.
type reception struct {
	mu sync.Mutex
	// clockRate is the stream's RTP clock rate, for the jitter.
	clockRate float64

	started  bool
	base     uint64 // extended sequence number of the first packet
	highest  uint64 // highest extended sequence number (the wrap count above 16 bits)
	received uint64 // packets received, duplicates included (RFC 3550 A.3)
	// skipped is the sequence numbers restarts jumped over, not expected.
	skipped uint64
	// probing says that the last packet was a jump; probe is the sequence
	// number that confirms it a restart (RFC 3550 A.1's bad_seq).
	probing bool
	probe   uint16

	// got has a bit per sequence number in the window (by seq modulo the
	// window): received since the slot was last reused. tries counts the
	// NACKs sent for the slot's packet, and askedRun is the loop's run
	// (runs counts them, modulo 2^16) that sent the last.
	got      [receptionWindow / 64]uint64
	tries    [receptionWindow]uint8
	askedRun [receptionWindow]uint16
	runs     uint16

	// jitter is the interarrival jitter in timestamp units (RFC 3550
	// A.8); lastTS and lastAt, the previous packet's timestamp and
	// arrival.
	jitter float64
	lastTS uint32
	lastAt time.Time

	// priorExpected and priorReceived are expected and received at the
	// previous report, for the fraction lost in between.
	priorExpected, priorReceived uint64
	// lsr is the middle 32 bits of the NTP time of the publisher's latest
	// sender report, lsrAt when it arrived; zero before any.
	lsr   uint32
	lsrAt time.Time
}

func newReception(clockRate uint32) *reception {
	return &reception{clockRate: float64(clockRate)}
}

// add notes a packet of sequence number seq and timestamp ts that arrived
// at at. It reports whether the packet opened a gap, making packets
// missing that were not before: the RTCP loop then asks for them at once
// (freshNACKs) instead of at its next run.
//
// Sequence numbers are validated as in RFC 3550 A.1: a jump of more than
// maxDropout ahead, or more than maxMisorder behind, is taken for a restart
// of the sender's numbering only when the next packet follows it; until
// then the packet is not counted. A confirmed restart is not loss: the
// sequence numbers jumped over are not expected.
func (r *reception) add(seq uint16, ts uint32, at time.Time) (gap bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.started {
		r.started = true
		r.received++
		r.base, r.highest = uint64(seq), uint64(seq)
		r.mark(r.highest)
		r.lastTS, r.lastAt = ts, at
		return false
	}
	delta := seq - uint16(r.highest)
	switch {
	case delta == 0:
		// A duplicate: counted (RFC 3550 A.3), nothing else changes.
	case delta < maxDropout:
		ext := r.highest + uint64(delta)
		if delta >= receptionWindow {
			// What was lost is too old to ask for: nothing before ext is
			// missing.
			r.fillWindow()
		} else {
			// The slots up to ext become the new sequence numbers'
			// (missing until they arrive).
			for s := r.highest + 1; s <= ext; s++ {
				r.clearSlot(s)
			}
			gap = delta > 1
		}
		r.highest = ext
		r.mark(ext)
	case delta > 0xffff-maxMisorder:
		// Late or retransmitted.
		back := uint64(0x10000 - uint32(delta))
		if back <= r.highest {
			if ext := r.highest - back; back < receptionWindow && ext >= r.base {
				r.mark(ext)
			}
		}
	default:
		if !r.probing || seq != r.probe {
			// A jump: the first packet of a restarted numbering, or a
			// stray. Not counted until the next packet says which.
			r.probing, r.probe = true, seq+1
			return false
		}
		// The numbering restarted at seq-1: carry on from the packet
		// before, the extended numbers still rising, with nothing in
		// between expected.
		ext := r.highest&^0xffff | uint64(seq)
		for ext <= r.highest+1 {
			ext += 0x10000
		}
		r.skipped += ext - r.highest - 2
		r.received++ // the packet at seq-1
		r.fillWindow()
		r.highest = ext
		r.lastTS, r.lastAt = ts, at // the jitter does not span the restart
	}
	r.probing = false
	r.received++
	d := at.Sub(r.lastAt).Seconds()*r.clockRate - float64(int32(ts-r.lastTS))
	r.jitter += (math.Abs(d) - r.jitter) / 16
	r.lastTS, r.lastAt = ts, at
	return gap
}

// fillWindow marks the whole window received, with no NACKs sent.
func (r *reception) fillWindow() {
	for i := range r.got {
		r.got[i] = math.MaxUint64
	}
	r.tries = [receptionWindow]uint8{}
}

// expectedLocked is the number of packets expected so far (RFC 3550 A.3),
// less the sequence numbers a restart jumped over.
func (r *reception) expectedLocked() uint64 {
	return r.highest - r.base + 1 - r.skipped
}

// lost returns the packets lost so far: expected minus received (RFC 3550
// A.3), 0 if more arrived than expected.
func (r *reception) lost() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lostLocked()
}

func (r *reception) lostLocked() uint64 {
	if expected := r.expectedLocked(); r.started && r.received < expected {
		return expected - r.received
	}
	return 0
}

// extendSeq extends seq to the wrap cycle closest to highest, an extended
// sequence number.
func extendSeq(highest uint64, seq uint16) uint64 {
	ext := highest&^0xffff | uint64(seq)
	switch {
	case ext+0x8000 < highest:
		ext += 0x10000
	case ext > highest+0x8000 && ext >= 0x10000:
		ext -= 0x10000
	}
	return ext
}

func (r *reception) mark(ext uint64) {
	i := ext % receptionWindow
	r.got[i/64] |= 1 << (i % 64)
}

func (r *reception) clearSlot(ext uint64) {
	i := ext % receptionWindow
	r.got[i/64] &^= 1 << (i % 64)
	r.tries[i] = 0
}

// missing is one of the loop's regular runs: it appends to dst the
// sequence numbers in the window that have not arrived, have been asked
// for fewer than maxNackTries times, and not in the last every runs
// (every ≥ 1: the loop makes it the round trip to the publisher, in runs,
// as libwebrtc asks again once an RTT has passed), and counts this as one
// more try for each. A packet freshNACKs asked for since the last run
// waits for the next, as its request had a run's time less.
func (r *reception) missing(dst []uint16, every uint16) []uint16 {
	return r.collect(dst, false, max(every, 1))
}

// freshNACKs appends to dst the missing sequence numbers never asked for,
// and counts this as their first try.
func (r *reception) freshNACKs(dst []uint16) []uint16 {
	return r.collect(dst, true, 0)
}

func (r *reception) collect(dst []uint16, fresh bool, every uint16) []uint16 {
	r.mu.Lock()
	defer r.mu.Unlock()
	// A fresh request counts as made in the coming run.
	run := r.runs + 1
	if !fresh {
		r.runs = run
	}
	if !r.started {
		return dst
	}
	lo := r.base
	if r.highest >= receptionWindow && r.highest-receptionWindow+1 > lo {
		lo = r.highest - receptionWindow + 1
	}
	for s := lo; s < r.highest; s++ {
		i := s % receptionWindow
		if i%64 == 0 && r.got[i/64] == math.MaxUint64 && s+64 <= r.highest {
			s += 63 // a whole word received
			continue
		}
		if r.got[i/64]&(1<<(i%64)) != 0 || r.tries[i] >= maxNackTries {
			continue
		}
		if r.tries[i] > 0 && (fresh || run-r.askedRun[i] < every) {
			continue
		}
		r.tries[i]++
		r.askedRun[i] = run
		dst = append(dst, uint16(s))
	}
	return dst
}

// report is the stream's reception report at now (RFC 3550 §6.4.1), for
// the stream ssrc; ok is false before the first packet.
func (r *reception) report(ssrc uint32, now time.Time) (rr rtcp.ReceptionReport, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.started {
		return rr, false
	}
	expected := r.expectedLocked()
	lost := uint32(min(r.lostLocked(), 0x7fffff)) // 24 bits, signed
	var fraction uint8
	interval, got := expected-r.priorExpected, r.received-r.priorReceived
	if interval > 0 && got < interval {
		fraction = uint8((interval - got) << 8 / interval)
	}
	r.priorExpected, r.priorReceived = expected, r.received
	rr = rtcp.ReceptionReport{
		SSRC:               ssrc,
		FractionLost:       fraction,
		TotalLost:          lost,
		LastSequenceNumber: uint32(r.highest),
		Jitter:             uint32(r.jitter),
		LastSenderReport:   r.lsr,
	}
	if !r.lsrAt.IsZero() {
		rr.Delay = uint32(now.Sub(r.lsrAt).Seconds() * 65536)
	}
	return rr, true
}

// senderReport notes a sender report of the stream, with NTP time ntp,
// that arrived at at.
func (r *reception) senderReport(ntp uint64, at time.Time) {
	r.mu.Lock()
	r.lsr, r.lsrAt = uint32(ntp>>16), at
	r.mu.Unlock()
}

// findSenderReport returns the NTP time of the sender report of ssrc in
// the compound RTCP packet b, if there is one. It parses only the common
// headers, so reading a publisher's RTCP allocates nothing.
func findSenderReport(b []byte, ssrc uint32) (ntp uint64, ok bool) {
	for len(b) >= 4 {
		n := (int(binary.BigEndian.Uint16(b[2:4])) + 1) * 4
		if b[0]>>6 != 2 || n > len(b) {
			return 0, false
		}
		if b[1] == 200 && n >= 28 && binary.BigEndian.Uint32(b[4:8]) == ssrc {
			ntp, ok = binary.BigEndian.Uint64(b[8:16]), true
		}
		b = b[n:]
	}
	return ntp, ok
}
