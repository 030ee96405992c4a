package main

import (
	"context"
	"embed"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/torpor-dev/torpor/host"
)

// The example plugins are embedded, so that a binary run anywhere serves
// the demo with no toolchain installed: the AssemblyScript twins (a few KiB
// each) and the WAT counter. They are builds of plugins/*-as and
// plugins/counter-wat; TestEmbeddedExamplesMatchSource rebuilds them from
// source and fails if a byte differs, so nothing prebuilt goes unchecked.
//
//go:generate sh examples/build.sh
//go:embed examples/*.wasm
var exampleFS embed.FS

// examplesMarker records that the first start deployed the examples, so
// that an operator who removes them does not get them back on restart.
const examplesMarker = "examples-deployed"

// example is one embedded example plugin and the source it is built from.
type example struct {
	name   string // plugin name and file name in examples/
	source string // relative to the module root
}

var examples = []example{
	{name: "chat", source: "plugins/chat-as/index.ts"},
	{name: "counter", source: "plugins/counter-as/index.ts"},
	{name: "broadcast", source: "plugins/broadcast-as/index.ts"},
	{name: "counter-wat", source: "plugins/counter-wat/counter.wat"},
}

func exampleWasm(name string) ([]byte, error) {
	return exampleFS.ReadFile("examples/" + name + ".wasm")
}

// deployExamples deploys the embedded example plugins, once per data dir.
func deployExamples(ctx context.Context, h *host.Host, dataDir string, log *slog.Logger) error {
	marker := filepath.Join(dataDir, examplesMarker)
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	var deployed []string
	for _, ex := range examples {
		wasm, err := exampleWasm(ex.name)
		if err != nil {
			return fmt.Errorf("example plugin %s: %w", ex.name, err)
		}
		if _, err := h.DeployTrusted(ctx, ex.name, wasm); err != nil {
			return fmt.Errorf("deploy example plugin %s: %w", ex.name, err)
		}
		deployed = append(deployed, ex.name)
	}
	log.Info("example plugins deployed", "plugins", deployed)
	return os.WriteFile(marker, []byte("the example plugins were deployed at first start\n"), 0o644)
}
