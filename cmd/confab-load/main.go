// Command confab-load is Confab's load generator: it joins publishers and
// subscribers to a room of a running server over 127.0.0.1, sends
// encoder-like H.264 and Opus, and reports forwarding latency, loss, join
// times and, given the server's pid, its CPU time per forwarded packet and
// its memory.
//
//	confab-load -url http://127.0.0.1:8080 -publishers 1 -subscribers 200 \
//	    -duration 30s -video-bitrate 1.5M -pid $(pgrep -n confab)
//
// See docs/benchmarks.md for the method, and internal/load for the engine.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"

	"github.com/confab/confab/internal/cpuprofile"
	"github.com/confab/confab/internal/load"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cfg, out, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		if !errors.Is(err, errReported) {
			fmt.Fprintf(stderr, "confab-load: %v\n", err)
		}
		return 2
	}
	if out.tableHeader {
		fmt.Fprintln(stdout, load.TableHeader())
		return 0
	}

	if os.Getenv("GOGC") == "" {
		// Hundreds of pion clients allocate per packet; a larger heap
		// target makes the collector run a quarter as often.
		debug.SetGCPercent(400)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if out.cpuProfile != "" {
		stopProfile, err := cpuprofile.Start(out.cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "confab-load: %v\n", err)
			return 1
		}
		defer stopProfile()
	}
	rep, err := load.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "confab-load: %v\n", err)
		return 1
	}
	if out.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(stderr, "confab-load: %v\n", err)
			return 1
		}
	} else if err := rep.Format(stdout); err != nil {
		fmt.Fprintf(stderr, "confab-load: %v\n", err)
		return 1
	}
	if out.row != "" {
		fmt.Fprintln(stdout, rep.TableRow(out.row))
	}
	return 0
}

// output says what to print besides running.
type output struct {
	json        bool
	row         string
	tableHeader bool
	cpuProfile  string
}

// errReported is a flag error the flag package has already printed.
var errReported = errors.New("bad flags")

func parseFlags(args []string, stderr io.Writer) (load.Config, output, error) {
	var cfg load.Config
	var out output
	fs := flag.NewFlagSet("confab-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:8080", "server base URL")
	fs.StringVar(&cfg.Room, "room", load.DefaultRoom, "room to join")
	fs.IntVar(&cfg.Publishers, "publishers", 1, "participants that publish H.264 video and Opus audio (and receive the other publishers)")
	fs.IntVar(&cfg.Subscribers, "subscribers", 10, "participants that only receive")
	fs.DurationVar(&cfg.Duration, "duration", load.DefaultDuration, "length of the measurement window")
	fs.DurationVar(&cfg.Warmup, "warmup", load.DefaultWarmup, "time between all tracks flowing and the window")
	fs.DurationVar(&cfg.Grace, "grace", load.DefaultGrace, "time receivers keep reading after the publishers stop (for retransmissions)")
	bitrate := fs.String("video-bitrate", "1.5M", "average video bitrate in bit/s; k and M suffixes allowed")
	fs.IntVar(&cfg.FPS, "fps", load.DefaultFPS, "video frames per second")
	fs.DurationVar(&cfg.KeyframeInterval, "keyframe-interval", load.DefaultKeyframeInterval, "time between periodic keyframes")
	fs.IntVar(&cfg.KeyframeFactor, "keyframe-factor", load.DefaultKeyframeFactor, "size of a keyframe over another frame's")
	fs.IntVar(&cfg.MaxPayload, "max-payload", load.DefaultMaxPayload, "largest video RTP payload in bytes")
	fs.IntVar(&cfg.AudioPayload, "audio-payload", load.DefaultAudioPayload, "audio RTP payload in bytes (50 packets/s)")
	fs.BoolVar(&cfg.GRO, "gro", false, "clients' sockets take the server's segmented sends whole (UDP_GRO) and split them, so the server is not charged the loopback delivery of each datagram (Linux)")
	fs.BoolVar(&cfg.PionReceive, "pion-receive", false, "receivers leave every packet to pion's receive path, instead of taking each track's packets off their socket themselves after the first")
	fs.Float64Var(&cfg.Pace, "pace", 0, "send each video frame through a pacer, like a browser: every 5 ms, packets worth that time at this multiple of the bitrate (libwebrtc: 2.5); 0 sends each frame as one burst")
	fs.BoolVar(&cfg.NoVideo, "no-video", false, "publish no video")
	fs.BoolVar(&cfg.NoAudio, "no-audio", false, "publish no audio")
	fs.IntVar(&cfg.ServerPID, "pid", 0, "server process id: report its CPU time per forwarded packet and its memory, from /proc")
	fs.IntVar(&cfg.JoinConcurrency, "join-concurrency", load.DefaultJoinConcurrency, "participants joining at once")
	fs.DurationVar(&cfg.JoinTimeout, "join-timeout", load.DefaultJoinTimeout, "bound on one participant's join")
	fs.DurationVar(&cfg.SetupTimeout, "setup-timeout", load.DefaultSetupTimeout, "bound on the wait for every receiver's tracks")
	fs.IntVar(&cfg.Stalled, "stalled", 0, "extra subscribers that stop reading media after the first packet")
	fs.IntVar(&cfg.Lossy, "lossy", 0, "extra subscribers behind a lossy link")
	fs.Float64Var(&cfg.LossRate, "loss-rate", load.DefaultLossRate, "share of incoming RTP the lossy subscribers drop")
	fs.IntVar(&cfg.Probes, "probes", load.DefaultProbes, "subscribers that join one at a time after the window, to time join→first packet (negative: none)")
	fs.BoolVar(&cfg.DefaultInterceptors, "default-interceptors", false, "give the load's clients pion's full default interceptors")
	fs.BoolVar(&cfg.PerReceiver, "per-receiver", false, "include every receiver's figures in the JSON report")
	fs.BoolVar(&out.json, "json", false, "print the report as JSON")
	fs.StringVar(&out.row, "row", "", "also print a Markdown table row of the main figures, labelled with this")
	fs.BoolVar(&out.tableHeader, "table-header", false, "print the header of the -row table and exit")
	fs.StringVar(&out.cpuProfile, "cpuprofile", "", "write the load generator's own CPU profile to this file")
	level := fs.String("log-level", "info", "progress on stderr: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, out, err
		}
		return cfg, out, errReported
	}
	if fs.NArg() > 0 {
		return cfg, out, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if cfg.Publishers < 1 {
		// load.Config would take 0 for its default.
		return cfg, out, fmt.Errorf("-publishers: %d, want at least 1", cfg.Publishers)
	}
	var err error
	if cfg.VideoBitrate, err = parseBitrate(*bitrate); err != nil {
		return cfg, out, fmt.Errorf("-video-bitrate: %w", err)
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return cfg, out, fmt.Errorf("-log-level: %w", err)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	return cfg, out, nil
}

// parseBitrate reads 1500000, 1500k or 1.5M.
func parseBitrate(s string) (int, error) {
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "M"), strings.HasSuffix(s, "m"):
		mult, s = 1e6, s[:len(s)-1]
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		mult, s = 1e3, s[:len(s)-1]
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%q is not a bitrate", s)
	}
	return int(v*mult + 0.5), nil
}
