package host_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/torpor-dev/torpor/host"
)

// The host lists its objects with their state, filters by plugin and state,
// pages through them, and evicts one on request.
func TestObjectListingAndEvict(t *testing.T) {
	h := newHost(t, host.Options{Limits: host.Limits{EventCPU: 50 * time.Millisecond}})
	deploy(t, h, "counter", watCounter)
	deploy(t, h, "loop", testdata("loop.wat"))
	clients := map[string]*client{}
	for i := range 5 {
		name := fmt.Sprintf("counter/c%d", i)
		clients[name] = connect(t, h, name, "")
		clients[name].ask(t, "inc")
	}
	looper := connect(t, h, "loop/l", "")
	for range 3 {
		looper.send(t, "spin")
	}
	<-looper.Done
	for _, name := range []string{"c1", "c3"} {
		if err := h.Evict(context.Background(), host.ObjectID{Plugin: "counter", Name: name}, host.EvictOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(infos []host.ObjectInfo) string {
		var s []string
		for _, i := range infos {
			s = append(s, i.ID.String()+":"+string(i.State))
		}
		return strings.Join(s, " ")
	}
	tests := []struct {
		name   string
		filter host.ObjectFilter
		want   string
	}{
		{"all", host.ObjectFilter{}, "counter/c0:live counter/c1:hibernated counter/c2:live counter/c3:hibernated counter/c4:live loop/l:failed"},
		{"one plugin", host.ObjectFilter{Plugin: "loop"}, "loop/l:failed"},
		{"hibernated", host.ObjectFilter{State: host.StateHibernated}, "counter/c1:hibernated counter/c3:hibernated"},
		{"live", host.ObjectFilter{Plugin: "counter", State: host.StateLive}, "counter/c0:live counter/c2:live counter/c4:live"},
		{"first page", host.ObjectFilter{Limit: 2}, "counter/c0:live counter/c1:hibernated"},
		{"next page", host.ObjectFilter{After: "counter/c1", Limit: 2}, "counter/c2:live counter/c3:hibernated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			infos, err := h.Objects(tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(infos); got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
	// Evict with close closes the sockets with the given code; the object
	// state stays in the store.
	c4 := clients["counter/c4"]
	err := h.Evict(context.Background(), host.ObjectID{Plugin: "counter", Name: "c4"}, host.EvictOptions{Close: true, Code: 4000, Reason: "maintenance"})
	if err != nil {
		t.Fatal(err)
	}
	if closed, code := c4.isClosed(); !closed || code != 4000 {
		t.Fatalf("evict --close: closed=%v code=%d", closed, code)
	}
	if got := connect(t, h, "counter/c4", "").ask(t, "get"); got != "1" {
		t.Fatalf("count after evict = %s, want 1", got)
	}
	if err := h.Evict(context.Background(), host.ObjectID{Plugin: "counter", Name: "nope"}, host.EvictOptions{}); !errors.Is(err, host.ErrNotFound) {
		t.Fatalf("evict unknown object: %v", err)
	}
}

// A new version serves new activations at once; a live object keeps its
// version until it hibernates, then wakes on the new one with its storage
// and sockets intact.
func TestRedeployMovesObjectsAtHibernation(t *testing.T) {
	h := newHost(t, host.Options{})
	v1, err := h.Deploy(context.Background(), "counter", goCounter(t))
	if err != nil {
		t.Fatal(err)
	}
	old := connect(t, h, "counter/old", "")
	old.ask(t, "inc")
	v2, err := h.Deploy(context.Background(), "counter", watCounter(t))
	if err != nil {
		t.Fatal(err)
	}
	if v1.SHA256 == v2.SHA256 || !v2.Active {
		t.Fatalf("versions %+v then %+v", v1, v2)
	}
	fresh := connect(t, h, "counter/new", "")
	fresh.ask(t, "inc")
	if got := inspect(t, h, "counter/new").Version; got != v2.SHA256 {
		t.Fatalf("new activation runs %s, want %s", got, v2.SHA256)
	}
	if got := inspect(t, h, "counter/old").Version; got != v1.SHA256 {
		t.Fatalf("live object moved before hibernating: runs %s", got)
	}
	if err := h.Evict(context.Background(), host.ObjectID{Plugin: "counter", Name: "old"}, host.EvictOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := old.ask(t, "inc"); got != "2" {
		t.Fatalf("count on the new version = %s, want 2", got)
	}
	if got := inspect(t, h, "counter/old").Version; got != v2.SHA256 {
		t.Fatalf("after hibernation runs %s, want %s", got, v2.SHA256)
	}
	if closed, _ := old.isClosed(); closed {
		t.Fatal("a deploy closed a socket")
	}
	vs, err := h.PluginVersions("counter")
	if err != nil || len(vs) != 2 {
		t.Fatalf("versions = %+v, %v", vs, err)
	}
}

func TestNameValidation(t *testing.T) {
	tests := []struct {
		name, id string
		want     string // "" = valid
	}{
		{"simple", "chat/lobby", ""},
		{"all allowed characters", "my-plugin_2/Room.1~x-y_z", ""},
		{"no slash", "chat", "not of the form plugin/name"},
		{"empty plugin", "/lobby", "plugin name is empty"},
		{"empty object", "chat/", "object name is empty"},
		{"upper-case plugin", "Chat/lobby", `has 'C' at byte 0`},
		{"host route", "_health/x", "must start with a letter or digit"},
		{"long plugin", strings.Repeat("p", 65) + "/x", "plugin name is 65 bytes, the limit is 64"},
		{"long object", "chat/" + strings.Repeat("o", 257), "object name is 257 bytes, the limit is 256"},
		{"dot dot", "chat/..", "is reserved"},
		{"space", "chat/a b", `has ' ' at byte 1`},
		{"nested path", "chat/a/b", `has '/' at byte 1`},
		{"unicode", "chat/café", "at byte 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := host.ParseObjectID(tt.id)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("%q: %v", tt.id, err)
				}
				return
			}
			if !errors.Is(err, host.ErrInvalidName) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("%q: err = %v, want it to say %q", tt.id, err, tt.want)
			}
		})
	}
}
