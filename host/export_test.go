package host

import (
	"context"
	"time"

	"github.com/torpor-dev/torpor/abi"
	"github.com/torpor-dev/torpor/host/internal/engine"
)

// Baselines for the benchmarks, measured in the same run as the host paths
// they are compared with.

// DirectMessages returns a function that runs the plugin's message handler
// on a live object of its own, on the caller's goroutine: the real event
// bookkeeping and output gate, without the mailbox, the goroutine hop or the
// gateway-facing API. Host throughput divided by this is the cost of
// delivery.
func DirectMessages(h *Host, plugin, name string, c Conn) (func(data []byte) bool, error) {
	id := ObjectID{Plugin: plugin, Name: name}
	o := newObject(h, id, id.String())
	if err := o.ensureLive(); err != nil {
		return nil, err
	}
	const connID = 1
	o.conns[connID] = &conn{id: connID, c: c}
	return func(data []byte) bool {
		ok, _, _ := o.invoke(engine.ExportMessage, data, connID, uint64(abi.Text), uint64(len(data)))
		return ok
	}, nil
}

// ColdStart measures what a wake would cost without pre-initialised
// instances: instantiate the plugin, run _initialize, then close it.
func ColdStart(h *Host, plugin string) (time.Duration, error) {
	d := h.activePlugin(plugin)
	wasm, err := h.store.PluginWasm(plugin, d.version.SHA256)
	if err != nil {
		return 0, err
	}
	p, err := h.engine.Compile(context.Background(), wasm, engine.PluginConfig{})
	if err != nil {
		return 0, err
	}
	defer p.Retire(context.Background())
	first, err := p.Acquire(context.Background()) // the instance validation left behind
	if err != nil {
		return 0, err
	}
	first.Close()
	start := time.Now()
	inst, err := p.Acquire(context.Background())
	if err != nil {
		return 0, err
	}
	elapsed := time.Since(start)
	inst.Close()
	return elapsed, nil
}
