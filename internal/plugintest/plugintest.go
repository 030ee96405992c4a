// Package plugintest builds plugins from source for tests, so that no test
// trusts a prebuilt .wasm: Go plugins with the wasip1 toolchain, WAT plugins
// with wat2wasm (Debian package wabt, installed by .ci/run). Builds are
// memoised per test process and safe for parallel tests.
package plugintest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var (
	mu     sync.Mutex
	builds = map[string]*build{}
)

type build struct {
	once sync.Once
	wasm []byte
	err  string
}

// Root returns the module root directory.
func Root(tb testing.TB) string {
	tb.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("plugintest: cannot locate module root")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Go builds the Go plugin in pkgDir (relative to the module root, for example
// "plugins/chat") with GOOS=wasip1 GOARCH=wasm -buildmode=c-shared and returns
// the module bytes.
func Go(tb testing.TB, pkgDir string) []byte {
	tb.Helper()
	return memo(tb, "go:"+pkgDir, func(out string) *exec.Cmd {
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-o", out, "./"+filepath.ToSlash(pkgDir))
		cmd.Dir = Root(tb)
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
		return cmd
	})
}

// WAT assembles the WebAssembly text file at path (relative to the module
// root) with wat2wasm and returns the module bytes.
func WAT(tb testing.TB, path string) []byte {
	tb.Helper()
	if _, err := exec.LookPath("wat2wasm"); err != nil {
		tb.Fatal("plugintest: wat2wasm not found on PATH: install Debian's wabt package (.ci/run does)")
	}
	return memo(tb, "wat:"+path, func(out string) *exec.Cmd {
		return exec.Command("wat2wasm", "-o", out, filepath.Join(Root(tb), path))
	})
}

// WATSource assembles WebAssembly text given as a string, for modules a
// test generates; builds of the same text are memoised like the others.
func WATSource(tb testing.TB, src string) []byte {
	tb.Helper()
	if _, err := exec.LookPath("wat2wasm"); err != nil {
		tb.Fatal("plugintest: wat2wasm not found on PATH: install Debian's wabt package (.ci/run does)")
	}
	return memo(tb, "watsrc:"+src, func(out string) *exec.Cmd {
		in := out + ".wat"
		if err := os.WriteFile(in, []byte(src), 0o644); err != nil {
			return exec.Command("false")
		}
		return exec.Command("wat2wasm", "-o", out, in)
	})
}

func memo(tb testing.TB, key string, command func(out string) *exec.Cmd) []byte {
	tb.Helper()
	mu.Lock()
	b, ok := builds[key]
	if !ok {
		b = &build{}
		builds[key] = b
	}
	mu.Unlock()
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "torpor-plugintest-")
		if err != nil {
			b.err = err.Error()
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "plugin.wasm")
		cmd := command(out)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		cmd.Stdout = &stderr
		if err := cmd.Run(); err != nil {
			b.err = key + ": " + err.Error() + "\n" + stderr.String()
			return
		}
		b.wasm, err = os.ReadFile(out)
		if err != nil {
			b.err = err.Error()
		}
	})
	if b.err != "" {
		tb.Fatalf("plugintest: build %s", b.err)
	}
	return b.wasm
}
