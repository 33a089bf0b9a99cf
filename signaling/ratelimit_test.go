package signaling

import (
	"testing"
	"time"
)

func TestTokenBucket(t *testing.T) {
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	const ms = time.Millisecond
	type try struct {
		at   time.Duration // since t0
		want bool
	}
	// burstOf returns n tries at the same instant, all with the same outcome.
	burstOf := func(n int, at time.Duration, want bool) []try {
		out := make([]try, n)
		for i := range out {
			out[i] = try{at, want}
		}
		return out
	}
	cat := func(parts ...[]try) []try {
		var out []try
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name  string
		rate  float64
		burst int
		tries []try
	}{
		{name: "starts full: burst allowed at once, then refused",
			rate: 10, burst: 5,
			tries: cat(burstOf(5, 0, true), burstOf(3, 0, false))},
		{name: "refills at rate",
			rate: 10, burst: 5,
			tries: cat(burstOf(5, 0, true),
				[]try{{50 * ms, false}, {100 * ms, true}, {100 * ms, false}, {200 * ms, true}, {250 * ms, false}})},
		{name: "fractional tokens accumulate across calls",
			rate: 4, burst: 1,
			tries: []try{{0, true}, {125 * ms, false}, {250 * ms, true}, {375 * ms, false}, {500 * ms, true}}},
		{name: "refused attempts cost nothing",
			rate: 2, burst: 1,
			tries: []try{{0, true}, {100 * ms, false}, {200 * ms, false}, {300 * ms, false}, {500 * ms, true}}},
		{name: "refill capped at burst",
			rate: 100, burst: 3,
			tries: cat(burstOf(3, 0, true), burstOf(3, time.Hour, true), burstOf(1, time.Hour, false))},
		{name: "steady rate is sustained",
			rate: 2, burst: 1,
			tries: []try{{0, true}, {500 * ms, true}, {1000 * ms, true}, {1500 * ms, true}, {1750 * ms, false}, {2000 * ms, true}}},
		{name: "clock going backwards does not refill",
			rate: 1, burst: 1,
			tries: []try{{time.Second, true}, {0, false}, {500 * ms, false}, {time.Second, false}, {2 * time.Second, true}}},
		{name: "time standing still does not refill",
			rate: 1000, burst: 2,
			tries: cat(burstOf(2, time.Second, true), burstOf(2, time.Second, false))},
		{name: "zero burst allows nothing",
			rate: 10, burst: 0,
			tries: []try{{0, false}, {time.Second, false}, {time.Hour, false}}},
		{name: "zero rate allows only the burst",
			rate: 0, burst: 2,
			tries: cat(burstOf(2, 0, true), burstOf(1, time.Hour, false))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newTokenBucket(tc.rate, tc.burst, t0)
			for i, tr := range tc.tries {
				if got := b.allow(t0.Add(tr.at)); got != tr.want {
					t.Fatalf("try %d at +%v: allow = %v, want %v (tokens %.3f)", i, tr.at, got, tr.want, b.tokens)
				}
			}
		})
	}
}

// TestTokenBucketLongRun sends twice as fast as the rate for a minute and
// checks that about rate×duration+burst messages get through.
func TestTokenBucketLongRun(t *testing.T) {
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	const (
		rate  = 20.0
		burst = 10
	)
	b := newTokenBucket(rate, burst, t0)
	allowed := 0
	step := time.Second / 40 // 40 attempts per second
	for now := t0; now.Before(t0.Add(time.Minute)); now = now.Add(step) {
		if b.allow(now) {
			allowed++
		}
	}
	want := int(rate*60) + burst
	if allowed < want-1 || allowed > want {
		t.Fatalf("allowed %d in a minute, want about %d", allowed, want)
	}
}
