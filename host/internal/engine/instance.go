package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"
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
}

// Bind sets the Env the host functions act on; nil unbinds.
func (i *Instance) Bind(env Env) { i.env = env }

// Has reports whether the instance's plugin exports the handler.
func (i *Instance) Has(export int) bool { return i.plugin.has[export] }

// MemoryPages is the guest's current linear memory size in 64 KiB pages.
func (i *Instance) MemoryPages() uint32 { return i.mem.Size() / 65536 }

// Errors of Call that callers branch on. Any other error is a trap.
var (
	ErrTimeout = errors.New("handler exceeded its CPU time limit")
	ErrExited  = errors.New("guest exited")
)

// Call runs a handler with the given arguments and a time limit (0: none)
// and returns its i32 result. On any error the instance is unusable and must
// be closed: its memory may hold half an event.
func (i *Instance) Call(export int, limit time.Duration, args ...uint64) (uint32, error) {
	if i.fns[export] == nil {
		return 0, fmt.Errorf("export %s is absent", exportNames[export])
	}
	copy(i.stack, args)
	return i.call(context.Background(), export, limit)
}

func (i *Instance) call(parent context.Context, export int, limit time.Duration) (uint32, error) {
	ctx := i.ctx
	if parent != context.Background() {
		// Only Compile passes a caller context; keep the instance value.
		ctx = valueOnly{parent, i.ctx}
	}
	var cancel context.CancelFunc
	if limit > 0 {
		ctx, cancel = context.WithTimeout(ctx, limit)
	}
	err := i.fns[export].CallWithStack(ctx, i.stack)
	if cancel != nil {
		cancel()
	}
	if err != nil {
		var exit *sys.ExitError
		if errors.As(err, &exit) {
			switch exit.ExitCode() {
			case sys.ExitCodeDeadlineExceeded:
				return 0, fmt.Errorf("%s: %w (%v)", exportNames[export], ErrTimeout, limit)
			case sys.ExitCodeContextCanceled:
				return 0, fmt.Errorf("%s: %w", exportNames[export], context.Canceled)
			default:
				return 0, fmt.Errorf("%s: %w with code %d", exportNames[export], ErrExited, exit.ExitCode())
			}
		}
		return 0, fmt.Errorf("%s trapped: %w", exportNames[export], err)
	}
	return uint32(i.stack[0]), nil
}

// valueOnly takes cancellation from one context and values from another.
type valueOnly struct {
	context.Context
	values context.Context
}

func (v valueOnly) Value(key any) any { return v.values.Value(key) }

// Close releases the instance. It is safe to call twice.
func (i *Instance) Close() {
	if i.mod == nil {
		return
	}
	i.mod.Close(context.Background())
	i.mod = nil
	i.env = nil
	i.plugin.release(context.Background(), 1)
}
