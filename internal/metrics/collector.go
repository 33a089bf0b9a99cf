package metrics

import "github.com/prometheus/client_golang/prometheus"

// snapshotMetric describes one metric taken from a Snapshot.
type snapshotMetric struct {
	desc      *prometheus.Desc
	valueType prometheus.ValueType
	value     func(Snapshot) float64
}

// snapshotCollector turns one Snapshot per scrape into Prometheus metrics,
// so the media path keeps its cheap atomic counters and Prometheus costs
// nothing between scrapes.
type snapshotCollector struct {
	src     Source
	metrics []snapshotMetric
}

func newSnapshotCollector(src Source) *snapshotCollector {
	gauge := func(name, help string, v func(Snapshot) int) snapshotMetric {
		return snapshotMetric{
			desc:      prometheus.NewDesc(name, help, nil, nil),
			valueType: prometheus.GaugeValue,
			value:     func(s Snapshot) float64 { return float64(v(s)) },
		}
	}
	counter := func(name, help string, v func(Snapshot) uint64) snapshotMetric {
		return snapshotMetric{
			desc:      prometheus.NewDesc(name, help, nil, nil),
			valueType: prometheus.CounterValue,
			value:     func(s Snapshot) float64 { return float64(v(s)) },
		}
	}
	return &snapshotCollector{
		src: src,
		metrics: []snapshotMetric{
			gauge("confab_rooms", "Rooms that currently exist.",
				func(s Snapshot) int { return s.Rooms }),
			gauge("confab_participants", "Participants currently joined, across all rooms.",
				func(s Snapshot) int { return s.Participants }),
			gauge("confab_published_tracks", "Tracks currently published to the server.",
				func(s Snapshot) int { return s.PublishedTracks }),
			gauge("confab_forwarded_tracks", "Tracks currently forwarded to subscribers, one per (track, subscriber) pair.",
				func(s Snapshot) int { return s.ForwardedTracks }),
			counter("confab_rtp_packets_received_total", "RTP packets received from publishers.",
				func(s Snapshot) uint64 { return s.PacketsIn }),
			counter("confab_rtp_bytes_received_total", "RTP bytes received from publishers.",
				func(s Snapshot) uint64 { return s.BytesIn }),
			counter("confab_rtp_packets_sent_total", "RTP packets forwarded to subscribers (retransmissions are counted in confab_retransmissions_total).",
				func(s Snapshot) uint64 { return s.PacketsOut }),
			counter("confab_rtp_packets_sent_direct_total", "RTP packets sent to subscribers on the direct path (the server's own SRTP and socket write), a part of confab_rtp_packets_sent_total.",
				func(s Snapshot) uint64 { return s.DirectPacketsOut }),
			counter("confab_rtp_packets_received_direct_total", "RTP packets received from publishers on the direct path (the server's own socket read and SRTP), a part of confab_rtp_packets_received_total.",
				func(s Snapshot) uint64 { return s.DirectPacketsIn }),
			counter("confab_rtp_direct_drops_total", "RTP packets from publishers dropped on the direct path because the track's queue was full (the track's forwarding is behind).",
				func(s Snapshot) uint64 { return s.DirectDrops }),
			counter("confab_rtp_direct_decrypt_failures_total", "RTP packets from publishers on the direct path that failed SRTP authentication or replay checks.",
				func(s Snapshot) uint64 { return s.DirectDecryptFailures }),
			counter("confab_rtp_over_limit_drops_total", "RTP packets from publishers dropped because their participant sent more than rooms.maxPublishBitrate.",
				func(s Snapshot) uint64 { return s.OverLimitDrops }),
			counter("confab_control_rate_limited_total", "RTCP, STUN and DTLS packets from participants dropped because they came faster than 1000 a second plus 20 for each stream the participant sends or receives.",
				func(s Snapshot) uint64 { return s.ControlRateDrops }),
			counter("confab_rtp_unknown_ssrc_drops_total", "RTP packets from participants on an SSRC of none of their streams, and RTCP about an SSRC neither theirs nor the server's towards them, dropped once 64 such SSRCs went to pion over the connection's life.",
				func(s Snapshot) uint64 { return s.UnknownSSRCDrops }),
			counter("confab_rtp_bytes_sent_total", "RTP payload bytes forwarded to subscribers, retransmissions not included.",
				func(s Snapshot) uint64 { return s.BytesOut }),
			counter("confab_nacks_received_total", "RTCP NACKs received from subscribers.",
				func(s Snapshot) uint64 { return s.NACKsReceived }),
			counter("confab_nacks_sent_total", "RTCP NACKs sent to publishers.",
				func(s Snapshot) uint64 { return s.NACKsSent }),
			counter("confab_retransmissions_total", "RTP packets resent to subscribers in answer to NACKs.",
				func(s Snapshot) uint64 { return s.Retransmissions }),
			counter("confab_retransmissions_limited_total", "NACKed RTP packets not resent: resent less than a round trip before, or the subscriber's retransmission budget (about the stream's own rate) spent.",
				func(s Snapshot) uint64 { return s.RetransmissionsLimited }),
			counter("confab_plis_sent_total", "RTCP PLIs (keyframe requests) sent to publishers.",
				func(s Snapshot) uint64 { return s.PLIsSent }),
		},
	}
}

// Describe implements prometheus.Collector.
func (c *snapshotCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.metrics {
		ch <- m.desc
	}
}

// Collect implements prometheus.Collector, reading the Source once so that
// every metric of a scrape comes from the same moment.
func (c *snapshotCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.Snapshot()
	for _, m := range c.metrics {
		ch <- prometheus.MustNewConstMetric(m.desc, m.valueType, m.value(s))
	}
}
