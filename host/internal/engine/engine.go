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
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero"

	"github.com/torpor-dev/torpor/abi"
	"github.com/torpor-dev/torpor/host/internal/datamerge"
	"github.com/torpor-dev/torpor/host/internal/stacklimit"
)

// Config sets up an Engine. The zero value is usable: no compilation cache,
// the wazero default memory limit, no memory budget, no bound on concurrent
// guest calls and no interruption of calls.
type Config struct {
	// CacheDir keeps compiled machine code across restarts; "" disables it.
	CacheDir string
	// MemoryPages caps every instance's linear memory, in 64 KiB pages;
	// memory.grow past it fails (returns -1) inside the guest.
	MemoryPages uint32
	// MemoryBudget bounds the linear memory of all instances together, in
	// bytes, pools included; 0: no bound. PluginMemory bounds one plugin's
	// instances (every version of it counts separately); 0: no bound.
	MemoryBudget int64
	PluginMemory int64
	// GuestCalls bounds the guest calls (handlers and instantiations) that
	// run at once, host-wide, and PluginCalls those of one plugin; 0: no
	// bound. See slots.
	GuestCalls  int
	PluginCalls int
	// StackLimit bounds the native stack of one guest call, in bytes as
	// stacklimit.FrameSize estimates them; 0: wazero's own ceiling (about
	// 100 MiB). The engine instruments every module to enforce it, and
	// keeps GuestCalls times twice as much of the memory budget for stacks.
	StackLimit uint32
}

// Engine owns one wazero runtime. It is safe for concurrent use.
type Engine struct {
	rt     wazero.Runtime
	budget *budget
	slots  *slots
	cfg    Config

	// ctx ends at Close, which stops every guest call in progress.
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	plugins map[*Plugin]struct{} // compiled and not yet freed, for reclaiming pools

	timeouts       atomic.Uint64 // guest calls stopped at their deadline
	stackOverflows atomic.Uint64

	runMu     sync.Mutex
	running   map[*Instance]struct{} // instances in a guest call, for Interrupt and the watch loop
	watching  bool                   // the watch loop ticks (under runMu)
	calls     uint64                 // guest calls made, for the reclaim loop's idea of quiet (under runMu)
	watchWake chan struct{}          // cap 1: a call started while the watch loop slept

	freeOS chan struct{} // cap 1: return freed memory to the OS soon
	forced atomic.Uint64 // collections the reclaim loop forced
	wg     sync.WaitGroup
}

// Stats counts what the engine refused or contained. All fields are
// cumulative since New.
type Stats struct {
	// MemoryRefused counts allocations and grows refused by the budget.
	MemoryRefused uint64
	// MemoryUsed is the linear memory charged to the budget now, in bytes.
	MemoryUsed int64
	// Timeouts counts guest calls stopped by their deadline.
	Timeouts uint64
	// StackOverflows counts guest calls that overflowed the native stack.
	StackOverflows uint64
	// WaitingCalls is how many guest calls wait for a slot now.
	WaitingCalls int64
	// Reclaims counts the collections forced to return freed memory to
	// the OS (reclaim.go says when).
	Reclaims uint64
}

// New builds the runtime and instantiates the host modules.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	rt, err := newRuntime(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := instantiateWASI(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("instantiate WASI: %w", err)
	}
	if err := instantiateImports(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("instantiate %s: %w", abi.ImportModule, err)
	}
	if err := instantiateYield(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("instantiate %s: %w", stacklimit.YieldModule, err)
	}
	e := &Engine{
		rt:        rt,
		cfg:       cfg,
		budget:    &budget{limit: cfg.MemoryBudget, perShare: cfg.PluginMemory},
		slots:     newSlots(cfg.GuestCalls, cfg.PluginCalls),
		plugins:   map[*Plugin]struct{}{},
		running:   map[*Instance]struct{}{},
		watchWake: make(chan struct{}, 1),
		freeOS:    make(chan struct{}, 1),
	}
	e.budget.reclaim = e.reclaimPools
	if cfg.MemoryBudget > 0 && cfg.StackLimit > 0 && cfg.GuestCalls > 0 {
		// A call's stack can take about twice its limit while wazero copies
		// it to grow it: that much stays out of the linear memories' reach.
		e.budget.limit = max(cfg.MemoryBudget/2, cfg.MemoryBudget-int64(cfg.GuestCalls)*2*int64(cfg.StackLimit))
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.wg.Add(2)
	go e.reclaimLoop()
	go e.watchLoop()
	return e, nil
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	return Stats{
		MemoryRefused:  e.budget.refused.Load(),
		MemoryUsed:     e.budget.used.Load(),
		Timeouts:       e.timeouts.Load(),
		StackOverflows: e.stackOverflows.Load(),
		WaitingCalls:   e.slots.waiting.Load(),
		Reclaims:       e.forced.Load(),
	}
}

// Instances counts the instances of every plugin version: live, handed out
// by Acquire (to an object, or being built for one) and not yet closed, and
// pooled, initialised and waiting in a pool. It takes each plugin's lock
// briefly, so it is for monitoring, not for a hot path.
func (e *Engine) Instances() (live, pooled int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for p := range e.plugins {
		p.mu.Lock()
		live += p.live
		p.mu.Unlock()
		pooled += len(p.ready)
	}
	return live, pooled
}

// Interrupt stops every guest call in progress and fails every later one
// with ErrClosed; Close does it too. A host shutting down calls it when it
// can wait no longer.
func (e *Engine) Interrupt() {
	e.cancel()
	e.stopRunning(ErrClosed)
}

// Close stops every guest call in progress and releases the runtime and
// every module in it.
func (e *Engine) Close(ctx context.Context) error {
	e.Interrupt()
	e.wg.Wait()
	return e.rt.Close(ctx)
}

// ErrClosed is returned by calls into an engine that is closing.
var ErrClosed = errors.New("engine closed")

// reclaimPools closes every pool instance waiting to be handed out, so that
// the memory they hold serves live objects; it reports whether it freed any.
func (e *Engine) reclaimPools() bool {
	e.mu.Lock()
	ps := make([]*Plugin, 0, len(e.plugins))
	for p := range e.plugins {
		ps = append(ps, p)
	}
	e.mu.Unlock()
	freed := false
	for _, p := range ps {
		// Each pool refills once the budget has room again.
		if p.trimPool(0) {
			freed = true
		}
	}
	return freed
}

// ErrInvalid is wrapped by every validation failure of Compile; the rest of
// the message names the cause.
var ErrInvalid = errors.New("invalid plugin")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// newRuntime builds the wazero runtime cfg describes; a compile worker
// (CheckCompile) must build the same one, so that what it puts in the
// compilation cache is what the host reads.
func newRuntime(ctx context.Context, cfg Config) (wazero.Runtime, error) {
	// No close-on-context-done: it costs a goroutine per call. Calls are
	// stopped through the fuel every module is instrumented with.
	rc := wazero.NewRuntimeConfig()
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
	return wazero.NewRuntimeWithConfig(ctx, rc), nil
}

// CheckCompile compiles wasm with the runtime settings of cfg and reports
// only whether that succeeds: the child side of a host's compile sandbox,
// which runs it in a process of its own under a time and memory bound. With
// cfg.CacheDir set, the compiled code lands in the cache, so the host's own
// compile of the same module afterwards costs a cache read.
func CheckCompile(ctx context.Context, cfg Config, wasm []byte) error {
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return invalid("not a WebAssembly module (bad magic number)")
	}
	rt, err := newRuntime(ctx, cfg)
	if err != nil {
		return err
	}
	defer rt.Close(ctx)
	wasm, _, err = (&Engine{cfg: cfg}).instrument(wasm)
	if err != nil {
		return err
	}
	if _, err := rt.CompileModule(ctx, wasm); err != nil {
		return invalid("not a valid WebAssembly module: %v", err)
	}
	return nil
}

// instrument coalesces wasm's data segments and takes them out as the
// memory image instances start from (see package datamerge), and applies
// the stack limit and stop checks (see package stacklimit); the compiled
// code, and so the compilation cache, is that of the result. A module the
// merger cannot parse goes on unmerged, for wazero to judge.
func (e *Engine) instrument(wasm []byte) ([]byte, datamerge.Image, error) {
	var img datamerge.Image
	if merged, err := datamerge.Merge(wasm); err == nil {
		wasm = merged
		if stripped, image, err := datamerge.Extract(wasm); err == nil {
			wasm, img = stripped, image
		}
	}
	// Every module is instrumented, since the fuel is how calls end at
	// their limits and how long calls let a collection stop them; without
	// a stack limit the counter only counts.
	limit := e.cfg.StackLimit
	if limit == 0 {
		limit = 1<<31 - 1
	}
	out, err := stacklimit.Instrument(wasm, limit)
	if err != nil {
		return nil, datamerge.Image{}, invalid("not a valid WebAssembly module: %v", err)
	}
	return out, img, nil
}
