package client

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/pion/ice/v4"
	"github.com/pion/stun/v4"
	"github.com/pion/transport/v4"
	"github.com/pion/webrtc/v4"

	"github.com/confab/confab/internal/netwrap"
	"github.com/confab/confab/internal/protocol"
	"github.com/confab/confab/sfu"
)

// WebSocketURL turns a server URL into the URL of its signaling socket:
// http://h:p becomes ws://h:p/ws and https://h:p becomes wss://h:p/ws. A ws:// or
// wss:// URL is kept as it is when it has a path, and gets /ws otherwise.
func WebSocketURL(serverURL string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", fmt.Errorf("parse server URL %q: %w", serverURL, err)
	}
	if u.Host == "" {
		return "", fmt.Errorf("server URL %q has no host", serverURL)
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
		u.Path = strings.TrimSuffix(u.Path, "/") + "/ws"
	case "https":
		u.Scheme = "wss"
		u.Path = strings.TrimSuffix(u.Path, "/") + "/ws"
	case "ws", "wss":
		if u.Path == "" || u.Path == "/" {
			u.Path = "/ws"
		}
	default:
		return "", fmt.Errorf("server URL %q: scheme must be http, https, ws or wss", serverURL)
	}
	u.RawQuery, u.Fragment = "", ""
	return u.String(), nil
}

// isLoopback4 reports whether ip is an IPv4 loopback address (127.0.0.0/8).
func isLoopback4(ip net.IP) bool {
	return ip != nil && ip.To4() != nil && ip.IsLoopback()
}

// loopbackCandidate reports whether an ICE candidate line (with or without its
// "candidate:" prefix) names an IPv4 loopback address. Unparsable candidates,
// mDNS host names and every other address are refused.
func loopbackCandidate(candidate string) bool {
	value := strings.TrimPrefix(strings.TrimSpace(candidate), "candidate:")
	if value == "" {
		return false
	}
	c, err := ice.UnmarshalCandidate(value)
	if err != nil {
		return false
	}
	return isLoopback4(net.ParseIP(c.Address()))
}

// loopbackICEServers keeps, of the servers handed out in joined, only the URLs
// whose host is an IPv4 loopback address, and returns the URLs it dropped.
func loopbackICEServers(servers []protocol.ICEServer) (kept []webrtc.ICEServer, dropped []string) {
	for _, s := range servers {
		var urls []string
		for _, raw := range s.URLs {
			uri, err := stun.ParseURI(raw)
			if err != nil || !isLoopback4(net.ParseIP(uri.Host)) {
				dropped = append(dropped, raw)
				continue
			}
			urls = append(urls, raw)
		}
		if len(urls) == 0 {
			continue
		}
		kept = append(kept, webrtc.ICEServer{
			URLs:           urls,
			Username:       s.Username,
			Credential:     s.Credential,
			CredentialType: webrtc.ICECredentialTypePassword,
		})
	}
	return kept, dropped
}

// settingEngine confines ICE to IPv4 loopback over UDP, without mDNS.
// With rx, the sockets' datagrams go through it first and the DTLS
// handshake shows it the keys.
func settingEngine(c *Client, rx *directRx) (webrtc.SettingEngine, error) {
	var se webrtc.SettingEngine
	network := c.opts.Net
	if size := c.opts.SocketReadBuffer; size > 0 {
		n, err := netwrap.Wrap(network, func(conn transport.UDPConn) (transport.UDPConn, error) {
			if err := setReadBuffer(conn, size); err != nil {
				return nil, fmt.Errorf("set UDP receive buffer to %d bytes: %w", size, err)
			}
			return conn, nil
		})
		if err != nil {
			return se, err
		}
		network = n
	}
	if rx != nil {
		n, err := netwrap.Wrap(network, rx.wrap)
		if err != nil {
			return se, err
		}
		network = n
		se.SetDTLSKeyLogWriter(&rx.secrets)
		se.SetDTLSServerHelloMessageHook(rx.secrets.ServerHello)
	}
	if network != nil {
		se.SetNet(network)
	}
	se.LoggerFactory = sfu.LoggerFactory(c.log)
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(isLoopback4)
	se.SetRemoteIPFilter(isLoopback4)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if c.opts.RelayOnly {
		// pion otherwise waits 2 s before it settles on a relayed pair.
		se.SetRelayAcceptanceMinWait(0)
	}
	if c.opts.DisableReplayProtection {
		se.DisableSRTPReplayProtection(true)
	}
	if len(c.opts.SRTPProfiles) > 0 {
		se.SetSRTPProtectionProfiles(c.opts.SRTPProfiles...)
	}
	return se, nil
}
