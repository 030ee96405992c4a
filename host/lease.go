package host

import (
	"context"
	"errors"
	"time"
)

// Leases hand out the right to run an object, one host at a time. With
// Options.Leases set, an object takes a lease before it activates and gives
// it back when its instance goes; every commit (an event's writes, a
// hibernation's snapshot) happens only while the lease is still held, so a
// host that lost its lease can never commit, even if it has not noticed
// yet. A cluster's leases live in NATS; a host alone needs none.
type Leases interface {
	// Acquire blocks until the lease is this host's or ctx ends.
	Acquire(ctx context.Context, id ObjectID) (Lease, error)
}

// Lease is one activation's hold on an object.
type Lease interface {
	// Token is the fencing token: it grows with every activation of the
	// object, cluster-wide.
	Token() uint64
	// Held reports whether the lease is certainly still this host's:
	// false once it could have lapsed.
	Held() bool
	// Release gives the lease back. It does not block.
	Release()
}

// ErrLeaseLost fails a commit made after the object's lease could have
// lapsed: another host may run the object now.
var ErrLeaseLost = errors.New("the object's lease was lost")

// leaseWait bounds how long a wake waits for its lease.
const leaseWait = 5 * time.Second

// UseLeases makes the host take a lease before every activation from now
// on (see Options.Leases); nil stops it.
func (h *Host) UseLeases(l Leases) {
	if l == nil {
		h.leases.Store(nil)
		return
	}
	h.leases.Store(&l)
}

// takeLease acquires the object's lease for the wake under way, if the host
// uses leases.
func (o *object) takeLease() error {
	lp := o.h.leases.Load()
	if lp == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), leaseWait)
	defer cancel()
	l, err := (*lp).Acquire(ctx, o.id)
	if err != nil {
		return err
	}
	if o.ev == nil {
		o.ev = &event{o: o}
	}
	o.ev.lease = l
	o.h.log.Debug("object activated", "object", o.key, "lease", l.Token())
	return nil
}

// releaseLease gives back the lease of the instance going away.
func (o *object) releaseLease() {
	if o.ev == nil || o.ev.lease == nil {
		return
	}
	o.h.log.Debug("object deactivated", "object", o.key, "lease", o.ev.lease.Token())
	o.ev.lease.Release()
	o.ev.lease = nil
}

// leaseHeld reports whether commits may happen: true without leases.
func (o *object) leaseHeld() bool {
	return o.ev == nil || o.ev.lease == nil || o.ev.lease.Held()
}
