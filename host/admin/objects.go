package admin

import (
	"errors"
	"net/http"

	"github.com/torpor-dev/torpor/host"
)

// listObjects: GET /v1/objects?plugin=&state=&after=&limit=, in id order.
func (a *api) listObjects(w http.ResponseWriter, r *http.Request) {
	f, err := parseObjectFilter(r.URL.RawQuery)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	infos, err := a.h.Objects(f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := ObjectList{Objects: make([]ObjectSummary, 0, len(infos))}
	for _, info := range infos {
		out.Objects = append(out.Objects, summaryOf(info))
	}
	if a.spans(r) {
		a.listClusterObjects(w, r, out, f.Limit)
		return
	}
	if len(infos) == f.Limit {
		// A full page: there may be more. (The last page may come back
		// full and be followed by an empty one.)
		out.Next = infos[len(infos)-1].ID.String()
	}
	writeJSON(w, http.StatusOK, out)
}

// inspectObject: GET /v1/objects/{plugin}/{name}. It never wakes the object.
func (a *api) inspectObject(w http.ResponseWriter, r *http.Request) {
	id, err := objectID(r)
	if err == nil {
		_, err = params(r)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	info, err := a.h.Object(r.Context(), id)
	if errors.Is(err, host.ErrNotFound) && a.spans(r) && a.findElsewhere(w, r, nil) {
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, detailOf(info))
}

// evictObject: POST /v1/objects/{plugin}/{name}/evict, options in the query
// or a JSON body. It hibernates the object now and clears a failed mark; with
// close it also closes the object's sockets.
func (a *api) evictObject(w http.ResponseWriter, r *http.Request) {
	id, err := objectID(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	body, err := readEvictBody(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	opts, err := parseEvict(r.URL.RawQuery, body)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	err = a.h.Evict(r.Context(), id, opts)
	if errors.Is(err, host.ErrNotFound) && a.spans(r) && a.findElsewhere(w, r, body) {
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.log.Info("object evicted through the admin API", "object", id.String(), "close", opts.Close, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, EvictResult{Evicted: id.String(), Closed: opts.Close})
}

func objectID(r *http.Request) (host.ObjectID, error) {
	id := host.ObjectID{Plugin: r.PathValue("plugin"), Name: r.PathValue("name")}
	return id, id.Validate()
}

// listHosts: GET /v1/hosts. Only this host for now; with a cluster, every
// member.
func (a *api) listHosts(w http.ResponseWriter, r *http.Request) {
	if _, err := params(r); err != nil {
		a.fail(w, r, err)
		return
	}
	live := 0
	if err := a.eachObject(host.ObjectFilter{State: host.StateLive}, func(host.ObjectInfo) { live++ }); err != nil {
		a.fail(w, r, err)
		return
	}
	if a.cluster != nil {
		writeJSON(w, http.StatusOK, HostList{Hosts: a.cluster.Members()})
		return
	}
	writeJSON(w, http.StatusOK, HostList{Hosts: []HostStatus{{HostInfo: a.self, LiveObjects: live}}})
}
