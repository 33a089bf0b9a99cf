package load

import (
	"math/bits"
	"slices"
	"time"
)

// seqSet records which packet indices of one track a receiver got. The
// indices come from the tags, so there is no sequence-number wrap to undo.
// It is a bitmap from the first index received on, grown as needed: about
// 23 KiB per video track per 10 minutes at 1.5 Mbit/s.
type seqSet struct {
	started bool
	first   uint64 // the first index received; earlier ones are not expected
	highest uint64
	words   []uint64

	received   uint64 // distinct indices
	duplicates uint64 // indices received again (retransmissions of packets not lost)
	late       uint64 // indices received after a higher one (mostly retransmissions)
	early      uint64 // indices below first (packets from before the first one)
}

// maxSpan bounds how far past the first index a set grows, against a
// corrupt tag: 2^26 packets are days of video.
const maxSpan = 1 << 26

// add records index i and reports whether it was new.
func (s *seqSet) add(i uint64) bool {
	if !s.started {
		s.started, s.first, s.highest = true, i, i
	}
	if i < s.first {
		s.early++
		return false
	}
	off := i - s.first
	if off >= maxSpan {
		return false
	}
	w := int(off / 64)
	if w >= len(s.words) {
		s.words = slices.Grow(s.words, w+1-len(s.words))[:w+1]
	}
	bit := uint64(1) << (off % 64)
	if s.words[w]&bit != 0 {
		s.duplicates++
		return false
	}
	s.words[w] |= bit
	s.received++
	if i < s.highest {
		s.late++
	} else {
		s.highest = i
	}
	return true
}

// has reports whether index i was received.
func (s *seqSet) has(i uint64) bool {
	if !s.started || i < s.first || i-s.first >= maxSpan {
		return false
	}
	off := i - s.first
	w := int(off / 64)
	return w < len(s.words) && s.words[w]&(1<<(off%64)) != 0
}

// missing counts the indices in [from, to) that were not received, from the
// first index received on. Nothing is missing from a set that received
// nothing: that receiver never started, which is reported apart.
func (s *seqSet) missing(from, to uint64) uint64 {
	if !s.started {
		return 0
	}
	from = max(from, s.first)
	if to <= from {
		return 0
	}
	want := to - from
	var got uint64
	// Whole words where possible.
	for i := from; i < to; {
		off := i - s.first
		if off%64 == 0 && to-i >= 64 {
			w := int(off / 64)
			if w < len(s.words) {
				got += uint64(bits.OnesCount64(s.words[w]))
			}
			i += 64
			continue
		}
		if s.has(i) {
			got++
		}
		i++
	}
	return want - got
}

// The latency histogram has 1 µs buckets up to 1024 µs, then 64 buckets per
// power of two (about 1.6 % wide) up to 2^24 µs (16.8 s); later values go to
// the last bucket.
const (
	linearBuckets  = 1024
	subBucketBits  = 6
	subBuckets     = 1 << subBucketBits
	linearBits     = 10 // log2(linearBuckets)
	maxExponent    = 24
	histogramSlots = linearBuckets + (maxExponent-linearBits)*subBuckets
)

type histogram [histogramSlots]uint64

// bucketOf returns the bucket of a latency in microseconds.
func bucketOf(us int64) int {
	if us < linearBuckets {
		return int(max(us, 0))
	}
	exp := bits.Len64(uint64(us)) - 1 // >= linearBits
	if exp >= maxExponent {
		return histogramSlots - 1
	}
	sub := int(uint64(us)>>(exp-subBucketBits)) & (subBuckets - 1)
	return linearBuckets + (exp-linearBits)*subBuckets + sub
}

// bucketLow and bucketHigh are the microseconds a bucket covers: [low, high).
func bucketLow(b int) int64 {
	if b < linearBuckets {
		return int64(b)
	}
	exp := (b-linearBuckets)/subBuckets + linearBits
	sub := (b - linearBuckets) % subBuckets
	return int64(subBuckets+sub) << (exp - subBucketBits)
}

func bucketHigh(b int) int64 {
	if b < linearBuckets {
		return int64(b) + 1
	}
	exp := (b-linearBuckets)/subBuckets + linearBits
	return bucketLow(b) + int64(1)<<(exp-subBucketBits)
}

func (h *histogram) record(d time.Duration) {
	h[bucketOf(d.Microseconds())]++
}

func (h *histogram) add(o *histogram) {
	for i := range h {
		h[i] += o[i]
	}
}

func (h *histogram) count() uint64 {
	var n uint64
	for _, c := range h {
		n += c
	}
	return n
}

// quantile returns the q-quantile (0 < q <= 1) as the middle of the bucket
// that holds it; 0 for an empty histogram.
func (h *histogram) quantile(q float64) time.Duration {
	n := h.count()
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n) + 0.5)
	rank = min(max(rank, 1), n)
	var seen uint64
	for b, c := range h {
		seen += c
		if seen >= rank {
			mid := (bucketLow(b) + bucketHigh(b)) / 2
			if b < linearBuckets {
				mid = bucketLow(b) // exact to the microsecond
			}
			return time.Duration(mid) * time.Microsecond
		}
	}
	return 0
}

// durationQuantile is the q-quantile of a sorted slice, by the nearest rank.
func durationQuantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(q*float64(len(sorted)) + 0.5)
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}
