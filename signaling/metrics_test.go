package signaling_test

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/confab/confab/internal/client"
	"github.com/confab/confab/internal/testserver"
)

// scrape returns the value of each unlabelled sample in /metrics.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	out := map[string]float64{}
	for _, m := range regexp.MustCompile(`(?m)^(confab_\w+(?:\{[^}]*\})?) (\S+)$`).FindAllStringSubmatch(string(body), -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		out[m[1]] = v
	}
	return out
}

// TestMetrics: a meeting shows in /metrics: rooms, participants, tracks,
// packets both ways, and the join histogram and error counters move.
func TestMetrics(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv := testserver.Start(t, testserver.Options{})
	ann := newParticipant(ctx, t, srv, "m", "ann", client.Options{})
	bob := newParticipant(ctx, t, srv, "m", "bob", client.Options{})
	wait(t, ctx, "ann receives bob", func(ctx context.Context) error {
		return ann.WaitRemoteTracks(ctx, hasExactly(map[string]string{bob.Self().ID: "bob"}))
	})
	wait(t, ctx, "bob receives ann", func(ctx context.Context) error {
		return bob.WaitRemoteTracks(ctx, hasExactly(map[string]string{ann.Self().ID: "ann"}))
	})
	raw := dialRaw(t, srv.URL)
	raw.send(`{"type":"dance"}`)
	raw.expect("error")

	m := scrape(t, srv.URL)
	want := map[string]float64{
		"confab_rooms": 1, "confab_participants": 2,
		"confab_published_tracks": 4, "confab_forwarded_tracks": 4,
		"confab_join_seconds_count":                          2,
		`confab_websocket_errors_total{code="unknown-type"}`: 1,
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	for _, k := range []string{"confab_rtp_packets_received_total", "confab_rtp_bytes_received_total", "confab_rtp_packets_sent_total", "confab_rtp_bytes_sent_total", "confab_plis_sent_total"} {
		if m[k] <= 0 {
			t.Errorf("%s = %v, want > 0", k, m[k])
		}
	}
	// Counters keep what left: after bob leaves nothing goes backwards.
	before := scrape(t, srv.URL)
	_ = bob.Leave()
	waitFor(t, func() bool { return scrape(t, srv.URL)["confab_participants"] == 1 })
	after := scrape(t, srv.URL)
	for _, k := range []string{"confab_rtp_packets_received_total", "confab_rtp_packets_sent_total", "confab_rtp_bytes_sent_total"} {
		if after[k] < before[k] {
			t.Errorf("%s went back from %v to %v", k, before[k], after[k])
		}
	}
}
