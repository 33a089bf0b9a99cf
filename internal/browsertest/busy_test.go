package browsertest_test

import (
	"testing"

	"github.com/confab/confab/internal/browsertest"
	"github.com/confab/confab/internal/testserver"
	"github.com/confab/confab/signaling"
)

// TestBrowserServerBusy: a page whose connection the server refuses for
// signaling.maxConnections says the server is busy, and joins once a
// connection is free again.
func TestBrowserServerBusy(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{Signaling: func(o *signaling.Options) {
		o.MaxConnections = 1
	}})
	b := browsertest.Start(t)
	first := joinTabs(t, b, srv.URL, "busy", "first")[0]

	second := b.NewTab(t, "second", srv.URL+"/?room=busy")
	var ok bool
	second.MustEval(`confab.join('busy', 'second')`, &ok)
	if ok {
		t.Fatal("second joined past a cap of one connection")
	}
	second.WaitFor(stateTimeout, `confab.state === 'error' && confab.lastError === 'server-busy' &&
		/server is busy/.test(document.getElementById('error').textContent)`,
		`({state: confab.state, err: confab.lastError, text: document.getElementById('error').textContent})`)

	// The server frees the slot once it has seen first's socket close:
	// second tries again, as a person pressing Join again would.
	first.MustEval(`confab.leave(), true`, nil)
	second.WaitFor(stateTimeout, `confab.state === 'joined' || (confab.state === 'error' && void confab.join('busy', 'second'))`,
		`({state: confab.state, err: confab.lastError})`)
}
