package host

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

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
	// adoptable are, by object, the connections a move brought that their
	// gateways may still adopt: a wake does not report them closed until
	// adoptWindow has passed.
	adoptable map[string]map[uint64]bool
	adoptN    atomic.Int32 // len(adoptable), for the wake path
}

// adoptWindow is how long the sockets of a moved object have to follow it
// before the object hears they are gone.
const adoptWindow = 10 * time.Second

func (mv *moves) setAdoptable(key string, ids []uint64) {
	mv.mu.Lock()
	defer mv.mu.Unlock()
	if mv.adoptable == nil {
		mv.adoptable = map[string]map[uint64]bool{}
	}
	set := map[uint64]bool{}
	for _, id := range ids {
		set[id] = true
	}
	if _, had := mv.adoptable[key]; !had {
		mv.adoptN.Add(1)
	}
	mv.adoptable[key] = set
}

// isAdoptable reports whether connection id of key may still be adopted.
func (mv *moves) isAdoptable(key string, id uint64) bool {
	mv.mu.Lock()
	defer mv.mu.Unlock()
	return mv.adoptable[key][id]
}

// adopted takes connection id of key out of the adoptable set.
func (mv *moves) adopted(key string, id uint64) {
	mv.mu.Lock()
	defer mv.mu.Unlock()
	delete(mv.adoptable[key], id)
}

// endAdoption forgets key's adoptable set.
func (mv *moves) endAdoption(key string) {
	mv.mu.Lock()
	defer mv.mu.Unlock()
	if _, had := mv.adoptable[key]; had {
		delete(mv.adoptable, key)
		mv.adoptN.Add(-1)
	}
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
		// The record keeps every socket. Those that can follow the object
		// (relayed from another host: Mover) are adopted on the new host;
		// the rest close here, and the new host reports each closed to
		// the object when it first wakes, as after a restart, so that its
		// own view of who is connected stays right.
		for _, cid := range o.sortedConnIDs() {
			c := o.conns[cid]
			if m, ok := c.c.(Mover); ok {
				m.Moved()
			} else {
				c.c.Close(closeServiceRestart, "object moved to another host")
			}
			o.removeConn(cid)
		}
		o.publishConns()
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
		if rec, err := h.store.Object(key); err == nil && len(rec.Conns) > 0 {
			ids := make([]uint64, len(rec.Conns))
			for i, c := range rec.Conns {
				ids[i] = c.ID
			}
			h.moves.setAdoptable(key, ids)
			h.reportUnadopted(id)
		}
		return nil
	})
	return err
}

// reportUnadopted tells the object, once adoptWindow has passed, that the
// sockets of its move that no gateway adopted are gone.
func (h *Host) reportUnadopted(id ObjectID) {
	h.goFunc(func() {
		select {
		case <-h.closing:
			return
		case <-time.After(adoptWindow):
		}
		key := id.String()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		h.onObject(ctx, id, func(o *object) error {
			h.moves.endAdoption(key)
			if len(o.orphans) == 0 || !o.loaded {
				return nil // none left, or the next wake reports them
			}
			return o.ensureLive() // reports the orphans left
		})
	})
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

// Mover is a Conn that can follow its object to another host: a socket
// relayed from a third host, which only needs to be pointed at the new home.
// MoveOut calls Moved instead of Close; the new host then Adopts it.
type Mover interface {
	Conn
	Moved()
}

// Adopt attaches c as connection connID of id, a connection the object's
// record lists (one that followed it here from another host): the object
// does not hear a connect, and does not hear it closed at its next wake.
// It fails for a connection the record does not list (the object heard it
// closed already).
func (h *Host) Adopt(ctx context.Context, id ObjectID, connID uint64, c Conn) (*Session, error) {
	if err := id.Validate(); err != nil {
		return nil, err
	}
	var o *object
	err := h.onObject(ctx, id, func(ob *object) error {
		o = ob
		if err := ob.load(); err != nil {
			return err
		}
		i := slices.IndexFunc(ob.orphans, func(r store.ConnRecord) bool { return r.ID == connID })
		if i < 0 {
			return fmt.Errorf("adopt connection %d of %s: %w", connID, ob.key, ErrConnClosed)
		}
		r := ob.orphans[i]
		ob.orphans = slices.Delete(ob.orphans, i, i+1)
		h.moves.adopted(ob.key, connID)
		ob.addConn(&conn{id: r.ID, c: c, attachment: r.Attachment, tags: r.Tags})
		ob.publishConns()
		ob.offerAutoResponses(c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Session{h: h, o: o, id: connID, c: c}, nil
}

// load reads the object's record into memory once, without waking it: its
// connection table (the sockets of an earlier process or host, to report
// closed or to adopt) and auto-responses.
func (o *object) load() error {
	if o.loaded {
		return nil
	}
	rec, err := o.h.store.Object(o.key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		rec = store.ObjectRecord{}
	case err != nil:
		return fmt.Errorf("load %s: %w", o.key, err)
	}
	o.loaded = true
	if o.conns == nil {
		o.conns = map[uint64]*conn{}
	}
	o.orphans = rec.Conns
	o.setAutoResponses(rec.AutoResponses)
	return nil
}
