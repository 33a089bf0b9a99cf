package sfu

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/srtp/v3"

	"github.com/confab/confab/internal/leaktest"
)

// pionStream stands in for pion's SRTP read stream under the chain: what is
// sent on it is what pion would have decrypted.
type pionStream chan []byte

func (s pionStream) Read(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
	p, ok := <-s
	if !ok {
		return 0, a, io.EOF
	}
	return copy(b, p), a, nil
}

// rtpPacket marshals an RTP packet of ssrc and seq with a payload that
// names them.
func rtpPacket(t *testing.T, ssrc uint32, seq uint16, size int) []byte {
	t.Helper()
	payload := bytes.Repeat([]byte{byte(seq), byte(ssrc)}, size/2)
	raw, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(seq) * 3000, SSRC: ssrc}, Payload: payload}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// startedReceiver returns a direct receiver started with random keys of
// profile, and the publisher's context that seals for it.
func startedReceiver(t *testing.T, profile srtp.ProtectionProfile, index *ssrcIndex) (*directReceiver, *srtp.Context) {
	t.Helper()
	keys := randomKeys(t, profile)
	keyLen, _ := profile.KeyLen()
	saltLen, _ := profile.SaltLen()
	keys.recvKey, keys.recvSalt = randomBytes(t, keyLen), randomBytes(t, saltLen)
	publisher, err := srtp.CreateContext(keys.recvKey, keys.recvSalt, profile)
	if err != nil {
		t.Fatal(err)
	}
	rx := newDirectReceiver(slog.New(slog.DiscardHandler), index)
	if err := rx.start(keys); err != nil {
		t.Fatal(err)
	}
	return rx, publisher
}

// TestDirectReceive: the media socket's reader decrypts a bound stream's
// RTP itself and queues it for the chain, and returns to pion everything
// else (RTCP, unbound streams, STUN); packets pion still delivers reach the
// same reader; a stream that does not decrypt goes back to pion's path; a
// full queue drops instead of blocking the socket; closing ends the pumps.
func TestDirectReceive(t *testing.T) {
	for _, profile := range []srtp.ProtectionProfile{srtp.ProtectionProfileAeadAes128Gcm, srtp.ProtectionProfileAes128CmHmacSha1_80} {
		t.Run(profile.String(), func(t *testing.T) { checkDirectReceive(t, profile) })
	}
}

func checkDirectReceive(t *testing.T, profile srtp.ProtectionProfile) {
	t.Cleanup(func() { leaktest.VerifyNone(t) })
	var index ssrcIndex
	rx, publisher := startedReceiver(t, profile, &index)
	keyLen, _ := profile.KeyLen()
	saltLen, _ := profile.SaltLen()
	stranger, err := srtp.CreateContext(randomBytes(t, keyLen), randomBytes(t, saltLen), profile)
	if err != nil {
		t.Fatal(err)
	}
	const videoSSRC, audioSSRC, forgedSSRC, unboundSSRC = 1111, 2222, 3333, 4444
	video, audio, forged := make(pionStream), make(pionStream), make(pionStream)
	videoR := rx.BindRemoteStream(&interceptor.StreamInfo{SSRC: videoSSRC, MimeType: "video/VP8"}, video)
	audioR := rx.BindRemoteStream(&interceptor.StreamInfo{SSRC: audioSSRC, MimeType: "audio/opus"}, audio)
	rx.BindRemoteStream(&interceptor.StreamInfo{SSRC: forgedSSRC, MimeType: "video/VP8"}, forged)
	ended := false
	t.Cleanup(func() {
		if !ended {
			close(video)
			close(audio)
			close(forged)
		}
		rx.close()
	})

	sock := mediaSocketOf(t, listenLoopback(t, "udp4", "127.0.0.1"))
	conn, ok := wrapMediaConn(sock.conn, sock.raw, &sock.rx).(interface {
		ReadFromAddrPort([]byte) (int, netip.AddrPort, error)
		SetReadDeadline(time.Time) error
	})
	if !ok {
		t.Skip("reads are not raw here")
	}
	sock.rx.index = &index
	tx := listenLoopback(t, "udp4", "127.0.0.1")
	sock.rx.add(tx.LocalAddr().(*net.UDPAddr).AddrPort(), rx)
	to := sock.conn.LocalAddr().(*net.UDPAddr)
	send := func(ctx *srtp.Context, plain []byte) {
		t.Helper()
		sealed, err := ctx.EncryptRTP(nil, plain, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.WriteToUDP(sealed, to); err != nil {
			t.Fatal(err)
		}
	}
	// pionReads reads what the socket hands to pion, in order.
	pionReads := func(n int) [][]byte {
		t.Helper()
		var got [][]byte
		buf := make([]byte, 1500)
		for range n {
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			m, _, err := conn.ReadFromAddrPort(buf)
			if err != nil {
				t.Fatalf("read for pion: %v", err)
			}
			got = append(got, bytes.Clone(buf[:m]))
		}
		return got
	}
	readChain := func(r interceptor.RTPReader) []byte {
		t.Helper()
		buf := make([]byte, 1500)
		n, _, err := r.Read(buf, nil)
		if err != nil {
			t.Fatalf("read through the chain: %v", err)
		}
		return buf[:n]
	}

	// Bound streams are taken; RTCP, an unbound stream and STUN are not.
	var want [][]byte
	for seq := uint16(65530); len(want) < 10; seq++ { // across a wrap
		p := rtpPacket(t, videoSSRC, seq, 1000)
		want = append(want, p)
		send(publisher, p)
	}
	rtcpish := append([]byte{0x81, 200, 0, 6}, randomBytes(t, 24)...) // a sender report's header
	unbound := rtpPacket(t, unboundSSRC, 1, 100)
	stun := append([]byte{0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42}, randomBytes(t, 12)...)
	for _, p := range [][]byte{rtcpish, unbound, stun} {
		if _, err := tx.WriteToUDP(p, to); err != nil {
			t.Fatal(err)
		}
	}
	got := pionReads(3)
	if !bytes.Equal(got[0], rtcpish) || !bytes.Equal(got[1], unbound) || !bytes.Equal(got[2], stun) {
		t.Fatalf("pion was handed %d, %d, %d bytes; want the RTCP, the unbound stream's and the STUN datagram", len(got[0]), len(got[1]), len(got[2]))
	}
	for i, w := range want {
		if p := readChain(videoR); !bytes.Equal(p, w) {
			t.Fatalf("packet %d through the chain differs from the publisher's", i)
		}
	}
	if n := rx.received.Load(); n != uint64(len(want)) {
		t.Fatalf("%d packets received directly, want %d", n, len(want))
	}

	// RTP from another address of the peer (ICE lets it send on any valid
	// pair) is taken once it decrypts, and the address is learned; what
	// does not decrypt from an unknown address is pion's, and counts for
	// nothing.
	other, third := listenLoopback(t, "udp4", "127.0.0.1"), listenLoopback(t, "udp4", "127.0.0.1")
	good := rtpPacket(t, videoSSRC, 4, 500)
	sealed, err := publisher.EncryptRTP(nil, good, nil)
	if err != nil {
		t.Fatal(err)
	}
	bad, err := stranger.EncryptRTP(nil, rtpPacket(t, videoSSRC, 5, 500), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.WriteToUDP(sealed, to); err != nil {
		t.Fatal(err)
	}
	if _, err := third.WriteToUDP(bad, to); err != nil {
		t.Fatal(err)
	}
	if got := pionReads(1); !bytes.Equal(got[0], bad) {
		t.Fatal("pion was not handed the packet that does not decrypt")
	}
	if p := readChain(videoR); !bytes.Equal(p, good) {
		t.Fatal("the packet from the peer's other address did not come through the chain")
	}
	if sock.rx.lookup(other.LocalAddr().(*net.UDPAddr).AddrPort()) != rx || sock.rx.lookup(third.LocalAddr().(*net.UDPAddr).AddrPort()) != nil {
		t.Fatal("the other address was not learned, or the stranger's was")
	}
	if n := rx.failed.Load(); n != 0 {
		t.Fatalf("%d decryption failures counted for an unknown address, want 0", n)
	}

	// What pion still delivers comes through the same reader.
	fromPion := rtpPacket(t, audioSSRC, 7, 100)
	video <- fromPion // arrives on the video reader: pion knows its stream
	if p := readChain(videoR); !bytes.Equal(p, fromPion) {
		t.Fatal("a packet pion delivered did not come through the chain")
	}

	// A stream that does not decrypt goes back to pion after
	// rxFallbackFailures packets, and pion is handed the rest.
	for seq := range uint16(rxFallbackFailures + 2) {
		send(stranger, rtpPacket(t, forgedSSRC, seq, 200))
	}
	if got := pionReads(2); len(got) != 2 {
		t.Fatal("pion was not handed the undecryptable stream")
	}
	if n := rx.failed.Load(); n != rxFallbackFailures {
		t.Fatalf("%d decryption failures, want %d", n, rxFallbackFailures)
	}

	// A queue nobody reads fills and then drops; the socket goes on.
	for seq := range uint16(rxQueueAudio + 5) {
		send(publisher, rtpPacket(t, audioSSRC, seq, 100))
	}
	send(publisher, rtpPacket(t, unboundSSRC, 2, 100))
	pionReads(1) // the unbound packet, read past the audio that filled the queue
	if n := rx.dropped.Load(); n != 5 {
		t.Fatalf("%d packets dropped on a full queue, want 5", n)
	}
	if p := readChain(audioR); !bytes.Equal(p, rtpPacket(t, audioSSRC, 0, 100)) {
		t.Fatal("the audio queue does not start with its first packet")
	}

	// Streams end when pion's do; close joins the pumps.
	ended = true
	close(video)
	for {
		if _, _, err := videoR.Read(make([]byte, 1500), nil); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	close(audio)
	close(forged)
	sock.rx.forget(rx)
	if sock.rx.lookup(other.LocalAddr().(*net.UDPAddr).AddrPort()) != nil || sock.rx.lookup(tx.LocalAddr().(*net.UDPAddr).AddrPort()) != nil {
		t.Fatal("forget left an address of the receiver")
	}
}

// TestDirectReceiveAllocs: decrypting a packet into its stream's queue and
// reading it through the peer's chain allocates nothing.
func TestDirectReceiveAllocs(t *testing.T) {
	for _, profile := range []srtp.ProtectionProfile{srtp.ProtectionProfileAeadAes128Gcm, srtp.ProtectionProfileAes128CmHmacSha1_80} {
		t.Run(profile.String(), func(t *testing.T) {
			if raceEnabled && profile != srtp.ProtectionProfileAeadAes128Gcm {
				t.Skip("pion's pooled AES-CM buffers allocate under the race detector")
			}
			rx, publisher := startedReceiver(t, profile, nil)
			pion := make(pionStream)
			info := &interceptor.StreamInfo{SSRC: 5, MimeType: "video/VP8", ClockRate: 90000, RTCPFeedback: []interceptor.RTCPFeedback{{Type: "nack"}}}
			r := rx.BindRemoteStream(info, pion)
			defer rx.close()
			defer close(pion)
			const runs = 200
			sealed := make([][]byte, 0, runs+1)
			for seq := range uint16(runs + 1) {
				p, err := publisher.EncryptRTP(nil, rtpPacket(t, 5, seq, 1000), nil)
				if err != nil {
					t.Fatal(err)
				}
				sealed = append(sealed, p)
			}
			buf := make([]byte, 1500)
			i := 0
			allocs := testing.AllocsPerRun(runs, func() {
				rx.receive(sealed[i], false)
				i++
				_, _, _ = r.Read(buf, nil)
			})
			if allocs != 0 || rx.received.Load() != runs+1 {
				t.Fatalf("%.1f allocations per packet; %d of %d received", allocs, rx.received.Load(), runs+1)
			}
			if !bytes.Equal(buf[:1012], rtpPacket(t, 5, runs, 1000)) {
				t.Fatal("the last packet read is not the last sent")
			}
		})
	}
}

// TestTransportFeedback: the receiver records the transport-wide sequence
// numbers of the packets it takes, from the socket and from pion alike, and
// builds transport-cc feedback that shows which arrived.
func TestTransportFeedback(t *testing.T) {
	defer leaktest.VerifyNone(t)
	rx, publisher := startedReceiver(t, srtp.ProtectionProfileAeadAes128Gcm, nil)
	const ssrc, extID = 77, 3
	pion := make(pionStream, 1)
	r := rx.BindRemoteStream(&interceptor.StreamInfo{
		SSRC: ssrc, MimeType: "video/VP8",
		RTPHeaderExtensions: []interceptor.RTPHeaderExtension{{URI: sdp.TransportCCURI, ID: extID}},
	}, pion)
	defer rx.close()
	defer close(pion)

	packet := func(seq, twccSeq uint16) []byte {
		h := rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, SSRC: ssrc}
		if err := h.SetExtension(extID, []byte{byte(twccSeq >> 8), byte(twccSeq)}); err != nil {
			t.Fatal(err)
		}
		raw, err := (&rtp.Packet{Header: h, Payload: make([]byte, 300)}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	buf := make([]byte, 1500)
	pion <- packet(1, 100) // pion's path
	if _, _, err := r.Read(buf, nil); err != nil {
		t.Fatal(err)
	}
	for i := uint16(1); i < 10; i++ {
		if i == 5 {
			continue // lost
		}
		sealed, err := publisher.EncryptRTP(nil, packet(1+i, 100+i), nil)
		if err != nil {
			t.Fatal(err)
		}
		if !rx.receive(sealed, false) {
			t.Fatal("a bound stream's packet was not taken")
		}
		if _, _, err := r.Read(buf, nil); err != nil {
			t.Fatal(err)
		}
	}
	pkts := rx.transportFeedback(nil)
	if len(pkts) != 1 {
		t.Fatalf("%d feedback packets, want 1", len(pkts))
	}
	fb, ok := pkts[0].(*rtcp.TransportLayerCC)
	if !ok {
		t.Fatalf("feedback %T, want transport-cc", pkts[0])
	}
	if fb.BaseSequenceNumber != 100 || fb.PacketStatusCount != 10 || len(fb.RecvDeltas) != 9 || fb.MediaSSRC != ssrc || fb.SenderSSRC != rx.ssrc {
		t.Fatalf("feedback from %d for %d packets, %d received, media SSRC %d, sender %d; want from 100 for 10, 9 received, %d, %d",
			fb.BaseSequenceNumber, fb.PacketStatusCount, len(fb.RecvDeltas), fb.MediaSSRC, fb.SenderSSRC, ssrc, rx.ssrc)
	}
	if pkts := rx.transportFeedback(nil); len(pkts) != 0 {
		t.Fatalf("%d feedback packets with nothing new arrived, want none", len(pkts))
	}
}

// TestBindAfterClose: pion may bind a stream after the peer's receiver has
// closed (its operations queue is not joined by the connection's Close).
// Such a stream gets no pump: its reads go straight to pion's reader, and
// nothing is left running or indexed.
func TestBindAfterClose(t *testing.T) {
	defer leaktest.VerifyNone(t)
	index := new(ssrcIndex)
	rx := newDirectReceiver(slog.New(slog.DiscardHandler), index)
	rx.close()
	pion := make(pionStream, 1)
	r := rx.BindRemoteStream(&interceptor.StreamInfo{SSRC: 9, MimeType: "video/VP8"}, pion)
	pion <- rtpPacket(t, 9, 1, 100)
	close(pion)
	buf := make([]byte, 1500)
	if n, _, err := r.Read(buf, nil); err != nil || n == 0 {
		t.Fatalf("read after close: %d bytes, %v", n, err)
	}
	if _, _, err := r.Read(buf, nil); err == nil {
		t.Fatal("the stream did not end with pion's")
	}
	rx.mu.Lock()
	streams := len(rx.streams)
	rx.mu.Unlock()
	if _, indexed := index.get(9); streams != 0 || indexed {
		t.Fatalf("bound after close: %d streams, indexed %v", streams, indexed)
	}
}
