package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/torpor-dev/torpor/abi"
	"github.com/torpor-dev/torpor/host/internal/stacklimit"
)

type instanceKey struct{}

// Instance is one wazero module instance of a Plugin. It is not safe for
// concurrent use: one object's goroutine owns it from Acquire to Close.
type Instance struct {
	plugin *Plugin
	mod    api.Module
	mem    api.Memory
	ctx    context.Context // carries the instance to the host functions
	fns    [numExports]api.Function
	stack  []uint64
	env    Env
	logBuf []byte            // fd_write's scratch line, reused
	lin    guestMemory       // its linear memory, given back by closeModule
	deep   bool              // a call overflowed the native stack
	fuel   api.MutableGlobal // set to zero, the guest yields at once (see stacklimit)
	dog    watchdog
}

// Bind sets the Env the host functions act on; nil unbinds.
func (i *Instance) Bind(env Env) { i.env = env }

// Has reports whether the instance's plugin exports the handler.
func (i *Instance) Has(export int) bool { return i.plugin.has[export] }

// MemoryPages is the guest's current linear memory size in 64 KiB pages.
func (i *Instance) MemoryPages() uint32 { return i.mem.Size() / 65536 }

// MemoryBytes is the guest's current linear memory size in bytes.
func (i *Instance) MemoryBytes() int64 { return int64(i.mem.Size()) }

// Errors of Call that callers branch on. Any other error is a trap.
var (
	ErrTimeout = errors.New("guest exceeded its time limit")
	ErrExited  = errors.New("guest exited")
)

// Call runs a handler with the given arguments under d and returns its i32
// result. On any error the instance is unusable and must be closed: its
// memory may hold half an event.
func (i *Instance) Call(export int, d Deadline, args ...uint64) (uint32, error) {
	copy(i.stack, args)
	return i.call(context.Background(), export, d)
}

// fn returns the export's function, made at first use: each api.Function
// carries its own call engine and a 10 KiB stack, and most objects only
// ever call a few of their handlers. nil: the plugin does not export it.
func (i *Instance) fn(export int) api.Function {
	if i.fns[export] == nil && (i.plugin.has[export] || export == exportVersion) {
		i.fns[export] = i.mod.ExportedFunction(exportNames[export])
	}
	return i.fns[export]
}

func (i *Instance) call(parent context.Context, export int, d Deadline) (uint32, error) {
	fn := i.fn(export)
	if fn == nil {
		return 0, fmt.Errorf("export %s is absent", exportNames[export])
	}
	err := i.plugin.engine.guard(parent, i, d, fn)
	if err == nil {
		return uint32(i.stack[0]), nil
	}
	if i.overStack() {
		err = fmt.Errorf("stack overflow: past the %d-byte stack limit (%w)", i.plugin.engine.cfg.StackLimit, err)
	}
	if i.plugin.engine.noteFailure(err) {
		i.deep = true
	}
	var exit *sys.ExitError
	switch {
	case errors.Is(err, ErrTimeout):
		return 0, fmt.Errorf("%s: %w", exportNames[export], err)
	case errors.Is(err, ErrClosed):
		return 0, fmt.Errorf("%s: %w", exportNames[export], err)
	case errors.As(err, &exit):
		switch exit.ExitCode() {
		case sys.ExitCodeDeadlineExceeded, sys.ExitCodeContextCanceled:
			return 0, fmt.Errorf("%s: %w", exportNames[export], context.Canceled)
		default:
			return 0, fmt.Errorf("%s: %w with code %d", exportNames[export], ErrExited, exit.ExitCode())
		}
	}
	return 0, fmt.Errorf("%s trapped: %w", exportNames[export], err)
}

// overStack reports whether the stack counter the engine instrumented the
// module with (see stacklimit) is past the limit: the trap was the limit's.
func (i *Instance) overStack() bool {
	limit := i.plugin.engine.cfg.StackLimit
	if limit == 0 || i.mod == nil {
		return false
	}
	g := i.mod.ExportedGlobal(stacklimit.CounterExport)
	return g != nil && uint32(g.Get()) > limit
}

// noteFailure counts a failed guest call and reports whether it was a stack
// overflow, whose native stack (up to ~100 MiB) should go back to the OS
// once the instance is closed.
func (e *Engine) noteFailure(err error) bool {
	switch {
	case errors.Is(err, ErrTimeout):
		e.timeouts.Add(1)
	case strings.Contains(err.Error(), "stack overflow"):
		e.stackOverflows.Add(1)
		return true
	}
	return false
}

// logLine hands one line of the guest's stdout or stderr to its Env, which
// bounds and rates it; without an event (start function, _initialize) the
// line is dropped.
func (i *Instance) logLine(b []byte) {
	env := i.env
	if env == nil {
		return
	}
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	if len(b) > 0 {
		env.Log(abi.LogInfo, b)
	}
}

// Close releases the instance. It is safe to call twice.
func (i *Instance) Close() {
	if i.mod == nil {
		return
	}
	i.closeModule()
	i.env = nil
	i.plugin.release(context.Background(), 1)
}

// closeModule closes the module and gives its linear memory back. Only the
// instance's owner calls it, never while a call into it runs, which is what
// makes unmapping the memory safe. After a stack overflow it also drops the
// functions (each holds the native stack it grew) and has the freed memory
// returned to the OS.
func (i *Instance) closeModule() {
	if i.mod != nil {
		i.mod.Close(context.Background())
	}
	if i.lin != nil {
		i.lin.release()
	}
	i.plugin.engine.instanceClosed()
	if i.deep {
		i.fns = [numExports]api.Function{}
		i.plugin.engine.returnMemory()
	}
}
