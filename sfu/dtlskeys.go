package sfu

import (
	"fmt"
	"sync"

	"github.com/pion/srtp/v3"

	"github.com/confab/confab/internal/dtlssrtp"
)

// dtlsSecrets learns one peer's SRTP keys from its DTLS handshake
// (package dtlssrtp): with the server as the DTLS server, pion's
// ServerHello hook and key log show all the keys need. The keys let the
// server encrypt its forwarded packets itself (direct.go) and open what
// the peer sends (receive.go).
type dtlsSecrets struct {
	dtlssrtp.Secrets

	mu   sync.Mutex
	keys *srtpKeys
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

// serverKeys derives the server's SRTP keys once the handshake has shown
// all it needs (dtlssrtp.ErrNoKeys before), and keeps them.
func (s *dtlsSecrets) serverKeys() (*srtpKeys, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys != nil {
		return s.keys, nil
	}
	k, err := s.Keys()
	if err != nil {
		return nil, err
	}
	keys := &srtpKeys{
		profile: k.Profile,
		key:     k.LocalKey, salt: k.LocalSalt,
		recvKey: k.RemoteKey, recvSalt: k.RemoteSalt,
	}
	if k.Profile == srtp.ProtectionProfileAeadAes128Gcm {
		g, err := newGCMSealer(keys.key, keys.salt)
		if err != nil {
			return nil, err
		}
		keys.gcm = g
	}
	s.keys = keys
	return keys, nil
}
