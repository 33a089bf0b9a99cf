package browsertest_test

import (
	"math"
	"testing"

	"github.com/confab/confab/internal/browsertest"
	"github.com/confab/confab/internal/testserver"
)

// layoutJS lays out 1 to 49 tiles with the page's own Tiles in a 1200x640
// box, then pins one to the stage, and measures the result.
const layoutJS = `(async () => {
  const { Tiles } = await import(new URL('tiles.js', location.href).href);
  const div = (cls) => { const d = document.createElement('div'); d.className = cls; return d; };
  const layout = div('layout'), stage = div('stage'), strip = div('tiles');
  layout.style.cssText = 'position:fixed; left:0; top:0; width:1200px; height:640px; z-index:100; background:#000';
  layout.append(stage, strip);
  document.body.append(layout);
  const tiles = new Tiles({ layout, stage, strip });
  const grid = [];
  for (const n of [1, 2, 3, 4, 5, 6, 9, 12, 16, 20, 25, 30, 49]) {
    while (tiles.count() < n) {
      const id = 'p' + tiles.count();
      tiles.ensure(id, { name: 'P ' + id, participantId: id });
    }
    tiles.layout();
    const rects = [...strip.children].map((e) => e.getBoundingClientRect());
    const { width, height } = rects[0];
    grid.push({
      n, width, height,
      same: rects.every((r) => Math.abs(r.width - width) < 1 && Math.abs(r.height - height) < 1),
      fits: strip.scrollHeight <= strip.clientHeight + 1 && strip.scrollWidth <= strip.clientWidth + 1,
    });
  }
  tiles.pin('p7');
  const staged = stage.firstElementChild.getBoundingClientRect();
  const other = strip.firstElementChild.getBoundingClientRect();
  const out = { grid, mode: layout.dataset.mode, stagedKey: stage.firstElementChild.dataset.key,
    staged: { width: staged.width, height: staged.height }, other: { width: other.width, height: other.height } };
  tiles.pin(null);
  out.after = layout.dataset.mode;
  layout.remove();
  return out;
})()`

type box struct{ Width, Height float64 }

// TestBrowserGridLayout: the grid fits 1 to 25 participants on one screen
// with equal 16:9 tiles that shrink as people arrive, and scrolls beyond that
// rather than making tiles too small; a pinned tile takes the stage.
func TestBrowserGridLayout(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	b := browsertest.Start(t)
	tab := b.NewTab(t, "layout", srv.URL+"/")
	var res struct {
		Grid []struct {
			N             int
			Width, Height float64
			Same, Fits    bool
		}
		Mode, StagedKey, After string
		Staged, Other          box
	}
	tab.MustEval(layoutJS, &res)

	last := math.Inf(1)
	for _, g := range res.Grid {
		ratio := g.Width / g.Height
		if !g.Same || math.Abs(ratio-16.0/9) > 0.02 {
			t.Errorf("%d tiles: not equal 16:9 tiles (%.0fx%.0f, same %v)", g.N, g.Width, g.Height, g.Same)
		}
		if g.Width > last+0.5 {
			t.Errorf("%d tiles: tiles grew (%.0f px wide, before %.0f)", g.N, g.Width, last)
		}
		last = g.Width
		if g.Width < 199 {
			t.Errorf("%d tiles: %.0f px wide, narrower than 200", g.N, g.Width)
		}
		if g.N <= 25 && !g.Fits {
			t.Errorf("%d tiles do not fit in 1200x640 without scrolling (%.0fx%.0f)", g.N, g.Width, g.Height)
		}
		if g.N == 49 && g.Fits {
			t.Errorf("49 tiles fit 1200x640 at %.0fx%.0f: they should scroll, not shrink", g.Width, g.Height)
		}
	}
	if res.Mode != "stage" || res.StagedKey != "p7" || res.After != "grid" {
		t.Errorf("pinning: mode %q, staged %q, after unpinning %q; want stage, p7, grid", res.Mode, res.StagedKey, res.After)
	}
	if res.Staged.Width < 3*res.Other.Width || math.Abs(res.Staged.Width/res.Staged.Height-16.0/9) > 0.02 {
		t.Errorf("stage tile %v is not a large 16:9 tile beside %v", res.Staged, res.Other)
	}
	t.Logf("grid widths: %v", res.Grid)
}
