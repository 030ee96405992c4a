package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
)

// Call is an admin request forwarded to another member. The member runs it
// on its own admin API as if it came with a valid token (the NATS network
// is the cluster's own) and answers for itself only: it does not forward
// the call again.
type Call struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	Query  string `json:"query,omitempty"`
	Body   []byte `json:"body,omitempty"`
}

// Answer is a member's response to a Call.
type Answer struct {
	Status int    `json:"status"`
	Body   []byte `json:"body,omitempty"`
}

// maxCallsServed bounds the forwarded calls a host runs at once; more wait
// in NATS's per-subscription buffer.
const maxCallsServed = 16

// adminServer answers forwarded calls with the host's admin handler.
type adminServer struct {
	mu    sync.Mutex
	sub   *nats.Subscription
	slots chan struct{}
}

func (c *Cluster) adminSubject(id string) string { return c.subject + "admin." + id }

// ServeAdmin answers the calls other members forward to this host with h,
// marking each request's context with mark so that h knows it is trusted
// and local-only. Call it once.
func (c *Cluster) ServeAdmin(h http.Handler, mark func(context.Context) context.Context) error {
	s := &c.admin
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sub != nil {
		return errors.New("cluster: ServeAdmin called twice")
	}
	s.slots = make(chan struct{}, maxCallsServed)
	sub, err := c.nc.Subscribe(c.adminSubject(c.id), func(msg *nats.Msg) {
		select {
		case s.slots <- struct{}{}:
		case <-c.ctx.Done():
			return
		}
		if !c.goSafe(func() {
			defer func() { <-s.slots }()
			c.serveCall(h, mark, msg)
		}) {
			<-s.slots
		}
	})
	if err != nil {
		return fmt.Errorf("cluster: subscribe to admin calls: %w", err)
	}
	s.sub = sub
	return nil
}

func (s *adminServer) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sub != nil {
		s.sub.Unsubscribe()
	}
}

// forwardable reports whether a call is one a member forwards: the object
// reads and evicts that span the cluster, and a drain of this host. Nothing
// else is served to NATS peers, which hold no admin token: the cluster's
// NATS network must be its own (see Options.Token).
func forwardable(call Call) bool {
	switch call.Method {
	case http.MethodGet:
		return call.Path == "/v1/objects" || strings.HasPrefix(call.Path, "/v1/objects/")
	case http.MethodPost:
		return strings.HasPrefix(call.Path, "/v1/objects/") && strings.HasSuffix(call.Path, "/evict") ||
			strings.HasPrefix(call.Path, "/v1/hosts/") && strings.HasSuffix(call.Path, "/drain")
	}
	return false
}

func (c *Cluster) serveCall(h http.Handler, mark func(context.Context) context.Context, msg *nats.Msg) {
	var call Call
	ans := Answer{Status: http.StatusBadRequest}
	refuse := func(why string) { ans.Body, _ = json.Marshal(map[string]string{"error": why}) }
	switch err := json.Unmarshal(msg.Data, &call); {
	case err != nil:
		refuse("malformed forwarded admin call")
	case !forwardable(call):
		ans.Status = http.StatusForbidden
		refuse("not an admin call members forward")
	default:
		target := &url.URL{Path: call.Path, RawQuery: call.Query}
		ctx, cancel := context.WithTimeout(c.ctx, c.opts.CallTimeout)
		r, err := http.NewRequestWithContext(mark(ctx), call.Method, target.String(), bytes.NewReader(call.Body))
		if err != nil {
			cancel()
			refuse("malformed forwarded admin call: " + err.Error())
			break
		}
		if len(call.Body) > 0 {
			r.Header.Set("Content-Type", "application/json")
		}
		r.RemoteAddr = "cluster"
		w := httptest.NewRecorder()
		func() {
			defer func() {
				if v := recover(); v != nil {
					c.log.Error("panic in a forwarded admin call; contained", "panic", fmt.Sprint(v))
					w = httptest.NewRecorder()
					w.WriteHeader(http.StatusInternalServerError)
				}
			}()
			h.ServeHTTP(w, r)
		}()
		cancel()
		ans = Answer{Status: w.Code, Body: w.Body.Bytes()}
	}
	b, _ := json.Marshal(ans)
	if err := msg.Respond(b); err != nil {
		c.log.Warn("could not answer a forwarded admin call", "err", err)
	}
}

// Forward runs call on member id and returns its answer. A member that does
// not answer within Options.CallTimeout (or ctx) is an error.
func (c *Cluster) Forward(ctx context.Context, id string, call Call) (Answer, error) {
	if _, ok := c.Member(id); !ok {
		return Answer{}, fmt.Errorf("%w: %s", ErrNoMember, id)
	}
	b, err := json.Marshal(call)
	if err != nil {
		return Answer{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.CallTimeout)
	defer cancel()
	msg, err := c.nc.RequestWithContext(ctx, c.adminSubject(id), b)
	if err != nil {
		return Answer{}, fmt.Errorf("cluster member %s: %w", id, err)
	}
	var ans Answer
	if err := json.Unmarshal(msg.Data, &ans); err != nil {
		return Answer{}, fmt.Errorf("cluster member %s: malformed answer: %w", id, err)
	}
	return ans, nil
}
