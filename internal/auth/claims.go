// Package auth mints and verifies the tokens that grant access to Confab:
// HS256 JSON Web Tokens signed with one of the configured shared keys.
//
// JWT parsing and validation (signature, algorithm, exp and nbf) is done by
// github.com/golang-jwt/jwt/v5; this package only chooses its options, maps
// its errors to reasons a log can show, and checks Confab's own claims.
package auth

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// AnyRoom is the room claim that grants every room.
const AnyRoom = "*"

// Claims are what a Confab token grants.
type Claims struct {
	Room                 string `json:"room"`           // a room name, or "*" for any
	Name                 string `json:"name,omitempty"` // when set, the participant must join with exactly this name
	CanPublish           bool   `json:"canPublish"`
	CanSubscribe         bool   `json:"canSubscribe"`
	Admin                bool   `json:"admin,omitempty"`
	jwt.RegisteredClaims        // exp (required when verifying), nbf (optional), iat
}

// AllowsRoom reports whether the token grants joining room: its room claim
// is that room exactly, or "*".
func (c *Claims) AllowsRoom(room string) bool {
	if c == nil || c.Room == "" {
		return false
	}
	return c.Room == AnyRoom || c.Room == room
}

// AllowsName reports whether a participant holding the token may join under
// name: any name when the token names nobody, else exactly the one it names.
func (c *Claims) AllowsName(name string) bool {
	if c == nil {
		return false
	}
	return c.Name == "" || c.Name == name
}

// Mint returns c as an HS256 token signed with key, issued at now and
// expiring at now+ttl. Any iat and exp already in c are replaced; nbf is set
// to now unless c already has one (which lets a caller mint a token for later).
// Surrounding white space is not part of key, as in NewVerifier.
func Mint(key string, c Claims, ttl time.Duration, now time.Time) (string, error) {
	k := strings.TrimSpace(key)
	if k == "" {
		return "", errors.New("mint token: empty key")
	}
	if ttl <= 0 {
		return "", fmt.Errorf("mint token: ttl %v is not positive", ttl)
	}
	if c.Room == "" {
		return "", errors.New("mint token: empty room claim")
	}
	c.IssuedAt = jwt.NewNumericDate(now)
	c.ExpiresAt = jwt.NewNumericDate(now.Add(ttl))
	if c.NotBefore == nil {
		c.NotBefore = jwt.NewNumericDate(now)
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, &c).SignedString([]byte(k))
	if err != nil {
		return "", fmt.Errorf("mint token: %w", err)
	}
	return s, nil
}

// BearerToken returns the token of an Authorization header value of the form
// "Bearer <token>" (the scheme in any case), and false for anything else.
func BearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimLeft(token, " ")
	if token == "" || strings.ContainsAny(token, " \t") {
		return "", false
	}
	return token, true
}
