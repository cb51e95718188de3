// Package browsertest starts the headless Chromium that the storefront's
// browser tests drive with chromedp.
package browsertest

import (
	"context"
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"
)

// Names are the commands tried, in order, for the browser: Debian's
// chromium first.
var Names = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// Start starts a headless browser for t and returns the chromedp context
// of its first tab; the browser stops when t ends. Without a browser on
// PATH, t is skipped, saying which commands were looked for and how to
// install one.
func Start(t *testing.T) context.Context {
	t.Helper()
	var exe string
	for _, name := range Names {
		if p, err := exec.LookPath(name); err == nil {
			exe = p
			break
		}
	}
	if exe == "" {
		t.Skipf("no browser on PATH (looked for %v): install Debian's chromium (apt-get install chromium), as .ci/run does, to run the browser tests", Names)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	if err := chromedp.Do(browser); err != nil { // starts it
		t.Fatalf("start %s: %v", exe, err)
	}
	return browser
}
