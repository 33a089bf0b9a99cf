package load

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Config describes one load run. The zero value of every field but URL
// means its default.
type Config struct {
	// URL is the server's base URL, http://127.0.0.1:8080.
	URL string
	// Room is the room everyone joins; default "bench".
	Room string

	// Publishers is the number of participants that publish a camera
	// (H.264) and a microphone (Opus); default 1. Like any participant they
	// also receive every other publisher's tracks, and are measured as
	// receivers too.
	Publishers int
	// Subscribers is the number of participants that publish nothing and
	// receive every publisher's tracks.
	Subscribers int

	// Warmup is the time between the moment every receiver gets all its
	// tracks and the start of the measurement window; default 5s.
	Warmup time.Duration
	// Duration is the length of the measurement window; default 30s.
	Duration time.Duration
	// Grace is how long receivers keep reading after the publishers stop,
	// so that retransmissions asked for by NACK still count; default 2s.
	Grace time.Duration

	// VideoBitrate is the average video bitrate in bit/s; default 1.5 Mbit/s.
	VideoBitrate int
	// FPS is the video frame rate; default 30.
	FPS int
	// KeyframeInterval is the time between periodic keyframes, each
	// KeyframeFactor times as large as another frame; defaults 3s and 4.
	// Publishers also send a keyframe when the server asks for one (PLI).
	KeyframeInterval time.Duration
	KeyframeFactor   int
	// MaxPayload bounds a video packet's RTP payload; default 1200 bytes.
	MaxPayload int
	// AudioPayload is the size of an audio packet's payload; default 100
	// bytes (50 packets/s: 40 kbit/s of Opus).
	AudioPayload int
	// Pace, when above 0, spreads each video frame's packets as a
	// browser's pacer does instead of sending the frame as one burst:
	// every PaceSlot, packets worth Pace × VideoBitrate of sending time
	// (libwebrtc paces at 2.5 × the target bitrate, every 5 ms). 0, the
	// default, sends every frame as one burst.
	Pace float64
	// GRO has every client socket take a segmented send whole (UDP_GRO,
	// Linux) and split it itself, as a receiver on another machine
	// would cost the server nothing to deliver to. Off by default: over
	// loopback the server's CPU time then includes the kernel's delivery
	// of every datagram into its receiver's socket, as in the issue's
	// figures.
	GRO bool
	// PionReceive leaves every packet a receiver gets to pion's receive
	// path (five goroutine hand-offs each). By default the subscribers
	// and publishers take each track's packets off their socket
	// themselves after the first (client.Options.DirectReceive), so that
	// one core can run 500 of them; stalled and lossy subscribers always
	// use pion's path.
	PionReceive bool
	// NoVideo and NoAudio leave a kind of track out.
	NoVideo, NoAudio bool

	// ServerPID, when not 0, is the server process whose CPU time and
	// memory are read from /proc over the measurement window.
	ServerPID int

	// JoinConcurrency bounds how many participants join at once; default 32.
	JoinConcurrency int
	// JoinTimeout bounds one participant's join: WebSocket, join, offer and
	// answer, ICE and DTLS; default 30s.
	JoinTimeout time.Duration
	// SetupTimeout bounds the wait, after the joins, until every receiver
	// gets a packet of each of its tracks; default 60s.
	SetupTimeout time.Duration

	// Stalled adds subscribers that stop reading media: each of their
	// tracks' readers blocks after the first packet, for the whole run.
	// Lossy adds subscribers that drop LossRate (default 0.1) of the RTP
	// they receive, before the NACK generator sees it. Both are measured
	// apart from the others, to show that they do not disturb them.
	Stalled, Lossy int
	LossRate       float64

	// Probes is the number of subscribers that join one at a time after the
	// window, a second apart, while the others keep receiving, to measure
	// the time from join to the first packet of a participant joining
	// alone; default 5, negative for none.
	Probes int

	// DefaultInterceptors gives the load's clients pion's full default
	// interceptors instead of the light set (client.Options.LightInterceptors).
	DefaultInterceptors bool
	// PerReceiver keeps every receiver's own figures in the report.
	PerReceiver bool

	// Logger receives progress; nil discards it.
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultRoom             = "bench"
	DefaultWarmup           = 5 * time.Second
	DefaultDuration         = 30 * time.Second
	DefaultGrace            = 2 * time.Second
	DefaultVideoBitrate     = 1_500_000
	DefaultFPS              = 30
	DefaultKeyframeInterval = 3 * time.Second
	DefaultKeyframeFactor   = 4
	DefaultMaxPayload       = 1200
	DefaultAudioPayload     = 100
	DefaultJoinConcurrency  = 32
	DefaultJoinTimeout      = 30 * time.Second
	DefaultSetupTimeout     = 60 * time.Second
	DefaultLossRate         = 0.1
	DefaultProbes           = 5
	// PaceSlot is the interval of the video pacer (Config.Pace).
	PaceSlot = 5 * time.Millisecond
)

// withDefaults fills in the zero fields and checks the result.
func (c Config) withDefaults() (Config, error) {
	setDefault(&c.Room, DefaultRoom)
	setDefault(&c.Publishers, 1)
	setDefault(&c.Warmup, DefaultWarmup)
	setDefault(&c.Duration, DefaultDuration)
	setDefault(&c.Grace, DefaultGrace)
	setDefault(&c.VideoBitrate, DefaultVideoBitrate)
	setDefault(&c.FPS, DefaultFPS)
	setDefault(&c.KeyframeInterval, DefaultKeyframeInterval)
	setDefault(&c.KeyframeFactor, DefaultKeyframeFactor)
	setDefault(&c.MaxPayload, DefaultMaxPayload)
	setDefault(&c.AudioPayload, DefaultAudioPayload)
	setDefault(&c.JoinConcurrency, DefaultJoinConcurrency)
	setDefault(&c.JoinTimeout, DefaultJoinTimeout)
	setDefault(&c.SetupTimeout, DefaultSetupTimeout)
	setDefault(&c.LossRate, DefaultLossRate)
	setDefault(&c.Probes, DefaultProbes)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}

	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(c.URL != "", "no server URL")
	check(c.Publishers > 0, "publishers: %d, want at least 1", c.Publishers)
	check(c.Subscribers >= 0 && c.Stalled >= 0 && c.Lossy >= 0, "negative subscriber count")
	check(!(c.NoVideo && c.NoAudio), "neither video nor audio")
	check(c.Warmup >= 0 && c.Grace >= 0, "negative warm-up or grace")
	check(c.Duration > 0, "duration: %v, want more than 0", c.Duration)
	check(c.VideoBitrate >= 8_000, "video bitrate: %d bit/s, want at least 8000", c.VideoBitrate)
	check(c.FPS >= 1 && c.FPS <= 120, "fps: %d, want 1 to 120", c.FPS)
	check(c.KeyframeInterval > 0, "keyframe interval: %v, want more than 0", c.KeyframeInterval)
	check(c.KeyframeFactor >= 1, "keyframe factor: %d, want at least 1", c.KeyframeFactor)
	check(c.MaxPayload >= 2*tagSize && c.MaxPayload <= 1400,
		"max payload: %d bytes, want %d to 1400", c.MaxPayload, 2*tagSize)
	check(c.AudioPayload >= 1+tagSize && c.AudioPayload <= 1400,
		"audio payload: %d bytes, want %d to 1400", c.AudioPayload, 1+tagSize)
	check(c.Pace == 0 || c.Pace >= 1, "pace: %v, want 0 (bursts) or at least 1", c.Pace)
	check(c.LossRate > 0 && c.LossRate < 1, "loss rate: %v, want between 0 and 1", c.LossRate)
	check(c.JoinConcurrency >= 1, "join concurrency: %d, want at least 1", c.JoinConcurrency)
	check(c.ServerPID >= 0, "server pid: %d", c.ServerPID)
	if len(errs) > 0 {
		return c, fmt.Errorf("load config: %w", errors.Join(errs...))
	}
	return c, nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}
