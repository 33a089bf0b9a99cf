// Package dtlssrtp learns the SRTP keys of a DTLS-SRTP session (RFC 5764)
// from what pion shows of its DTLS handshake.
//
// pion does not hand out its DTLS connection, so its keys cannot be asked
// for. But its key log gives the client random and the master secret, and
// the ServerHello gives the server random, the cipher suite and the chosen
// SRTP profile: the DTLS server sees its ServerHello through pion's hook
// before sending it, and the DTLS client can read it off the wire, where it
// travels in the clear. Together they are the input of the RFC 5705
// exporter that DTLS-SRTP derives its keys from.
//
// The server (package sfu) uses the keys to seal what it forwards and open
// what publishers send without pion's per-packet stack; the load
// generator's clients (package client) to open what they receive.
package dtlssrtp

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
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

// ErrNoKeys means the handshake has not shown everything the keys need
// (yet).
var ErrNoKeys = errors.New("dtlssrtp: DTLS keys not captured")

// Secrets gathers one DTLS session's secrets. Give its ServerHello method
// to pion as the ServerHello hook (for a DTLS server), or its
// ObserveDatagram every datagram received before the handshake ends (for a
// DTLS client); and the Secrets itself as pion's key log writer. Its methods
// are safe for concurrent use.
type Secrets struct {
	mu           sync.Mutex
	serverRandom []byte
	suite        dtls.CipherSuiteID
	profile      srtp.ProtectionProfile
	clientRandom []byte
	master       []byte
	// isClient is true when the ServerHello came in from the wire.
	isClient bool
}

// Keys are the SRTP master keys and salts of one session: Local for what
// this end sends, Remote for what it receives.
type Keys struct {
	Profile    srtp.ProtectionProfile
	LocalKey   []byte
	LocalSalt  []byte
	RemoteKey  []byte
	RemoteSalt []byte
}

// ServerHello is pion's ServerHello hook for a DTLS server: it records the
// message and returns it unchanged.
func (s *Secrets) ServerHello(m handshake.MessageServerHello) handshake.Message {
	s.noteServerHello(&m, false)
	return &m
}

func (s *Secrets) noteServerHello(m *handshake.MessageServerHello, isClient bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := m.Random.MarshalFixed()
	s.serverRandom = r[:]
	s.isClient = isClient
	if m.CipherSuiteID != nil {
		s.suite = dtls.CipherSuiteID(*m.CipherSuiteID)
	}
	for _, e := range m.Extensions {
		if u, ok := e.(*extension.UseSRTP); ok && len(u.ProtectionProfiles) == 1 {
			s.profile = srtp.ProtectionProfile(u.ProtectionProfiles[0])
		}
	}
}

// DTLS record and handshake framing (RFC 6347 sections 4.1 and 4.2.2).
const (
	recordHeaderLen     = 13
	handshakeHeaderLen  = 12
	contentHandshake    = 22
	handshakeServerHelo = 2
)

// ObserveDatagram looks for a ServerHello among the records of a datagram
// a DTLS client received, and records it. It reports whether it found one.
// Anything else, DTLS or not, is ignored; so is a ServerHello split over
// several fragments (pion and browsers send it whole).
func (s *Secrets) ObserveDatagram(b []byte) bool {
	found := false
	for len(b) >= recordHeaderLen {
		n := recordHeaderLen + int(binary.BigEndian.Uint16(b[11:13]))
		if n > len(b) {
			break
		}
		contentType, epoch := b[0], binary.BigEndian.Uint16(b[3:5])
		rec := b[recordHeaderLen:n]
		b = b[n:]
		// Epoch 0: the handshake's first flights, in the clear.
		if contentType != contentHandshake || epoch != 0 || len(rec) < handshakeHeaderLen {
			continue
		}
		if m, ok := serverHello(rec); ok {
			s.noteServerHello(m, true)
			found = true
		}
	}
	return found
}

// serverHello parses a handshake record body holding a whole ServerHello.
func serverHello(rec []byte) (*handshake.MessageServerHello, bool) {
	if rec[0] != handshakeServerHelo {
		return nil, false
	}
	length := uint24(rec[1:4])
	offset, fragment := uint24(rec[6:9]), uint24(rec[9:12])
	if offset != 0 || fragment != length || handshakeHeaderLen+length > len(rec) {
		return nil, false
	}
	var m handshake.MessageServerHello
	if err := m.Unmarshal(rec[handshakeHeaderLen : handshakeHeaderLen+length]); err != nil {
		return nil, false
	}
	return &m, true
}

func uint24(b []byte) int { return int(b[0])<<16 | int(b[1])<<8 | int(b[2]) }

// Write receives pion's key log: lines "CLIENT_RANDOM <hex> <hex>".
func (s *Secrets) Write(p []byte) (int, error) {
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

// Keys derives the session's SRTP keys, once the handshake has shown all
// they need; ErrNoKeys before.
func (s *Secrets) Keys() (Keys, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.serverRandom) != 32 || len(s.clientRandom) != 32 || len(s.master) == 0 || s.profile == 0 {
		return Keys{}, ErrNoKeys
	}
	cfg := srtp.Config{Profile: s.profile}
	if err := cfg.ExtractSessionKeysFromDTLS(exporter{s}, s.isClient); err != nil {
		return Keys{}, fmt.Errorf("derive SRTP keys: %w", err)
	}
	return Keys{
		Profile:  s.profile,
		LocalKey: cfg.Keys.LocalMasterKey, LocalSalt: cfg.Keys.LocalMasterSalt,
		RemoteKey: cfg.Keys.RemoteMasterKey, RemoteSalt: cfg.Keys.RemoteMasterSalt,
	}, nil
}

// exporter is the RFC 5705 exporter of DTLS 1.2 over a Secrets whose mutex
// the caller holds.
type exporter struct{ s *Secrets }

// ExportKeyingMaterial computes PRF(master secret, label, client random ||
// server random), as pion/dtls does.
func (e exporter) ExportKeyingMaterial(label string, context []byte, length int) ([]byte, error) {
	if len(context) != 0 {
		return nil, errors.New("dtlssrtp: exporter context unsupported")
	}
	seed := make([]byte, 0, len(label)+64)
	seed = append(seed, label...)
	seed = append(seed, e.s.clientRandom...)
	seed = append(seed, e.s.serverRandom...)
	return prf.PHash(e.s.master, seed, length, prfHash(e.s.suite))
}

// prfHash is the TLS 1.2 PRF hash of a cipher suite: SHA-384 for the suites
// that name it, SHA-256 for every other.
func prfHash(id dtls.CipherSuiteID) prf.HashFunc {
	if strings.HasSuffix(dtls.CipherSuiteName(id), "SHA384") {
		return func() hash.Hash { return sha512.New384() }
	}
	return sha256.New
}
