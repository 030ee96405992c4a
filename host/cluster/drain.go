package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/torpor-dev/torpor/host"
)

// Member states besides StateServing.
const (
	// StateDraining is a member moving its objects to the others: it takes
	// no new clients and no new homes.
	StateDraining = "draining"
	// StateDrained is a member that has moved every object away.
	StateDrained = "drained"
)

// ErrAlreadyDraining is returned by Drain on a host that drains already.
var ErrAlreadyDraining = errors.New("this host is draining already")

// moveTimeout bounds one object's move: its export, its import on the new
// home and the homes record.
const moveTimeout = time.Minute

func (c *Cluster) moveSubject(instance string) string { return c.subject + "move." + instance }
func (c *Cluster) movedSubject() string               { return c.subject + "homes.moved" }
func (c *Cluster) movesBucket() string                { return "torpor-" + c.opts.Name + "-moves" }

// moveCall asks a member to take an object whose export waits in the moves
// bucket under Transfer.
type moveCall struct {
	Object   host.ObjectID `json:"object"`
	Transfer string        `json:"transfer"`
}

type moveAnswer struct {
	Error string `json:"error,omitempty"`
}

// startMoves subscribes to moves into this host and to homes that moved.
func (c *Cluster) startMoves() error {
	for subj, fn := range map[string]nats.MsgHandler{
		c.moveSubject(c.opts.Self.Instance): c.onMove,
		c.movedSubject():                    c.onMoved,
	} {
		if _, err := c.nc.Subscribe(subj, fn); err != nil {
			return fmt.Errorf("cluster: subscribe to %s: %w", subj, err)
		}
	}
	return nil
}

// movedNote tells every member that an object has a new home.
type movedNote struct {
	Object host.ObjectID `json:"object"`
	Home   string        `json:"home"`
}

// onMoved updates a cached home that moved; the new home lets the object
// wake from now on.
func (c *Cluster) onMoved(msg *nats.Msg) {
	var n movedNote
	if json.Unmarshal(msg.Data, &n) != nil || n.Home == "" {
		return
	}
	c.homes.mu.Lock()
	c.homes.cache[n.Object] = n.Home
	c.homes.mu.Unlock()
	if n.Home == c.id {
		c.opts.Host.ConfirmMoveIn(n.Object)
	}
}

// onMove takes an object another member moves here.
func (c *Cluster) onMove(msg *nats.Msg) {
	var call moveCall
	if err := json.Unmarshal(msg.Data, &call); err != nil || call.Object.Validate() != nil || call.Transfer == "" {
		b, _ := json.Marshal(moveAnswer{Error: "malformed move request"})
		msg.Respond(b)
		return
	}
	c.goSafe(func() {
		ans := moveAnswer{}
		if err := c.moveIn(call); err != nil {
			ans.Error = err.Error()
			c.log.Error("could not take an object moved here", "object", call.Object.String(), "err", err)
		} else {
			c.log.Info("object moved here", "object", call.Object.String())
		}
		b, _ := json.Marshal(ans)
		msg.Respond(b)
	})
}

func (c *Cluster) moveIn(call moveCall) error {
	ctx, cancel := context.WithTimeout(c.ctx, moveTimeout)
	defer cancel()
	moves, err := c.movesStore(ctx)
	if err != nil {
		return err
	}
	var export []byte
	// A replica may not have caught up with the put yet: that is a
	// missing object, worth asking again like a leader that is away.
	err = c.retryJS(ctx, c.opts.CallTimeout, transientJS(jetstream.ErrObjectNotFound), func(ctx context.Context) (err error) {
		export, err = moves.GetBytes(ctx, call.Transfer)
		return err
	})
	if err != nil {
		return fmt.Errorf("fetch the export: %w", err)
	}
	return c.opts.Host.MoveIn(ctx, call.Object, export)
}

func (c *Cluster) movesStore(ctx context.Context) (store jetstream.ObjectStore, err error) {
	err = c.retryJS(ctx, c.opts.CallTimeout, transientJS(), func(ctx context.Context) (err error) {
		store, err = c.openMovesStore(ctx)
		return err
	})
	return store, err
}

func (c *Cluster) openMovesStore(ctx context.Context) (jetstream.ObjectStore, error) {
	return c.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      c.movesBucket(),
		Description: "torpor: objects on their way from one host to another",
		Replicas:    c.replicas(),
		TTL:         time.Hour, // a transfer a crash left behind goes by itself
	})
}

// Drain starts moving every object of this host to the other serving
// members, each with its record, storage and snapshot; the member's state
// is draining meanwhile and drained after. This host takes no new clients
// from the start: their connects answer 503 with Retry-After, and its
// sockets close with 1012 (service restart) so that their clients reconnect
// through other hosts.
func (c *Cluster) Drain() error {
	if c.standalone() {
		return errors.New("a host with no routes has no other host to move its objects to")
	}
	if !slices.ContainsFunc(c.Members()[1:], func(m Member) bool { return m.State == StateServing }) {
		return errors.New("no other serving host to move the objects to")
	}
	if !c.members.setState(StateServing, StateDraining) {
		return ErrAlreadyDraining
	}
	if !c.goSafe(c.drain) {
		c.members.setState(StateDraining, StateServing)
		return host.ErrClosed
	}
	c.members.beat()
	c.log.Info("draining: moving every object to other hosts")
	return nil
}

func (c *Cluster) drain() {
	// The sockets this gateway relays to other homes go first: their
	// objects are not moving, and their clients reconnect elsewhere.
	c.relay.closeGateway(closeServiceRestart, "host drained; reconnect")
	moved, failed := 0, 0
	f := host.ObjectFilter{Limit: 100}
	for c.ctx.Err() == nil {
		infos, err := c.opts.Host.Objects(f)
		if err != nil {
			c.log.Error("draining: could not list objects; serving again", "err", err)
			c.members.setState(StateDraining, StateServing)
			c.members.beat()
			return
		}
		for _, info := range infos {
			if err := c.moveOut(info.ID); err != nil {
				failed++
				c.log.Error("draining: could not move an object; it stays here", "object", info.ID.String(), "err", err)
				continue
			}
			moved++
		}
		if len(infos) < f.Limit {
			break
		}
		f.After = infos[len(infos)-1].ID.String()
	}
	if c.ctx.Err() != nil {
		return
	}
	if failed == 0 {
		c.members.setState(StateDraining, StateDrained)
		c.log.Info("drain done", "moved", moved)
	} else {
		// What could not move is still served here: take clients again,
		// and let the operator drain once more.
		c.members.setState(StateDraining, StateServing)
		c.log.Warn("drain ended with objects left here; serving again", "moved", moved, "failed", failed)
	}
	c.members.beat()
}

// moveOut moves one object to its new home.
func (c *Cluster) moveOut(id host.ObjectID) error {
	target := rendezvous(id, c.Members()[1:]) // the others: this host is first
	m, ok := c.Member(target)
	if target == "" || !ok {
		return errors.New("no other serving host to move it to")
	}
	ctx, cancel := context.WithTimeout(c.ctx, moveTimeout)
	defer cancel()
	select {
	case <-c.homes.ready:
	case <-ctx.Done():
		return errors.New("the homes bucket is not available")
	}
	// Only what this host is home to moves: a copy of an object homed
	// elsewhere (a move a crash cut short) must not overwrite the real one.
	key := homeKey(id)
	entry, err := c.homes.kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		// Never recorded (a host alone before it joined): it is ours.
	case err != nil:
		return fmt.Errorf("look up its home: %w", err)
	case string(entry.Value()) != c.id:
		c.log.Warn("draining: skipped a copy of an object homed on another host", "object", id.String(), "home", string(entry.Value()))
		return nil
	}
	h := c.opts.Host
	// Sockets relayed from other hosts follow the object: first no frame
	// of theirs goes to it from here, so that what was handed is known.
	c.relay.pauseObject(ctx, id)
	export, err := h.MoveOut(ctx, id)
	if err != nil {
		// Still here: the paused sockets close, and their clients
		// reconnect.
		c.relay.endObject(id, closeServiceRestart, "object could not move; reconnect")
	}
	if errors.Is(err, host.ErrNotFound) {
		return nil // gone meanwhile
	}
	if err != nil {
		return err
	}
	abort := func(err error) error {
		actx, cancel := context.WithTimeout(c.ctx, moveTimeout)
		defer cancel()
		if aerr := h.AbortMoveOut(actx, id); aerr != nil {
			c.log.Error("draining: could not undo a move", "object", id.String(), "err", aerr)
		}
		return err
	}
	moves, err := c.movesStore(ctx)
	if err != nil {
		return abort(fmt.Errorf("moves bucket: %w", err))
	}
	transfer := homeKey(id) + "." + randomID()
	if err := c.retryJS(ctx, c.opts.CallTimeout, transientJS(), func(ctx context.Context) error {
		_, err := moves.PutBytes(ctx, transfer, export)
		return err
	}); err != nil {
		return abort(fmt.Errorf("store the export: %w", err))
	}
	defer moves.Delete(context.WithoutCancel(ctx), transfer)
	b, _ := json.Marshal(moveCall{Object: id, Transfer: transfer})
	reply, err := c.nc.RequestWithContext(ctx, c.moveSubject(m.Instance), b)
	if err != nil {
		return abort(fmt.Errorf("ask %s to take it: %w", m.Name, err))
	}
	var ans moveAnswer
	if err := json.Unmarshal(reply.Data, &ans); err != nil || ans.Error != "" {
		return abort(fmt.Errorf("%s did not take it: %s", m.Name, ans.Error))
	}
	// From here the new home has it: the record points there, every
	// member forgets where it was, and this host lets it go.
	var recorded error
	if entry == nil {
		_, recorded = c.homes.kv.Create(ctx, key, []byte(target))
	} else {
		// Only over the revision read above: a record that changed
		// meanwhile is not ours to move.
		_, recorded = c.homes.kv.Update(ctx, key, []byte(target), entry.Revision())
	}
	if recorded != nil {
		// The record still says here: serve it from here again. The new
		// home's copy stays marked as moving in, so it never wakes there.
		return abort(fmt.Errorf("record the new home: %w", recorded))
	}
	note, _ := json.Marshal(movedNote{Object: id, Home: target})
	c.nc.Publish(c.movedSubject(), note)
	c.onMoved(&nats.Msg{Data: note})
	fctx, cancel := context.WithTimeout(c.ctx, moveTimeout)
	defer cancel()
	if err := h.FinishMoveOut(fctx, id); err != nil {
		c.log.Warn("draining: moved, but could not delete the copy here (it never wakes here)", "object", id.String(), "err", err)
	}
	c.log.Info("object moved", "object", id.String(), "to", m.Name)
	return nil
}

// closeGateway closes every socket this host relays to another home.
func (r *relay) closeGateway(code int, reason string) {
	r.mu.Lock()
	var all []*remoteSession
	for _, s := range r.remote {
		all = append(all, s)
	}
	r.mu.Unlock()
	for _, s := range all {
		if s.end() {
			s.sendClose(code, reason)
			s.conn.Close(code, reason)
		}
	}
}
