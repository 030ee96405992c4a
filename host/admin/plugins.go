package admin

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
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
