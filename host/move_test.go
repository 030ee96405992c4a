package host_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/torpor-dev/torpor/host"
)

// An object moved from one host to another keeps its storage and snapshot;
// its socket on the old host closes with 1012, and while it moves it does
// not wake on the old host.
func TestMoveKeepsStateAndClosesWith1012(t *testing.T) {
	for _, cn := range counters {
		t.Run(cn.name, func(t *testing.T) {
			from, to := newHost(t, host.Options{}), newHost(t, host.Options{})
			deploy(t, from, "counter", cn.build)
			deploy(t, to, "counter", cn.build)
			c := connect(t, from, "counter/moving", "")
			for _, want := range []string{"1", "2"} {
				if got := c.ask(t, "inc"); got != want {
					t.Fatalf("inc = %q, want %s", got, want)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			id := host.ObjectID{Plugin: "counter", Name: "moving"}
			export, err := from.MoveOut(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			hostClosed(t, c, 1012)
			if _, err := tryConnect(from, "counter/moving", ""); !errors.Is(err, host.ErrHomeUnavailable) {
				t.Errorf("connect on the old host while moving: %v, want ErrHomeUnavailable", err)
			}
			if err := to.MoveIn(ctx, id, export); err != nil {
				t.Fatal(err)
			}
			if _, err := tryConnect(to, "counter/moving", ""); !errors.Is(err, host.ErrHomeUnavailable) {
				t.Errorf("connect on the new host before the move is confirmed: %v, want ErrHomeUnavailable", err)
			}
			if err := from.FinishMoveOut(ctx, id); err != nil {
				t.Fatal(err)
			}
			to.ConfirmMoveIn(id)
			if _, err := from.Object(ctx, id); !errors.Is(err, host.ErrNotFound) {
				t.Errorf("the old host still lists it: %v", err)
			}
			if _, err := tryConnect(from, "counter/moving", ""); !errors.Is(err, host.ErrHomeUnavailable) {
				t.Errorf("connect on the old host after the move: %v, want ErrHomeUnavailable (it moved away)", err)
			}
			d := connect(t, to, "counter/moving", "")
			if got := d.ask(t, "get"); got != "2" {
				t.Errorf("storage on the new host: get = %q, want 2", got)
			}
			if got := d.ask(t, "hits"); got != "2" {
				t.Errorf("snapshot on the new host: hits = %q, want 2", got)
			}
		})
	}
}

// A move into a host where the object is live is refused.
func TestMoveInRefusesALiveObject(t *testing.T) {
	from, to := newHost(t, host.Options{}), newHost(t, host.Options{})
	deploy(t, from, "counter", watCounter)
	deploy(t, to, "counter", watCounter)
	connect(t, from, "counter/x", "").ask(t, "inc")
	connect(t, to, "counter/x", "").ask(t, "inc")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id := host.ObjectID{Plugin: "counter", Name: "x"}
	export, err := from.MoveOut(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := to.MoveIn(ctx, id, export); err == nil {
		t.Fatal("moved into a host where it is live")
	}
	if err := from.AbortMoveOut(ctx, id); err != nil {
		t.Fatal(err)
	}
	if got := connect(t, from, "counter/x", "").ask(t, "get"); got != "1" {
		t.Errorf("after an aborted move: get = %q, want 1", got)
	}
}

// hostClosed waits for c to be closed by the host with code.
func hostClosed(t *testing.T, c *client, code int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if closed, got := c.isClosed(); closed {
			if got != code {
				t.Errorf("closed with %d, want %d", got, code)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("not closed within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
