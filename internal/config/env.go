package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// applyEnv overrides c with the environment variables that getenv reports as
// set. An empty value counts as unset.
func applyEnv(c *Config, getenv func(string) string) error {
	overrides := []struct {
		name string
		set  func(v string) error
	}{
		{"CONFAB_HTTP_ADDR", func(v string) error { c.HTTP.Addr = v; return nil }},
		{"CONFAB_HTTP_TLS_CERT", func(v string) error { c.HTTP.TLS.Cert = v; return nil }},
		{"CONFAB_HTTP_TLS_KEY", func(v string) error { c.HTTP.TLS.Key = v; return nil }},
		{"CONFAB_HTTP_REDIRECT_ADDR", func(v string) error { c.HTTP.RedirectAddr = v; return nil }},
		{"CONFAB_ICE_UDP_PORT", func(v string) error { return parseInt(v, &c.ICE.UDPPort) }},
		{"CONFAB_ICE_IPS", func(v string) error { c.ICE.IPs = splitList(v); return nil }},
		{"CONFAB_ICE_PUBLIC_IPS", func(v string) error { c.ICE.PublicIPs = splitList(v); return nil }},
		{"CONFAB_TURN_EMBEDDED", func(v string) error { return parseBool(v, &c.ICE.TURN.Embedded) }},
		{"CONFAB_ICE_DIRECT_SEND", func(v string) error { return parseBool(v, &c.ICE.DirectSend) }},
		{"CONFAB_TURN_SECRET", func(v string) error { c.ICE.TURN.Secret = v; return nil }},
		{"CONFAB_TURN_URLS", func(v string) error { c.ICE.TURN.URLs = splitList(v); return nil }},
		{"CONFAB_AUTH_KEYS", func(v string) error { c.Auth.Keys = splitList(v); return nil }},
		{"CONFAB_ROOMS_MAX_PARTICIPANTS", func(v string) error { return parseInt(v, &c.Rooms.MaxParticipants) }},
		{"CONFAB_ROOMS_MAX_PUBLISH_BITRATE", func(v string) error { return parseInt(v, &c.Rooms.MaxPublishBitrate) }},
		{"CONFAB_SIGNALING_RATE_LIMIT", func(v string) error { return parseFloat(v, &c.Signaling.RateLimit) }},
		{"CONFAB_SIGNALING_MAX_CONNECTIONS", func(v string) error { return parseInt(v, &c.Signaling.MaxConnections) }},
		{"CONFAB_SIGNALING_MAX_CONNECTIONS_PER_IP", func(v string) error { return parseInt(v, &c.Signaling.MaxConnectionsPerIP) }},
		{"CONFAB_LOG_LEVEL", func(v string) error { c.Log.Level = v; return nil }},
		{"CONFAB_LOG_FORMAT", func(v string) error { c.Log.Format = v; return nil }},
	}
	for _, o := range overrides {
		v := strings.TrimSpace(getenv(o.name))
		if v == "" {
			continue
		}
		if err := o.set(v); err != nil {
			return fmt.Errorf("config: env %s: %w", o.name, err)
		}
	}
	return nil
}

// splitList splits a comma-separated list, dropping blanks around and between
// entries.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func parseInt(v string, dst *int) error {
	n, err := strconv.Atoi(v)
	if err != nil {
		return numberError(v, err)
	}
	*dst = n
	return nil
}

func parseBool(v string, dst *bool) error {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("%q is not true or false: %w", v, err)
	}
	*dst = b
	return nil
}

func parseFloat(v string, dst *float64) error {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return numberError(v, err)
	}
	*dst = f
	return nil
}

// numberError describes a strconv failure without repeating the value twice.
func numberError(v string, err error) error {
	var ne *strconv.NumError
	if errors.As(err, &ne) {
		err = ne.Err
	}
	if errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("%q is out of range: %w", v, err)
	}
	return fmt.Errorf("%q is not a number: %w", v, err)
}
