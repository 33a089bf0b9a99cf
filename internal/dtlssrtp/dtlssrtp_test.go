package dtlssrtp

import (
	"bytes"
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/dtls/v3/pkg/crypto/selfsign"
	"github.com/pion/dtls/v3/pkg/protocol"
	"github.com/pion/dtls/v3/pkg/protocol/extension"
	"github.com/pion/dtls/v3/pkg/protocol/handshake"
	"github.com/pion/dtls/v3/pkg/protocol/recordlayer"
	"github.com/pion/srtp/v3"
)

// observedConn hands every datagram it reads to a Secrets, as a DTLS
// client's socket would.
type observedConn struct {
	net.PacketConn
	s    *Secrets
	seen int
}

func (c *observedConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(b)
	if err == nil && c.s.ObserveDatagram(b[:n]) {
		c.seen++
	}
	return n, addr, err
}

// TestKeysBothRoles runs real pion/dtls handshakes on loopback: the server
// learns its keys through the ServerHello hook, the client by watching its
// socket; both must derive what the client's own exporter derives, each
// from its own side.
func TestKeysBothRoles(t *testing.T) {
	suites := []dtls.CipherSuiteID{dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, dtls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}
	profiles := []dtls.SRTPProtectionProfile{dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80}
	for _, suite := range suites {
		for _, profile := range profiles {
			t.Run(dtls.CipherSuiteName(suite)+"/"+srtp.ProtectionProfile(profile).String(), func(t *testing.T) {
				checkKeys(t, suite, profile)
			})
		}
	}
}

func checkKeys(t *testing.T, suite dtls.CipherSuiteID, profile dtls.SRTPProtectionProfile) {
	cert, err := selfsign.GenerateSelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	sconn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	cconn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	var serverSecrets, clientSecrets Secrets
	if _, err := serverSecrets.Keys(); !errors.Is(err, ErrNoKeys) {
		t.Fatalf("keys before any handshake: %v, want ErrNoKeys", err)
	}
	server, err := dtls.ServerWithOptions(sconn, cconn.LocalAddr(),
		dtls.WithCertificates(cert),
		dtls.WithCipherSuites(suite),
		dtls.WithSRTPProtectionProfiles(dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80),
		dtls.WithServerHelloMessageHook(serverSecrets.ServerHello),
		dtls.WithKeyLogWriter(&serverSecrets),
		dtls.WithInsecureSkipVerifyHello(true),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	watched := &observedConn{PacketConn: cconn, s: &clientSecrets}
	client, err := dtls.ClientWithOptions(watched, sconn.LocalAddr(),
		dtls.WithCertificates(cert),
		dtls.WithCipherSuites(suite),
		dtls.WithSRTPProtectionProfiles(profile),
		dtls.WithKeyLogWriter(&clientSecrets),
		dtls.WithInsecureSkipVerify(true),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errs := make(chan error, 1)
	go func() { errs <- server.HandshakeContext(ctx) }()
	if err := client.HandshakeContext(ctx); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if err := <-errs; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	if watched.seen == 0 {
		t.Fatal("the client's socket never showed a ServerHello")
	}

	state, ok := client.ConnectionState()
	if !ok {
		t.Fatal("no client connection state")
	}
	want := srtp.Config{Profile: srtp.ProtectionProfile(profile)}
	if err := want.ExtractSessionKeysFromDTLS(&state, true); err != nil {
		t.Fatal(err)
	}
	sk, err := serverSecrets.Keys()
	if err != nil {
		t.Fatalf("server keys: %v", err)
	}
	ck, err := clientSecrets.Keys()
	if err != nil {
		t.Fatalf("client keys: %v", err)
	}
	for _, k := range []Keys{sk, ck} {
		if k.Profile != srtp.ProtectionProfile(profile) {
			t.Fatalf("profile %v, want %v", k.Profile, profile)
		}
	}
	if !bytes.Equal(ck.LocalKey, want.Keys.LocalMasterKey) || !bytes.Equal(ck.LocalSalt, want.Keys.LocalMasterSalt) ||
		!bytes.Equal(ck.RemoteKey, want.Keys.RemoteMasterKey) || !bytes.Equal(ck.RemoteSalt, want.Keys.RemoteMasterSalt) {
		t.Fatal("the client's keys from the wire differ from its exporter's")
	}
	if !bytes.Equal(sk.LocalKey, want.Keys.RemoteMasterKey) || !bytes.Equal(sk.LocalSalt, want.Keys.RemoteMasterSalt) ||
		!bytes.Equal(sk.RemoteKey, want.Keys.LocalMasterKey) || !bytes.Equal(sk.RemoteSalt, want.Keys.LocalMasterSalt) {
		t.Fatal("the server's keys from the hook are not the mirror of the client's")
	}
}

// TestObserveDatagram: a whole ServerHello in the clear is found, after
// another record in the same datagram too; truncated records, other
// content types, later epochs and fragments are not taken for one.
func TestObserveDatagram(t *testing.T) {
	hello := serverHelloRecord(t, 0)
	other := append([]byte{23}, hello[1:]...) // application data
	for _, tc := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"whole", hello, true},
		{"after another record", append(append([]byte{}, other...), hello...), true},
		{"empty", nil, false},
		{"truncated", hello[:len(hello)-1], false},
		{"application data", other, false},
		{"epoch 1", serverHelloRecord(t, 1), false},
		{"fragment", fragment(hello), false},
	} {
		var s Secrets
		if got := s.ObserveDatagram(tc.b); got != tc.want {
			t.Errorf("%s: found %v, want %v", tc.name, got, tc.want)
		}
	}
}

// serverHelloRecord is a DTLS record holding a ServerHello.
func serverHelloRecord(t *testing.T, epoch uint16) []byte {
	t.Helper()
	suite := uint16(dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)
	m := &handshake.MessageServerHello{
		Version:           protocol.Version1_2,
		CipherSuiteID:     &suite,
		CompressionMethod: &protocol.CompressionMethod{},
		Extensions:        []extension.Extension{&extension.UseSRTP{ProtectionProfiles: []extension.SRTPProtectionProfile{extension.SRTP_AEAD_AES_128_GCM}}},
	}
	if err := m.Random.Populate(); err != nil {
		t.Fatal(err)
	}
	rec := &recordlayer.RecordLayer{
		Header:  recordlayer.Header{Version: protocol.Version1_2, Epoch: epoch},
		Content: &handshake.Handshake{Message: m},
	}
	b, err := rec.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fragment makes a record's handshake message claim to be longer than
// the fragment it carries.
func fragment(rec []byte) []byte {
	b := append([]byte{}, rec...)
	b[recordHeaderLen+3]++ // the message's length, low byte
	return b
}
