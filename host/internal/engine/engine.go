// Package engine is torpor's wazero glue: one runtime per host with the
// torpor_v1 and WASI host modules, plugin validation and compilation, a pool of
// pre-initialised instances per plugin version, and calls into an instance with
// a CPU-time deadline. It knows nothing of objects, sockets or storage; those
// reach it through the Env an instance is bound to.
package engine

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/torpor-dev/torpor/abi"
)

// Config sets up an Engine. The zero value is usable: no compilation cache,
// the wazero default memory limit, and no CPU-time interruption.
type Config struct {
	// CacheDir keeps compiled machine code across restarts; "" disables it.
	CacheDir string
	// MemoryPages caps every instance's linear memory, in 64 KiB pages;
	// memory.grow past it fails (returns -1) inside the guest.
	MemoryPages uint32
	// Interruptible makes a call stop when its context is done, which is how
	// the per-event CPU-time limit works. It costs a check at every function
	// entry and loop back-edge, so it is off only when no limit is wanted.
	Interruptible bool
}

// Engine owns one wazero runtime. It is safe for concurrent use.
type Engine struct {
	rt wazero.Runtime
}

// New builds the runtime and instantiates the host modules.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	rc := wazero.NewRuntimeConfig().WithCloseOnContextDone(cfg.Interruptible)
	if cfg.MemoryPages > 0 {
		rc = rc.WithMemoryLimitPages(cfg.MemoryPages)
	}
	if cfg.CacheDir != "" {
		if err := os.MkdirAll(cfg.CacheDir, 0o750); err != nil {
			return nil, fmt.Errorf("compilation cache: %w", err)
		}
		cache, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("compilation cache at %s: %w", cfg.CacheDir, err)
		}
		rc = rc.WithCompilationCache(cache)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("instantiate WASI: %w", err)
	}
	if err := instantiateImports(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("instantiate %s: %w", abi.ImportModule, err)
	}
	return &Engine{rt: rt}, nil
}

// Close releases the runtime and every module in it.
func (e *Engine) Close(ctx context.Context) error {
	return e.rt.Close(ctx)
}

// ErrInvalid is wrapped by every validation failure of Compile; the rest of
// the message names the cause.
var ErrInvalid = errors.New("invalid plugin")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}
