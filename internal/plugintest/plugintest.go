// Package plugintest builds plugins (and the torpor command) from source
// for tests, so that no test trusts a prebuilt .wasm: Go plugins with the
// wasip1 toolchain, WAT plugins with wat2wasm (Debian package wabt),
// AssemblyScript plugins with the SDK's pinned asc (npm ci in
// sdk/assemblyscript) and Rust plugins with Debian's rustc and its wasm32
// standard library; .ci/run installs all of them. Builds are memoised per
// test process and safe for parallel tests.
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

// AS builds the AssemblyScript plugin whose entry file is path (relative to
// the module root, for example "plugins/chat-as/index.ts") with the SDK's
// build script, the one plugin authors use.
func AS(tb testing.TB, path string) []byte {
	tb.Helper()
	root := Root(tb)
	if _, err := exec.LookPath("node"); err != nil {
		tb.Fatal("plugintest: node not found on PATH: install Debian's nodejs package (.ci/run does)")
	}
	if _, err := os.Stat(filepath.Join(root, ASCompiler)); err != nil {
		tb.Fatalf("plugintest: %s is missing: run `npm ci --prefix sdk/assemblyscript` (.ci/run does)", ASCompiler)
	}
	return memo(tb, "as:"+path, func(out string) *exec.Cmd {
		cmd := exec.Command("node", "sdk/assemblyscript/build.mjs", path, out)
		cmd.Dir = root
		return cmd
	})
}

// ExampleLangs are the languages the example rooms (chat, counter,
// broadcast) are written in: Go in plugins/NAME, AssemblyScript twins in
// plugins/NAME-as.
var ExampleLangs = []string{"go", "as"}

// Example builds the example room name in lang, one of ExampleLangs.
func Example(tb testing.TB, lang, name string) []byte {
	tb.Helper()
	if lang == "as" {
		return AS(tb, "plugins/"+name+"-as/index.ts")
	}
	return Go(tb, "plugins/"+name)
}

// EachLang runs f once per example language as a subtest named after it,
// with *lang set to that language meanwhile (and "go" after), for a test
// package whose helpers build examples in *lang. Its tests must not run in
// parallel.
func EachLang(t *testing.T, lang *string, f func(t *testing.T)) {
	for _, l := range ExampleLangs {
		t.Run(l, func(t *testing.T) {
			*lang = l
			defer func() { *lang = "go" }()
			f(t)
		})
	}
}

// ASCompiler is the pinned AssemblyScript compiler, relative to the module
// root, as `npm ci --prefix sdk/assemblyscript` installs it.
const ASCompiler = "sdk/assemblyscript/node_modules/assemblyscript/bin/asc.js"

// RustC is Debian's rustc, called by its path: a rustup toolchain earlier
// on PATH has no wasm32 target and cannot download one here.
const RustC = "/usr/bin/rustc"

// Rust builds the Rust plugin in dir (relative to the module root, holding
// lib.rs) against the SDK in sdk/rust, with the commands sdk/rust/build.sh
// runs.
func Rust(tb testing.TB, dir string) []byte {
	tb.Helper()
	root := Root(tb)
	if _, err := os.Stat(RustC); err != nil {
		tb.Fatalf("plugintest: %s not found: install Debian's rustc and libstd-rust-dev-wasm32 (.ci/run does)", RustC)
	}
	return memo(tb, "rust:"+dir, func(out string) *exec.Cmd {
		cmd := exec.Command("sh", filepath.Join(root, "sdk/rust/build.sh"), filepath.Join(root, dir), out)
		cmd.Dir = root
		return cmd
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

var (
	binOnce sync.Once
	binPath string
	binErr  string
)

// Binary builds the torpor command (./cmd/torpor) once per test process
// and returns the path of the executable, for tests that run it as a user
// would.
func Binary(tb testing.TB) string {
	tb.Helper()
	root := Root(tb)
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "torpor-bin-")
		if err != nil {
			binErr = err.Error()
			return
		}
		binPath = filepath.Join(dir, "torpor")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/torpor")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = err.Error() + "\n" + string(out)
		}
	})
	if binErr != "" {
		tb.Fatalf("plugintest: build torpor: %s", binErr)
	}
	return binPath
}
