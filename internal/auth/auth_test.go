package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// t0 is the tests' fixed "now"; whole seconds, as JWT times are.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	key1 = "first-secret-key-0123456789abcdef"
	key2 = "second-secret-key-0123456789abcdef"
	key3 = "third-secret-key-0123456789abcdef"
)

func clock(t time.Time) func() time.Time { return func() time.Time { return t } }

// claimsAt returns ordinary claims valid from now-1m to now+1h.
func claimsAt(now time.Time, room string) *Claims {
	return &Claims{
		Room:         room,
		CanPublish:   true,
		CanSubscribe: true,
		RegisteredClaims: jwt.RegisteredClaims{
			IssuedAt:  jwt.NewNumericDate(now.Add(-time.Minute)),
			NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
		},
	}
}

// sign signs claims with the library, with any method it supports.
func sign(t *testing.T, m jwt.SigningMethod, key any, claims jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, claims).SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

// handmade builds a token from a raw header and claims, with an HMAC-SHA256
// signature under key whatever the header says (the alg-confusion attack).
func handmade(t *testing.T, header string, claims any, key string) string {
	t.Helper()
	body, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString(body)
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(mac.Sum(nil))
}

func TestVerify(t *testing.T) {
	v := NewVerifier([]string{key1, key2, key3}, clock(t0))
	valid := claimsAt(t0, "lobby")

	noExp := claimsAt(t0, "lobby")
	noExp.ExpiresAt = nil
	expired := claimsAt(t0, "lobby")
	expired.ExpiresAt = jwt.NewNumericDate(t0.Add(-10 * time.Second))
	expiredInLeeway := claimsAt(t0, "lobby")
	expiredInLeeway.ExpiresAt = jwt.NewNumericDate(t0.Add(-3 * time.Second))
	notYet := claimsAt(t0, "lobby")
	notYet.NotBefore = jwt.NewNumericDate(t0.Add(10 * time.Second))
	notYetInLeeway := claimsAt(t0, "lobby")
	notYetInLeeway.NotBefore = jwt.NewNumericDate(t0.Add(3 * time.Second))
	noNbf := claimsAt(t0, "lobby")
	noNbf.NotBefore = nil
	noRoom := claimsAt(t0, "")

	hs256 := jwt.SigningMethodHS256
	tests := []struct {
		name   string
		token  string
		reason string // "" means accepted
	}{
		{"first key", sign(t, hs256, []byte(key1), valid), ""},
		{"second key", sign(t, hs256, []byte(key2), valid), ""},
		{"third key", sign(t, hs256, []byte(key3), valid), ""},
		{"wrong key", sign(t, hs256, []byte("not-a-configured-key-0123456789"), valid), "bad signature"},
		{"empty key", sign(t, hs256, []byte{}, valid), "bad signature"},
		{"tampered claims", tamper(t, sign(t, hs256, []byte(key1), valid)), "bad signature"},
		{"expired", sign(t, hs256, []byte(key1), expired), "token expired"},
		{"expired within leeway", sign(t, hs256, []byte(key1), expiredInLeeway), ""},
		{"nbf in the future", sign(t, hs256, []byte(key1), notYet), "token not yet valid"},
		{"nbf within leeway", sign(t, hs256, []byte(key1), notYetInLeeway), ""},
		{"no nbf", sign(t, hs256, []byte(key1), noNbf), ""},
		{"missing exp", sign(t, hs256, []byte(key1), noExp), "missing exp"},
		{"missing room", sign(t, hs256, []byte(key1), noRoom), "missing room claim"},
		{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid), `wrong algorithm "none"`},
		{"alg HS384 with the right key", sign(t, jwt.SigningMethodHS384, []byte(key1), valid), `wrong algorithm "HS384"`},
		{"alg HS512 with the right key", sign(t, jwt.SigningMethodHS512, []byte(key1), valid), `wrong algorithm "HS512"`},
		{"alg RS256 over an HMAC signature", handmade(t, `{"alg":"RS256","typ":"JWT"}`, valid, key1), `wrong algorithm "RS256"`},
		{"alg in lower case", handmade(t, `{"alg":"hs256","typ":"JWT"}`, valid, key1), `unsupported algorithm "hs256"`},
		{"alg missing", handmade(t, `{"typ":"JWT"}`, valid, key1), "unsupported algorithm (none given)"},
		{"handmade HS256 is fine", handmade(t, `{"alg":"HS256","typ":"JWT"}`, valid, key1), ""},
		{"exp of the wrong type", handmade(t, `{"alg":"HS256"}`, map[string]any{"room": "lobby", "exp": "tomorrow"}, key1), "malformed token"},
		{"room of the wrong type", handmade(t, `{"alg":"HS256"}`, map[string]any{"room": 7, "exp": t0.Add(time.Hour).Unix()}, key1), "malformed token"},
		{"garbage", "this is not a token", "malformed token"},
		{"three garbage parts", "a.b.c", "malformed token"},
		{"bad base64 signature", sign(t, hs256, []byte(key1), valid) + "!", "malformed token"},
		{"too long", strings.Repeat("a", maxTokenLen+1), "malformed token"},
		{"empty", "", "empty token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.Verify(tc.token)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("Verify: %v, want accepted", err)
				}
				if c.Room != "lobby" || !c.CanPublish || !c.CanSubscribe {
					t.Fatalf("claims = %+v", c)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify accepted %+v, want refused for %q", c, tc.reason)
			}
			if c != nil {
				t.Errorf("claims %+v returned with error", c)
			}
			if !errors.Is(err, ErrUnauthorized) {
				t.Errorf("error %q does not wrap ErrUnauthorized", err)
			}
			if !strings.HasPrefix(err.Error(), tc.reason) {
				t.Errorf("error %q, want reason %q", err, tc.reason)
			}
		})
	}
}

// tamper grants admin in a signed token's claims without re-signing it.
func tamper(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	body, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	m["admin"] = true
	body, _ = json.Marshal(m)
	parts[1] = base64.RawURLEncoding.EncodeToString(body)
	return strings.Join(parts, ".")
}

func TestVerifierClock(t *testing.T) {
	tok, err := Mint(key1, Claims{Room: "r"}, time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		at time.Time
		ok bool
	}{
		{t0.Add(-10 * time.Second), false}, // nbf = t0, beyond the leeway
		{t0.Add(-leeway), true},
		{t0, true},
		{t0.Add(time.Hour - time.Second), true},
		{t0.Add(time.Hour + leeway - time.Second), true},
		{t0.Add(time.Hour + leeway), false},
		{t0.Add(2 * time.Hour), false},
	}
	for _, tc := range tests {
		_, err := NewVerifier([]string{key1}, clock(tc.at)).Verify(tok)
		if (err == nil) != tc.ok {
			t.Errorf("at t0%+v: err = %v, want ok %v", tc.at.Sub(t0), err, tc.ok)
		}
	}
}

func TestVerifierEnabled(t *testing.T) {
	tests := []struct {
		keys []string
		want bool
	}{
		{nil, false},
		{[]string{}, false},
		{[]string{"", "  "}, false},
		{[]string{"", key1}, true},
		{[]string{key1, key2}, true},
	}
	for _, tc := range tests {
		v := NewVerifier(tc.keys, nil)
		if got := v.Enabled(); got != tc.want {
			t.Errorf("NewVerifier(%q).Enabled() = %v, want %v", tc.keys, got, tc.want)
		}
	}
	var nilV *Verifier
	if nilV.Enabled() {
		t.Error("nil Verifier is enabled")
	}

	tok, err := Mint(key1, Claims{Room: "r"}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewVerifier(nil, nil).Verify(tok); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("disabled Verify = %v, want ErrUnauthorized", err)
	}
	// nil now means the real clock.
	if _, err := NewVerifier([]string{key1}, nil).Verify(tok); err != nil {
		t.Errorf("Verify with time.Now: %v", err)
	}
}

func TestKeysTrimmed(t *testing.T) {
	// "a, b" split on commas leaves a space; it is not part of the key.
	tok, err := Mint(" "+key2+" ", Claims{Room: "r"}, time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(strings.Split(key1+", "+key2, ","), clock(t0))
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if _, err := v.Verify(sign(t, jwt.SigningMethodHS256, []byte(key2), claimsAt(t0, "r"))); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

func TestMintRoundTrip(t *testing.T) {
	now := t0.Add(1234 * time.Millisecond) // sub-second parts are dropped
	later := t0.Add(30 * time.Minute)
	tests := []struct {
		name    string
		in      Claims
		ttl     time.Duration
		wantNbf time.Time
	}{
		{"everything", Claims{Room: "lobby", Name: "ada", CanPublish: true, CanSubscribe: true, Admin: true}, time.Hour, t0.Add(time.Second)},
		{"nothing granted", Claims{Room: "lobby"}, time.Minute, t0.Add(time.Second)},
		{"any room, subscribe only", Claims{Room: "*", CanSubscribe: true}, 24 * time.Hour, t0.Add(time.Second)},
		{"publish only", Claims{Room: "x", Name: "cam", CanPublish: true}, time.Hour, t0.Add(time.Second)},
		{"nbf kept", Claims{Room: "lobby", RegisteredClaims: jwt.RegisteredClaims{NotBefore: jwt.NewNumericDate(later)}}, time.Hour, later},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			tok, err := Mint(key2, in, tc.ttl, now)
			if err != nil {
				t.Fatalf("Mint: %v", err)
			}
			if !reflect.DeepEqual(in, tc.in) {
				t.Errorf("Mint changed its argument: %+v", in)
			}
			v := NewVerifier([]string{key1, key2}, clock(tc.wantNbf))
			got, err := v.Verify(tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.Room != tc.in.Room || got.Name != tc.in.Name || got.CanPublish != tc.in.CanPublish ||
				got.CanSubscribe != tc.in.CanSubscribe || got.Admin != tc.in.Admin {
				t.Errorf("round trip\n got %+v\nwant %+v", *got, tc.in)
			}
			times := []struct {
				name string
				got  *jwt.NumericDate
				want time.Time
			}{
				{"iat", got.IssuedAt, t0.Add(time.Second)},
				{"exp", got.ExpiresAt, t0.Add(time.Second + tc.ttl)},
				{"nbf", got.NotBefore, tc.wantNbf},
			}
			for _, tm := range times {
				if tm.got == nil || !tm.got.Equal(tm.want) {
					t.Errorf("%s = %v, want %v", tm.name, tm.got, tm.want)
				}
			}
			rest := got.RegisteredClaims
			rest.IssuedAt, rest.ExpiresAt, rest.NotBefore = nil, nil, nil
			if !reflect.DeepEqual(rest, jwt.RegisteredClaims{}) {
				t.Errorf("unexpected registered claims %+v", rest)
			}
		})
	}
}

func TestMintIgnoresGivenTimes(t *testing.T) {
	c := *claimsAt(t0.Add(-48*time.Hour), "r") // iat and exp long gone
	tok, err := Mint(key1, c, time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := NewVerifier([]string{key1}, clock(t0)).Verify(tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !got.ExpiresAt.Equal(t0.Add(time.Hour)) || !got.IssuedAt.Equal(t0) {
		t.Errorf("exp %v iat %v, want now+ttl and now", got.ExpiresAt, got.IssuedAt)
	}
}

func TestMintHeader(t *testing.T) {
	tok, err := Mint(key1, Claims{Room: "r"}, time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	head, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(head, &h); err != nil {
		t.Fatal(err)
	}
	if h["alg"] != "HS256" {
		t.Errorf("header %s, want alg HS256", head)
	}
}

func TestMintErrors(t *testing.T) {
	tests := []struct {
		name string
		key  string
		c    Claims
		ttl  time.Duration
	}{
		{"empty key", "", Claims{Room: "r"}, time.Hour},
		{"blank key", "   ", Claims{Room: "r"}, time.Hour},
		{"zero ttl", key1, Claims{Room: "r"}, 0},
		{"negative ttl", key1, Claims{Room: "r"}, -time.Hour},
		{"no room", key1, Claims{}, time.Hour},
	}
	for _, tc := range tests {
		if tok, err := Mint(tc.key, tc.c, tc.ttl, t0); err == nil {
			t.Errorf("%s: Mint = %q, want an error", tc.name, tok)
		}
	}
}

func TestAllowsRoom(t *testing.T) {
	tests := []struct {
		claim, room string
		want        bool
	}{
		{"*", "lobby", true},
		{"*", "other", true},
		{"lobby", "lobby", true},
		{"lobby", "other", false},
		{"lobby", "Lobby", false},
		{"lobby", "", false},
		{"lobby", "*", false},
		{"", "", false},
		{"", "lobby", false},
	}
	for _, tc := range tests {
		c := &Claims{Room: tc.claim}
		if got := c.AllowsRoom(tc.room); got != tc.want {
			t.Errorf("Room %q AllowsRoom(%q) = %v, want %v", tc.claim, tc.room, got, tc.want)
		}
	}
	var nilC *Claims
	if nilC.AllowsRoom("lobby") {
		t.Error("nil Claims allow a room")
	}
}

func TestAllowsName(t *testing.T) {
	tests := []struct {
		claim, name string
		want        bool
	}{
		{"", "ada", true},
		{"", "", true},
		{"ada", "ada", true},
		{"ada", "bob", false},
		{"ada", "Ada", false},
		{"ada", "", false},
	}
	for _, tc := range tests {
		c := &Claims{Room: "r", Name: tc.claim}
		if got := c.AllowsName(tc.name); got != tc.want {
			t.Errorf("Name %q AllowsName(%q) = %v, want %v", tc.claim, tc.name, got, tc.want)
		}
	}
	var nilC *Claims
	if nilC.AllowsName("ada") {
		t.Error("nil Claims allow a name")
	}
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		header string
		want   string
		ok     bool
	}{
		{"Bearer abc.def.ghi", "abc.def.ghi", true},
		{"bearer abc", "abc", true},
		{"BEARER abc", "abc", true},
		{"  Bearer   abc  ", "abc", true},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Bearer a b", "", false},
		{"Basic dXNlcjpwYXNz", "", false},
		{"Bearerabc", "", false},
		{"abc", "", false},
		{"", "", false},
	}
	for _, tc := range tests {
		got, ok := BearerToken(tc.header)
		if got != tc.want || ok != tc.ok {
			t.Errorf("BearerToken(%q) = %q, %v, want %q, %v", tc.header, got, ok, tc.want, tc.ok)
		}
	}
}

// TestVerifyConcurrent is for -race: one Verifier, many goroutines.
func TestVerifyConcurrent(t *testing.T) {
	v := NewVerifier([]string{key1, key2}, clock(t0))
	good, err := Mint(key2, Claims{Room: "r", CanPublish: true}, time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	bad := sign(t, jwt.SigningMethodHS384, []byte(key1), claimsAt(t0, "r"))
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if _, err := v.Verify(good); err != nil {
					errs <- err
					return
				}
				if _, err := v.Verify(bad); err == nil {
					errs <- errors.New("HS384 token accepted")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
