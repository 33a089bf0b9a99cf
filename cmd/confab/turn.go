package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/confab/confab/internal/config"
	"github.com/confab/confab/internal/protocol"
	"github.com/confab/confab/internal/turnserver"
)

// setupTURN starts the embedded TURN server or prepares credentials for an
// external one, as configured. iceFor (nil when TURN is off) returns the
// servers, with credentials minted for one participant, to hand out in
// joined; stop releases the embedded server.
func setupTURN(cfg *config.Config, media []net.Addr, log *slog.Logger) (iceFor func(id, host string) []protocol.ICEServer, stop func(), err error) {
	t := cfg.ICE.TURN
	mint := func(secret string, urls []string, id string) []protocol.ICEServer {
		user, cred := turnserver.Credentials(secret, id, t.TTL, time.Now())
		return []protocol.ICEServer{{URLs: urls, Username: user, Credential: cred}}
	}
	switch {
	case len(t.URLs) > 0:
		log.Info("TURN: external server", "urls", t.URLs)
		return func(id, _ string) []protocol.ICEServer { return mint(t.Secret, t.URLs, id) }, func() {}, nil
	case !t.Embedded:
		return nil, func() {}, nil
	}
	secret := t.Secret
	if secret == "" {
		var b [24]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, nil, fmt.Errorf("ice.turn.secret: %w", err)
		}
		secret = hex.EncodeToString(b[:])
	}
	listen, relay := net.IPv4zero, firstIP(cfg.ICE.PublicIPs, cfg.ICE.IPs)
	if len(cfg.ICE.IPs) > 0 {
		listen = net.ParseIP(cfg.ICE.IPs[0])
	}
	if relay == nil {
		relay = localIPv4()
	}
	if relay == nil {
		return nil, nil, fmt.Errorf("ice.turn: no address to relay on: set ice.publicIPs or ice.ips")
	}
	// Relays may only reach the media server itself.
	var peers []net.IP
	for _, a := range media {
		if u, ok := a.(*net.UDPAddr); ok {
			peers = append(peers, u.IP)
		}
	}
	for _, ip := range cfg.ICE.PublicIPs {
		peers = append(peers, net.ParseIP(ip))
	}
	srv, err := turnserver.Start(turnserver.Config{
		Realm: t.Realm, Secret: secret, ListenIP: listen, RelayIP: relay, AllowedPeers: peers,
		UDPPort: t.UDPPort, TCPPort: t.TCPPort, Logger: log.With("component", "turn"),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("start TURN: %w", err)
	}
	log.Info("TURN: embedded server", "udp", srv.UDPAddr(), "tcp", srv.TCPAddr(), "relay_ip", relay)
	return func(id, host string) []protocol.ICEServer {
		h := t.Host
		if h == "" {
			if ip := firstIP(cfg.ICE.PublicIPs, cfg.ICE.IPs); ip != nil {
				h = ip.String()
			} else if hh, _, err := net.SplitHostPort(host); err == nil {
				h = hh
			} else {
				h = host
			}
		}
		return mint(secret, srv.URLs(h), id)
	}, func() { _ = srv.Close() }, nil
}

// firstIP is the first address of the first non-empty list.
func firstIP(lists ...[]string) net.IP {
	for _, l := range lists {
		if len(l) > 0 {
			return net.ParseIP(l[0])
		}
	}
	return nil
}

// localIPv4 is the first IPv4 address of an interface that is up and not
// loopback, or nil.
func localIPv4() net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil && !n.IP.IsLinkLocalUnicast() {
			return n.IP
		}
	}
	return nil
}
