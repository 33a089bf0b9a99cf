package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/confab/confab/internal/leaktest"
)

func TestMain(m *testing.M) {
	leaktest.VerifyTestMain(m)
}

// fakeSource returns whatever snapshot it was last given and counts calls.
type fakeSource struct {
	mu    sync.Mutex
	snap  Snapshot
	calls atomic.Int64
}

func (f *fakeSource) Snapshot() Snapshot {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snap
}

func (f *fakeSource) set(s Snapshot) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snap = s
}

// scrape GETs the handler and returns the exposition body.
func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, body:\n%s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want text/plain exposition", ct)
	}
	return string(body)
}

var snapshotNames = []string{
	"confab_rooms", "confab_participants", "confab_published_tracks", "confab_forwarded_tracks",
	"confab_rtp_packets_received_total", "confab_rtp_bytes_received_total",
	"confab_rtp_packets_sent_total", "confab_rtp_bytes_sent_total",
	"confab_nacks_received_total", "confab_nacks_sent_total",
	"confab_retransmissions_total", "confab_retransmissions_limited_total", "confab_plis_sent_total",
	"confab_rtp_over_limit_drops_total", "confab_control_rate_limited_total",
}

func TestScrapeExposesSnapshot(t *testing.T) {
	src := &fakeSource{snap: Snapshot{
		Rooms: 2, Participants: 5, PublishedTracks: 7, ForwardedTracks: 19,
		PacketsIn: 1000, BytesIn: 1200000, PacketsOut: 3000, BytesOut: 3600000,
		NACKsReceived: 11, NACKsSent: 13, Retransmissions: 17, PLIsSent: 23,
		RetransmissionsLimited: 29, OverLimitDrops: 31, ControlRateDrops: 37,
	}}
	m := New(src)
	body := scrape(t, m.Handler())

	want := []string{
		"# TYPE confab_rooms gauge\nconfab_rooms 2\n",
		"# TYPE confab_participants gauge\nconfab_participants 5\n",
		"# TYPE confab_published_tracks gauge\nconfab_published_tracks 7\n",
		"# TYPE confab_forwarded_tracks gauge\nconfab_forwarded_tracks 19\n",
		"# TYPE confab_rtp_packets_received_total counter\nconfab_rtp_packets_received_total 1000\n",
		"# TYPE confab_rtp_bytes_received_total counter\nconfab_rtp_bytes_received_total 1.2e+06\n",
		"# TYPE confab_rtp_packets_sent_total counter\nconfab_rtp_packets_sent_total 3000\n",
		"# TYPE confab_rtp_bytes_sent_total counter\nconfab_rtp_bytes_sent_total 3.6e+06\n",
		"# TYPE confab_nacks_received_total counter\nconfab_nacks_received_total 11\n",
		"# TYPE confab_nacks_sent_total counter\nconfab_nacks_sent_total 13\n",
		"# TYPE confab_retransmissions_total counter\nconfab_retransmissions_total 17\n",
		"# TYPE confab_retransmissions_limited_total counter\nconfab_retransmissions_limited_total 29\n",
		"# TYPE confab_plis_sent_total counter\nconfab_plis_sent_total 23\n",
		"# TYPE confab_rtp_over_limit_drops_total counter\nconfab_rtp_over_limit_drops_total 31\n",
		"# TYPE confab_control_rate_limited_total counter\nconfab_control_rate_limited_total 37\n",
		// Pushed metrics are exposed before any event, at zero.
		"# TYPE confab_negotiation_failures_total counter\nconfab_negotiation_failures_total 0\n",
		"# TYPE confab_join_seconds histogram\n",
		"confab_join_seconds_count 0\n",
		// The runtime and process collectors are registered.
		"\ngo_goroutines ",
		"\nprocess_start_time_seconds ",
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("exposition lacks %q", w)
		}
	}
	for _, name := range snapshotNames {
		if !strings.Contains(body, "# HELP "+name+" ") {
			t.Errorf("exposition lacks HELP for %s", name)
		}
	}
	if n := src.calls.Load(); n != 1 {
		t.Errorf("Snapshot called %d times in one scrape, want 1", n)
	}
}

func TestScrapeFollowsSource(t *testing.T) {
	src := &fakeSource{snap: Snapshot{Rooms: 1, PacketsIn: 10}}
	m := New(src)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()

	const want1 = `
# HELP confab_rooms Rooms that currently exist.
# TYPE confab_rooms gauge
confab_rooms 1
# HELP confab_rtp_packets_received_total RTP packets received from publishers.
# TYPE confab_rtp_packets_received_total counter
confab_rtp_packets_received_total 10
`
	if err := testutil.ScrapeAndCompare(srv.URL, strings.NewReader(want1),
		"confab_rooms", "confab_rtp_packets_received_total"); err != nil {
		t.Fatal(err)
	}

	src.set(Snapshot{Rooms: 0, PacketsIn: 25})
	const want2 = `
# HELP confab_rooms Rooms that currently exist.
# TYPE confab_rooms gauge
confab_rooms 0
# HELP confab_rtp_packets_received_total RTP packets received from publishers.
# TYPE confab_rtp_packets_received_total counter
confab_rtp_packets_received_total 25
`
	if err := testutil.ScrapeAndCompare(srv.URL, strings.NewReader(want2),
		"confab_rooms", "confab_rtp_packets_received_total"); err != nil {
		t.Fatal(err)
	}
}

func TestNegotiationFailed(t *testing.T) {
	m := New(&fakeSource{})
	m.NegotiationFailed()
	m.NegotiationFailed()
	if got := testutil.ToFloat64(m.negotiationFailures); got != 2 {
		t.Errorf("negotiation failures = %v, want 2", got)
	}
	body := scrape(t, m.Handler())
	if !strings.Contains(body, "\nconfab_negotiation_failures_total 2\n") {
		t.Errorf("exposition lacks confab_negotiation_failures_total 2:\n%s", body)
	}
}

func TestWebSocketErrorByCode(t *testing.T) {
	m := New(&fakeSource{})
	m.WebSocketError("bad-request")
	m.WebSocketError("rate-limited")
	m.WebSocketError("rate-limited")
	m.WebSocketError("rate-limited")

	const want = `
# HELP confab_websocket_errors_total Error messages sent to clients over the signaling WebSocket, by protocol error code.
# TYPE confab_websocket_errors_total counter
confab_websocket_errors_total{code="bad-request"} 1
confab_websocket_errors_total{code="rate-limited"} 3
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"confab_websocket_errors_total"); err != nil {
		t.Fatal(err)
	}
	body := scrape(t, m.Handler())
	if !strings.Contains(body, `confab_websocket_errors_total{code="rate-limited"} 3`) {
		t.Errorf("exposition lacks rate-limited errors:\n%s", body)
	}
}

func TestObserveJoin(t *testing.T) {
	m := New(&fakeSource{})
	for _, d := range []time.Duration{
		500 * time.Microsecond, // first bucket
		3 * time.Millisecond,
		40 * time.Millisecond,
		40 * time.Millisecond,
		2 * time.Second,
		30 * time.Second, // beyond the last bucket: +Inf only
	} {
		m.ObserveJoin(d)
	}

	const want = `
# HELP confab_join_seconds Time the server takes to answer a join with joined (token check, room, peer connection), in seconds.
# TYPE confab_join_seconds histogram
confab_join_seconds_bucket{le="0.001"} 1
confab_join_seconds_bucket{le="0.0025"} 1
confab_join_seconds_bucket{le="0.005"} 2
confab_join_seconds_bucket{le="0.01"} 2
confab_join_seconds_bucket{le="0.025"} 2
confab_join_seconds_bucket{le="0.05"} 4
confab_join_seconds_bucket{le="0.1"} 4
confab_join_seconds_bucket{le="0.25"} 4
confab_join_seconds_bucket{le="0.5"} 4
confab_join_seconds_bucket{le="1"} 4
confab_join_seconds_bucket{le="2.5"} 5
confab_join_seconds_bucket{le="5"} 5
confab_join_seconds_bucket{le="10"} 5
confab_join_seconds_bucket{le="+Inf"} 6
confab_join_seconds_sum 32.0835
confab_join_seconds_count 6
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"confab_join_seconds"); err != nil {
		t.Fatal(err)
	}
	body := scrape(t, m.Handler())
	if !strings.Contains(body, "\nconfab_join_seconds_count 6\n") {
		t.Errorf("exposition lacks confab_join_seconds_count 6:\n%s", body)
	}
}

func TestNilMetricsIsNoOp(t *testing.T) {
	var m *Metrics
	m.NegotiationFailed()
	m.WebSocketError("internal")
	m.ObserveJoin(time.Second)
}

func TestNilSourceServesEventsOnly(t *testing.T) {
	m := New(nil)
	m.NegotiationFailed()
	body := scrape(t, m.Handler())
	if strings.Contains(body, "confab_rooms") {
		t.Errorf("nil source yet confab_rooms exposed:\n%s", body)
	}
	if !strings.Contains(body, "\nconfab_negotiation_failures_total 1\n") {
		t.Errorf("exposition lacks confab_negotiation_failures_total 1:\n%s", body)
	}
}

func TestSeparateRegistries(t *testing.T) {
	// Two servers in one process (as in tests) must not collide, which they
	// would on the global default registry.
	a, b := New(&fakeSource{}), New(&fakeSource{})
	a.NegotiationFailed()
	if got := testutil.ToFloat64(b.negotiationFailures); got != 0 {
		t.Errorf("second Metrics saw the first's event: %v", got)
	}
}

func TestConcurrentEventsAndScrapes(t *testing.T) {
	src := &fakeSource{}
	m := New(src)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	client := &http.Client{Timeout: 5 * time.Second}

	const workers, rounds = 4, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				m.NegotiationFailed()
				m.WebSocketError("bad-request")
				m.ObserveJoin(time.Duration(i) * time.Millisecond)
				src.set(Snapshot{Rooms: w, PacketsIn: uint64(i)})
			}
		})
	}
	wg.Go(func() {
		for range 10 {
			resp, err := client.Get(srv.URL)
			if err != nil {
				t.Errorf("GET: %v", err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("status %d", resp.StatusCode)
			}
		}
	})
	wg.Wait()
	client.CloseIdleConnections()

	if got := testutil.ToFloat64(m.negotiationFailures); got != workers*rounds {
		t.Errorf("negotiation failures = %v, want %d", got, workers*rounds)
	}
	if got := testutil.ToFloat64(m.websocketErrors.WithLabelValues("bad-request")); got != workers*rounds {
		t.Errorf("bad-request errors = %v, want %d", got, workers*rounds)
	}
}
