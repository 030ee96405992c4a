package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"testing"
	"time"
)

func shaOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// summary renders versions as "name@first-4-hex-of-sha[*]" with * on the active one.
func summary(vs []PluginVersion) []string {
	var out []string
	for _, v := range vs {
		s := v.Name + "@" + v.SHA256[:4]
		if v.Active {
			s += "*"
		}
		out = append(out, s)
	}
	return out
}

func TestPlugins(t *testing.T) {
	s := openStore(t)
	v1, v2, other := []byte("chat v1"), []byte("chat v2"), []byte("counter")
	h1, h2, ho := shaOf(v1)[:4], shaOf(v2)[:4], shaOf(other)[:4]

	put := func(name string, wasm []byte) PluginVersion {
		t.Helper()
		v, err := s.PutPlugin(name, wasm)
		if err != nil {
			t.Fatalf("PutPlugin(%s): %v", name, err)
		}
		if v.Name != name || v.SHA256 != shaOf(wasm) || v.Size != int64(len(wasm)) || !v.Active || v.Created.IsZero() {
			t.Fatalf("PutPlugin(%s) = %+v", name, v)
		}
		time.Sleep(2 * time.Millisecond) // distinct Created times, so the order is certain
		return v
	}
	first := put("chat", v1)
	put("chat", v2)
	put("counter", other)
	put("echo", v1) // same bytes as chat v1, under another name

	// Re-uploading v1 activates it again and keeps its original Created.
	again := put("chat", v1)
	if !again.Created.Equal(first.Created) {
		t.Errorf("re-upload Created = %v, want the first upload's %v", again.Created, first.Created)
	}

	all, err := s.Plugins()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := summary(all), []string{"chat@" + h1 + "*", "counter@" + ho + "*", "echo@" + h1 + "*"}; !slices.Equal(got, want) {
		t.Errorf("Plugins = %v, want %v", got, want)
	}

	vs, err := s.PluginVersions("chat")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := summary(vs), []string{"chat@" + h1 + "*", "chat@" + h2}; !slices.Equal(got, want) {
		t.Errorf("PluginVersions(chat) = %v, want %v (oldest first)", got, want)
	}

	act, err := s.ActivePlugin("chat")
	if err != nil || act.SHA256 != shaOf(v1) || !act.Created.Equal(first.Created) {
		t.Errorf("ActivePlugin(chat) = %+v, %v", act, err)
	}

	if err := s.RemovePlugin("chat"); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, plugin, sha string
		want              []byte // nil: ErrNotFound
	}{
		{"active version", "counter", shaOf(other), other},
		{"bytes shared with a removed name survive", "echo", shaOf(v1), v1},
		{"removed name", "chat", shaOf(v1), nil},
		{"version of another name", "counter", shaOf(v1), nil},
		{"unknown sha", "counter", shaOf([]byte("nope")), nil},
		{"malformed sha", "counter", "xyz", nil},
	}
	for _, tt := range tests {
		t.Run("PluginWasm/"+tt.name, func(t *testing.T) {
			got, err := s.PluginWasm(tt.plugin, tt.sha)
			if tt.want == nil {
				if !errors.Is(err, ErrNotFound) {
					t.Errorf("got %q, %v; want ErrNotFound", got, err)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tt.want) {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}

	// chat v2's bytes were only chat's: they are gone from the store entirely.
	if n := countKeys(t, s, wasmKey(mustHex(t, shaOf(v2)))); n != 0 {
		t.Errorf("wasm of removed chat v2 still stored")
	}
	if n := countKeys(t, s, wasmKey(mustHex(t, shaOf(v1)))); n != 1 {
		t.Errorf("wasm shared with echo was removed")
	}

	notFound := []struct {
		name string
		call func() error
	}{
		{"ActivePlugin", func() error { _, err := s.ActivePlugin("chat"); return err }},
		{"PluginVersions", func() error { _, err := s.PluginVersions("chat"); return err }},
		{"RemovePlugin", func() error { return s.RemovePlugin("chat") }},
		{"RemovePlugin never uploaded", func() error { return s.RemovePlugin("ghost") }},
	}
	for _, c := range notFound {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(); !errors.Is(err, ErrNotFound) {
				t.Errorf("got %v, want ErrNotFound", err)
			}
		})
	}

	all, err = s.Plugins()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := summary(all), []string{"counter@" + ho + "*", "echo@" + h1 + "*"}; !slices.Equal(got, want) {
		t.Errorf("Plugins after remove = %v, want %v", got, want)
	}
}

func TestRemovePluginKeepsObjects(t *testing.T) {
	s := openStore(t)
	if _, err := s.PutPlugin("chat", []byte("wasm")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutObject("chat/lobby", ObjectRecord{Version: "v"}); err != nil {
		t.Fatal(err)
	}
	if err := s.RemovePlugin("chat"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Object("chat/lobby"); err != nil {
		t.Errorf("object after RemovePlugin: %v", err)
	}
}

func mustHex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
