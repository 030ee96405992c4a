package admin

import (
	"time"

	"github.com/torpor-dev/torpor/host"
)

// The JSON bodies of the API. The handler writes them and the Client reads
// them, so the two cannot drift apart. Times are RFC 3339; a time that is not
// set is null.

// Plugin is one uploaded version of a plugin.
type Plugin struct {
	Name    string    `json:"name"`
	SHA256  string    `json:"sha256"` // the version's id
	Size    int64     `json:"size"`   // bytes of wasm
	Created time.Time `json:"created"`
	Active  bool      `json:"active"` // serves new activations
}

// PluginList is the body of GET /v1/plugins: the active versions.
type PluginList struct {
	Plugins []Plugin `json:"plugins"`
}

// PluginVersions is the body of GET /v1/plugins/{name}, oldest first.
type PluginVersions struct {
	Name     string   `json:"name"`
	Versions []Plugin `json:"versions"`
}

// ObjectSummary is one object in GET /v1/objects.
type ObjectSummary struct {
	ID         string     `json:"id"` // plugin/name
	Plugin     string     `json:"plugin"`
	Name       string     `json:"name"`
	State      host.State `json:"state"` // live, hibernated or failed
	Owner      string     `json:"owner"` // the host running it
	Conns      int        `json:"conns"`
	Version    string     `json:"version"` // sha256 of the plugin version it runs or was snapshotted on
	Failure    string     `json:"failure"` // why it is failed
	LastEvent  *time.Time `json:"last_event"`
	Hibernated *time.Time `json:"hibernated"` // when its latest snapshot was taken
	// HibernatedWhy says why: idle, evict, shutdown, or budget with what was
	// over it (the host hibernated it to make room for other objects).
	HibernatedWhy string `json:"hibernated_why,omitempty"`
}

// ObjectList is the body of GET /v1/objects. Next, when not empty, is the
// after value that fetches the next page.
type ObjectList struct {
	Objects []ObjectSummary `json:"objects"`
	Next    string          `json:"next"`
	// Unreachable names the cluster members that did not answer, and why:
	// their objects are missing from the list.
	Unreachable []string `json:"unreachable,omitempty"`
}

// ObjectDetail is the body of GET /v1/objects/{plugin}/{name}.
type ObjectDetail struct {
	ObjectSummary
	Connections  []Connection `json:"connections"`
	SnapshotSize int          `json:"snapshot_size"`
	StorageKeys  int          `json:"storage_keys"`
	StorageBytes int64        `json:"storage_bytes"`
	Alarm        *time.Time   `json:"alarm"`
	AlarmRetry   int          `json:"alarm_retry"`
	MemoryPages  uint32       `json:"memory_pages"` // of the live instance, in 64 KiB pages
}

// Connection is one socket of an object. Its id travels as a string, since
// connection ids in general exceed what a JavaScript number holds exactly.
type Connection struct {
	ID             uint64   `json:"id,string"`
	Tags           []string `json:"tags"`
	AttachmentSize int      `json:"attachment_size"`
}

// EvictRequest is the optional body of POST /v1/objects/{plugin}/{name}/evict
// (the same fields may come as query parameters instead). Code and Reason
// need Close; they default to 1001 and "evicted".
type EvictRequest struct {
	Close  bool   `json:"close"`
	Code   int    `json:"code,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// EvictResult is the body of a successful evict.
type EvictResult struct {
	Evicted string `json:"evicted"` // plugin/name
	Closed  bool   `json:"closed"`  // its sockets were closed
}

// HostList is the body of GET /v1/hosts.
type HostList struct {
	Hosts []HostStatus `json:"hosts"`
}

// HostStatus is one host in GET /v1/hosts.
type HostStatus struct {
	HostInfo
	// ID is the host's member id in its cluster, stable across restarts.
	ID          string `json:"id,omitempty"`
	State       string `json:"state,omitempty"` // serving
	LiveObjects int    `json:"live_objects"`
	Conns       int    `json:"conns"`
}

func pluginOf(v host.PluginVersion) Plugin {
	return Plugin{Name: v.Name, SHA256: v.SHA256, Size: v.Size, Created: v.Created, Active: v.Active}
}

func summaryOf(info host.ObjectInfo) ObjectSummary {
	return ObjectSummary{
		ID:            info.ID.String(),
		Plugin:        info.ID.Plugin,
		Name:          info.ID.Name,
		State:         info.State,
		Owner:         info.Owner,
		Conns:         info.Conns,
		Version:       info.Version,
		Failure:       info.Failure,
		LastEvent:     timeOrNil(info.LastEvent),
		Hibernated:    timeOrNil(info.Hibernated),
		HibernatedWhy: info.HibernatedWhy,
	}
}

func detailOf(info host.ObjectInfo) ObjectDetail {
	d := ObjectDetail{
		ObjectSummary: summaryOf(info),
		Connections:   make([]Connection, 0, len(info.Connections)),
		SnapshotSize:  info.SnapshotSize,
		StorageKeys:   info.StorageKeys,
		StorageBytes:  info.StorageBytes,
		Alarm:         timeOrNil(info.Alarm),
		AlarmRetry:    info.AlarmRetry,
		MemoryPages:   info.MemoryPages,
	}
	for _, c := range info.Connections {
		tags := c.Tags
		if tags == nil {
			tags = []string{}
		}
		d.Connections = append(d.Connections, Connection{ID: c.ID, Tags: tags, AttachmentSize: c.AttachmentSize})
	}
	return d
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
