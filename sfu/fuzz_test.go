package sfu

import (
	"bytes"
	"encoding/binary"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// Fuzz targets for the parsers and state machines of the forwarding path
// that are our own rather than pion's: each is fed what a client controls.
// Their seeds run in every `go test`; `make fuzz` explores beyond them.

// fuzzKey and fuzzSalt are fixed so that a failing input replays.
var (
	fuzzKey  = []byte("0123456789abcdef")
	fuzzSalt = []byte("saltsaltsalt")
)

// FuzzDirectReceive: the socket reader's decryption of a publisher's RTP
// (rtpSSRC, srtpIndex, gcmSealer.open) takes and refuses the same
// datagrams, with the same bytes, as pion's srtp.Context with its replay
// protection, whatever the order, duplication, corruption or truncation of
// the publisher's packets. The input is a starting sequence number, then 4
// bytes per datagram: flags, a signed step from the highest packet sent
// (two bytes), and a size or position.
func FuzzDirectReceive(f *testing.F) {
	f.Add([]byte{0xff, 0xf0, 0, 0, 1, 10, 0, 0, 1, 20, 0, 0, 1, 30})
	f.Add([]byte{0, 100, 0, 0, 1, 5, 0x10, 0xff, 0xfe, 5, 0x10, 0xff, 0xfe, 5, 2, 0, 1, 40, 4, 0, 1, 3})
	f.Add([]byte{0x7f, 0xff, 0, 0x7f, 0xff, 9, 0, 0x7f, 0xff, 9, 0, 0x7f, 0xff, 9, 0x10, 0xc0, 0, 9})
	f.Add([]byte{0, 0, 0x20, 0, 1, 1, 1, 0, 1, 200, 8, 0, 1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		const ssrc = 0x5eed
		sender, err := newGCMSealer(fuzzKey, fuzzSalt)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := srtp.CreateContext(fuzzKey, fuzzSalt, srtp.ProtectionProfileAeadAes128Gcm,
			srtp.SRTPReplayProtection(srtpReplayWindow))
		if err != nil {
			t.Fatal(err)
		}
		rx := newDirectReceiver(slog.New(slog.DiscardHandler), nil)
		if rx.gcm, err = newGCMSealer(fuzzKey, fuzzSalt); err != nil {
			t.Fatal(err)
		}
		s := newRxStream(ssrc, 4)
		rx.streams[ssrc] = s

		top := int64(binary.BigEndian.Uint16(data)) // highest index sent
		var iv [12]byte
		buf := make([]byte, maxPacketSize+srtpOverhead)
		for i := 2; i+4 <= len(data); i += 4 {
			flags, arg := data[i], int(data[i+3])
			step := int64(int16(binary.BigEndian.Uint16(data[i+1:])))
			if flags&0x10 != 0 {
				step = int64(int8(data[i+2])) // near the top: reordering
			}
			index := top + step
			if index < 0 {
				continue
			}
			top = max(top, index)
			hdr := rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(index), Timestamp: uint32(index) * 90, SSRC: ssrc}
			if flags&0x20 != 0 {
				hdr.SSRC = ssrc + 1 // a stream the receiver does not have
			}
			if flags&1 != 0 {
				if err := hdr.SetExtension(3, []byte{byte(index), 7}); err != nil {
					t.Fatal(err)
				}
			}
			hl, err := hdr.MarshalTo(buf)
			if err != nil {
				t.Fatal(err)
			}
			n := hl + copy(buf[hl:], bytes.Repeat([]byte{byte(index)}, arg))
			plain := bytes.Clone(buf[:n])
			pkt := bytes.Clone(sender.seal(buf, hl, n, hdr.SSRC, uint32(index>>16), hdr.SequenceNumber, &iv))
			if flags&2 != 0 {
				pkt[arg%len(pkt)] ^= 1 << (flags >> 6) // corrupted on the way
			}
			if flags&4 != 0 {
				pkt = pkt[:arg%len(pkt)] // truncated
			}
			if flags&8 != 0 && len(pkt) > 0 {
				pkt = pkt[:len(pkt)-1] // a byte short of its tag
			}

			fellBack := s.viaPion
			want, refErr := ref.DecryptRTP(nil, bytes.Clone(pkt), nil)
			taken := rx.receive(pkt, false)
			_, isRTP := rtpSSRC(pkt)
			mine := isRTP && binary.BigEndian.Uint32(pkt[8:12]) == ssrc
			if taken != (mine && !fellBack) {
				t.Fatalf("datagram %d (index %d): taken %v; RTP of the stream %v, fallen back %v", i/4, index, taken, mine, fellBack)
			}
			var got []byte
			select {
			case p := <-s.full:
				got = bytes.Clone(p.buf[:p.n])
				s.free <- p
			default:
			}
			if !taken || fellBack {
				continue
			}
			if (got != nil) != (refErr == nil) {
				t.Fatalf("datagram %d (index %d, flags %#x): we took it %v, pion %v (err %v)", i/4, index, flags, got != nil, refErr == nil, refErr)
			}
			if got != nil && (!bytes.Equal(got, want) || flags&0x0e == 0 && !bytes.Equal(got, plain)) {
				t.Fatalf("datagram %d (index %d): opened bytes differ", i/4, index)
			}
		}
	})
}

// FuzzFindSenderReport: wherever pion's RTCP parser reads a compound
// packet, findSenderReport finds the same sender report of the stream
// (the last, if several), and it never panics on what pion refuses.
func FuzzFindSenderReport(f *testing.F) {
	compound, err := rtcp.Marshal([]rtcp.Packet{
		&rtcp.SenderReport{SSRC: 7, NTPTime: 42, Reports: []rtcp.ReceptionReport{{SSRC: 1}}},
		&rtcp.ReceiverReport{SSRC: 9},
		&rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{Source: 7, Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: "x"}}}}},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(compound, uint32(7))
	f.Add(compound[:28], uint32(7))
	f.Add([]byte{0x80, 200, 0, 6}, uint32(0))
	f.Fuzz(func(t *testing.T, b []byte, ssrc uint32) {
		ntp, ok := findSenderReport(b, ssrc)
		pkts, err := rtcp.Unmarshal(b)
		if err != nil {
			return
		}
		var want uint64
		var found bool
		for _, p := range pkts {
			if sr, isSR := p.(*rtcp.SenderReport); isSR && sr.SSRC == ssrc {
				want, found = sr.NTPTime, true
			}
		}
		if ok != found || ntp != want {
			t.Fatalf("findSenderReport(%x, %d) = %d, %v; pion reads %d, %v", b, ssrc, ntp, ok, want, found)
		}
	})
}

// FuzzReception: the reception state of a stream (reception.go) agrees
// with a plain model of what arrived: its loss is expected minus received,
// and the NACKs of a run are exactly the sequence numbers in the window
// that have not arrived and were asked for fewer than maxNackTries times.
// Steps stay within the jumps RFC 3550 A.1 takes as loss and reordering
// (no restarts), so the model can number the packets. The input is a
// starting sequence number, then 2 bytes per packet: flags and a step.
func FuzzReception(f *testing.F) {
	f.Add([]byte{0xff, 0xf0, 1, 1, 1, 3, 0x80, 2, 1, 5})
	f.Add([]byte{0, 0, 1, 200, 1, 200, 1, 200, 0x80, 0, 1, 100})
	f.Add([]byte{0x12, 0x34, 1, 1, 2, 255, 0x40, 0, 1, 1, 0x80, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		r := newReception(90000)
		at := time.Unix(1e9, 0)
		base := uint64(binary.BigEndian.Uint16(data))
		r.add(uint16(base), 0, at)
		highest, adds := base, uint64(1)
		got := map[uint64]bool{base: true}
		tries := map[uint64]int{}
		floor := base // below it nothing is asked for (a jump past the window)
		var dst []uint16
		for i := 2; i+2 <= len(data); i += 2 {
			flags, v := data[i], int64(data[i+1])
			if flags&0x80 != 0 {
				// The loop's run: every missing packet asked for, its
				// tries counted.
				dst = r.missing(dst[:0], 1)
				var want []uint16
				for s := max(floor, highest-min(highest, receptionWindow-1)); s < highest; s++ {
					if !got[s] && tries[s] < maxNackTries {
						tries[s]++
						want = append(want, uint16(s))
					}
				}
				if !slices.Equal(dst, want) {
					t.Fatalf("after %d packets (highest %d): NACKs %v, want %v", adds, highest, dst, want)
				}
				continue
			}
			// A step of -99 to +600: late, duplicate, next, or a gap.
			step := v*int64(flags&3) - 99
			if flags&0x40 != 0 {
				step = -v % 100
			}
			ext := int64(highest) + step
			if ext < 0 {
				continue
			}
			e := uint64(ext)
			r.add(uint16(e), uint32(e)*3000, at.Add(time.Duration(adds)*time.Millisecond))
			adds++
			switch {
			case e > highest && e-highest >= receptionWindow:
				floor = e
				clear(got)
			case e > highest:
				for s := highest + 1; s < e; s++ {
					delete(got, s)
					delete(tries, s)
				}
			}
			if e+receptionWindow > highest && e >= base {
				got[e] = true
			}
			highest = max(highest, e)
			if lost, want := r.lost(), max(0, int64(highest-base+1)-int64(adds)); lost != uint64(want) {
				t.Fatalf("after %d packets (highest %d, base %d): lost %d, want %d", adds, highest, base, lost, want)
			}
		}
	})
}

// FuzzBatchPlan: however a batch's packet sizes and padding fall, its runs
// cover it in order, at most maxRun packets each, every packet but a run's
// last padded to one wire size by at most maxPad bytes, the last no
// longer, and no packet carrying the publisher's padding padded again. The
// input is 3 bytes per packet: two of payload size, one of flags.
func FuzzBatchPlan(f *testing.F) {
	f.Add([]byte{4, 16, 0, 4, 18, 0, 4, 18, 0, 4, 17, 0})
	f.Add([]byte{3, 232, 0, 3, 250, 1, 3, 232, 0, 1, 0, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		b := &batch{}
		for i := 0; i+3 <= len(data) && len(b.pkts) < maxBatch; i += 3 {
			size := int(binary.BigEndian.Uint16(data[i:])) % (maxPacketSize - 12 - 4*2)
			p := &inPacket{payload: make([]byte, size)}
			p.pkt.Padding = data[i+2]&1 != 0 && size > 0
			p.pkt.CSRC = make([]uint32, data[i+2]>>1&3%3)
			b.pkts = append(b.pkts, p)
		}
		b.plan()
		checkPlan(t, b)
	})
}

// checkPlan checks b's runs as FuzzBatchPlan describes.
func checkPlan(t *testing.T, b *batch) {
	t.Helper()
	next := 0
	for _, r := range b.runs {
		if r.start != next || r.end <= r.start || r.end-r.start > maxRun {
			t.Fatalf("run %v after packet %d of %d", r, next, len(b.pkts))
		}
		next = r.end
		size := b.pkts[r.start].wireSize() + b.pkts[r.start].pad
		for k := r.start; k < r.end; k++ {
			p := b.pkts[k]
			if w := p.wireSize() + p.pad; k < r.end-1 && w != size || k == r.end-1 && (w > size || p.pad != 0) {
				t.Fatalf("packet %d of run %v is %d bytes padded by %d, run size %d", k, r, w, p.pad, size)
			}
			if p.pad < 0 || p.pad > maxPad || p.pad > 0 && p.pkt.Padding {
				t.Fatalf("packet %d padded by %d (its own padding %v)", k, p.pad, p.pkt.Padding)
			}
		}
	}
	if next != len(b.pkts) {
		t.Fatalf("runs end at packet %d of %d", next, len(b.pkts))
	}
}
