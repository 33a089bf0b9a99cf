package sfu

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// mediaSocketBuffer is the receive and send buffer asked for the media
// sockets.
const mediaSocketBuffer = 4 << 20

// Config is what the media core needs to know of the network.
type Config struct {
	// UDPPort is the one UDP port that carries all media (ICE UDP mux); 0 picks
	// an ephemeral port per address.
	UDPPort int
	// IPs, when set, are the only local addresses offered as host candidates;
	// loopback addresses are offered only when listed.
	IPs []net.IP
	// PublicIPs are 1:1 NAT addresses advertised instead of the local ones.
	PublicIPs []string
	// Logger receives the core's logs; nil discards them.
	Logger *slog.Logger
	// NoDirectSend keeps every packet on pion's paths: forwarded packets
	// on its write path instead of the direct path (direct.go), publishers'
	// packets on its receive path (receive.go).
	NoDirectSend bool
	// RTCPInterval is the time between the RTCP loop's runs (transport-cc
	// feedback, NACK retries; each peer's reports every tenth run); 0 means
	// 100 ms, what browsers use. Tests lengthen it to tell the loop's runs
	// from the NACKs it sends between them.
	RTCPInterval time.Duration
	// MaxPublishBitrate caps the RTP each participant sends, all its tracks
	// together, in bits per second (publishlimit.go); what is over it is
	// dropped. 0 means no cap.
	MaxPublishBitrate int64
}

// API is the shared pion API every Peer is built from: one MediaEngine and
// one UDP socket per address for all peers, and the goroutine that sends
// every peer's RTCP (rtcploop.go).
//
// Each peer's interceptor chain is only its own directReceiver (receive.go):
// the RTCP machinery pion's interceptors offer is the server's own.
// Subscribers' NACKs are answered from one packet cache per published track
// (packetCache), not a copy per subscriber; the sender reports, receiver
// reports, NACKs and transport-cc feedback come from the RTCP loop, which
// sees packets that never pass pion's chain.
type API struct {
	media    *webrtc.MediaEngine
	settings webrtc.SettingEngine
	mux      *ice.MultiUDPMuxDefault
	sockets  *mediaSockets
	log      *slog.Logger
	direct   bool // direct sending allowed
	// rtcpInterval is the time between the RTCP loop's runs.
	rtcpInterval time.Duration
	// maxPublish is each participant's publishing cap in bits per second
	// (0: none).
	maxPublish int64
	// maxClientSections bounds the media sections of a client's own in
	// its offers (MaxClientSections; tests lower it).
	maxClientSections int

	peers   atomic.Int64 // peers created and not yet closed
	created atomic.Int64 // peers ever created

	mu   sync.Mutex
	live map[*Peer]struct{} // for Stats and the RTCP loop
	gone totals

	// stop and done end and join the RTCP loop; nackDue queues for it
	// the peers with packets newly missing (Peer.nackNow).
	stop, done chan struct{}
	nackDue    chan *Peer
	closeOnce  sync.Once
}

// NewAPI builds the media core's API and opens its UDP port. Close releases it.
func NewAPI(cfg Config) (*API, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}

	m := &webrtc.MediaEngine{}
	if err := registerCodecs(m); err != nil {
		return nil, err
	}
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}, kind); err != nil {
			return nil, fmt.Errorf("register transport-cc extension: %w", err)
		}
	}
	a := &API{log: log, live: make(map[*Peer]struct{}), direct: !cfg.NoDirectSend, rtcpInterval: cfg.RTCPInterval, maxPublish: cfg.MaxPublishBitrate,
		maxClientSections: MaxClientSections}
	if a.rtcpInterval <= 0 {
		a.rtcpInterval = rtcpInterval
	}
	sockets, err := newMediaSockets(log)
	if err != nil {
		return nil, err
	}
	filter := ipFilter(cfg.IPs)
	muxOpts := []ice.UDPMuxFromPortOption{
		ice.UDPMuxFromPortWithNet(sockets),
		ice.UDPMuxFromPortWithIPFilter(filter),
		ice.UDPMuxFromPortWithNetworks(ice.NetworkTypeUDP4, ice.NetworkTypeUDP6),
		ice.UDPMuxFromPortWithLogger(LoggerFactory(log).NewLogger("udpmux")),
		// The kernel's default receive buffer (~208 KiB, under a
		// millisecond of a busy room) overflows when the forwarding
		// goroutines hold the core for a few milliseconds; the kernel caps
		// these at net.core.rmem_max / wmem_max.
		ice.UDPMuxFromPortWithReadBufferSize(mediaSocketBuffer),
		ice.UDPMuxFromPortWithWriteBufferSize(mediaSocketBuffer),
	}
	loopback := wantsLoopback(cfg.IPs)
	if loopback {
		muxOpts = append(muxOpts, ice.UDPMuxFromPortWithLoopback())
	}
	mux, err := ice.NewMultiUDPMuxFromPort(cfg.UDPPort, muxOpts...)
	if err != nil {
		return nil, fmt.Errorf("open ICE UDP port %d: %w", cfg.UDPPort, err)
	}
	started := false
	defer func() {
		if !started {
			_ = mux.Close()
		}
	}()

	var se webrtc.SettingEngine
	se.LoggerFactory = LoggerFactory(log)
	se.SetICEUDPMux(mux)
	// Every peer's ICE agent would otherwise make its own network, reading
	// the machine's interface table over netlink at each join and keeping
	// a copy per peer (about 6 KiB each). The mux's addresses are fixed
	// when it opens, so the agents share the table read then.
	se.SetNet(sockets.Net)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	se.SetIPFilter(filter)
	se.SetIncludeLoopbackCandidate(loopback)
	// mDNS would send multicast queries; the server has real addresses.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	// The server uses no data channel (see Peer.onDataChannel): a
	// client's are detached, so pion starts no reader and no 64 KiB buffer
	// for them, and never read, so what a client sends on them stops at a
	// small receive window (its SCTP flow control holds the rest back).
	se.DetachDataChannels()
	se.SetSCTPMaxReceiveBufferSize(sctpReceiveBuffer)
	se.BufferFactory = newStreamBuffer
	// AES-GCM costs a sixth of AES-CM-HMAC per packet; offer it first.
	se.SetSRTPProtectionProfiles(dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80)
	// The server is the DTLS server, so that its ServerHello hook and key
	// log reveal the SRTP keys for direct sending (dtlskeys.go). ICE has
	// verified the peer's address before DTLS starts, so the cookie
	// exchange (one more round trip) guards nothing here.
	if err := se.SetAnsweringDTLSRole(webrtc.DTLSRoleServer); err != nil {
		return nil, fmt.Errorf("DTLS role: %w", err)
	}
	se.SetDTLSInsecureSkipHelloVerify(true)
	if len(cfg.PublicIPs) > 0 {
		// 1:1 NAT: every host candidate carries the public addresses
		// instead of the local one.
		if err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External:        cfg.PublicIPs,
			AsCandidateType: webrtc.ICECandidateTypeHost,
			Mode:            webrtc.ICEAddressRewriteReplace,
		}); err != nil {
			return nil, fmt.Errorf("public IPs: %w", err)
		}
	}

	started = true
	a.media, a.settings, a.mux, a.sockets = m, se, mux, sockets
	a.stop, a.done = make(chan struct{}), make(chan struct{})
	a.nackDue = make(chan *Peer, nackQueue)
	go func() {
		defer close(a.done)
		a.sendRTCP(a.stop)
	}()
	return a, nil
}

// peerAPI builds the pion API of one peer: the shared media engine and
// sockets, with DTLS hooks that capture that peer's keys
// and the peer's direct receiver innermost in its chain.
func (a *API) peerAPI(secrets *dtlsSecrets, rx *directReceiver) *webrtc.API {
	se := a.settings
	se.SetDTLSServerHelloMessageHook(secrets.ServerHello)
	se.SetDTLSKeyLogWriter(secrets)
	registry := &interceptor.Registry{}
	registry.Add(receiverFactory{r: rx})
	return webrtc.NewAPI(
		webrtc.WithMediaEngine(a.media),
		webrtc.WithInterceptorRegistry(registry),
		webrtc.WithSettingEngine(se),
	)
}

// Peers is the number of peers created and not yet closed.
func (a *API) Peers() int { return int(a.peers.Load()) }

// Addrs returns the local UDP addresses media is received on.
func (a *API) Addrs() []net.Addr { return a.mux.GetListenAddresses() }

// Close stops the sender reports and closes the media port. Close every
// Peer first.
func (a *API) Close() error {
	a.closeOnce.Do(func() { close(a.stop) })
	<-a.done
	if err := a.mux.Close(); err != nil {
		return fmt.Errorf("close ICE UDP mux: %w", err)
	}
	return nil
}

func ipFilter(ips []net.IP) func(net.IP) bool {
	if len(ips) == 0 {
		return func(ip net.IP) bool { return !ip.IsLoopback() && !ip.IsLinkLocalUnicast() }
	}
	return func(ip net.IP) bool {
		for _, allowed := range ips {
			if allowed.Equal(ip) {
				return true
			}
		}
		return false
	}
}

func wantsLoopback(ips []net.IP) bool {
	for _, ip := range ips {
		if ip.IsLoopback() {
			return true
		}
	}
	return false
}

// LoggerFactory routes pion's logs to log: trace is dropped, debug and info
// become Debug, warnings Warn and errors Error. A message is formatted only
// when its level is enabled. pion passes a live TrackRemote to a debug
// format string ("got new track: %+v", from the goroutine that reads the
// track's first packet); formatting it would read the track's fields
// without its lock while renegotiation writes them under it, so it is
// formatted through its getters instead.
func LoggerFactory(log *slog.Logger) logging.LoggerFactory {
	return slogFactory{log: log}
}

type slogFactory struct{ log *slog.Logger }

func (f slogFactory) NewLogger(scope string) logging.LeveledLogger {
	return slogLeveled{log: f.log.With("pion", scope)}
}

type slogLeveled struct{ log *slog.Logger }

func (l slogLeveled) Trace(string)                      {}
func (l slogLeveled) Tracef(string, ...any)             {}
func (l slogLeveled) Debug(msg string)                  { l.log.Debug(msg) }
func (l slogLeveled) Debugf(format string, args ...any) { l.logf(slog.LevelDebug, format, args) }
func (l slogLeveled) Info(msg string)                   { l.log.Debug(msg) }
func (l slogLeveled) Infof(format string, args ...any)  { l.logf(slog.LevelDebug, format, args) }
func (l slogLeveled) Warn(msg string)                   { l.warn(msg) }
func (l slogLeveled) Warnf(format string, args ...any)  { l.warn(fmt.Sprintf(format, args...)) }
func (l slogLeveled) Error(msg string)                  { l.log.Error(msg) }
func (l slogLeveled) Errorf(format string, args ...any) { l.logf(slog.LevelError, format, args) }

func (l slogLeveled) logf(level slog.Level, format string, args []any) {
	ctx := context.Background()
	if l.log.Enabled(ctx, level) {
		for i, a := range args {
			if t, ok := a.(*webrtc.TrackRemote); ok && t != nil {
				args[i] = fmt.Sprintf("TrackRemote{id: %s, stream: %s, kind: %s, ssrc: %d, rid: %s}",
					t.ID(), t.StreamID(), t.Kind(), t.SSRC(), t.RID())
			}
		}
		l.log.Log(ctx, level, fmt.Sprintf(format, args...))
	}
}

// warn logs a pion warning at Warn, or at Debug when it is routine.
func (l slogLeveled) warn(msg string) {
	if routineWarning(msg) {
		l.log.Debug(msg)
		return
	}
	l.log.Warn(msg)
}

// routineWarning tells the pion warnings that joins and leaves produce and
// that say nothing is wrong: ICE checks begun before the remote candidates
// trickle in; the readers of a closing connection finding it closed; and a
// subscriber's first receiver report arriving before the goroutine that
// reads the sender's RTCP has opened its stream, once the handshake is done
// (pion's SRTCP session then makes the stream, calls it unhandled, and
// hands the same stream to the sender's reader when it opens it, so
// nothing is lost). A mass join of 500 logged over 2 000 of them at Warn.
func routineWarning(msg string) bool {
	switch {
	case strings.HasPrefix(msg, "Failed to ping without candidate pairs"),
		strings.HasPrefix(msg, "Incoming unhandled RTCP ssrc("),
		msg == "Failed to accept RTP stream is already closed",
		msg == "Failed to accept RTCP stream is already closed":
		return true
	case strings.HasPrefix(msg, "Failed to read from candidate"):
		return strings.HasSuffix(msg, io.ErrClosedPipe.Error()) || strings.HasSuffix(msg, net.ErrClosed.Error())
	}
	return false
}
