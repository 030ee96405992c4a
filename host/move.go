package host

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/torpor-dev/torpor/store"
)

// Moving an object to another host (a cluster's drain): MoveOut hibernates
// it here, closes its sockets with 1012 and returns its export, and from
// then on it does not activate here; the other host's MoveIn writes the
// export into its store; FinishMoveOut forgets it here. AbortMoveOut undoes
// a MoveOut whose import failed.

// closeServiceRestart tells a client the object restarts elsewhere: it may
// reconnect at once.
const closeServiceRestart = 1012

// moves is the set of objects moving away from this host.
type moves struct {
	n  atomic.Int32 // len(m): the wake path reads only this while none moves
	mu sync.Mutex
	m  map[string]bool
}

func (mv *moves) add(key string) bool {
	mv.mu.Lock()
	defer mv.mu.Unlock()
	if mv.m == nil {
		mv.m = map[string]bool{}
	}
	if mv.m[key] {
		return false
	}
	mv.m[key] = true
	mv.n.Add(1)
	return true
}

func (mv *moves) remove(key string) {
	mv.mu.Lock()
	defer mv.mu.Unlock()
	if mv.m[key] {
		delete(mv.m, key)
		mv.n.Add(-1)
	}
}

func (mv *moves) has(key string) bool {
	if mv.n.Load() == 0 {
		return false
	}
	mv.mu.Lock()
	defer mv.mu.Unlock()
	return mv.m[key]
}

// errMoving refuses a wake of an object that is moving away.
func (o *object) errMoving() error {
	return fmt.Errorf("%s: %w: it is moving to another host", o.key, ErrHomeUnavailable)
}

// MoveOut hibernates id, closes its sockets with 1012 (service restart: the
// clients reconnect, and reach it on its new host), keeps it from waking
// here and returns everything this host's store keeps of it.
func (h *Host) MoveOut(ctx context.Context, id ObjectID) ([]byte, error) {
	if err := id.Validate(); err != nil {
		return nil, err
	}
	key := id.String()
	if !h.moves.add(key) {
		return nil, fmt.Errorf("move %s: already moving", key)
	}
	var export []byte
	err := h.onObject(ctx, id, func(o *object) error {
		o.hibernate(HibernateEvict)
		if o.inst != nil {
			return fmt.Errorf("move %s: could not hibernate (see the host log)", key)
		}
		// The record keeps the sockets closed here: the new host reports
		// each closed to the object when it first wakes, as after a
		// restart, so that its own view of who is connected stays right.
		o.closeAll(closeServiceRestart, "object moved to another host")
		o.connsDirty = false
		var err error
		export, err = h.store.ExportObject(key)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("move %s: %w", key, ErrNotFound)
		}
		return err
	})
	if err != nil {
		h.moves.remove(key)
		return nil, err
	}
	return export, nil
}

// AbortMoveOut lets id wake here again after a MoveOut whose import failed.
func (h *Host) AbortMoveOut(id ObjectID) { h.moves.remove(id.String()) }

// FinishMoveOut forgets id here once its new host has it: its record,
// storage and alarm go from this store and from memory.
func (h *Host) FinishMoveOut(ctx context.Context, id ObjectID) error {
	key := id.String()
	defer h.moves.remove(key)
	return h.onObject(ctx, id, func(o *object) error {
		if err := h.store.DeleteObject(key); err != nil {
			return err
		}
		o.forget()
		return nil
	})
}

// MoveIn writes an export made by another host's MoveOut into this store.
// An object live here is refused: its home is elsewhere, and it must not run
// here.
func (h *Host) MoveIn(ctx context.Context, id ObjectID, export []byte) error {
	if err := id.Validate(); err != nil {
		return err
	}
	key := id.String()
	err := h.onObject(ctx, id, func(o *object) error {
		if o.inst != nil || len(o.conns) > 0 {
			return fmt.Errorf("move %s in: it is live on this host", key)
		}
		if err := h.store.ImportObject(key, export); err != nil {
			return err
		}
		o.forget() // what memory kept of an older copy is stale now
		return nil
	})
	if err == nil {
		h.kickAlarms() // the import may bring one
	}
	return err
}

// onObject runs fn on id's loop, retrying an entry retired meanwhile.
func (h *Host) onObject(ctx context.Context, id ObjectID, fn func(*object) error) error {
	for {
		err := h.object(id).control(ctx, fn)
		if !errors.Is(err, errRetired) {
			return err
		}
	}
}

// forget drops what memory keeps of a hibernated object, so that its next
// wake reads the store.
func (o *object) forget() {
	o.loaded, o.kept, o.keptValid = false, nil, false
	o.orphans = nil
	clear(o.conns)
	o.order = nil
	o.publishConns()
	o.connsDirty = false
}
