// Command confab is the Confab conferencing server: the SFU, the signaling
// WebSocket and the meeting page in one binary.
//
//	confab [-config FILE]
//
// With no flags it runs on the embedded defaults (configs/confab.yaml);
// environment variables override single keys (CONFAB_HTTP_ADDR, ...).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/confab/confab/internal/config"
	"github.com/confab/confab/internal/protocol"
	"github.com/confab/confab/rooms"
	"github.com/confab/confab/sfu"
	"github.com/confab/confab/signaling"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stderr))
}

func run(args []string, getenv func(string) string, stderr io.Writer) int {
	flags := flag.NewFlagSet("confab", flag.ContinueOnError)
	flags.SetOutput(stderr)
	configPath := flags.String("config", "", "YAML config file read on top of the embedded defaults")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(*configPath, getenv)
	if err != nil {
		fmt.Fprintf(stderr, "confab: %v\n", err)
		return 2
	}
	log := newLogger(cfg.Log, stderr)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, log); err != nil {
		log.Error("confab stopped", "err", err)
		return 1
	}
	return 0
}

// serve wires the server together and runs it until ctx ends.
func serve(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	ips := make([]net.IP, 0, len(cfg.ICE.IPs))
	for _, s := range cfg.ICE.IPs {
		ips = append(ips, net.ParseIP(s)) // validated by config
	}
	api, err := sfu.NewAPI(sfu.Config{
		UDPPort:   cfg.ICE.UDPPort,
		IPs:       ips,
		PublicIPs: cfg.ICE.PublicIPs,
		Logger:    log.With("component", "sfu"),
	})
	if err != nil {
		return fmt.Errorf("start media: %w", err)
	}
	defer api.Close()

	iceServers := make([]protocol.ICEServer, 0, len(cfg.ICE.Servers))
	for _, s := range cfg.ICE.Servers {
		iceServers = append(iceServers, protocol.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	srv, err := signaling.New(signaling.Options{
		API:          api,
		Rooms:        rooms.NewManager(rooms.Options{MaxParticipants: cfg.Rooms.MaxParticipants, Logger: log.With("component", "rooms")}),
		ICEServers:   iceServers,
		Logger:       log.With("component", "signaling"),
		RateLimit:    cfg.Signaling.RateLimit,
		RateBurst:    cfg.Signaling.RateBurst,
		SendQueue:    cfg.Signaling.SendQueue,
		PingInterval: cfg.Signaling.PingInterval,
		PongTimeout:  cfg.Signaling.PongTimeout,
		OfferDelay:   cfg.Signaling.OfferDelay,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("listen on http.addr %s: %w", cfg.HTTP.Addr, err)
	}
	media := make([]string, 0)
	for _, a := range api.Addrs() {
		media = append(media, a.String())
	}
	log.Info("confab listening", "http", ln.Addr().String(), "media_udp", media, "url", pageURL(ln.Addr()))

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "drain_timeout", cfg.HTTP.DrainTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.DrainTimeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	if serr := <-served; serr != nil && !errors.Is(serr, net.ErrClosed) && err == nil {
		err = serr
	}
	return err
}

// pageURL is the address to open in a browser.
func pageURL(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || tcp.IP.IsUnspecified() {
		if ok {
			return fmt.Sprintf("http://localhost:%d", tcp.Port)
		}
		return "http://" + addr.String()
	}
	return "http://" + addr.String()
}

func newLogger(cfg config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level)) // validated by config
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
