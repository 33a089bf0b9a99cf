// Package metrics exposes Confab's state and counters to Prometheus.
//
// The media path counts packets in its own atomics and never calls
// Prometheus per packet: at scrape time a collector reads one [Snapshot]
// from a [Source] and turns it into gauges and counters. Signaling, whose
// events are rare, pushes them directly through the methods of [Metrics].
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Snapshot is the server's state and cumulative counters at one moment,
// read at scrape time. Counters only ever grow while the process lives.
type Snapshot struct {
	// Rooms, Participants, PublishedTracks and ForwardedTracks are current
	// totals across the server. A forwarded track is one (published track,
	// subscriber) pair.
	Rooms, Participants, PublishedTracks, ForwardedTracks int

	// PacketsIn and BytesIn count RTP received from publishers; PacketsOut
	// and BytesOut count RTP packets and payload bytes forwarded to
	// subscribers, retransmissions not included.
	PacketsIn, BytesIn, PacketsOut, BytesOut uint64

	// NACKsReceived counts NACKs from subscribers, NACKsSent NACKs to
	// publishers, Retransmissions packets resent to subscribers from the
	// cache, and PLIsSent PLIs sent to publishers.
	NACKsReceived, NACKsSent, Retransmissions, PLIsSent uint64

	// RetransmissionsLimited counts NACKed packets not resent because of the
	// retransmission limits: resent less than a round trip before, or the
	// subscriber's retransmission budget spent.
	RetransmissionsLimited uint64

	// OverLimitDrops counts packets from publishers dropped because their
	// participant sent more than rooms.maxPublishBitrate.
	OverLimitDrops uint64

	// ControlRateDrops counts RTCP, STUN and DTLS packets from participants
	// dropped because they came faster than the server's bound.
	ControlRateDrops uint64

	// UnknownSSRCDrops counts RTP packets from participants on SSRCs of
	// none of their streams, and RTCP about SSRCs neither theirs nor the
	// server's, dropped past the server's bound on such SSRCs.
	UnknownSSRCDrops uint64

	// DirectPacketsOut counts the packets of PacketsOut the server encrypted
	// and wrote itself rather than through pion's write path.
	DirectPacketsOut uint64

	// DirectPacketsIn counts the packets of PacketsIn the server read and
	// decrypted itself rather than through pion's receive path;
	// DirectDrops, packets dropped there because a track's queue was full;
	// DirectDecryptFailures, packets there that failed to decrypt.
	DirectPacketsIn, DirectDrops, DirectDecryptFailures uint64
}

// Source supplies a Snapshot; the server implements it. Snapshot is called
// once per scrape, possibly from several scrapes at once, so it must be safe
// for concurrent use.
type Source interface {
	Snapshot() Snapshot
}

// joinBuckets spans 1 ms to 10 s: a join on a LAN completes in a few
// milliseconds, one across the world with TURN in a second or two, and
// anything near 10 s is a failure in all but name.
var joinBuckets = []float64{
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// Metrics owns a Prometheus registry holding Confab's metrics, plus the Go
// runtime and process collectors. A nil *Metrics is valid: its event methods
// do nothing, so callers with metrics turned off need no nil checks.
type Metrics struct {
	registry            *prometheus.Registry
	negotiationFailures prometheus.Counter
	websocketErrors     *prometheus.CounterVec
	connections         prometheus.Gauge
	join                prometheus.Histogram
}

// New returns Metrics with its own registry (never the global default one)
// reading server state from src at each scrape. A nil src registers no
// server-state metrics, only the pushed events and the runtime collectors.
func New(src Source) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		negotiationFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "confab_negotiation_failures_total",
			Help: "Offers, answers and candidates from clients that the server could not apply (each answered with negotiation-failed).",
		}),
		websocketErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "confab_websocket_errors_total",
			Help: "Error messages sent to clients over the signaling WebSocket, by protocol error code.",
		}, []string{"code"}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "confab_websocket_connections",
			Help: "Signaling WebSocket connections currently open, joined or not (capped by signaling.maxConnections).",
		}),
		join: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "confab_join_seconds",
			Help:    "Time the server takes to answer a join with joined (token check, room, peer connection), in seconds.",
			Buckets: joinBuckets,
		}),
	}
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.negotiationFailures,
		m.websocketErrors,
		m.connections,
		m.join,
	)
	if src != nil {
		m.registry.MustRegister(newSnapshotCollector(src))
	}
	return m
}

// Handler serves the registry in the Prometheus exposition format. A failure
// to collect one metric is reported in the response and the rest are still
// served, so one broken collector does not blind the dashboards.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      m.registry,
	})
}

// Registry returns the registry behind Handler, for tests and for callers
// that want to register metrics of their own.
func (m *Metrics) Registry() *prometheus.Registry {
	return m.registry
}

// NegotiationFailed counts one failed SDP negotiation.
func (m *Metrics) NegotiationFailed() {
	if m == nil {
		return
	}
	m.negotiationFailures.Inc()
}

// WebSocketError counts one error sent to a client, labelled by its protocol
// code ("bad-request", "rate-limited", ...). Pass only the protocol's fixed
// codes, never free text: each distinct code is a new time series.
func (m *Metrics) WebSocketError(code string) {
	if m == nil {
		return
	}
	m.websocketErrors.WithLabelValues(code).Inc()
}

// SetConnections records the number of signaling connections now open.
func (m *Metrics) SetConnections(n int) {
	if m == nil {
		return
	}
	m.connections.Set(float64(n))
}

// ObserveJoin records how long one join took, from the join request received
// to the participant joined (joined sent).
func (m *Metrics) ObserveJoin(d time.Duration) {
	if m == nil {
		return
	}
	m.join.Observe(d.Seconds())
}
