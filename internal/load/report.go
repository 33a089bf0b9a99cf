package load

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Report is what a run measured. Times are in milliseconds and seconds as
// their names say; counts of packets are RTP packets.
type Report struct {
	Config ReportConfig `json:"config"`
	// Start is when the run began.
	Start time.Time `json:"start"`
	// JoinSeconds is the time from the first join to the last join's end;
	// SetupSeconds the time from the first join until every receiver got
	// all of its tracks (or the setup timeout).
	JoinSeconds  float64 `json:"joinSeconds"`
	SetupSeconds float64 `json:"setupSeconds"`
	// WindowSeconds is the length of the measurement window; Interrupted is
	// set when it was cut short.
	WindowSeconds float64 `json:"windowSeconds"`
	Interrupted   bool    `json:"interrupted,omitempty"`

	// Sent is what the publishers sent.
	Sent SentStats `json:"sent"`
	// FanOut is the number of receivers of each published track: every
	// subscriber and every other publisher.
	FanOut int `json:"fanOut"`
	// ForwardedPackets is the number of packets all receivers got in the
	// window, and ForwardedPerSecond its rate: the packets the server
	// forwarded, as seen from the receiving end.
	ForwardedPackets   uint64  `json:"forwardedPackets"`
	ForwardedPerSecond float64 `json:"forwardedPerSecond"`

	// All covers every receiver but the stalled and lossy ones: the
	// subscribers and the publishers. The groups below split it, and add
	// the stalled and lossy subscribers, when there are any.
	All         GroupStats  `json:"all"`
	Subscribers *GroupStats `json:"subscribers,omitempty"`
	Publishers  *GroupStats `json:"publishers,omitempty"`
	Stalled     *GroupStats `json:"stalled,omitempty"`
	Lossy       *GroupStats `json:"lossy,omitempty"`

	// Probes are subscribers that joined one at a time after the window,
	// while the others kept receiving.
	Probes *ProbeStats `json:"probes,omitempty"`

	// Server is the server's process over the window, when its pid was
	// given; Load is this process; Machine the whole machine.
	Server  *ProcStats   `json:"server,omitempty"`
	Load    ProcStats    `json:"load"`
	Machine MachineStats `json:"machine"`
	// ServerQueueDrops is how many of the publishers' packets the server
	// shed over the run because a track's queue was full (its forwarding
	// starved of CPU), read from its /metrics; nil when they could not be
	// read (another server, or metrics off).
	ServerQueueDrops *uint64 `json:"serverQueueDrops,omitempty"`

	// Receivers lists each receiver, when Config.PerReceiver is set.
	Receivers []ReceiverStats `json:"receivers,omitempty"`
	// Warnings say what makes the figures less than trustworthy.
	Warnings []string `json:"warnings,omitempty"`
}

// ReportConfig is the part of the Config a report repeats.
type ReportConfig struct {
	URL                     string  `json:"url"`
	Room                    string  `json:"room"`
	Publishers              int     `json:"publishers"`
	Subscribers             int     `json:"subscribers"`
	Stalled                 int     `json:"stalled,omitempty"`
	Lossy                   int     `json:"lossy,omitempty"`
	LossRate                float64 `json:"lossRate,omitempty"`
	Video                   bool    `json:"video"`
	Audio                   bool    `json:"audio"`
	VideoBitrate            int     `json:"videoBitrate"`
	FPS                     int     `json:"fps"`
	KeyframeIntervalSeconds float64 `json:"keyframeIntervalSeconds"`
	// Pace is Config.Pace: 0 when every video frame went out as one burst.
	Pace                float64 `json:"pace,omitempty"`
	WarmupSeconds       float64 `json:"warmupSeconds"`
	DurationSeconds     float64 `json:"durationSeconds"`
	GraceSeconds        float64 `json:"graceSeconds"`
	DefaultInterceptors bool    `json:"defaultInterceptors,omitempty"`
}

// SentStats is what the publishers sent, in the window and per publisher.
type SentStats struct {
	// VideoPackets and AudioPackets are the packets sent in the window, by
	// all publishers.
	VideoPackets uint64 `json:"videoPackets"`
	AudioPackets uint64 `json:"audioPackets"`
	// VideoPerSecond and AudioPerSecond are one publisher's average rates
	// in the window; PlannedVideoPerSecond the rate the frame plan makes
	// without keyframe requests.
	VideoPerSecond        float64 `json:"videoPerSecond"`
	AudioPerSecond        float64 `json:"audioPerSecond"`
	PlannedVideoPerSecond float64 `json:"plannedVideoPerSecond"`
	// Keyframes is the number of keyframes sent over the whole run, and
	// RequestedKeyframes those sent early because the server sent a PLI.
	Keyframes          uint64 `json:"keyframes"`
	RequestedKeyframes uint64 `json:"requestedKeyframes"`
	// Errors counts failed writes.
	Errors uint64 `json:"errors,omitempty"`
}

// Counts are the packet counters a receiver keeps and a group sums. They are
// embedded in ReceiverStats and GroupStats, so their JSON fields stand
// inline in both.
type Counts struct {
	// Packets counts all packets received, WindowPackets those received in
	// the window.
	Packets       uint64 `json:"packets"`
	WindowPackets uint64 `json:"windowPackets"`
	// Lost counts packets never received, from each track's first packet
	// received to the last one sent, after the grace period: NACK
	// retransmissions count as received. WindowLost counts those of them
	// sent in the window, and WindowExpected the packets sent in the window
	// that the receivers should have got.
	Lost           uint64 `json:"lost"`
	WindowLost     uint64 `json:"windowLost"`
	WindowExpected uint64 `json:"windowExpected"`
	// Late counts packets that came after a later one (mostly
	// retransmissions), Duplicates packets received twice, Bad packets
	// without a valid tag or on the wrong track.
	Late       uint64 `json:"late"`
	Duplicates uint64 `json:"duplicates"`
	Bad        uint64 `json:"bad,omitempty"`
}

// add sums o into c.
func (c *Counts) add(o Counts) {
	c.Packets += o.Packets
	c.WindowPackets += o.WindowPackets
	c.Lost += o.Lost
	c.WindowLost += o.WindowLost
	c.WindowExpected += o.WindowExpected
	c.Late += o.Late
	c.Duplicates += o.Duplicates
	c.Bad += o.Bad
}

// GroupStats sums up a group of receivers.
type GroupStats struct {
	// Receivers is the number that joined, JoinFailures the number that did
	// not, and Incomplete the number that joined but never got a packet of
	// some track they should have.
	Receivers    int `json:"receivers"`
	JoinFailures int `json:"joinFailures,omitempty"`
	Incomplete   int `json:"incomplete,omitempty"`
	Counts
	// Latency is the one-way latency of the packets received in the
	// window, from the moment the publisher's client handed the packet to
	// the kernel to the kernel's delivery at the receiver's socket
	// (SO_TIMESTAMPNS): the load process's own delays, in sending and in
	// reading, are not in it. VideoLatency and AudioLatency split it by kind.
	// A video frame leaves the publisher as a burst, and the server
	// forwards its packets one after the other to every receiver, so video
	// waits longer; an audio packet is alone, but may queue behind a burst.
	// Unstamped counts window packets whose arrival time was not known
	// (they are left out of these three).
	Latency      Latency  `json:"latencyMs"`
	VideoLatency *Latency `json:"videoLatencyMs,omitempty"`
	AudioLatency *Latency `json:"audioLatencyMs,omitempty"`
	Unstamped    uint64   `json:"unstamped,omitempty"`
	// AppLatency is the latency from the send time in the packet's tag
	// (taken before pion's send path) to the moment the load's receiver
	// handled it (after pion's receive path): it adds the load's own
	// queueing, which is large when the load process is busy.
	AppLatency Latency `json:"appLatencyMs"`
	// JoinToFirstPacket is, per receiver that joined while media flowed, the
	// time from sending join to its first media packet; JoinToKeyframe to
	// the first packet of a video keyframe.
	JoinToFirstPacket *Spread `json:"joinToFirstPacketMs,omitempty"`
	JoinToKeyframe    *Spread `json:"joinToKeyframeMs,omitempty"`
}

// Latency is a latency distribution, in milliseconds.
type Latency struct {
	Samples uint64  `json:"samples"`
	P50     float64 `json:"p50"`
	P95     float64 `json:"p95"`
	P99     float64 `json:"p99"`
	Max     float64 `json:"max"`
}

// Spread is a distribution of one value per receiver, in milliseconds.
type Spread struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50"`
	P95   float64 `json:"p95"`
	Max   float64 `json:"max"`
}

// ProcStats is one process over the measurement window.
type ProcStats struct {
	PID int `json:"pid"`
	// CPUSeconds is the user and system CPU time spent in the window, and
	// CPUPercent that time over the window's length (100 is one core).
	CPUSeconds float64 `json:"cpuSeconds"`
	CPUPercent float64 `json:"cpuPercent"`
	// CPUPerPacketMicros is CPUSeconds over the packets forwarded in the
	// window (server only).
	CPUPerPacketMicros float64 `json:"cpuPerPacketMicros,omitempty"`
	// RSSMiB is the resident memory at the end of the window, PeakRSSMiB
	// its high-water mark since the process started.
	RSSMiB     float64 `json:"rssMiB"`
	PeakRSSMiB float64 `json:"peakRssMiB"`
	// UDPDrops counts the datagrams the kernel dropped on the process's
	// UDP sockets in the window, because their receive buffer was full:
	// on the server's, packets from publishers (and RTCP) lost before the
	// server read them; on the load's, forwarded packets it was too busy
	// to read in time.
	UDPDrops uint64 `json:"udpDrops"`
	// Cores is GOMAXPROCS and Goroutines the goroutine count at the end of
	// the window (load only).
	Cores      int `json:"cores,omitempty"`
	Goroutines int `json:"goroutines,omitempty"`
	// DirectPercent is the share of the packets the receivers got, over
	// the run, that they took off their sockets themselves rather than
	// through pion's receive path (load only; Config.PionReceive).
	DirectPercent float64 `json:"directPercent,omitempty"`
}

// ProbeStats is what the probes measured: per probe, the time from sending
// join to its first media packet, and to its first keyframe packet.
type ProbeStats struct {
	Count             int     `json:"count"`
	Failed            int     `json:"failed,omitempty"`
	JoinToFirstPacket *Spread `json:"joinToFirstPacketMs,omitempty"`
	JoinToKeyframe    *Spread `json:"joinToKeyframeMs,omitempty"`
}

// MachineStats is the whole machine over the window.
type MachineStats struct {
	Cores int `json:"cores"`
	// BusyPercent is the busy time of all cores over the window's length
	// (100 is one core), and OtherPercent the part of it that is neither
	// the server's process nor the load's: the kernel's softirq work on
	// their packets, and whatever else runs on the machine. Much of the
	// latter disturbs the figures.
	BusyPercent  float64 `json:"busyPercent"`
	OtherPercent float64 `json:"otherPercent"`
}

// ReceiverStats is one receiver's figures.
type ReceiverStats struct {
	Name           string `json:"name"`
	Role           string `json:"role"`
	Error          string `json:"error,omitempty"`
	Tracks         int    `json:"tracks"`
	ExpectedTracks int    `json:"expectedTracks"`
	Counts
	Latency            Latency         `json:"latencyMs"`
	AppLatency         Latency         `json:"appLatencyMs"`
	JoinToFirstPacket  *float64        `json:"joinToFirstPacketMs,omitempty"`
	JoinToKeyframe     *float64        `json:"joinToKeyframeMs,omitempty"`
	latency            [2][2]histogram // [toSocket or toApp][kind]
	maxLatency         [2][2]time.Duration
	stamped            uint64
	joinFirst, joinKey time.Duration
	complete, joined   bool
	hasJoinTimes       bool
}

// Where latency is measured to.
const (
	toSocket = iota
	toApp
)

// latencyOf sums up one kind of latency over both kinds of track.
func (r *ReceiverStats) latencyOf(to int) Latency {
	var all histogram
	all.add(&r.latency[to][kindAudio])
	all.add(&r.latency[to][kindVideo])
	return latencyOf(&all, max(r.maxLatency[to][kindAudio], r.maxLatency[to][kindVideo]))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// latencyOf is the distribution in h, whose largest sample was maxLatency.
// A quantile is the middle of its bucket, which may lie above the largest
// sample when that sample is in the bucket: no quantile is reported above
// it.
func latencyOf(h *histogram, maxLatency time.Duration) Latency {
	q := func(p float64) float64 {
		v := h.quantile(p)
		if maxLatency > 0 {
			v = min(v, maxLatency)
		}
		return ms(v)
	}
	return Latency{
		Samples: h.count(),
		P50:     q(0.50),
		P95:     q(0.95),
		P99:     q(0.99),
		Max:     ms(maxLatency),
	}
}

func spreadOf(ds []time.Duration) *Spread {
	if len(ds) == 0 {
		return nil
	}
	slices.Sort(ds)
	return &Spread{
		Count: len(ds),
		P50:   ms(durationQuantile(ds, 0.50)),
		P95:   ms(durationQuantile(ds, 0.95)),
		Max:   ms(ds[len(ds)-1]),
	}
}

// group sums up receivers.
func group(rs []*ReceiverStats) GroupStats {
	var g GroupStats
	var first, key []time.Duration
	var lat [2][2]histogram
	var worst [2][2]time.Duration
	for _, r := range rs {
		if !r.joined {
			g.JoinFailures++
			continue
		}
		if r.ExpectedTracks == 0 {
			continue // a lone publisher receives nothing
		}
		g.Receivers++
		if !r.complete {
			g.Incomplete++
		}
		g.Counts.add(r.Counts)
		for to := range lat {
			for k := range lat[to] {
				lat[to][k].add(&r.latency[to][k])
				worst[to][k] = max(worst[to][k], r.maxLatency[to][k])
			}
		}
		g.Unstamped += r.WindowPackets - r.stamped
		if r.hasJoinTimes {
			first = append(first, r.joinFirst)
			if r.joinKey > 0 {
				key = append(key, r.joinKey)
			}
		}
	}
	sum := ReceiverStats{latency: lat, maxLatency: worst}
	g.Latency = sum.latencyOf(toSocket)
	g.AppLatency = sum.latencyOf(toApp)
	if sock := &lat[toSocket]; sock[kindVideo].count() > 0 && sock[kindAudio].count() > 0 {
		v := latencyOf(&sock[kindVideo], worst[toSocket][kindVideo])
		a := latencyOf(&sock[kindAudio], worst[toSocket][kindAudio])
		g.VideoLatency, g.AudioLatency = &v, &a
	}
	g.JoinToFirstPacket = spreadOf(first)
	g.JoinToKeyframe = spreadOf(key)
	return g
}

// Format writes the report for a person to read.
func (r *Report) Format(w io.Writer) error {
	var b strings.Builder
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "%-12s"+format+"\n", append([]any{label}, args...)...)
	}
	c := r.Config
	fmt.Fprintf(&b, "confab-load: %d publisher(s) × %d subscriber(s)", c.Publishers, c.Subscribers)
	if c.Stalled > 0 || c.Lossy > 0 {
		fmt.Fprintf(&b, " + %d stalled + %d lossy (%.0f %% loss)", c.Stalled, c.Lossy, 100*c.LossRate)
	}
	fmt.Fprintf(&b, ", room %s at %s\n", c.Room, c.URL)
	var media []string
	if c.Video {
		media = append(media, fmt.Sprintf("H.264 %.2f Mbit/s %d fps (%.0f pkt/s planned, %.0f sent)",
			float64(c.VideoBitrate)/1e6, c.FPS, r.Sent.PlannedVideoPerSecond, r.Sent.VideoPerSecond))
		if c.Pace > 0 {
			media[len(media)-1] += fmt.Sprintf(", paced at %g × the bitrate", c.Pace)
		}
	}
	if c.Audio {
		media = append(media, fmt.Sprintf("Opus %.0f pkt/s", r.Sent.AudioPerSecond))
	}
	line("media", "%s per publisher; %d receivers per track", strings.Join(media, " + "), r.FanOut)
	line("keyframes", "%d sent, %d of them asked for by PLI", r.Sent.Keyframes, r.Sent.RequestedKeyframes)
	line("setup", "joins done in %.1f s, all tracks flowing after %.1f s", r.JoinSeconds, r.SetupSeconds)
	window := fmt.Sprintf("%.1f s after %g s of warm-up", r.WindowSeconds, c.WarmupSeconds)
	if r.Interrupted {
		window += " (interrupted)"
	}
	line("window", "%s", window)
	line("forwarded", "%d packets, %.0f/s", r.ForwardedPackets, r.ForwardedPerSecond)
	groups := []struct {
		name string
		g    *GroupStats
	}{{"all", &r.All}, {"subscribers", r.Subscribers}, {"publishers", r.Publishers}, {"stalled", r.Stalled}, {"lossy", r.Lossy}}
	split := r.Subscribers != nil && r.Publishers != nil || r.Stalled != nil || r.Lossy != nil
	for _, gr := range groups {
		if gr.g == nil || (gr.name != "all" && !split) {
			continue
		}
		g := gr.g
		head := fmt.Sprintf("%d receivers", g.Receivers)
		if g.JoinFailures > 0 {
			head += fmt.Sprintf(", %d failed to join", g.JoinFailures)
		}
		if g.Incomplete > 0 {
			head += fmt.Sprintf(", %d missing tracks", g.Incomplete)
		}
		line(gr.name, "%s", head)
		for _, l := range []struct {
			what string
			l    *Latency
		}{
			{"latency to socket", &g.Latency}, {"  video", g.VideoLatency}, {"  audio", g.AudioLatency},
			{"latency to app   ", &g.AppLatency},
		} {
			if l.l != nil {
				line("", "%s p50 %.2f ms, p95 %.2f ms, p99 %.2f ms, max %.1f ms (%d packets)",
					l.what, l.l.P50, l.l.P95, l.l.P99, l.l.Max, l.l.Samples)
			}
		}
		if g.Unstamped > 0 {
			line("", "%d packets without a socket arrival time", g.Unstamped)
		}
		loss := fmt.Sprintf("loss %d of %d sent in the window (%d over the run); %d late, %d duplicates",
			g.WindowLost, g.WindowExpected, g.Lost, g.Late, g.Duplicates)
		if g.Bad > 0 {
			loss += fmt.Sprintf(", %d bad", g.Bad)
		}
		line("", "%s", loss)
		if s := g.JoinToFirstPacket; s != nil {
			join := fmt.Sprintf("join→first packet p50 %.0f ms, p95 %.0f ms, max %.0f ms (%d receivers)", s.P50, s.P95, s.Max, s.Count)
			if k := g.JoinToKeyframe; k != nil {
				join += fmt.Sprintf("; join→keyframe p50 %.0f ms", k.P50)
			}
			line("", "%s", join)
		}
	}
	if p := r.Probes; p != nil {
		probes := fmt.Sprintf("%d joined alone after the window", p.Count)
		if p.Failed > 0 {
			probes += fmt.Sprintf(", %d failed", p.Failed)
		}
		if s := p.JoinToFirstPacket; s != nil {
			probes += fmt.Sprintf("; join→first packet p50 %.0f ms, max %.0f ms", s.P50, s.Max)
		}
		if s := p.JoinToKeyframe; s != nil {
			probes += fmt.Sprintf("; join→keyframe p50 %.0f ms", s.P50)
		}
		line("probes", "%s", probes)
	}
	if s := r.Server; s != nil {
		line("server", "pid %d: %.2f s CPU (%.1f %% of a core) = %.2f µs per forwarded packet; RSS %.0f MiB (peak %.0f MiB); %d socket drops",
			s.PID, s.CPUSeconds, s.CPUPercent, s.CPUPerPacketMicros, s.RSSMiB, s.PeakRSSMiB, s.UDPDrops)
	}
	l := r.Load
	line("load", "%.2f s CPU (%.1f %% of a core, %d cores usable), RSS %.0f MiB, %d goroutines; %d socket drops; %.1f %% of packets received directly",
		l.CPUSeconds, l.CPUPercent, l.Cores, l.RSSMiB, l.Goroutines, l.UDPDrops, l.DirectPercent)
	line("machine", "%d cores %.0f %% busy, %.0f %% of a core neither the server's nor the load's",
		r.Machine.Cores, r.Machine.BusyPercent, r.Machine.OtherPercent)
	for _, w := range r.Warnings {
		line("warning", "%s", w)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// TableHeader is the header of the Markdown table TableRow writes rows of.
func TableHeader() string {
	return "| scenario | receivers per track | forwarded pkt/s | server µs/pkt | server CPU | server RSS MiB | latency p50 / p99 ms | lost (window) | socket drops server / load | join→first pkt p50 ms | load CPU | other CPU |\n" +
		"| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
}

// TableRow is one Markdown table row of the report's main figures.
func (r *Report) TableRow(label string) string {
	cpu, pct, rss, drops := "–", "–", "–", "–"
	if s := r.Server; s != nil {
		cpu = fmt.Sprintf("%.2f", s.CPUPerPacketMicros)
		pct = fmt.Sprintf("%.0f %%", s.CPUPercent)
		rss = fmt.Sprintf("%.0f", s.RSSMiB)
		drops = fmt.Sprint(s.UDPDrops)
	}
	drops += fmt.Sprintf(" / %d", r.Load.UDPDrops)
	join := "–"
	if r.Probes != nil && r.Probes.JoinToFirstPacket != nil {
		join = fmt.Sprintf("%.0f", r.Probes.JoinToFirstPacket.P50)
	}
	return fmt.Sprintf("| %s | %d | %.0f | %s | %s | %s | %.2f / %.2f | %d of %d | %s | %s | %.0f %% | %.0f %% |",
		label, r.FanOut, r.ForwardedPerSecond, cpu, pct, rss, r.All.Latency.P50, r.All.Latency.P99,
		r.All.WindowLost, r.All.WindowExpected, drops, join, r.Load.CPUPercent, r.Machine.OtherPercent)
}
