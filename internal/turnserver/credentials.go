package turnserver

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // the TURN REST scheme is defined with HMAC-SHA1.
	"encoding/base64"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/pion/turn/v5"
)

// Credentials mints coturn REST-API (use-auth-secret) credentials: username
// "<unix expiry>:<participantID>", credential base64(HMAC-SHA1(secret,
// username)). The expiry is now+ttl in whole seconds. The same credentials
// work against this package's Server and against coturn started with
// use-auth-secret and static-auth-secret=secret.
func Credentials(secret, participantID string, ttl time.Duration, now time.Time) (username, credential string) {
	username = strconv.FormatInt(now.Add(ttl).Unix(), 10) + ":" + participantID
	return username, password(secret, username)
}

// password is the REST-scheme credential for username.
func password(secret, username string) string {
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(username)) // hash.Hash.Write never fails.
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// authHandler accepts exactly the usernames Credentials mints, while they
// have not expired, in realm. It returns the long-term key derived from the
// credential Credentials would have minted; pion then checks the request's
// MESSAGE-INTEGRITY against that key, so a wrong credential fails there.
// The user ID handed to pion is the participant ID.
func authHandler(secret, realm string, now func() time.Time, log *slog.Logger) turn.AuthHandler {
	return func(ra *turn.RequestAttributes) (string, []byte, bool) {
		expiryText, participantID, ok := strings.Cut(ra.Username, ":")
		if !ok {
			log.Debug("turn auth: username is not expiry:participant", "username", ra.Username, "from", ra.SrcAddr)
			return "", nil, false
		}
		expiry, err := strconv.ParseInt(expiryText, 10, 64)
		if err != nil {
			log.Debug("turn auth: bad expiry", "username", ra.Username, "from", ra.SrcAddr)
			return "", nil, false
		}
		if expiry < now().Unix() {
			log.Debug("turn auth: expired", "username", ra.Username, "from", ra.SrcAddr)
			return "", nil, false
		}
		if ra.Realm != realm {
			log.Debug("turn auth: wrong realm", "username", ra.Username, "realm", ra.Realm, "from", ra.SrcAddr)
			return "", nil, false
		}
		return participantID, turn.GenerateAuthKey(ra.Username, realm, password(secret, ra.Username)), true
	}
}
