// Package browsertest drives real headless Chromium (Debian's chromium package)
// against a Confab server for end-to-end tests: fake camera and microphone,
// loopback-only WebRTC, one browser with one tab per participant.
package browsertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// Browser is one headless Chromium process.
type Browser struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// ExecPath finds Chromium, or returns "".
func ExecPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Start launches Chromium for the test, or fails it saying what to install.
// The browser is closed when the test ends.
func Start(t testing.TB) *Browser {
	t.Helper()
	path := ExecPath()
	if path == "" {
		t.Fatal("Chromium not found: install Debian's chromium package (make test does it as root), or set CHROMIUM")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
		// Without it Chromium offers no loopback ICE candidates.
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		// Fake camera and microphone, granted without a prompt. Together
		// these two also make getDisplayMedia succeed headless without a
		// picker: it captures a fake 800x600 "screen" (tested with Chromium
		// 156; --auto-select-desktop-capture-source and
		// --auto-accept-this-tab-capture are not needed).
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		// Nothing but the page under test: no background traffic.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("no-pings", true),
		// Tabs in the background must keep their timers and media running.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		// Host candidates with real (loopback) addresses, not mDNS names.
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"),
	}
	if os.Getuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(allocCtx)
	// Start the browser now, so a failure to launch is reported here.
	if err := chromedp.Do(ctx); err != nil {
		cancelBrowser()
		cancelAlloc()
		t.Fatalf("start chromium %s: %v", path, err)
	}
	b := &Browser{ctx: ctx, cancel: func() { cancelBrowser(); cancelAlloc() }}
	t.Cleanup(b.Close)
	return b
}

// Close ends the browser process.
func (b *Browser) Close() { b.cancel() }

// Tab is one page of the browser.
type Tab struct {
	t      testing.TB
	Name   string
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	console []chromedp.ConsoleMessage
}

// TabOption changes how NewTab opens a tab.
type TabOption func(*tabOptions)

type tabOptions struct {
	initScripts []string
}

// WithInitScript runs js in the tab's pages before their own scripts, e.g.
// to stand in for a browser API.
func WithInitScript(js string) TabOption {
	return func(o *tabOptions) { o.initScripts = append(o.initScripts, js) }
}

// NewTab opens url in a new tab.
func (b *Browser) NewTab(t testing.TB, name, url string, opts ...TabOption) *Tab {
	t.Helper()
	var o tabOptions
	for _, opt := range opts {
		opt(&o)
	}
	ctx, cancel := chromedp.NewContext(b.ctx)
	tab := &Tab{t: t, Name: name, ctx: ctx, cancel: cancel}
	// The first run creates the tab, which lives as long as that run's
	// context: run it on the tab's own context, never a timed one.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("%s: open tab: %v", name, err)
	}
	tab.recordConsole()
	for _, js := range o.initScripts {
		err := tab.Do(10*time.Second, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: js})
			return err
		}))
		if err != nil {
			t.Fatalf("%s: add init script: %v", name, err)
		}
	}
	if err := tab.Do(30*time.Second, chromedp.Navigate(url)); err != nil {
		t.Fatalf("%s: open %s: %v", name, url, err)
	}
	return tab
}

// Close closes the tab.
func (tab *Tab) Close() { tab.cancel() }

// recordConsole keeps the tab's console messages and uncaught exceptions
// until the tab closes.
func (tab *Tab) recordConsole() {
	messages := chromedp.Console(tab.ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			tab.mu.Lock()
			tab.console = append(tab.console, m)
			tab.mu.Unlock()
		}
	}()
}

// Console returns the console messages of the tab so far.
func (tab *Tab) Console() []chromedp.ConsoleMessage {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	return append([]chromedp.ConsoleMessage(nil), tab.console...)
}

// Exceptions returns the uncaught exceptions and unhandled rejections of the
// page so far.
func (tab *Tab) Exceptions() []string {
	var out []string
	for _, m := range tab.Console() {
		if m.IsException() {
			out = append(out, m.Text)
		}
	}
	return out
}

// Do runs chromedp actions in the tab with a timeout.
func (tab *Tab) Do(timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(tab.ctx, timeout)
	defer cancel()
	return chromedp.Do(ctx, steps...)
}

// Eval evaluates a JavaScript expression, awaiting it if it is a promise, and
// decodes its JSON value into out (nil: ignore the value).
func (tab *Tab) Eval(expr string, out any) error {
	ctx, cancel := context.WithTimeout(tab.ctx, 20*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		return err
	}
	if out == nil || len(raw) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decode %s: %w", raw, err)
	}
	return nil
}

// MustEval is Eval that fails the test on error.
func (tab *Tab) MustEval(expr string, out any) {
	tab.t.Helper()
	if err := tab.Eval(expr, out); err != nil {
		tab.t.Fatalf("%s: eval %s: %v", tab.Name, expr, err)
	}
}

// WaitFor polls a JavaScript boolean expression until it is true or the
// timeout passes; on timeout it fails the test with describe's output.
func (tab *Tab) WaitFor(timeout time.Duration, expr, describe string) {
	tab.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var ok bool
		err := tab.Eval(expr, &ok)
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			var state any
			_ = tab.Eval(describe, &state)
			tab.t.Fatalf("%s: %s not true within %v (err %v); state: %v", tab.Name, expr, timeout, err, state)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ErrTimeout is returned by Until when the expression did not become true.
var ErrTimeout = errors.New("timed out")

// Until polls a JavaScript boolean expression every 50 ms until it is true,
// and returns how long that took; after timeout it returns ErrTimeout. Unlike
// WaitFor it does not fail the test, so a test can measure a delay.
func (tab *Tab) Until(timeout time.Duration, expr string) (time.Duration, error) {
	start := time.Now()
	for {
		var ok bool
		err := tab.Eval(expr, &ok)
		if err == nil && ok {
			return time.Since(start), nil
		}
		if time.Since(start) > timeout {
			if err != nil {
				return time.Since(start), fmt.Errorf("%s: %w (last error: %v)", expr, ErrTimeout, err)
			}
			return time.Since(start), fmt.Errorf("%s: %w", expr, ErrTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// SetViewport resizes the tab's viewport, as a phone (mobile, touch) or not.
func (tab *Tab) SetViewport(width, height int64, mobile bool) error {
	opts := []chromedp.EmulateViewportOption{}
	if mobile {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
	}
	return tab.Do(10*time.Second, chromedp.EmulateViewport(width, height, opts...))
}

// Screenshot saves a PNG of the tab to path.
func (tab *Tab) Screenshot(path string) error {
	ctx, cancel := context.WithTimeout(tab.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 means PNG
	if err != nil {
		return fmt.Errorf("screenshot: %w", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		return fmt.Errorf("write screenshot: %w", err)
	}
	return nil
}
