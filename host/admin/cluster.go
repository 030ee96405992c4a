package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/torpor-dev/torpor/host"
)

// Cluster is the rest of the cluster as the admin API sees it: the members,
// a way to run an admin call on one of them, and the cluster's plugin
// store. Nil in Options: this host alone.
type Cluster interface {
	// Members lists the live members, this host first.
	Members() []HostStatus
	// Forward runs an admin call on member id, which answers for itself
	// only (see Forwarded).
	Forward(ctx context.Context, id string, call ForwardedCall) (status int, body []byte, err error)
	// PublishPlugin makes wasm, deployed here as name, every member's.
	PublishPlugin(ctx context.Context, name string, wasm []byte) error
	// WithdrawPlugin removes name from every member.
	WithdrawPlugin(ctx context.Context, name string) error
	// Drain starts moving this host's objects to the other members.
	Drain() error
}

// ForwardedCall is an admin request run on another member.
type ForwardedCall struct {
	Method, Path, Query string
	Body                []byte
}

type forwardedKey struct{}

// Forwarded marks ctx as carrying a call another member forwarded: the API
// serves it without a token (the cluster's NATS network is its own) and
// answers for this host only, never forwarding it again.
func Forwarded(ctx context.Context) context.Context {
	return context.WithValue(ctx, forwardedKey{}, true)
}

func isForwarded(r *http.Request) bool {
	v, _ := r.Context().Value(forwardedKey{}).(bool)
	return v
}

// spans reports whether r is answered for the whole cluster: a call from an
// operator to a host that has peers.
func (a *api) spans(r *http.Request) bool {
	return a.cluster != nil && !isForwarded(r)
}

// others are the live members besides this host.
func (a *api) others() []HostStatus {
	ms := a.cluster.Members()
	if len(ms) > 0 {
		ms = ms[1:]
	}
	return ms
}

// memberAnswer is one member's answer to a scattered call.
type memberAnswer struct {
	member HostStatus
	status int
	body   []byte
	err    error
}

// scatter runs call on every other member at once and returns their
// answers in member order.
func (a *api) scatter(ctx context.Context, call ForwardedCall) []memberAnswer {
	others := a.others()
	out := make([]memberAnswer, len(others))
	var wg sync.WaitGroup
	for i, m := range others {
		wg.Go(func() {
			status, body, err := a.cluster.Forward(ctx, m.ID, call)
			out[i] = memberAnswer{member: m, status: status, body: body, err: err}
		})
	}
	wg.Wait()
	return out
}

// callOf is r as a call to forward. Bodies of the calls forwarded are small
// (evict options); plugin uploads travel through the plugin store.
func callOf(r *http.Request, body []byte) ForwardedCall {
	return ForwardedCall{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: body}
}

// relay answers with a member's answer as it gave it.
func relay(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(body)
}

// listClusterObjects merges this host's page with every other member's, in
// id order, and names the members that did not answer.
func (a *api) listClusterObjects(w http.ResponseWriter, r *http.Request, local ObjectList, limit int) {
	all := local.Objects
	var missing []string
	for _, ans := range a.scatter(r.Context(), callOf(r, nil)) {
		var page ObjectList
		switch {
		case ans.err != nil:
			missing = append(missing, fmt.Sprintf("%s (%v)", ans.member.Name, ans.err))
			continue
		case ans.status != http.StatusOK:
			missing = append(missing, fmt.Sprintf("%s (status %d: %s)", ans.member.Name, ans.status, errorText(ans.body)))
			continue
		}
		if err := json.Unmarshal(ans.body, &page); err != nil {
			missing = append(missing, fmt.Sprintf("%s (malformed answer)", ans.member.Name))
			continue
		}
		all = append(all, page.Objects...)
	}
	slices.SortFunc(all, func(x, y ObjectSummary) int {
		if c := strings.Compare(x.ID, y.ID); c != 0 {
			return c
		}
		return liveFirst(x.State) - liveFirst(y.State)
	})
	// An object is listed once even if two hosts report it (a hibernated
	// record left on a host it moved away from): the live one wins.
	all = slices.CompactFunc(all, func(x, y ObjectSummary) bool { return x.ID == y.ID })
	out := ObjectList{Objects: all, Unreachable: missing}
	if len(all) > limit {
		out.Objects = all[:limit]
	}
	if len(out.Objects) == limit && limit > 0 {
		out.Next = out.Objects[len(out.Objects)-1].ID
	}
	writeJSON(w, http.StatusOK, out)
}

// errorText is the message of an error answer's body.
func errorText(body []byte) string {
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil && eb.Error != "" {
		return eb.Error
	}
	return strings.TrimSpace(string(body))
}

// findElsewhere asks every other member to answer r (an object call this
// host answered 404) and relays the first answer, in member order, that is
// not a 404. Only the host holding the object acts on it; the others
// answer 404. It reports whether it answered.
func (a *api) findElsewhere(w http.ResponseWriter, r *http.Request, body []byte) bool {
	var unreachable []string
	for _, ans := range a.scatter(r.Context(), callOf(r, body)) {
		if ans.err != nil {
			unreachable = append(unreachable, ans.member.Name)
			continue
		}
		if ans.status != http.StatusNotFound {
			relay(w, ans.status, ans.body)
			return true
		}
	}
	if len(unreachable) > 0 {
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("object not found on the members that answered; %s did not answer", strings.Join(unreachable, ", ")))
		return true
	}
	return false
}

func liveFirst(s host.State) int {
	if s == host.StateLive {
		return 0
	}
	return 1
}

// drainHost: POST /v1/hosts/{name}/drain. The named member (by name or id)
// starts moving its objects to the others and answers 202; the drain goes
// on in the background, and GET /v1/hosts shows the member draining, then
// drained.
func (a *api) drainHost(w http.ResponseWriter, r *http.Request) {
	if _, err := params(r); err != nil {
		a.fail(w, r, err)
		return
	}
	if a.cluster == nil {
		writeError(w, http.StatusConflict, "this host is not part of a cluster: there is no other host to move its objects to")
		return
	}
	name := r.PathValue("name")
	ms := a.cluster.Members()
	i := slices.IndexFunc(ms, func(m HostStatus) bool { return m.Name == name || m.ID == name })
	switch {
	case i < 0:
		writeError(w, http.StatusNotFound, fmt.Sprintf("no live member named %q (see GET /v1/hosts)", name))
	case i > 0 && !isForwarded(r):
		status, body, err := a.cluster.Forward(r.Context(), ms[i].ID, callOf(r, nil))
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("%s did not answer: %v", name, err))
			return
		}
		relay(w, status, body)
	case i > 0:
		writeError(w, http.StatusNotFound, fmt.Sprintf("%s is not this host", name))
	default:
		if err := a.cluster.Drain(); err != nil {
			writeError(w, http.StatusConflict, err.Error())
			return
		}
		a.log.Info("host drain started through the admin API", "host", ms[0].Name, "remote", r.RemoteAddr)
		st := ms[0]
		st.State = "draining"
		writeJSON(w, http.StatusAccepted, st)
	}
}
