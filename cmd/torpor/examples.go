package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/torpor-dev/torpor/host"
)

// examplesMarker records that the first start deployed the examples, so
// that an operator who removes them does not get them back on restart.
const examplesMarker = "examples-deployed"

// example is one example plugin and how to build it from a source checkout.
type example struct {
	name, path string
	wat        bool
}

var examples = []example{
	{name: "chat", path: "plugins/chat"},
	{name: "counter", path: "plugins/counter"},
	{name: "broadcast", path: "plugins/broadcast"},
	{name: "counter-wat", path: "plugins/counter-wat/counter.wat", wat: true},
}

// deployExamples builds the example plugins from the source checkout in the
// working directory and deploys them, once per data dir. Plugins are never
// shipped prebuilt: a binary run outside a checkout skips this and says how
// to upload plugins instead.
func deployExamples(ctx context.Context, h *host.Host, dataDir string, log *slog.Logger) error {
	marker := filepath.Join(dataDir, examplesMarker)
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	if _, err := os.Stat("plugins/chat/main.go"); err != nil {
		log.Info("example plugins not deployed: not running from a torpor source checkout; upload plugins with `torpor plugin upload NAME FILE.wasm`")
		return nil
	}
	if _, err := exec.LookPath("go"); err != nil {
		log.Info("example plugins not deployed: no Go toolchain on PATH to build them; upload plugins with `torpor plugin upload NAME FILE.wasm`")
		return nil
	}
	tmp, err := os.MkdirTemp("", "torpor-examples-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	var deployed []string
	for _, ex := range examples {
		out := filepath.Join(tmp, ex.name+".wasm")
		var cmd *exec.Cmd
		if ex.wat {
			if _, err := exec.LookPath("wat2wasm"); err != nil {
				log.Info("example plugin skipped: wat2wasm not found (Debian package wabt)", "plugin", ex.name)
				continue
			}
			cmd = exec.CommandContext(ctx, "wat2wasm", "-o", out, ex.path)
		} else {
			cmd = exec.CommandContext(ctx, "go", "build", "-buildmode=c-shared", "-trimpath", "-o", out, "./"+ex.path)
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
		}
		if msg, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build example plugin %s: %w\n%s", ex.name, err, msg)
		}
		wasm, err := os.ReadFile(out)
		if err != nil {
			return err
		}
		if _, err := h.DeployTrusted(ctx, ex.name, wasm); err != nil {
			return fmt.Errorf("deploy example plugin %s: %w", ex.name, err)
		}
		deployed = append(deployed, ex.name)
	}
	log.Info("example plugins deployed", "plugins", deployed)
	return os.WriteFile(marker, []byte("the example plugins were deployed at first start\n"), 0o644)
}
