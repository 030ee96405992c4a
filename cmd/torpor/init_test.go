package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/torpor-dev/torpor/internal/plugintest"
)

// What `torpor init` writes builds and passes its own test as generated,
// in both languages: the project's test builds the room and runs it in a
// host inside its test process.
func TestInitProjectsBuildAndPass(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and tests generated projects")
	}
	bin := plugintest.Binary(t)
	root := plugintest.Root(t)
	for _, lang := range []string{"go", "as"} {
		t.Run(lang, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "hello-"+lang)
			run := func(name string, args ...string) {
				t.Helper()
				cmd := exec.Command(name, args...)
				cmd.Dir = dir
				cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
				}
			}
			init := exec.Command(bin, "init", "hello-"+lang, "--lang", lang, "--dir", dir, "--torpor-source", root)
			if out, err := init.CombinedOutput(); err != nil {
				t.Fatalf("torpor init: %v\n%s", err, out)
			}
			if lang == "as" {
				run("npm", "install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error")
				run("npm", "run", "build")
				run("go", "mod", "tidy")
			} else {
				run("go", "mod", "tidy")
				run("sh", "build.sh")
			}
			if _, err := os.Stat(filepath.Join(dir, "hello-"+lang+".wasm")); err != nil {
				t.Fatalf("the build script made no module: %v", err)
			}
			run("go", "test", "./...")
			// init never writes over a project.
			again := exec.Command(bin, "init", "hello-"+lang, "--lang", lang, "--dir", dir)
			if out, err := again.CombinedOutput(); err == nil || !strings.Contains(string(out), "not empty") {
				t.Fatalf("init into a non-empty dir: %v\n%s", err, out)
			}
		})
	}
}
