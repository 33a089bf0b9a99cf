package tokenbucket

import (
	"testing"
	"time"
)

// TestBucket: a bucket starts full, refuses what it does not hold without
// taking any of it, earns its rate up to its burst, earns nothing from a
// clock reading that is not later than the last, and earns at a rate
// changed between calls.
func TestBucket(t *testing.T) {
	t0 := time.Unix(1e9, 0)
	b := New(10, 5, t0)
	for i := range 5 {
		if !b.Take(1, t0) {
			t.Fatalf("take %d of a full bucket of 5 refused", i+1)
		}
	}
	if b.Take(1, t0) || b.Take(1, t0.Add(-time.Second)) {
		t.Fatal("an empty bucket gave a token")
	}
	if !b.Take(1, t0.Add(100*time.Millisecond)) || b.Take(1, t0.Add(100*time.Millisecond)) {
		t.Fatal("100 ms at 10 a second should earn exactly one token")
	}
	if b.Take(3, t0.Add(300*time.Millisecond)) {
		t.Fatal("took 3 tokens from a bucket of 2")
	}
	if !b.Take(2, t0.Add(300*time.Millisecond)) {
		t.Fatal("a refused take spent tokens")
	}
	if !b.Take(5, t0.Add(time.Hour)) || b.Take(1, t0.Add(time.Hour)) {
		t.Fatal("an hour idle should fill the bucket to its burst, no more")
	}
	b.Rate, b.Burst = 100, 100
	if !b.Take(10, t0.Add(time.Hour+100*time.Millisecond)) || b.Take(1, t0.Add(time.Hour+100*time.Millisecond)) {
		t.Fatal("100 ms at a new rate of 100 a second should earn 10 tokens")
	}
}

// TestTokenBucket: one token at a time, as the signaling rate limit takes
// them (moved here from package signaling with the bucket).
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
			b := New(tc.rate, float64(tc.burst), t0)
			for i, tr := range tc.tries {
				if got := b.Take(1, t0.Add(tr.at)); got != tr.want {
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
	b := New(rate, burst, t0)
	allowed := 0
	step := time.Second / 40 // 40 attempts per second
	for now := t0; now.Before(t0.Add(time.Minute)); now = now.Add(step) {
		if b.Take(1, now) {
			allowed++
		}
	}
	want := int(rate*60) + burst
	if allowed < want-1 || allowed > want {
		t.Fatalf("allowed %d in a minute, want about %d", allowed, want)
	}
}

// TestSpend: spends go into debt, and the wait each returns pays it off at
// the rate.
func TestSpend(t *testing.T) {
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	b := New(100, 200, t0) // 100 a second, 200 at once
	for _, step := range []struct {
		at   time.Duration
		n    float64
		want time.Duration
	}{
		{0, 150, 0},                      // 50 left
		{0, 100, 500 * time.Millisecond}, // 50 in debt
		{500 * time.Millisecond, 0, 0},   // paid
		{500 * time.Millisecond, 300, 3 * time.Second},
		{2 * time.Second, 0, 1500 * time.Millisecond},   // 150 earned of 300
		{10 * time.Second, 250, 500 * time.Millisecond}, // full again (200), not more
	} {
		if got := b.Spend(step.n, t0.Add(step.at)); got != step.want {
			t.Fatalf("Spend(%v) at %v = %v, want %v", step.n, step.at, got, step.want)
		}
	}
	if got := (&Bucket{}).Spend(1, t0); got != 0 {
		t.Fatalf("a bucket without a rate waits %v", got)
	}
}
