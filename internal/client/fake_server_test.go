package client

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/confab/confab/internal/protocol"
	"github.com/confab/confab/sfu"
)

// fakeServer is a minimal signaling peer for the client's own tests: it
// answers join, answers the client's offers with a pion PeerConnection, and
// after the first answer offers one VP8 track "remote-cam" of participant
// "p-other", on which it sends packets every 10 ms. It sends a PLI for every
// track the client publishes once media arrives. A join named "taken" gets
// name-taken; an unknown type gets unknown-type. It is not the Confab server.
type fakeServer struct {
	t   *testing.T
	srv *httptest.Server
	api *webrtc.API
	wg  sync.WaitGroup

	mu    sync.Mutex
	conns []*fakeConn
}

// fakeConn is the server side of one WebSocket.
type fakeConn struct {
	fs      *fakeServer
	ws      *websocket.Conn
	writeMu sync.Mutex

	// pc and writer belong to the connection's read loop.
	pc         *webrtc.PeerConnection
	stopWriter chan struct{}

	// glare makes the server ignore the client's next offer and send an offer
	// of its own instead, as an impolite peer does in a collision.
	glare atomic.Bool

	mu             sync.Mutex
	receivedTracks map[string]*atomic.Uint64 // client track id → packets
	// offersSeen counts client offers; mlines is the number of media sections
	// of the last one.
	offersSeen int
	mlines     int
	// ufrags are the ICE username fragments of the client's descriptions,
	// offers and answers, in order.
	ufrags []string
	// nacks counts, by sequence number, the client's requests (Generic
	// NACKs) for packets of "remote-cam"; pion's NACK responder answers
	// each with one retransmission.
	nacks map[uint16]int
}

func newFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	registry := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, registry); err != nil {
		t.Fatal(err)
	}
	var se webrtc.SettingEngine
	se.LoggerFactory = sfu.LoggerFactory(slog.New(slog.DiscardHandler))
	if opts := testOptions(); opts.Logger != nil {
		se.LoggerFactory = sfu.LoggerFactory(opts.Logger.With("side", "fake-server"))
	}
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(isLoopback4)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	fs := &fakeServer{
		t:   t,
		api: webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(registry), webrtc.WithSettingEngine(se)),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", fs.serveWS)
	fs.srv = httptest.NewServer(mux)
	return fs
}

// URL is the server's base URL, as given to Dial.
func (fs *fakeServer) URL() string { return fs.srv.URL }

// Close closes every connection and waits for all their goroutines.
func (fs *fakeServer) Close() {
	fs.srv.Close()
	fs.mu.Lock()
	for _, fc := range fs.conns {
		_ = fc.ws.Close()
	}
	fs.mu.Unlock()
	fs.wg.Wait()
}

// conn returns the i-th connection accepted, or nil.
func (fs *fakeServer) conn(i int) *fakeConn {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if i < len(fs.conns) {
		return fs.conns[i]
	}
	return nil
}

func (fs *fakeServer) serveWS(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	fc := &fakeConn{fs: fs, ws: ws, receivedTracks: map[string]*atomic.Uint64{}}
	fs.mu.Lock()
	fs.conns = append(fs.conns, fc)
	fs.wg.Add(1)
	fs.mu.Unlock()
	defer fs.wg.Done()
	fc.run()
}

func (fc *fakeConn) send(v any) {
	b, _ := json.Marshal(v)
	fc.writeMu.Lock()
	defer fc.writeMu.Unlock()
	_ = fc.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_ = fc.ws.WriteMessage(websocket.TextMessage, b)
}

func (fc *fakeConn) fail(code protocol.Code, msg string) {
	fc.send(protocol.ErrorMessage{Type: protocol.TypeError, Code: code, Message: msg})
}

func (fc *fakeConn) run() {
	defer fc.leave()
	defer fc.ws.Close()
	for {
		_, data, err := fc.ws.ReadMessage()
		if err != nil {
			return
		}
		var env protocol.Envelope
		if json.Unmarshal(data, &env) != nil {
			fc.fail(protocol.CodeBadRequest, "not JSON")
			continue
		}
		switch env.Type {
		case protocol.TypeJoin:
			var m protocol.Join
			_ = json.Unmarshal(data, &m)
			if m.Name == "taken" {
				fc.fail(protocol.CodeNameTaken, "name taken")
				continue
			}
			fc.send(protocol.Joined{
				Type: protocol.TypeJoined, Room: m.Room,
				Self:         protocol.Peer{ID: "p-" + m.Name, Name: m.Name},
				Participants: []protocol.Participant{},
				ICEServers:   []protocol.ICEServer{},
			})
		case protocol.TypeOffer:
			var m protocol.SessionDescription
			_ = json.Unmarshal(data, &m)
			if fc.pc != nil && fc.glare.CompareAndSwap(true, false) {
				fc.collide()
				continue
			}
			if err := fc.answer(m.SDP); err != nil {
				fc.fail(protocol.CodeNegotiationFailed, err.Error())
			}
		case protocol.TypeAnswer:
			var m protocol.SessionDescription
			_ = json.Unmarshal(data, &m)
			fc.recordUfrag(m.SDP)
			if fc.pc == nil || fc.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP}) != nil {
				fc.fail(protocol.CodeNegotiationFailed, "bad answer")
			}
		case protocol.TypeCandidate:
			var m protocol.Candidate
			_ = json.Unmarshal(data, &m)
			if fc.pc == nil {
				fc.fail(protocol.CodeNegotiationFailed, "candidate before offer")
				continue
			}
			if m.Candidate != nil {
				err := fc.pc.AddICECandidate(webrtc.ICECandidateInit{
					Candidate: m.Candidate.Candidate, SDPMid: m.Candidate.SDPMid,
					SDPMLineIndex: m.Candidate.SDPMLineIndex, UsernameFragment: m.Candidate.UsernameFragment,
				})
				if err != nil {
					fc.fail(protocol.CodeNegotiationFailed, err.Error())
				}
			}
		case protocol.TypePublish, protocol.TypeMute:
		case protocol.TypeLeave:
			fc.leave()
		default:
			fc.fail(protocol.CodeUnknownType, "unknown type "+env.Type)
		}
	}
}

// answer applies a client offer and answers it; after the first answer it
// offers the remote track.
func (fc *fakeConn) answer(sdp string) error {
	first := fc.pc == nil
	if first {
		pc, err := fc.fs.api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			return err
		}
		fc.pc = pc
		pc.OnTrack(func(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { fc.onTrack(pc, track) })
	}
	fc.recordUfrag(sdp)
	offer := webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}
	parsed, err := offer.Unmarshal()
	if err != nil {
		return err
	}
	fc.mu.Lock()
	fc.offersSeen++
	fc.mlines = 0
	for _, md := range parsed.MediaDescriptions {
		if md.MediaName.Media == "audio" || md.MediaName.Media == "video" {
			fc.mlines++
		}
	}
	fc.mu.Unlock()
	if err := fc.pc.SetRemoteDescription(offer); err != nil {
		return err
	}
	answer, err := fc.pc.CreateAnswer(nil)
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(fc.pc)
	if err := fc.pc.SetLocalDescription(answer); err != nil {
		return err
	}
	<-gathered // no trickle from this side: the SDP carries the candidates
	fc.send(protocol.SessionDescription{Type: protocol.TypeAnswer, SDP: fc.pc.LocalDescription().SDP})
	if !first {
		return nil
	}

	track, err := webrtc.NewTrackLocalStaticRTP(
		webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "remote-cam", "p-other")
	if err != nil {
		return err
	}
	sender, err := fc.pc.AddTrack(track)
	if err != nil {
		return err
	}
	serverOffer, err := fc.pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	if err := fc.pc.SetLocalDescription(serverOffer); err != nil {
		return err
	}
	mid := ""
	for _, t := range fc.pc.GetTransceivers() {
		if t.Sender() == sender {
			mid = t.Mid()
		}
	}
	fc.send(protocol.ServerOffer{
		Type: protocol.TypeOffer, SDP: fc.pc.LocalDescription().SDP,
		Tracks: map[string]protocol.ForwardedTrack{
			mid: {ParticipantID: "p-other", TrackID: "remote-cam", Kind: protocol.KindVideo, Source: protocol.SourceCamera},
		},
	})
	fc.stopWriter = make(chan struct{})
	fc.fs.wg.Add(2)
	go fc.writeVideo(track, fc.stopWriter)
	go func() {
		defer fc.fs.wg.Done()
		for {
			pkts, _, err := sender.ReadRTCP()
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) {
				return
			}
			fc.countNACKs(pkts)
		}
	}()
	return nil
}

// countNACKs counts the sequence numbers the Generic NACKs among pkts ask for.
func (fc *fakeConn) countNACKs(pkts []rtcp.Packet) {
	for _, p := range pkts {
		nack, ok := p.(*rtcp.TransportLayerNack)
		if !ok {
			continue
		}
		fc.mu.Lock()
		if fc.nacks == nil {
			fc.nacks = make(map[uint16]int)
		}
		for _, pair := range nack.Nacks {
			for _, seq := range pair.PacketList() {
				fc.nacks[seq]++
			}
		}
		fc.mu.Unlock()
	}
}

// nacked is how many times the client asked for packet seq of "remote-cam".
func (fc *fakeConn) nacked(seq uint16) int {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return fc.nacks[seq]
}

// recordUfrag notes the ICE username fragment of a client description.
func (fc *fakeConn) recordUfrag(sdp string) {
	for _, line := range strings.Split(sdp, "\n") {
		if u, ok := strings.CutPrefix(strings.TrimSpace(line), "a=ice-ufrag:"); ok {
			fc.mu.Lock()
			fc.ufrags = append(fc.ufrags, u)
			fc.mu.Unlock()
			return
		}
	}
}

// clientUfrags returns the ufrags recordUfrag noted.
func (fc *fakeConn) clientUfrags() []string {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return append([]string(nil), fc.ufrags...)
}

// collide sends a server offer, ignoring the client's.
func (fc *fakeConn) collide() {
	offer, err := fc.pc.CreateOffer(nil)
	if err == nil {
		err = fc.pc.SetLocalDescription(offer)
	}
	if err != nil {
		fc.fail(protocol.CodeInternal, err.Error())
		return
	}
	fc.send(protocol.ServerOffer{Type: protocol.TypeOffer, SDP: offer.SDP, Tracks: map[string]protocol.ForwardedTrack{}})
}

// writeVideo sends a VP8 key frame packet every 30 packets and delta packets
// otherwise, every 10 ms.
func (fc *fakeConn) writeVideo(track *webrtc.TrackLocalStaticRTP, stop chan struct{}) {
	defer fc.fs.wg.Done()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		payload := []byte{0x10, 0x01, 0x02, 0x03} // S=1, PID=0; P=1: delta
		if i%30 == 0 {
			payload = []byte{0x10, 0x00, 0x9d, 0x01, 0x2a} // P=0: key frame
		}
		_ = track.WriteRTP(&rtp.Packet{
			Header:  rtp.Header{Version: 2, Marker: true, SequenceNumber: uint16(i), Timestamp: uint32(i) * 3000},
			Payload: payload,
		})
	}
}

// onTrack counts the packets of a track the client publishes and asks for a
// key frame once media flows.
func (fc *fakeConn) onTrack(pc *webrtc.PeerConnection, track *webrtc.TrackRemote) {
	fc.mu.Lock()
	count := fc.receivedTracks[track.ID()]
	if count == nil {
		count = &atomic.Uint64{}
		fc.receivedTracks[track.ID()] = count
	}
	fc.mu.Unlock()
	buf := make([]byte, 1500)
	for {
		if _, _, err := track.Read(buf); err != nil {
			return
		}
		if count.Add(1) == 5 {
			_ = pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(track.SSRC())}})
		}
	}
}

// received is the number of packets received on the client's track id.
func (fc *fakeConn) received(trackID string) uint64 {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if c := fc.receivedTracks[trackID]; c != nil {
		return c.Load()
	}
	return 0
}

func (fc *fakeConn) offers() (offers, mlines int) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return fc.offersSeen, fc.mlines
}

// leave ends the connection's PeerConnection; a later offer starts again.
func (fc *fakeConn) leave() {
	if fc.stopWriter != nil {
		close(fc.stopWriter)
		fc.stopWriter = nil
	}
	if fc.pc != nil {
		_ = fc.pc.GracefulClose()
		fc.pc = nil
	}
	fc.mu.Lock()
	fc.receivedTracks = map[string]*atomic.Uint64{}
	fc.mu.Unlock()
}
