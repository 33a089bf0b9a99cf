package auth

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	// algorithm is the only signing algorithm Verify accepts.
	algorithm = "HS256"
	// leeway absorbs clock skew between the host that minted a token and this one.
	leeway = 5 * time.Second
	// maxTokenLen bounds the work one token can cost; real tokens are a few
	// hundred bytes.
	maxTokenLen = 8 << 10
)

// Verifier checks tokens against the configured keys. It is immutable after
// NewVerifier and safe for concurrent use.
type Verifier struct {
	keys jwt.VerificationKeySet // read only after NewVerifier
	now  func() time.Time
}

// NewVerifier returns a Verifier that accepts tokens signed with any of keys.
// Surrounding white space is not part of a key and empty keys are ignored;
// with no keys left the Verifier is disabled (see Enabled). A nil now means
// time.Now.
func NewVerifier(keys []string, now func() time.Time) *Verifier {
	if now == nil {
		now = time.Now
	}
	v := &Verifier{now: now}
	for _, k := range keys {
		if k = strings.TrimSpace(k); k != "" {
			v.keys.Keys = append(v.keys.Keys, []byte(k))
		}
	}
	return v
}

// Enabled reports whether any key is configured, that is whether joins and the
// admin API require a token at all.
func (v *Verifier) Enabled() bool {
	return v != nil && len(v.keys.Keys) > 0
}

// Verify returns the claims of token if it is an HS256 JWT signed with one of
// the keys, has an exp that has not passed, an nbf (if any) that has, and a
// room claim; each time is allowed a few seconds of clock skew. Every error
// wraps ErrUnauthorized. A disabled Verifier accepts nothing.
func (v *Verifier) Verify(token string) (*Claims, error) {
	if !v.Enabled() {
		return nil, fmt.Errorf("no keys configured: %w", ErrUnauthorized)
	}
	if token == "" {
		return nil, fmt.Errorf("empty token: %w", ErrUnauthorized)
	}
	if len(token) > maxTokenLen {
		return nil, fmt.Errorf("malformed token: longer than %d bytes: %w", maxTokenLen, ErrUnauthorized)
	}
	// A Parser is cheap; one per call keeps Verify free of shared mutable
	// state whatever the library does inside.
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{algorithm}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(v.now),
		jwt.WithStrictDecoding(),
	)
	var c Claims
	tok, err := p.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) {
		return v.keys, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", reason(tok, err), ErrUnauthorized)
	}
	if c.Room == "" {
		return nil, fmt.Errorf("missing room claim: %w", ErrUnauthorized)
	}
	return &c, nil
}

// reason says in a few words, for a log, why the library refused a token.
// The checks run in the library's order (decoding, algorithm, signature,
// then claims), so the first that matches is the one that stopped it.
func reason(tok *jwt.Token, err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return fmt.Sprintf("malformed token (%v)", err)
	case tok != nil && tok.Method == nil:
		return fmt.Sprintf("unsupported algorithm %s", headerAlg(tok))
	case tok != nil && tok.Method.Alg() != algorithm:
		return fmt.Sprintf("wrong algorithm %s", headerAlg(tok))
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "bad signature"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "missing exp"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "token expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "token not yet valid"
	default:
		return fmt.Sprintf("invalid token (%v)", err)
	}
}

// headerAlg returns the token's alg header quoted and cut short, as it comes
// from whoever sent the token.
func headerAlg(tok *jwt.Token) string {
	alg, ok := tok.Header["alg"].(string)
	if !ok {
		return "(none given)"
	}
	if len(alg) > 16 {
		alg = alg[:16] + "..."
	}
	return fmt.Sprintf("%q", alg)
}
