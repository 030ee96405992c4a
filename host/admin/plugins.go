package admin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/torpor-dev/torpor/host"
	"github.com/torpor-dev/torpor/internal/bytesize"
)

// uploadPlugin: POST /v1/plugins/{name}, body = the wasm module. 201 with the
// new version; 200 with the existing one when the name already had these
// bytes (uploading them again makes that version active).
func (a *api) uploadPlugin(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := host.ValidatePluginName(name); err != nil {
		a.fail(w, r, err)
		return
	}
	if _, err := params(r); err != nil {
		a.fail(w, r, err)
		return
	}
	if r.ContentLength > a.maxUpload {
		a.fail(w, r, a.tooLarge(r.ContentLength))
		return
	}
	wasm, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.maxUpload))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			err = a.tooLarge(-1)
		} else {
			err = badRequest("read the plugin from the request body: %v", err)
		}
		a.fail(w, r, err)
		return
	}
	if len(wasm) == 0 {
		a.fail(w, r, badRequest("empty body: send the plugin's .wasm bytes as the request body"))
		return
	}
	sum := sha256.Sum256(wasm)
	sha := hex.EncodeToString(sum[:])
	known := false
	if vs, err := a.h.PluginVersions(name); err == nil {
		for _, v := range vs {
			known = known || v.SHA256 == sha
		}
	}
	ver, err := a.h.Deploy(r.Context(), name, wasm)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	// Deployed here first, which validates it; then the cluster's store,
	// from which every other member deploys it.
	if a.cluster != nil {
		if err := a.cluster.PublishPlugin(r.Context(), name, wasm); err != nil {
			a.log.Error("plugin deployed on this host only: the cluster's plugin store failed", "plugin", name, "err", err)
			writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("plugin %s is deployed on this host but not on the rest of the cluster (%v); upload it again", name, err))
			return
		}
	}
	status := http.StatusCreated
	if known {
		status = http.StatusOK
	}
	writeJSON(w, status, pluginOf(ver))
}

func (a *api) tooLarge(size int64) error {
	msg := fmt.Sprintf("plugin is larger than the %s upload limit of this host", bytesize.Format(a.maxUpload))
	if size >= 0 {
		msg = fmt.Sprintf("plugin is %s, over the %s upload limit of this host", bytesize.Format(size), bytesize.Format(a.maxUpload))
	}
	return &requestError{status: http.StatusRequestEntityTooLarge, msg: msg}
}

// listPlugins: GET /v1/plugins, the active version of each plugin.
func (a *api) listPlugins(w http.ResponseWriter, r *http.Request) {
	if _, err := params(r); err != nil {
		a.fail(w, r, err)
		return
	}
	vs, err := a.h.Plugins()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := PluginList{Plugins: make([]Plugin, 0, len(vs))}
	for _, v := range vs {
		out.Plugins = append(out.Plugins, pluginOf(v))
	}
	writeJSON(w, http.StatusOK, out)
}

// pluginVersions: GET /v1/plugins/{name}, every stored version.
func (a *api) pluginVersions(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := host.ValidatePluginName(name); err != nil {
		a.fail(w, r, err)
		return
	}
	if _, err := params(r); err != nil {
		a.fail(w, r, err)
		return
	}
	vs, err := a.h.PluginVersions(name)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := PluginVersions{Name: name, Versions: make([]Plugin, 0, len(vs))}
	for _, v := range vs {
		out.Versions = append(out.Versions, pluginOf(v))
	}
	writeJSON(w, http.StatusOK, out)
}

// removePlugin: DELETE /v1/plugins/{name}[?force=true]. Without force it
// refuses (409) while any of the plugin's objects is live or has sockets,
// since those sockets would be closed with 1011 at their next event.
func (a *api) removePlugin(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := host.ValidatePluginName(name); err != nil {
		a.fail(w, r, err)
		return
	}
	q, err := params(r, "force")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	force, err := parseBool("force", q["force"])
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if _, err := a.h.PluginVersions(name); err != nil {
		a.fail(w, r, err)
		return
	}
	if !force {
		busy, n, err := a.busyObjects(name)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if a.spans(r) {
			more, m, err := a.busyElsewhere(r.Context(), name)
			if err != nil {
				writeError(w, http.StatusServiceUnavailable, err.Error())
				return
			}
			busy, n = append(busy, more...), n+m
		}
		if n > 0 {
			list := strings.Join(busy, ", ")
			if n > len(busy) {
				list += fmt.Sprintf(" and %d more", n-len(busy))
			}
			writeError(w, http.StatusConflict, fmt.Sprintf(
				"plugin %s has %d live or connected object(s) (%s), whose sockets would close with 1011 at their next event; pass force=true (torpor plugin rm --force) to remove it anyway",
				name, n, list))
			return
		}
	}
	if err := a.h.RemovePlugin(r.Context(), name); err != nil {
		a.fail(w, r, err)
		return
	}
	if a.spans(r) {
		if err := a.cluster.WithdrawPlugin(r.Context(), name); err != nil {
			a.log.Error("plugin removed from this host only: the cluster's plugin store failed", "plugin", name, "err", err)
			writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("plugin %s is removed from this host but not from the rest of the cluster (%v); remove it again", name, err))
			return
		}
	}
	a.log.Info("plugin removed through the admin API", "plugin", name, "force", force, "remote", r.RemoteAddr)
	w.WriteHeader(http.StatusNoContent)
}

// busyObjects counts the plugin's objects that are live or hold sockets and
// names the first few.
func (a *api) busyObjects(plugin string) (names []string, n int, err error) {
	err = a.eachObject(host.ObjectFilter{Plugin: plugin}, func(info host.ObjectInfo) {
		if info.State == host.StateLive || info.Conns > 0 {
			if len(names) < 3 {
				names = append(names, info.ID.String())
			}
			n++
		}
	})
	return names, n, err
}

// eachObject calls fn for every object f selects, a page at a time.
func (a *api) eachObject(f host.ObjectFilter, fn func(host.ObjectInfo)) error {
	f.Limit = maxLimit
	for {
		infos, err := a.h.Objects(f)
		if err != nil {
			return err
		}
		for _, info := range infos {
			fn(info)
		}
		if len(infos) < f.Limit {
			return nil
		}
		f.After = infos[len(infos)-1].ID.String()
	}
}

// busyElsewhere asks the other members for the plugin's live or connected
// objects. A member that does not answer fails the check: removing the
// plugin could close its sockets.
func (a *api) busyElsewhere(ctx context.Context, plugin string) (names []string, n int, err error) {
	call := ForwardedCall{Method: http.MethodGet, Path: "/v1/objects", Query: url.Values{"plugin": {plugin}, "limit": {strconv.Itoa(maxLimit)}}.Encode()}
	for _, ans := range a.scatter(ctx, call) {
		if ans.err != nil || ans.status != http.StatusOK {
			return nil, 0, fmt.Errorf("cannot tell whether plugin %s is in use on %s, which did not answer; try again, or pass force=true", plugin, ans.member.Name)
		}
		var page ObjectList
		if err := json.Unmarshal(ans.body, &page); err != nil {
			return nil, 0, fmt.Errorf("cannot tell whether plugin %s is in use on %s: malformed answer", plugin, ans.member.Name)
		}
		for _, o := range page.Objects {
			if o.State == host.StateLive || o.Conns > 0 {
				if len(names) < 3 {
					names = append(names, o.ID+" on "+ans.member.Name)
				}
				n++
			}
		}
	}
	return names, n, nil
}
