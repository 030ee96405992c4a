package web

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/torpor-dev/torpor/internal/plugintest"
)

// A release binary needs nothing beside it: built with plain `go build` and
// started in an empty directory outside the checkout, with no toolchain on
// PATH, `torpor serve` deploys its embedded examples and two Chromium tabs
// chat through it.
func TestBinaryOutsideCheckoutServesDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds torpor and starts Chromium")
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not on PATH: install Debian's chromium package (apt-get install chromium) or run .ci/run")
	}
	bin := plugintest.Binary(t)

	empty := t.TempDir()
	var out bytes.Buffer
	serve := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")
	serve.Dir = empty
	serve.Env = []string{"PATH=" + filepath.Join(empty, "no-toolchain-here"), "HOME=" + empty}
	serve.Stdout, serve.Stderr = &out, &out
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { serve.Wait(); close(exited) }()
	t.Cleanup(func() {
		serve.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("torpor serve output:\n%s", out.String())
		}
	})
	var public string
	deadline := time.Now().Add(wait)
	for public == "" {
		select {
		case <-exited:
			t.Fatalf("torpor serve exited:\n%s", out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("torpor serve did not write its public URL")
		}
		b, _ := os.ReadFile(filepath.Join(empty, "torpor-data", "public-url"))
		public = strings.TrimSpace(string(b))
	}

	browser := newBrowser(t, chromium)
	a := openTab(t, browser, "A", public+"/?room=lobby&name=ann")
	b := openTab(t, browser, "B", public+"/?room=lobby&name=ben")
	a.waitOnline()
	b.waitOnline()
	a.waitMembers("ann", "ben")
	a.enter("hello from a bare binary")
	b.waitMessage("ann", "hello from a bare binary")
	b.enter("and back")
	a.waitMessage("ben", "and back")
}
