package host_test

import (
	"context"
	"errors"
	"testing"

	"github.com/torpor-dev/torpor/host"
)

// Uploads go through the compile sandbox; the operator's own builds (the
// examples) do not: a machine too slow or too busy for the upload budget
// must still start its examples. A sandbox that refuses everything tells
// the two apart.
func TestDeployTrustedSkipsTheCompileSandbox(t *testing.T) {
	h := newHost(t, host.Options{CompileCommand: []string{"sh", "-c", "echo refused by the sandbox >&2; exit 1"}})
	wasm := watCounter(t)
	ctx := context.Background()
	_, err := h.Deploy(ctx, "counter", wasm)
	if !errors.Is(err, host.ErrInvalidPlugin) {
		t.Fatalf("Deploy through a sandbox that refuses everything: %v, want ErrInvalidPlugin", err)
	}
	if _, err := h.DeployTrusted(ctx, "counter", wasm); err != nil {
		t.Fatalf("DeployTrusted: %v", err)
	}
	c := connect(t, h, "counter/x", "")
	if got := c.ask(t, "inc"); got != "1" {
		t.Fatalf("the trusted deploy's counter answered %q, want 1", got)
	}
}
