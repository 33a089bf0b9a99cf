package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/confab/confab/internal/auth"
)

// TestTLS: with a certificate from `confab cert`, the page, /healthz and the
// WebSocket are served over TLS, and the redirect listener sends plain HTTP
// to HTTPS.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if code := runCert([]string{"-host", "127.0.0.1,confab.lan", "-out", dir}, &out, io.Discard); code != 0 {
		t.Fatalf("confab cert exited %d", code)
	}
	certPEM, err := os.ReadFile(filepath.Join(dir, "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(certPEM) {
		t.Fatal("cert.pem holds no certificate")
	}
	r := startRun(t, map[string]string{
		"CONFAB_HTTP_ADDR":          "127.0.0.1:0",
		"CONFAB_ICE_UDP_PORT":       "0",
		"CONFAB_ICE_IPS":            "127.0.0.1",
		"CONFAB_HTTP_TLS_CERT":      filepath.Join(dir, "cert.pem"),
		"CONFAB_HTTP_TLS_KEY":       filepath.Join(dir, "key.pem"),
		"CONFAB_HTTP_REDIRECT_ADDR": "127.0.0.1:0",
	})
	defer func() {
		if code := r.stop(t); code != 0 {
			t.Errorf("exit status %d", code)
		}
	}()
	addr := r.attr("http")
	tlsConf := &tls.Config{RootCAs: roots}
	httpsClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConf}}
	for _, path := range []string{"/healthz", "/"} {
		resp, err := httpsClient.Get("https://" + addr + path)
		if err != nil {
			t.Fatalf("GET https://%s%s: %v", addr, path, err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d", path, resp.StatusCode)
		}
	}
	dialer := websocket.Dialer{TLSClientConfig: tlsConf, HandshakeTimeout: 10 * time.Second}
	ws, _, err := dialer.Dial("wss://"+addr+"/ws", nil)
	if err != nil {
		t.Fatalf("dial wss: %v", err)
	}
	defer ws.Close()
	_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"join","room":"tls","name":"ann"}`))
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, msg, err := ws.ReadMessage(); err != nil || !strings.Contains(string(msg), `"joined"`) {
		t.Fatalf("join over wss: %s %v", msg, err)
	}

	redirect := r.attr("addr")
	noFollow := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get("http://" + redirect + "/?room=x")
	if err != nil {
		t.Fatalf("GET redirect: %v", err)
	}
	_ = resp.Body.Close()
	_, port, _ := strings.Cut(addr, ":")
	if want := "https://127.0.0.1:" + port + "/?room=x"; resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
		t.Fatalf("redirect = %d to %q, want 308 to %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
}

// TestTokenCommand: `confab token` prints a token the server accepts.
func TestTokenCommand(t *testing.T) {
	key := "0123456789abcdef-key"
	env := map[string]string{"CONFAB_AUTH_KEYS": key}
	var out, errOut bytes.Buffer
	code := runToken([]string{"-room", "r", "-name", "ann", "-ttl", "10m", "-admin"}, func(k string) string { return env[k] }, &out, &errOut)
	if code != 0 {
		t.Fatalf("confab token exited %d: %s", code, errOut.String())
	}
	claims, err := auth.NewVerifier([]string{key}, nil).Verify(strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatalf("token does not verify: %v", err)
	}
	if claims.Room != "r" || claims.Name != "ann" || !claims.Admin || !claims.CanPublish || !claims.CanSubscribe {
		t.Fatalf("claims = %+v", claims)
	}
	if d := time.Until(claims.ExpiresAt.Time); d < 9*time.Minute || d > 11*time.Minute {
		t.Fatalf("expires in %v, want 10m", d)
	}
	if code := runToken([]string{"-room", "r"}, func(string) string { return "" }, io.Discard, io.Discard); code != 2 {
		t.Fatalf("without keys: exit %d, want 2", code)
	}
}
