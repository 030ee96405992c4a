package engine

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/torpor-dev/torpor/abi"
	"github.com/torpor-dev/torpor/host/internal/stacklimit"
)

// Plugin is one compiled, validated plugin version. It keeps a small pool of
// pre-initialised instances so that waking an object does not pay for
// instantiation (~10 ms for a Go plugin) on the critical path.
//
// A Plugin is safe for concurrent use. Retire it when a newer version takes
// over: the pool stops refilling, and the compiled code is released once the
// last instance it handed out is closed.
type Plugin struct {
	engine   *Engine
	compiled wazero.CompiledModule
	has      [numExports]bool
	init     Deadline      // bound on the start function and _initialize
	slots    chan struct{} // this plugin's share of the guest-call slots; nil: unbounded
	mem      atomic.Int64  // linear memory its instances hold, for the budget's share
	initMem  int64         // linear memory of an instance fresh from _initialize
	image    *memImage     // the initial memory contents; nil: none

	ready  chan *Instance // bounded by the pool's largest size
	refill chan struct{}  // cap 1: "the pool is below its size"
	// The pool's size follows demand: from PluginConfig.Pool it doubles,
	// up to poolMax, each time a wake finds the pool empty, and halves
	// back after a second without one.
	poolSize atomic.Int32
	missedAt atomic.Int64 // Unix nanoseconds of the last empty-pool Acquire
	stop     chan struct{}
	ctx      context.Context // ends with stop or the engine: cuts a refill's instantiation short
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	basePool int32 // PluginConfig.Pool: the size the pool shrinks back to

	mu      sync.Mutex
	live    int // instances handed out and not yet closed
	retired bool
	freed   bool

	// The start-up breaker: after an instantiation fails in the guest (its
	// start function or _initialize trapped or ran past its limit), further
	// ones fail at once with that error until a back-off passes, so a
	// plugin whose start-up breaks after its deploy costs each connect a
	// quick refusal, not a wait for its own limit behind every other wake.
	brokenUntil time.Time
	brokenErr   error
	brokenRuns  int
}

// Export indexes, one per guest handler.
const (
	exportVersion = iota
	ExportConnect
	ExportMessage
	ExportClose
	ExportAlarm
	ExportSnapshot
	ExportRestore
	exportHandlers
	numExports
)

var exportNames = [numExports]string{
	exportVersion:  abi.ExportVersion,
	ExportConnect:  abi.ExportConnect,
	ExportMessage:  abi.ExportMessage,
	ExportClose:    abi.ExportClose,
	ExportAlarm:    abi.ExportAlarm,
	ExportSnapshot: abi.ExportSnapshot,
	ExportRestore:  abi.ExportRestore,
	exportHandlers: abi.ExportHandlers,
}

// refillDelay is how long the pool waits after an Acquire before it builds
// the replacement instance.
const refillDelay = 5 * time.Millisecond

// ExportName is the ABI name of an export index, for messages.
func ExportName(export int) string {
	if export < 0 || export >= numExports {
		return "handler"
	}
	return exportNames[export]
}

// PluginConfig tunes a Plugin.
type PluginConfig struct {
	// Pool is how many pre-initialised instances to keep ready; 0 disables
	// the pool (every Acquire instantiates). Under a burst of wakes it grows
	// to at most PoolMax (default 8 times Pool), and shrinks back when the
	// burst is over.
	Pool    int
	PoolMax int
	// Init bounds every instantiation (the module's start function and
	// _initialize, together) and the version check; zero fields take
	// DefaultInit's.
	Init Deadline
	// CompileTimeout bounds compilation; 0 means 10 s. The compiler stops
	// between functions, so one enormous function can overrun it: a host
	// that takes modules from strangers compiles them in a child process
	// first (see the host's CompileCommand).
	CompileTimeout time.Duration
}

// DefaultInit bounds instantiation: a Go plugin takes ~10 ms of CPU.
var DefaultInit = Deadline{CPU: 10 * time.Second, Wall: 30 * time.Second}

// Compile validates wasm as a torpor plugin and compiles it. Every failure of
// validation wraps ErrInvalid and names the cause: not WebAssembly, an
// import the host does not provide, a missing or mistyped export, no version
// marker, another ABI major version, or a trap while initialising.
func (e *Engine) Compile(ctx context.Context, wasm []byte, cfg PluginConfig) (*Plugin, error) {
	if len(wasm) == 0 {
		return nil, invalid("empty module")
	}
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return nil, invalid("not a WebAssembly module (bad magic number)")
	}
	if e.ctx.Err() != nil {
		return nil, ErrClosed
	}
	limit := cfg.CompileTimeout
	if limit <= 0 {
		limit = 10 * time.Second
	}
	wasm, img, err := e.instrument(wasm)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, limit)
	compiled, err := e.rt.CompileModule(cctx, wasm)
	timedOut := cctx.Err() != nil && ctx.Err() == nil
	cancel()
	switch {
	case err != nil && timedOut:
		return nil, fmt.Errorf("%w: %w: compiling took longer than %v", ErrInvalid, ErrCompileBudget, limit)
	case err != nil && ctx.Err() != nil:
		return nil, fmt.Errorf("compile: %w", ctx.Err())
	case err != nil:
		return nil, invalid("not a valid WebAssembly module: %v", err)
	}
	p := &Plugin{engine: e, compiled: compiled, init: cfg.Init, image: newMemImage(img)}
	if p.init.CPU <= 0 {
		p.init.CPU = DefaultInit.CPU
	}
	if p.init.Wall <= 0 {
		p.init.Wall = DefaultInit.Wall
	}
	if n := e.cfg.PluginCalls; n > 0 {
		p.slots = make(chan struct{}, n)
	}
	if err := p.validate(); err != nil {
		p.freeCode(ctx)
		return nil, err
	}
	// Instantiating proves the module links and initialises. The instance
	// seeds the pool.
	inst, err := p.instantiate(ctx)
	if err != nil {
		p.freeCode(ctx)
		return nil, err
	}
	// The marker's value, and which handlers the guest implements, are
	// only known by calling them.
	ask := func(export int) (uint32, error) {
		v, err := inst.call(ctx, export, p.init)
		if err == nil {
			return v, nil
		}
		inst.closeModule()
		p.freeCode(ctx)
		if errors.Is(err, ErrClosed) {
			return 0, err
		}
		return 0, invalid("%s: %v", exportNames[export], err)
	}
	v, err := ask(exportVersion)
	if err != nil {
		return nil, err
	}
	if major, minor := abi.SplitVersion(v); major != abi.Major {
		inst.closeModule()
		p.freeCode(ctx)
		return nil, invalid("plugin was built for ABI v%d.%d; this host speaks v%d.%d", major, minor, abi.Major, abi.Minor)
	}
	p.initMem = inst.MemoryBytes()
	if p.has[exportHandlers] {
		set, err := ask(exportHandlers)
		if err != nil {
			return nil, err
		}
		p.implements(set)
	}
	poolMax := cfg.PoolMax
	if poolMax <= 0 {
		poolMax = 8 * cfg.Pool
	}
	poolMax = max(poolMax, cfg.Pool, 1)
	p.ready = make(chan *Instance, poolMax)
	p.poolSize.Store(int32(max(cfg.Pool, 1)))
	p.basePool = int32(max(cfg.Pool, 1))
	p.refill = make(chan struct{}, 1)
	p.stop = make(chan struct{})
	p.ctx, p.cancel = context.WithCancel(e.ctx)
	p.ready <- inst
	e.mu.Lock()
	e.plugins[p] = struct{}{}
	e.mu.Unlock()
	if cfg.Pool > 0 {
		p.wg.Add(1)
		go p.refillLoop()
		p.refill <- struct{}{}
	}
	return p, nil
}

// ErrCompileBudget is wrapped by Compile's error when compiling the module
// took longer (or, in a child process, more memory) than allowed.
var ErrCompileBudget = errors.New("module exceeds the compile budget")

func (p *Plugin) validate() error {
	for _, def := range p.compiled.ImportedFunctions() {
		mod, name, _ := def.Import()
		if err := checkImport(p.engine.rt, mod, name, def); err != nil {
			return err
		}
	}
	if len(p.compiled.ImportedMemories()) > 0 {
		return invalid("imports a memory; a plugin must define and export its own")
	}
	if _, ok := p.compiled.ExportedMemories()[abi.MemoryExport]; !ok {
		return invalid("missing export %q (the guest's linear memory)", abi.MemoryExport)
	}
	exports := p.compiled.ExportedFunctions()
	if _, ok := exports[abi.ExportVersion]; !ok {
		return invalid("missing export %s: not a torpor plugin (no ABI version marker)", abi.ExportVersion)
	}
	for _, name := range abi.RequiredExports {
		if _, ok := exports[name]; !ok {
			return invalid("missing required export %s", name)
		}
	}
	for i, name := range exportNames {
		def, ok := exports[name]
		if !ok {
			continue
		}
		want := abi.Exports[name]
		if !sameSig(def, want) {
			return invalid("export %s has type %s, want %s", name, sigString(def.ParamTypes(), def.ResultTypes()), sigString(want.Params, want.Results))
		}
		p.has[i] = true
	}
	if p.has[ExportSnapshot] != p.has[ExportRestore] {
		return invalid("exports only one of %s and %s; a plugin that keeps state must export both", abi.ExportSnapshot, abi.ExportRestore)
	}
	if def, ok := exports[abi.ExportInitialize]; ok && (len(def.ParamTypes()) != 0 || len(def.ResultTypes()) != 0) {
		return invalid("export %s must take and return nothing", abi.ExportInitialize)
	}
	return nil
}

func checkImport(rt wazero.Runtime, mod, name string, def api.FunctionDefinition) error {
	if mod != abi.ImportModule && strings.HasPrefix(mod, abi.ImportModulePrefix) {
		return invalid("imports %s.%s: the plugin was built for ABI %s, this host speaks v%d", mod, name, strings.TrimPrefix(mod, "torpor_"), abi.Major)
	}
	if mod == stacklimit.YieldModule && name == stacklimit.YieldImport {
		return nil // the instrumentation's own; a plugin's is refused by it
	}
	if mod != abi.ImportModule && mod != abi.WASIModule {
		return invalid("unknown import %s.%s: plugins may import only from %s and %s", mod, name, abi.ImportModule, abi.WASIModule)
	}
	host := rt.Module(mod)
	provided, ok := host.ExportedFunctionDefinitions()[name]
	if !ok {
		return invalid("unknown import %s.%s: the host provides no such function", mod, name)
	}
	if !sameSig(def, abi.Signature{Params: provided.ParamTypes(), Results: provided.ResultTypes()}) {
		return invalid("import %s.%s has type %s, the host provides %s", mod, name,
			sigString(def.ParamTypes(), def.ResultTypes()), sigString(provided.ParamTypes(), provided.ResultTypes()))
	}
	return nil
}

func sameSig(def api.FunctionDefinition, want abi.Signature) bool {
	return string(def.ParamTypes()) == string(want.Params) && string(def.ResultTypes()) == string(want.Results)
}

func sigString(params, results []api.ValueType) string {
	name := func(ts []api.ValueType) string {
		parts := make([]string, len(ts))
		for i, t := range ts {
			parts[i] = api.ValueTypeName(t)
		}
		return "(" + strings.Join(parts, ", ") + ")"
	}
	return name(params) + " -> " + name(results)
}

// implements drops the handlers the guest exports but says, through
// torpor_handlers, it does not implement: the host then treats them as
// absent and, for one, need not wake an object to deliver a close it
// ignores.
func (p *Plugin) implements(set uint32) {
	drop := func(bit uint32, exports ...int) {
		if set&bit == 0 {
			for _, e := range exports {
				p.has[e] = false
			}
		}
	}
	drop(abi.HandlerConnect, ExportConnect)
	drop(abi.HandlerClose, ExportClose)
	drop(abi.HandlerAlarm, ExportAlarm)
	drop(abi.HandlerState, ExportSnapshot, ExportRestore)
}

// InitialMemory is the linear memory, in bytes, of an instance fresh from
// initialisation: what one more live object of this plugin will take at
// least.
func (p *Plugin) InitialMemory() int64 { return p.initMem }

// Has reports whether the plugin implements the handler: it exports it and
// does not disown it in torpor_handlers.
func (p *Plugin) Has(export int) bool { return p.has[export] }

// ErrRetired is returned by Acquire on a plugin whose version was replaced.
var ErrRetired = errors.New("plugin version retired")

// Acquire returns a fresh, initialised instance that no one else holds: from
// the pool when one is ready, else built now. The caller owns it and must
// Close it.
func (p *Plugin) Acquire(ctx context.Context) (*Instance, error) {
	p.mu.Lock()
	if p.retired {
		p.mu.Unlock()
		return nil, ErrRetired
	}
	p.live++
	p.mu.Unlock()
	select {
	case inst := <-p.ready:
		p.wantRefill()
		return inst, nil
	default:
	}
	// A wake found the pool empty: demand outruns its size.
	p.missedAt.Store(time.Now().UnixNano())
	if n := p.poolSize.Load(); int(n) < cap(p.ready) {
		p.poolSize.CompareAndSwap(n, min(2*n, int32(cap(p.ready))))
	}
	p.wantRefill()
	inst, err := p.instantiate(ctx)
	if err != nil {
		p.release(ctx, 1)
		return nil, err
	}
	return inst, nil
}

func (p *Plugin) wantRefill() {
	select {
	case p.refill <- struct{}{}:
	default:
	}
}

func (p *Plugin) refillLoop() {
	defer p.wg.Done()
	shrink := time.NewTicker(time.Second)
	defer shrink.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-shrink.C:
			p.shrinkPool()
			continue
		case <-p.refill:
		}
		// Acquire asked for a refill on its way to waking an object; let
		// that wake finish before competing with it for a core and for the
		// garbage collector (instantiating a Go plugin allocates megabytes).
		select {
		case <-p.stop:
			return
		case <-time.After(refillDelay):
		}
		for len(p.ready) < int(p.poolSize.Load()) && !p.engine.budget.tight(p) {
			// A refill is speculative: it yields to guest calls waiting
			// for a slot (wakes among them), so it never starves them.
			if p.engine.slots.waiting.Load() > 0 {
				select {
				case <-p.stop:
					return
				case <-time.After(refillDelay):
				}
				continue
			}
			inst, err := p.instantiate(p.ctx)
			if err != nil {
				// Validation instantiated it once, so this is resource
				// exhaustion or a guest that misbehaves now; Acquire will
				// report it on the critical path.
				break
			}
			select {
			case p.ready <- inst:
			case <-p.stop:
				inst.closeModule()
				return
			}
		}
	}
}

// shrinkPool halves a pool grown for a burst once a second has passed
// without a wake finding it empty, and closes the instances beyond its new
// size: memory held for a demand that is gone goes back.
func (p *Plugin) shrinkPool() {
	n := p.poolSize.Load()
	if n <= p.basePool || time.Since(time.Unix(0, p.missedAt.Load())) < time.Second {
		return
	}
	p.poolSize.CompareAndSwap(n, max(n/2, p.basePool))
	p.trimPool(int(p.poolSize.Load()))
}

// Retire stops the pool; the compiled code is released when the last
// instance handed out is closed. Acquire fails with ErrRetired afterwards.
func (p *Plugin) Retire(ctx context.Context) {
	p.mu.Lock()
	if p.retired {
		p.mu.Unlock()
		return
	}
	p.retired = true
	p.mu.Unlock()
	close(p.stop)
	// A refill in progress is cut short (its guest stops at once), so this
	// wait is never on a guest.
	p.cancel()
	p.wg.Wait()
	p.trimPool(0)
	p.release(ctx, 0)
}

// release records that n instances handed out were closed, and frees the
// compiled module once the plugin is retired and none is left.
func (p *Plugin) release(ctx context.Context, n int) {
	p.mu.Lock()
	p.live -= n
	free := p.retired && p.live == 0 && !p.freed
	if free {
		p.freed = true
	}
	p.mu.Unlock()
	if free {
		p.engine.mu.Lock()
		delete(p.engine.plugins, p)
		p.engine.mu.Unlock()
		p.freeCode(ctx)
	}
}

// freeCode releases the compiled module and the memory image.
func (p *Plugin) freeCode(ctx context.Context) {
	p.compiled.Close(ctx)
	p.image.close()
}

// trimPool closes the instances waiting in the pool beyond keep, and
// reports whether it closed any. Never a blocking receive: an Acquire may
// take the last ready instance between a length check and the receive.
func (p *Plugin) trimPool(keep int) bool {
	closed := false
	for len(p.ready) > keep {
		select {
		case inst := <-p.ready:
			inst.closeModule()
			closed = true
		default:
			return closed
		}
	}
	return closed
}

// instantiate builds an initialised instance: the module's start function
// and _initialize run under p.init, in the plugin's guest-call slots, with
// linear memory charged to the budget.
func (p *Plugin) instantiate(ctx context.Context) (*Instance, error) {
	inst := &Instance{plugin: p, stack: make([]uint64, 8)}
	inst.dog.inst = inst
	inst.ctx = context.WithValue(context.Background(), instanceKey{}, inst)
	logw := &logWriter{inst: inst}
	cfg := wazero.NewModuleConfig().
		WithName(""). // anonymous: many instances of one plugin coexist
		WithStartFunctions().
		WithStdout(logw).
		WithStderr(logw).
		WithSysWalltime().
		WithSysNanotime().
		WithRandSource(rand.Reader)
	alloc := experimental.MemoryAllocatorFunc(func(cap, max uint64) experimental.LinearMemory {
		m := allocator{b: p.engine.budget, p: p, img: p.image}.Allocate(cap, max).(guestMemory)
		inst.lin = m
		return m
	})
	if err := p.broken(); err != nil {
		return nil, err
	}
	err := p.build(ctx, inst, alloc, cfg)
	if err != nil {
		inst.closeModule()
		p.engine.noteFailure(err)
		switch {
		case errors.Is(err, ErrClosed), errors.Is(err, context.Canceled), errors.Is(err, ErrStartFailing):
			return nil, err
		case errors.Is(err, ErrMemoryBudget):
			return nil, fmt.Errorf("instantiate: %w", err)
		}
		err = invalid("instantiate: %v", err)
		p.trip(err)
		return nil, err
	}
	p.mu.Lock()
	p.brokenRuns = 0
	p.mu.Unlock()
	inst.mem = inst.mod.Memory()
	// The handlers a wake calls are made now, off the wake's path (this
	// runs in the pool's refill); the rest at their first call.
	for _, export := range [...]int{ExportConnect, ExportMessage, ExportRestore} {
		inst.fn(export)
	}
	return inst, nil
}

// build instantiates the module into inst and runs its initialisation: the
// start function (exported by the instrumentation, so that it runs where the
// watchdog can stop it) and _initialize, together under p.init. ctx ending
// stops them.
func (p *Plugin) build(ctx context.Context, inst *Instance, alloc experimental.MemoryAllocator, cfg wazero.ModuleConfig) error {
	e := p.engine
	// One slot for the whole build: a wake that waited for it must see a
	// breaker tripped meanwhile before it runs any guest code, or wakes
	// queued behind a spinning start function would each spin in turn.
	if err := e.enter(ctx, p); err != nil {
		return err
	}
	defer e.leave(p)
	if err := p.broken(); err != nil {
		return err
	}
	// No guest code runs here (the start section is gone): this is the
	// memory, the data segments and the tables.
	mod, err := e.rt.InstantiateModule(experimental.WithMemoryAllocator(inst.ctx, alloc), p.compiled, cfg)
	if err != nil {
		return fmt.Errorf("instantiate: %w", err)
	}
	inst.mod = mod
	inst.fuel, _ = mod.ExportedGlobal(stacklimit.FuelExport).(api.MutableGlobal)
	if inst.lin != nil && inst.lin.overdrawn() {
		return ErrMemoryBudget
	}
	stopOnCancel := context.AfterFunc(ctx, func() { inst.dog.stop(context.Canceled) })
	defer stopOnCancel()
	init := p.init
	started := time.Now()
	for _, name := range []string{stacklimit.StartExport, abi.ExportInitialize} {
		fn := mod.ExportedFunction(name)
		if fn == nil {
			continue
		}
		if err := e.run(inst, init, fn); err != nil {
			if name == stacklimit.StartExport {
				name = "start function"
			}
			return fmt.Errorf("%s: %w", name, err)
		}
		// One bound for both, as when the runtime ran the start function.
		if init.Wall > 0 {
			init.Wall = max(time.Millisecond, init.Wall-time.Since(started))
		}
	}
	return nil
}

// ErrStartFailing is returned, wrapped with the last failure, by
// instantiations refused while a plugin's start-up breaker is open.
var ErrStartFailing = errors.New("plugin start-up keeps failing")

// Back-off of the start-up breaker: doubling from the first to the last.
const (
	brokenFirst = time.Second
	brokenLast  = time.Minute
)

// broken returns ErrStartFailing while the breaker is open.
func (p *Plugin) broken() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.brokenErr == nil || !time.Now().Before(p.brokenUntil) {
		return nil
	}
	return fmt.Errorf("%w (retried in %v): %w", ErrStartFailing, time.Until(p.brokenUntil).Round(time.Millisecond), p.brokenErr)
}

// trip opens the breaker after a failed instantiation.
func (p *Plugin) trip(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	wait := min(brokenFirst<<min(p.brokenRuns, 16), brokenLast)
	p.brokenRuns++
	p.brokenErr, p.brokenUntil = err, time.Now().Add(wait)
}

// ErrMemoryBudget: an instance would take the host, or its plugin, past the
// memory budget.
var ErrMemoryBudget = errors.New("memory budget exhausted")

// logWriter routes a guest's stdout and stderr to its current Env's log.
// The engine's own fd_write (wasi.go) bypasses it; wazero's other paths to a
// module's stdout (none a plugin can reach today) would come here.
type logWriter struct{ inst *Instance }

func (w *logWriter) Write(b []byte) (int, error) {
	w.inst.logLine(b[:min(len(b), maxLogWrite)])
	return len(b), nil
}

var _ io.Writer = (*logWriter)(nil)

// String describes the plugin for logs.
func (p *Plugin) String() string { return fmt.Sprintf("plugin(%s)", p.compiled.Name()) }
