// Command confab is the Confab conferencing server: the SFU, the signaling
// WebSocket and the meeting page in one binary.
//
//	confab [-config FILE]          serve
//	confab token -room R -name N   print an access token (see -h)
//	confab cert -host IP           write a self-signed certificate for trials
//
// With no flags it runs on the embedded defaults (configs/confab.yaml);
// environment variables override single keys (CONFAB_HTTP_ADDR, ...).
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/confab/confab/internal/auth"
	"github.com/confab/confab/internal/config"
	"github.com/confab/confab/internal/cpuprofile"
	"github.com/confab/confab/internal/metrics"
	"github.com/confab/confab/internal/protocol"
	"github.com/confab/confab/rooms"
	"github.com/confab/confab/sfu"
	"github.com/confab/confab/signaling"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// defaultGCPercent is the server's GOGC unless the environment sets one.
const defaultGCPercent = 50

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "token":
			return runToken(args[1:], getenv, stdout, stderr)
		case "cert":
			return runCert(args[1:], stdout, stderr)
		}
	}
	flags := flag.NewFlagSet("confab", flag.ContinueOnError)
	flags.SetOutput(stderr)
	configPath := flags.String("config", "", "YAML config file read on top of the embedded defaults")
	cpuProfile := flags.String("cpuprofile", "", "write a CPU profile (go tool pprof) to this file until exit")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(*configPath, getenv)
	if err != nil {
		fmt.Fprintf(stderr, "confab: %v\n", err)
		return 2
	}
	log := newLogger(cfg.Log, stderr)
	if getenv("GOGC") == "" {
		// The forwarding path allocates nothing, so in steady state the
		// garbage collector runs seldom; what it finds is mostly the
		// garbage of joins (SDP parsing). Collecting at +50 % instead of
		// +100 % keeps that from inflating the resident set (1×200: 121 →
		// 101 MiB) at no measurable CPU cost. GOGC overrides it.
		debug.SetGCPercent(defaultGCPercent)
	}
	if *cpuProfile != "" {
		stopProfile, err := cpuprofile.Start(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "confab: %v\n", err)
			return 2
		}
		defer stopProfile()
	}

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
		UDPPort:      cfg.ICE.UDPPort,
		IPs:          ips,
		PublicIPs:    cfg.ICE.PublicIPs,
		NoDirectSend: !cfg.ICE.DirectSend,
		Logger:       log.With("component", "sfu"),

		MaxPublishBitrate: int64(cfg.Rooms.MaxPublishBitrate),
	})
	if err != nil {
		return fmt.Errorf("start media: %w", err)
	}
	defer api.Close()

	iceServers := make([]protocol.ICEServer, 0, len(cfg.ICE.Servers))
	for _, s := range cfg.ICE.Servers {
		iceServers = append(iceServers, protocol.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	iceFor, stopTURN, err := setupTURN(cfg, api.Addrs(), log)
	if err != nil {
		return err
	}
	defer stopTURN()

	manager := rooms.NewManager(rooms.Options{MaxParticipants: cfg.Rooms.MaxParticipants, Logger: log.With("component", "rooms")})
	stats := metrics.New(signaling.MetricsSource(api, manager))

	verifier := auth.NewVerifier(cfg.Auth.Keys, nil)
	if verifier.Enabled() {
		log.Info("access tokens required", "keys", len(cfg.Auth.Keys))
	} else {
		log.Warn("open mode: anyone who reaches this server may join any room; set auth.keys (CONFAB_AUTH_KEYS) to require tokens")
	}
	srv, err := signaling.New(signaling.Options{
		API:           api,
		Auth:          verifier,
		Rooms:         manager,
		Metrics:       stats,
		ICEServers:    iceServers,
		ICEServersFor: iceFor,
		Logger:        log.With("component", "signaling"),
		RateLimit:     cfg.Signaling.RateLimit,
		RateBurst:     cfg.Signaling.RateBurst,
		SendQueue:     cfg.Signaling.SendQueue,
		PingInterval:  cfg.Signaling.PingInterval,
		PongTimeout:   cfg.Signaling.PongTimeout,
		OfferDelay:    cfg.Signaling.OfferDelay,
		ResumeGrace:   cfg.Session.ResumeGrace,

		MaxConnections:      cfg.Signaling.MaxConnections,
		MaxConnectionsPerIP: cfg.Signaling.MaxConnectionsPerIP,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("listen on http.addr %s: %w", cfg.HTTP.Addr, err)
	}
	scheme := "http"
	if cfg.HTTP.TLS.Enabled() {
		cert, err := tls.LoadX509KeyPair(cfg.HTTP.TLS.Cert, cfg.HTTP.TLS.Key)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("http.tls: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		scheme = "https"
	}
	if cfg.HTTP.RedirectAddr != "" {
		stop, err := redirectToHTTPS(cfg.HTTP.RedirectAddr, ln.Addr(), log)
		if err != nil {
			_ = ln.Close()
			return err
		}
		defer stop()
	}
	media := make([]string, 0)
	for _, a := range api.Addrs() {
		media = append(media, a.String())
	}
	log.Info("confab listening", "http", ln.Addr().String(), "media_udp", media, "url", pageURL(scheme, ln.Addr()))

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
	// Refuse joins and fail /readyz a moment before closing everything, so
	// a load balancer's health check sees the server leave.
	srv.Drain()
	select {
	case <-time.After(min(time.Second, cfg.HTTP.DrainTimeout/10)):
	case <-sctx.Done():
	}
	err = srv.Shutdown(sctx)
	if serr := <-served; serr != nil && !errors.Is(serr, net.ErrClosed) && err == nil {
		err = serr
	}
	return err
}

// pageURL is the address to open in a browser.
func pageURL(scheme string, addr net.Addr) string {
	if tcp, ok := addr.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		return fmt.Sprintf("%s://localhost:%d", scheme, tcp.Port)
	}
	return scheme + "://" + addr.String()
}

// redirectToHTTPS serves plain HTTP on addr, redirecting every request to
// the same path on the HTTPS listener at tlsAddr. stop shuts it down and
// waits for it.
func redirectToHTTPS(addr string, tlsAddr net.Addr, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on http.redirectAddr %s: %w", addr, err)
	}
	_, port, _ := net.SplitHostPort(tlsAddr.String())
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			host := r.Host
			if h, _, err := net.SplitHostPort(host); err == nil {
				host = h
			}
			target := "https://" + net.JoinHostPort(host, port) + r.URL.RequestURI()
			http.Redirect(w, r, target, http.StatusPermanentRedirect)
		}),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("redirect listener", "err", err)
		}
	}()
	log.Info("redirecting http to https", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}, nil
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
