// Package web holds the browser client of Confab: a plain HTML, CSS and
// JavaScript meeting page (ES modules, no build step, no third-party assets).
//
// The page speaks the signaling protocol of /ws (see docs/protocol.md) and
// exposes a test hook, window.confab, that automated browser tests use to
// join rooms, drive the controls and inspect the call.
package web

import (
	"embed"
	"io/fs"
)

// static holds the page's files, embedded at build time.
//
//go:embed static
var static embed.FS

// FS returns the page's files rooted at the static directory, so that
// "index.html", "app.js" and "style.css" sit at its top level. It is meant to
// be served as is, e.g. with http.FileServerFS(web.FS()).
func FS() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		// fs.Sub fails only on an invalid path: a programming error.
		panic("web: " + err.Error())
	}
	return sub
}
