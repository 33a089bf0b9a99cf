package config

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/confab/confab/configs"
)

// documented is the configuration configs/confab.yaml documents.
func documented() *Config {
	return &Config{
		HTTP: HTTP{Addr: ":8080", DrainTimeout: 10 * time.Second},
		ICE: ICE{
			UDPPort:    50000,
			IPs:        []string{},
			PublicIPs:  []string{},
			Servers:    []ICEServer{},
			TURN:       TURN{UDPPort: 3478, TCPPort: 3478, Realm: "confab", URLs: []string{}, TTL: 24 * time.Hour},
			DirectSend: true,
		},
		Session: Session{ResumeGrace: 20 * time.Second},
		Auth:    Auth{Keys: []string{}},
		Rooms:   Rooms{MaxParticipants: 100, MaxPublishBitrate: 25_000_000},
		Signaling: Signaling{
			RateLimit:    50,
			RateBurst:    200,
			SendQueue:    256,
			PingInterval: 15 * time.Second,
			PongTimeout:  45 * time.Second,
			OfferDelay:   30 * time.Millisecond,

			MaxConnections: 10000,
		},
		Log: Log{Level: "info", Format: "text"},
	}
}

// env returns a getenv backed by m.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// writeFile writes content to a new file in a temporary directory.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "confab.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDefaultReturnsCopy(t *testing.T) {
	a := configs.Default()
	if len(a) == 0 {
		t.Fatal("configs.Default() is empty")
	}
	a[0] ^= 0xff
	if b := configs.Default(); bytes.Equal(a, b) {
		t.Fatal("configs.Default() shares its backing array between calls")
	}
}

func TestLoadDefault(t *testing.T) {
	for name, getenv := range map[string]func(string) string{
		"nil getenv":   nil,
		"empty getenv": env(nil),
	} {
		t.Run(name, func(t *testing.T) {
			got, err := Load("", getenv)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if want := documented(); !reflect.DeepEqual(got, want) {
				t.Errorf("Load = %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	tests := []struct {
		name string
		file string
		want func(c *Config)
	}{
		{"empty file", "", func(*Config) {}},
		{"comments only", "# nothing here\n", func(*Config) {}},
		{"null document", "~\n", func(*Config) {}},
		{"null section keeps defaults", "ice:\nlog:\n", func(*Config) {}},
		{"null value keeps default", "ice:\n  udpPort: ~\n", func(*Config) {}},
		{"one nested key", "ice:\n  udpPort: 40000\n", func(c *Config) { c.ICE.UDPPort = 40000 }},
		{"port 0", "ice:\n  udpPort: 0\n", func(c *Config) { c.ICE.UDPPort = 0 }},
		{"several sections", "http:\n  addr: 127.0.0.1:0\nlog:\n  format: json\n", func(c *Config) {
			c.HTTP.Addr = "127.0.0.1:0"
			c.Log.Format = "json"
		}},
		{"lists", "ice:\n  ips: [127.0.0.1, '::1']\n  publicIPs:\n    - 203.0.113.7\n", func(c *Config) {
			c.ICE.IPs = []string{"127.0.0.1", "::1"}
			c.ICE.PublicIPs = []string{"203.0.113.7"}
		}},
		{"servers", `
ice:
  servers:
    - urls: ["stun:stun.example.org:3478"]
    - urls: ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349"]
      username: confab
      credential: 0123
`, func(c *Config) {
			c.ICE.Servers = []ICEServer{
				{URLs: []string{"stun:stun.example.org:3478"}},
				{
					URLs:       []string{"turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349"},
					Username:   "confab",
					Credential: "0123",
				},
			}
		}},
		{"signaling", `
signaling:
  rateLimit: 2.5
  rateBurst: 10
  sendQueue: 8
  pingInterval: 1s
  pongTimeout: 1m30s
  offerDelay: 0
  maxConnections: 0
  maxConnectionsPerIP: 20
`, func(c *Config) {
			c.Signaling = Signaling{
				RateLimit:    2.5,
				RateBurst:    10,
				SendQueue:    8,
				PingInterval: time.Second,
				PongTimeout:  90 * time.Second,
				OfferDelay:   0,

				MaxConnections:      0,
				MaxConnectionsPerIP: 20,
			}
		}},
		{"anchors and aliases", "ice:\n  ips: &ips [10.0.0.1]\n  publicIPs: *ips\n", func(c *Config) {
			c.ICE.IPs = []string{"10.0.0.1"}
			c.ICE.PublicIPs = []string{"10.0.0.1"}
		}},
		{"rooms and log level", "rooms:\n  maxParticipants: 1\nlog:\n  level: debug\n", func(c *Config) {
			c.Rooms.MaxParticipants = 1
			c.Log.Level = "debug"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Load(writeFile(t, tt.file), env(nil))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			want := documented()
			tt.want(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Load = %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestLoadEnv(t *testing.T) {
	tests := []struct {
		name  string
		value string
		want  func(c *Config)
	}{
		{"CONFAB_HTTP_ADDR", "127.0.0.1:9000", func(c *Config) { c.HTTP.Addr = "127.0.0.1:9000" }},
		{"CONFAB_ICE_UDP_PORT", "0", func(c *Config) { c.ICE.UDPPort = 0 }},
		{"CONFAB_ICE_UDP_PORT", " 40000 ", func(c *Config) { c.ICE.UDPPort = 40000 }},
		{"CONFAB_ICE_IPS", "127.0.0.1, ::1,", func(c *Config) { c.ICE.IPs = []string{"127.0.0.1", "::1"} }},
		{"CONFAB_ICE_PUBLIC_IPS", "203.0.113.7,198.51.100.2", func(c *Config) {
			c.ICE.PublicIPs = []string{"203.0.113.7", "198.51.100.2"}
		}},
		{"CONFAB_ROOMS_MAX_PARTICIPANTS", "3", func(c *Config) { c.Rooms.MaxParticipants = 3 }},
		{"CONFAB_ROOMS_MAX_PUBLISH_BITRATE", "0", func(c *Config) { c.Rooms.MaxPublishBitrate = 0 }},
		{"CONFAB_ROOMS_MAX_PUBLISH_BITRATE", "8000000", func(c *Config) { c.Rooms.MaxPublishBitrate = 8_000_000 }},
		{"CONFAB_SIGNALING_RATE_LIMIT", "0.5", func(c *Config) { c.Signaling.RateLimit = 0.5 }},
		{"CONFAB_SIGNALING_MAX_CONNECTIONS", "500", func(c *Config) { c.Signaling.MaxConnections = 500 }},
		{"CONFAB_SIGNALING_MAX_CONNECTIONS_PER_IP", "8", func(c *Config) { c.Signaling.MaxConnectionsPerIP = 8 }},
		{"CONFAB_LOG_LEVEL", "warn", func(c *Config) { c.Log.Level = "warn" }},
		{"CONFAB_LOG_FORMAT", "json", func(c *Config) { c.Log.Format = "json" }},
		{"CONFAB_TURN_EMBEDDED", "true", func(c *Config) { c.ICE.TURN.Embedded = true }},
		{"CONFAB_ICE_DIRECT_SEND", "false", func(c *Config) { c.ICE.DirectSend = false }},
		{"CONFAB_TURN_SECRET", "s3cret", func(c *Config) { c.ICE.TURN.Secret = "s3cret" }},
		{"CONFAB_AUTH_KEYS", "0123456789abcdef,fedcba9876543210", func(c *Config) {
			c.Auth.Keys = []string{"0123456789abcdef", "fedcba9876543210"}
		}},
		{"CONFAB_UNRELATED", "x", func(*Config) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			got, err := Load("", env(map[string]string{tt.name: tt.value}))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			want := documented()
			tt.want(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Load = %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestLoadEnvTLS(t *testing.T) {
	got, err := Load("", env(map[string]string{
		"CONFAB_HTTP_TLS_CERT": "/c.pem", "CONFAB_HTTP_TLS_KEY": "/k.pem", "CONFAB_HTTP_REDIRECT_ADDR": ":80",
	}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got.HTTP.TLS != (TLS{Cert: "/c.pem", Key: "/k.pem"}) || got.HTTP.RedirectAddr != ":80" || !got.HTTP.TLS.Enabled() {
		t.Fatalf("http = %+v", got.HTTP)
	}
}

func TestLoadEnvOverridesFile(t *testing.T) {
	path := writeFile(t, "ice:\n  udpPort: 40000\n  ips: [10.0.0.1]\nlog:\n  level: debug\n")
	got, err := Load(path, env(map[string]string{"CONFAB_ICE_UDP_PORT": "40001"}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := documented()
	want.ICE.UDPPort = 40001
	want.ICE.IPs = []string{"10.0.0.1"}
	want.Log.Level = "debug"
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load = %+v\nwant %+v", got, want)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		file string            // written to a file and loaded when not ""
		env  map[string]string // environment
		want string            // substring of the error
		is   error             // when not nil, errors.Is(err, is) must hold
	}{
		// YAML syntax and shape.
		{name: "invalid YAML", file: "ice: [\n", want: "config: invalid YAML in "},
		{name: "tab indentation", file: "ice:\n\tudpPort: 1\n", want: "config: invalid YAML in "},
		{name: "two documents", file: "log:\n  level: info\n---\nlog:\n  level: debug\n", want: "more than one document (line 3)"},
		{name: "top level list", file: "- a\n", want: "top level must be a mapping"},
		{name: "section is a list", file: "ice: [1]\n", want: `config: ice: expected a mapping of keys, got a list (line 1)`},
		{name: "duplicate key", file: "ice:\n  udpPort: 1\n  udpPort: 2\n", want: `config: duplicate key "ice.udpPort" (line 3, first at line 2)`},

		// Unknown keys, with their dotted path.
		{name: "unknown top-level key", file: "listen: :80\n", want: `config: unknown key "listen" (line 1)`},
		{name: "unknown nested key", file: "http:\n  addr: :1\nice:\n  udpport: 1\n", want: `config: unknown key "ice.udpport" (line 4); did you mean "ice.udpPort"?`},
		{name: "unknown key in list item", file: "ice:\n  servers:\n    - url: stun:x\n", want: `config: unknown key "ice.servers[0].url" (line 3)`},
		{name: "list as key", file: "ice:\n  ? [a]\n  : 1\n", want: "config: ice: a key must be a plain name, got a list (line 2)"},
		{name: "key under a scalar", file: "log:\n  level:\n    name: debug\n", want: `config: log.level: expected a string, got a mapping (line 3)`},

		// Types.
		{name: "port not a number", file: "ice:\n  udpPort: abc\n", want: `config: ice.udpPort: "abc" is not an integer (line 2)`},
		{name: "port quoted", file: "ice:\n  udpPort: \"5000\"\n", want: `config: ice.udpPort: "5000" is not an integer`},
		{name: "port fractional", file: "ice:\n  udpPort: 1.5\n", want: `config: ice.udpPort: "1.5" is not an integer`},
		{name: "ips not a list", file: "ice:\n  ips: 10.0.0.1\n", want: `config: ice.ips: "10.0.0.1" is not a list (line 2)`},
		{name: "rate not a number", file: "signaling:\n  rateLimit: fast\n", want: `config: signaling.rateLimit: "fast" is not a number`},
		{name: "duration without unit", file: "signaling:\n  pingInterval: 15\n", want: `config: signaling.pingInterval: "15" is not a duration`},

		// Ranges and values.
		{name: "port -1", file: "ice:\n  udpPort: -1\n", want: "config: ice.udpPort: -1 is out of range 0–65535"},
		{name: "port 70000", file: "ice:\n  udpPort: 70000\n", want: "config: ice.udpPort: 70000 is out of range 0–65535"},
		{name: "bad ip", file: "ice:\n  ips: [1.2.3]\n", want: `config: ice.ips: "1.2.3" is not an IP address`},
		{name: "bad public ip", file: "ice:\n  publicIPs: [example.org]\n", want: `config: ice.publicIPs: "example.org" is not an IP address`},
		{name: "unspecified public ip", file: "ice:\n  publicIPs: [0.0.0.0]\n", want: `config: ice.publicIPs: "0.0.0.0" is not a unicast address`},
		{name: "http addr without port", file: "http:\n  addr: localhost\n", want: `config: http.addr: "localhost" is not host:port`},
		{name: "server without urls", file: "ice:\n  servers:\n    - username: u\n", want: "config: ice.servers[0].urls: no URL given"},
		{name: "server bad scheme", file: "ice:\n  servers:\n    - urls: [stun:a, 'http://b']\n", want: `config: ice.servers[0].urls[1]: "http://b": the scheme must be stun`},
		{name: "turn without credential", file: "ice:\n  servers:\n    - urls: [turn:a]\n      username: u\n", want: `config: ice.servers[0]: TURN URL "turn:a" needs a username and a credential`},
		{name: "maxParticipants 0", file: "rooms:\n  maxParticipants: 0\n", want: "config: rooms.maxParticipants: 0 is less than 1"},
		{name: "maxPublishBitrate too low", file: "rooms:\n  maxPublishBitrate: 64000\n", want: "config: rooms.maxPublishBitrate: 64000 is below 5000000 bit/s (0 means no cap)"},
		{name: "maxPublishBitrate negative", file: "rooms:\n  maxPublishBitrate: -1\n", want: "config: rooms.maxPublishBitrate: -1 is below 5000000 bit/s (0 means no cap)"},
		{name: "rateLimit 0", file: "signaling:\n  rateLimit: 0\n", want: "config: signaling.rateLimit: 0 is not a number greater than 0"},
		{name: "rateLimit infinite", file: "signaling:\n  rateLimit: .inf\n", want: "config: signaling.rateLimit: +Inf is not"},
		{name: "rateLimit NaN", file: "signaling:\n  rateLimit: .nan\n", want: "config: signaling.rateLimit: NaN is not"},
		{name: "rateBurst 0", file: "signaling:\n  rateBurst: 0\n", want: "config: signaling.rateBurst: 0 is less than 1"},
		{name: "maxConnections negative", file: "signaling:\n  maxConnections: -1\n", want: "config: signaling.maxConnections: -1 is less than 0"},
		{name: "maxConnectionsPerIP negative", file: "signaling:\n  maxConnectionsPerIP: -2\n", want: "config: signaling.maxConnectionsPerIP: -2 is less than 0"},
		{name: "sendQueue 7", file: "signaling:\n  sendQueue: 7\n", want: "config: signaling.sendQueue: 7 is less than 8"},
		{name: "pingInterval 0", file: "signaling:\n  pingInterval: 0s\n", want: "config: signaling.pingInterval: 0s is not greater than 0"},
		{name: "pongTimeout equal to pingInterval", file: "signaling:\n  pingInterval: 45s\n", want: "config: signaling.pongTimeout: 45s is not greater than signaling.pingInterval (45s)"},
		{name: "pongTimeout below pingInterval", file: "signaling:\n  pongTimeout: 10s\n", want: "config: signaling.pongTimeout: 10s is not greater than signaling.pingInterval (15s)"},
		{name: "offerDelay negative", file: "signaling:\n  offerDelay: -1ms\n", want: "config: signaling.offerDelay: -1ms is out of range 0–5s"},
		{name: "offerDelay 6s", file: "signaling:\n  offerDelay: 6s\n", want: "config: signaling.offerDelay: 6s is out of range 0–5s"},
		{name: "bad log level", file: "log:\n  level: verbose\n", want: `config: log.level: "verbose" is not one of debug, info, warn, error`},
		{name: "bad log format", file: "log:\n  format: xml\n", want: `config: log.format: "xml" is not one of text, json`},

		{name: "tls cert without key", file: "http:\n  tls:\n    cert: /c.pem\n", want: "config: http.tls: cert and key go together"},
		{name: "redirect without tls", file: "http:\n  redirectAddr: \":80\"\n", want: "config: http.redirectAddr: needs http.tls"},
		{name: "drainTimeout 0", file: "http:\n  drainTimeout: 0s\n", want: "config: http.drainTimeout: 0s is out of range"},
		{name: "embedded not a bool", file: "ice:\n  turn:\n    embedded: yes please\n", want: `config: ice.turn.embedded: "yes please" is not true or false`},
		{name: "turn port 70000", file: "ice:\n  turn:\n    udpPort: 70000\n", want: "config: ice.turn.udpPort: 70000 is out of range -1–65535"},
		{name: "turn urls without secret", file: "ice:\n  turn:\n    urls: [turn:t.example:3478]\n", want: "config: ice.turn.secret: required with ice.turn.urls"},
		{name: "turn bad url", file: "ice:\n  turn:\n    secret: s\n    urls: [stun:t.example]\n", want: `config: ice.turn.urls[0]: "stun:t.example" is not a turn: or turns: URL`},
		{name: "turn ttl short", file: "ice:\n  turn:\n    ttl: 10s\n", want: "config: ice.turn.ttl: 10s is out of range"},
		{name: "resumeGrace negative", file: "session:\n  resumeGrace: -1s\n", want: "config: session.resumeGrace: -1s is out of range"},
		{name: "short auth key", file: "auth:\n  keys: [short]\n", want: "config: auth.keys[0]: a key needs at least 16 characters"},

		// Environment.
		{name: "env turn embedded", env: map[string]string{"CONFAB_TURN_EMBEDDED": "maybe"}, want: `config: env CONFAB_TURN_EMBEDDED: "maybe" is not true or false`},
		{name: "env port not a number", env: map[string]string{"CONFAB_ICE_UDP_PORT": "abc"}, want: `config: env CONFAB_ICE_UDP_PORT: "abc" is not a number`, is: strconv.ErrSyntax},
		{name: "env port huge", env: map[string]string{"CONFAB_ICE_UDP_PORT": "99999999999999999999"}, want: `config: env CONFAB_ICE_UDP_PORT: "99999999999999999999" is out of range`, is: strconv.ErrRange},
		{name: "env port 70000", env: map[string]string{"CONFAB_ICE_UDP_PORT": "70000"}, want: "config: ice.udpPort: 70000 is out of range 0–65535"},
		{name: "env bad ip", env: map[string]string{"CONFAB_ICE_IPS": "10.0.0.1,10.0.0"}, want: `config: ice.ips: "10.0.0" is not an IP address`},
		{name: "env bad public ip", env: map[string]string{"CONFAB_ICE_PUBLIC_IPS": "nat"}, want: `config: ice.publicIPs: "nat" is not an IP address`},
		{name: "env maxParticipants", env: map[string]string{"CONFAB_ROOMS_MAX_PARTICIPANTS": "many"}, want: `config: env CONFAB_ROOMS_MAX_PARTICIPANTS: "many" is not a number`},
		{name: "env maxParticipants 0", env: map[string]string{"CONFAB_ROOMS_MAX_PARTICIPANTS": "0"}, want: "config: rooms.maxParticipants: 0 is less than 1"},
		{name: "env rate", env: map[string]string{"CONFAB_SIGNALING_RATE_LIMIT": "1/s"}, want: `config: env CONFAB_SIGNALING_RATE_LIMIT: "1/s" is not a number`},
		{name: "env log level", env: map[string]string{"CONFAB_LOG_LEVEL": "INFO"}, want: `config: log.level: "INFO" is not one of`},
		{name: "env log format", env: map[string]string{"CONFAB_LOG_FORMAT": "logfmt"}, want: `config: log.format: "logfmt" is not one of`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "" {
				path = writeFile(t, tt.file)
			}
			c, err := Load(path, env(tt.env))
			if err == nil {
				t.Fatalf("Load = %+v, want an error containing %q", c, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load error = %q\nwant it to contain %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("Load error = %q, want errors.Is(err, %v)", err, tt.is)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), nil)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load error = %v, want fs.ErrNotExist", err)
	}
	if !strings.HasPrefix(err.Error(), "config: ") {
		t.Errorf("Load error = %q, want the prefix %q", err, "config: ")
	}
}

func TestValidate(t *testing.T) {
	if err := documented().Validate(); err != nil {
		t.Fatalf("Validate(documented) = %v", err)
	}
	c := documented()
	c.ICE.IPs = []string{"fe80::1%eth0"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "ice.ips") {
		t.Errorf("Validate with a zoned address = %v, want an error naming ice.ips", err)
	}
}
