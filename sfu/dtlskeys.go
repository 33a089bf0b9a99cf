package sfu

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"

	"github.com/pion/dtls/v3"
	"github.com/pion/dtls/v3/pkg/crypto/prf"
	"github.com/pion/dtls/v3/pkg/protocol/extension"
	"github.com/pion/dtls/v3/pkg/protocol/handshake"
	"github.com/pion/srtp/v3"
)

// errNoKeys means the DTLS handshake has not revealed the SRTP keys (yet).
var errNoKeys = errors.New("sfu: DTLS keys not captured")

// dtlsSecrets learns one peer's SRTP keys from its DTLS handshake through
// pion's public hooks: pion does not hand out the DTLS connection, but it
// shows the server a ServerHello before sending it (server random, cipher
// suite, SRTP profile) and writes the NSS key log (client random, master
// secret). With the server as the DTLS server, the two together are the
// RFC 5705 exporter input that DTLS-SRTP (RFC 5764) derives its keys from.
// The keys let the server encrypt its forwarded packets itself (direct.go).
type dtlsSecrets struct {
	mu           sync.Mutex
	serverRandom []byte
	suite        dtls.CipherSuiteID
	profile      srtp.ProtectionProfile
	clientRandom []byte
	master       []byte
	keys         *srtpKeys
}

// srtpKeys are the SRTP keys of one DTLS session: the server's sending
// keys, and the peer's (recvKey, recvSalt) for receiving.
type srtpKeys struct {
	profile  srtp.ProtectionProfile
	key      []byte
	salt     []byte
	recvKey  []byte
	recvSalt []byte
	// gcm seals packets when the profile is AEAD_AES_128_GCM; nil for
	// the others, which use pion's srtp.Context.
	gcm *gcmSealer
}

// newContext makes a fresh SRTP context for the server's sending side.
func (k *srtpKeys) newContext() (*srtp.Context, error) {
	ctx, err := srtp.CreateContext(k.key, k.salt, k.profile)
	if err != nil {
		return nil, fmt.Errorf("srtp context: %w", err)
	}
	return ctx, nil
}

// serverHello is the ServerHello hook: it records and returns the message
// unchanged.
func (s *dtlsSecrets) serverHello(m handshake.MessageServerHello) handshake.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := m.Random.MarshalFixed()
	s.serverRandom = r[:]
	if m.CipherSuiteID != nil {
		s.suite = dtls.CipherSuiteID(*m.CipherSuiteID)
	}
	for _, e := range m.Extensions {
		if u, ok := e.(*extension.UseSRTP); ok && len(u.ProtectionProfiles) == 1 {
			s.profile = srtp.ProtectionProfile(u.ProtectionProfiles[0])
		}
	}
	return &m
}

// Write receives pion's key log: lines "CLIENT_RANDOM <hex> <hex>".
func (s *dtlsSecrets) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(p, []byte("\n")) {
		f := strings.Fields(string(line))
		if len(f) != 3 || f[0] != "CLIENT_RANDOM" {
			continue
		}
		cr, err1 := hex.DecodeString(f[1])
		ms, err2 := hex.DecodeString(f[2])
		if err1 != nil || err2 != nil {
			continue
		}
		s.mu.Lock()
		s.clientRandom, s.master = cr, ms
		s.mu.Unlock()
	}
	return len(p), nil
}

// serverKeys derives the server's SRTP sending keys, once the handshake has
// shown all it needs.
func (s *dtlsSecrets) serverKeys() (*srtpKeys, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys != nil {
		return s.keys, nil
	}
	if len(s.serverRandom) != 32 || len(s.clientRandom) != 32 || len(s.master) == 0 || s.profile == 0 {
		return nil, errNoKeys
	}
	cfg := srtp.Config{Profile: s.profile}
	if err := cfg.ExtractSessionKeysFromDTLS(s, false); err != nil {
		return nil, fmt.Errorf("derive SRTP keys: %w", err)
	}
	keys := &srtpKeys{
		profile: s.profile,
		key:     cfg.Keys.LocalMasterKey, salt: cfg.Keys.LocalMasterSalt,
		recvKey: cfg.Keys.RemoteMasterKey, recvSalt: cfg.Keys.RemoteMasterSalt,
	}
	if s.profile == srtp.ProtectionProfileAeadAes128Gcm {
		g, err := newGCMSealer(keys.key, keys.salt)
		if err != nil {
			return nil, err
		}
		keys.gcm = g
	}
	s.keys = keys
	return keys, nil
}

// ExportKeyingMaterial is the RFC 5705 exporter of DTLS 1.2 (as pion/dtls
// computes it for a server): PRF(master secret, label, client random ||
// server random). Callers hold s.mu.
func (s *dtlsSecrets) ExportKeyingMaterial(label string, context []byte, length int) ([]byte, error) {
	if len(context) != 0 {
		return nil, errors.New("sfu: exporter context unsupported")
	}
	seed := make([]byte, 0, len(label)+64)
	seed = append(seed, label...)
	seed = append(seed, s.clientRandom...)
	seed = append(seed, s.serverRandom...)
	return prf.PHash(s.master, seed, length, prfHash(s.suite))
}

// prfHash is the TLS 1.2 PRF hash of a cipher suite: SHA-384 for the suites
// that name it, SHA-256 for every other.
func prfHash(id dtls.CipherSuiteID) prf.HashFunc {
	if strings.HasSuffix(dtls.CipherSuiteName(id), "SHA384") {
		return func() hash.Hash { return sha512.New384() }
	}
	return sha256.New
}
