package cluster

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/torpor-dev/torpor/host"
	"github.com/torpor-dev/torpor/internal/hosttest"
	"github.com/torpor-dev/torpor/internal/testlog"
)

// Any NATS peer may send anything: a host answers garbage with an error
// and neither crashes nor runs admin calls members do not forward.
func TestGarbageFromPeersIsRefused(t *testing.T) {
	h := hosttest.New(t, host.Options{Name: "solo"})
	c, err := New(Options{DataDir: t.TempDir(), Self: Member{Name: "solo"}, Host: h, Logger: testlog.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	served := 0
	if err := c.ServeAdmin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served++
		w.WriteHeader(http.StatusOK)
	}), func(ctx context.Context) context.Context { return ctx }); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	calls := []struct {
		name string
		body string
		want int
	}{
		{"not JSON", `{`, http.StatusBadRequest},
		// Escaped into a valid request (the API then checks the name):
		// what matters is that it does not panic the host.
		{"a path with a space", `{"method":"GET","path":"/v1/objects/a b"}`, http.StatusOK},
		{"a method with a newline", `{"method":"GET\n","path":"/v1/objects"}`, http.StatusForbidden},
		{"an upload", `{"method":"POST","path":"/v1/plugins/x","body":"AA=="}`, http.StatusForbidden},
		{"a plugin removal", `{"method":"DELETE","path":"/v1/plugins/x"}`, http.StatusForbidden},
		{"pprof", `{"method":"GET","path":"/debug/pprof/heap"}`, http.StatusForbidden},
		{"an object list", `{"method":"GET","path":"/v1/objects","query":"limit=5"}`, http.StatusOK},
	}
	for _, tc := range calls {
		msg, err := c.nc.RequestWithContext(ctx, c.adminSubject(c.id), []byte(tc.body))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var ans Answer
		if err := json.Unmarshal(msg.Data, &ans); err != nil || ans.Status != tc.want {
			t.Errorf("%s: answer %+v (%v), want status %d", tc.name, ans, err, tc.want)
		}
	}
	if served != 2 {
		t.Errorf("the admin handler ran %d times, want twice (the two object calls)", served)
	}

	inst := c.opts.Self.Instance
	for _, b := range [][]byte{nil, {msgFrame}, {msgClose, 1, 2}, {msgBatch, 1, 0, 0, 0, 9}, {msgCredit, 0}, []byte("\x03\x01\xff\xff\xff\xff")} {
		c.nc.Publish(c.sessSubject(inst), b)
		c.nc.Publish(c.gwSubject(inst), b)
	}
	for _, body := range []string{`{`, `{"gateway":"0123456789abcdef","ref":1,"object":{"Plugin":"p","Name":"n"}}`, `{"gateway":"short","ref":1}`} {
		msg, err := c.nc.RequestWithContext(ctx, c.connectSubject(inst), []byte(body))
		if err != nil {
			t.Fatalf("connect %s: %v", body, err)
		}
		var ans connectAnswer
		if err := json.Unmarshal(msg.Data, &ans); err != nil || ans.Kind != "malformed" {
			t.Errorf("connect %s: answer %+v (%v), want malformed", body, ans, err)
		}
	}
	if n := c.relay.stats.Served.Load(); n != 0 {
		t.Errorf("%d sessions served after garbage, want 0", n)
	}
}
