package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/torpor-dev/torpor/host/internal/engine"
	"github.com/torpor-dev/torpor/store"
)

// deployed is the active version of one plugin name.
type deployed struct {
	name    string
	version store.PluginVersion
	plugin  *engine.Plugin
}

// PluginVersion describes one uploaded version of a plugin.
type PluginVersion = store.PluginVersion

func (h *Host) pluginConfig() engine.PluginConfig {
	l := h.opts.Limits
	return engine.PluginConfig{
		Pool:           max(h.opts.Prewarm, 0),
		Init:           engine.Deadline{CPU: l.InitCPU, Wall: l.InitWall},
		CompileTimeout: h.opts.CompileTimeout,
	}
}

// Deploy validates wasm as a plugin, stores it as a version of name and makes
// it the active one. New activations use it at once; live objects move to it
// at their next hibernation (Evict moves one at once). Sockets are never
// closed by a deploy. Uploading the active version again changes nothing.
//
// A module that is not a valid plugin is refused with an error wrapping
// ErrInvalidPlugin whose message names the cause.
func (h *Host) Deploy(ctx context.Context, name string, wasm []byte) (PluginVersion, error) {
	return h.deploy(ctx, name, wasm, true)
}

// DeployTrusted is Deploy for a module the operator's own toolchain just
// built (torpor serve's example plugins): it is compiled in this process,
// outside Options.CompileCommand's budget, which is for uploads. A slow or
// busy machine then starts however long the compiler takes, instead of
// refusing its own examples.
func (h *Host) DeployTrusted(ctx context.Context, name string, wasm []byte) (PluginVersion, error) {
	return h.deploy(ctx, name, wasm, false)
}

func (h *Host) deploy(ctx context.Context, name string, wasm []byte, sandbox bool) (PluginVersion, error) {
	if err := ValidatePluginName(name); err != nil {
		return PluginVersion{}, err
	}
	if h.isClosing() {
		return PluginVersion{}, ErrClosed
	}
	sum := sha256.Sum256(wasm)
	sha := hex.EncodeToString(sum[:])
	if cur := h.activePlugin(name); cur != nil && cur.version.SHA256 == sha {
		return cur.version, nil
	}
	// Compiling is the slow part and runs on untrusted bytes: it happens
	// outside the deploy lock, so a module that takes its whole budget holds
	// up no other deploy, and at most one per core runs at once.
	p, err := h.compile(ctx, wasm, sandbox)
	if err != nil {
		return PluginVersion{}, fmt.Errorf("deploy %s: %w", name, err)
	}
	h.deployMu.Lock()
	defer h.deployMu.Unlock()
	if h.isClosing() {
		p.Retire(ctx)
		return PluginVersion{}, ErrClosed
	}
	if cur := h.activePlugin(name); cur != nil && cur.version.SHA256 == sha {
		p.Retire(ctx) // the same bytes won a race to deploy
		return cur.version, nil
	}
	ver, err := h.store.PutPlugin(name, wasm)
	if err != nil {
		p.Retire(ctx)
		return PluginVersion{}, fmt.Errorf("deploy %s: %w", name, err)
	}
	h.pmu.Lock()
	old := h.plugins[name]
	h.plugins[name] = &deployed{name: name, version: ver, plugin: p}
	h.pmu.Unlock()
	if old != nil {
		old.plugin.Retire(ctx)
	}
	h.log.Info("plugin deployed", "plugin", name, "sha256", ver.SHA256, "bytes", ver.Size)
	return ver, nil
}

// compile validates and compiles wasm: first in the compile sandbox when
// the host has one, then in-process.
func (h *Host) compile(ctx context.Context, wasm []byte, sandbox bool) (*engine.Plugin, error) {
	select {
	case h.compiling <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("wait to compile: %w", ctx.Err())
	case <-h.closing:
		return nil, ErrClosed
	}
	defer func() { <-h.compiling }()
	if sandbox && len(h.opts.CompileCommand) > 0 && len(wasm) >= 8 && string(wasm[:4]) == "\x00asm" {
		if err := h.compileInChild(ctx, wasm); err != nil {
			if errors.Is(err, ErrCompileBudget) {
				h.counters.compileRefused.Add(1)
			}
			return nil, err
		}
	}
	p, err := h.engine.Compile(ctx, wasm, h.pluginConfig())
	if errors.Is(err, engine.ErrClosed) {
		return nil, ErrClosed
	}
	if errors.Is(err, ErrCompileBudget) {
		h.counters.compileRefused.Add(1)
	}
	return p, err
}

// RemovePlugin deletes every version of a plugin. Its objects' data stays in
// the store. A live object keeps running the version it has until it
// hibernates (Evict does that at once); its next wake finds no plugin and
// closes its sockets with 1011, since there is no code left to run them.
func (h *Host) RemovePlugin(ctx context.Context, name string) error {
	if err := ValidatePluginName(name); err != nil {
		return err
	}
	h.deployMu.Lock()
	defer h.deployMu.Unlock()
	if h.isClosing() {
		return ErrClosed
	}
	if err := h.store.RemovePlugin(name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("remove plugin %s: %w", name, ErrUnknownPlugin)
		}
		return fmt.Errorf("remove plugin %s: %w", name, err)
	}
	h.pmu.Lock()
	old := h.plugins[name]
	delete(h.plugins, name)
	h.pmu.Unlock()
	if old != nil {
		old.plugin.Retire(ctx)
	}
	h.log.Info("plugin removed", "plugin", name)
	return nil
}

// Plugins lists the active version of every deployed plugin.
func (h *Host) Plugins() ([]PluginVersion, error) { return h.store.Plugins() }

// PluginVersions lists every stored version of one plugin, oldest first.
func (h *Host) PluginVersions(name string) ([]PluginVersion, error) {
	vs, err := h.store.PluginVersions(name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("plugin %s: %w", name, ErrUnknownPlugin)
	}
	return vs, err
}

func (h *Host) activePlugin(name string) *deployed {
	h.pmu.RLock()
	defer h.pmu.RUnlock()
	return h.plugins[name]
}

// loadPlugins compiles the active version of every stored plugin. One that
// no longer validates (say, built for an ABI this host dropped) is logged and
// skipped rather than keeping the host down.
func (h *Host) loadPlugins(ctx context.Context) error {
	vs, err := h.store.Plugins()
	if err != nil {
		return fmt.Errorf("load plugins: %w", err)
	}
	for _, v := range vs {
		wasm, err := h.store.PluginWasm(v.Name, v.SHA256)
		if err != nil {
			return fmt.Errorf("load plugin %s: %w", v.Name, err)
		}
		p, err := h.engine.Compile(ctx, wasm, h.pluginConfig())
		if err != nil {
			h.log.Error("stored plugin no longer loads; skipped", "plugin", v.Name, "sha256", v.SHA256, "err", err)
			continue
		}
		h.plugins[v.Name] = &deployed{name: v.Name, version: v, plugin: p}
	}
	return nil
}
