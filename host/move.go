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
// export into its store, where it does not activate either until
// ConfirmMoveIn says the move is recorded; FinishMoveOut forgets it here and
// keeps it from ever activating here again, unless it moves back in.
// AbortMoveOut undoes a MoveOut whose import failed.

// closeServiceRestart tells a client the object restarts elsewhere: it may
// reconnect at once.
const closeServiceRestart = 1012

// moves is the set of objects moving away from this host or into it.
type moves struct {
	n  atomic.Int32 // len(m): the wake path reads only this while none moves
	mu sync.Mutex
	m  map[string]moveWay
}

type moveWay uint8

const (
	movingOut moveWay = 1 + iota // or moved away for good
	movingIn
)

// add marks key moving way; false if it was marked already (the mark is
// then way).
func (mv *moves) add(key string, way moveWay) bool {
	mv.mu.Lock()
	defer mv.mu.Unlock()
	if mv.m == nil {
		mv.m = map[string]moveWay{}
	}
	_, had := mv.m[key]
	mv.m[key] = way
	if !had {
		mv.n.Add(1)
	}
	return !had
}

func (mv *moves) way(key string) moveWay {
	if mv.n.Load() == 0 {
		return 0
	}
	mv.mu.Lock()
	defer mv.mu.Unlock()
	return mv.m[key]
}

func (mv *moves) remove(key string) {
	mv.mu.Lock()
	defer mv.mu.Unlock()
	if _, ok := mv.m[key]; ok {
		delete(mv.m, key)
		mv.n.Add(-1)
	}
}

func (mv *moves) has(key string) bool { return mv.way(key) != 0 }

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
	if h.moves.way(key) != 0 {
		return nil, fmt.Errorf("move %s: already moving, or moved away", key)
	}
	h.moves.add(key, movingOut)
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
// The sockets MoveOut closed are still in its record: the object hears of
// each at its next wake.
func (h *Host) AbortMoveOut(ctx context.Context, id ObjectID) error {
	defer h.moves.remove(id.String())
	return h.onObject(ctx, id, func(o *object) error {
		o.forget()
		return nil
	})
}

// FinishMoveOut forgets id here once its new host has it: its record,
// storage and alarm go from this store and from memory, and it stays
// marked as moved away, so that nothing wakes it here (a client whose
// gateway still thinks it lives here gets ErrHomeUnavailable) until a
// MoveIn brings it back.
func (h *Host) FinishMoveOut(ctx context.Context, id ObjectID) error {
	key := id.String()
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
	// Not to wake here before the move is recorded (ConfirmMoveIn): its
	// alarm, say, would run it while the other host may still take it back.
	h.moves.add(key, movingIn)
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
	return err
}

// ConfirmMoveIn lets an object MoveIn brought wake here: the move is
// recorded, this host is its home. It does nothing for an object not moving
// in.
func (h *Host) ConfirmMoveIn(id ObjectID) {
	key := id.String()
	if h.moves.way(key) != movingIn {
		return
	}
	h.moves.remove(key)
	h.kickAlarms() // the import may have brought one
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
