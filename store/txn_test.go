package store

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// listKeys renders a List result as "key=value" strings.
func listKeys(kvs []KV) []string {
	var out []string
	for _, kv := range kvs {
		out = append(out, string(kv.Key)+"="+string(kv.Value))
	}
	return out
}

func TestTxnSeesOwnWrites(t *testing.T) {
	s := openStore(t)
	putStorage(t, s, "chat/a", "a/1", "old", "a/2", "old", "b/1", "old")

	txn := s.Begin("chat/a")
	defer txn.Discard()
	if txn.Dirty() {
		t.Error("new txn is dirty")
	}
	for _, op := range []error{
		txn.Put([]byte("a/1"), []byte("new")),   // overwrite a committed key
		txn.Put([]byte("a/3"), []byte("fresh")), // a pending key
		txn.Delete([]byte("a/2")),               // a committed key deleted
		txn.Delete([]byte("absent")),            // not an error
		txn.Put([]byte("a\x00nul"), []byte("n")),
	} {
		if op != nil {
			t.Fatal(op)
		}
	}
	if !txn.Dirty() {
		t.Error("txn with writes is not dirty")
	}

	gets := []struct {
		key  string
		want string // "": ErrNotFound
	}{
		{"a/1", "new"}, {"a/3", "fresh"}, {"a/2", ""}, {"b/1", "old"}, {"absent", ""},
	}
	for _, g := range gets {
		v, err := txn.Get([]byte(g.key))
		has, herr := txn.Has([]byte(g.key))
		if herr != nil || has != (g.want != "") {
			t.Errorf("Has(%q) = %v, %v", g.key, has, herr)
		}
		if g.want == "" {
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("Get(%q) = %q, %v; want ErrNotFound", g.key, v, err)
			}
		} else if err != nil || string(v) != g.want {
			t.Errorf("Get(%q) = %q, %v; want %q", g.key, v, err, g.want)
		}
	}

	lists := []struct {
		name          string
		prefix, after []byte
		limit         int
		want          []string
	}{
		{"all", nil, nil, 0, []string{"a\x00nul=n", "a/1=new", "a/3=fresh", "b/1=old"}},
		{"prefix", []byte("a/"), nil, 0, []string{"a/1=new", "a/3=fresh"}},
		{"prefix after", []byte("a/"), []byte("a/1"), 0, []string{"a/3=fresh"}},
		{"after before prefix", []byte("b"), []byte("a/9"), 0, []string{"b/1=old"}},
		{"after beyond prefix", []byte("a/"), []byte("b"), 0, nil},
		{"limit", nil, nil, 2, []string{"a\x00nul=n", "a/1=new"}},
		{"after deleted key", nil, []byte("a/2"), 1, []string{"a/3=fresh"}},
		{"empty after is not nil", nil, []byte{}, 1, []string{"a\x00nul=n"}},
	}
	for _, l := range lists {
		t.Run("List/"+l.name, func(t *testing.T) {
			kvs, err := txn.List(l.prefix, l.after, l.limit)
			if err != nil {
				t.Fatal(err)
			}
			if got := listKeys(kvs); !slices.Equal(got, l.want) {
				t.Errorf("List = %q, want %q", got, l.want)
			}
		})
	}

	// Another transaction sees none of it until commit.
	other := s.Begin("chat/a")
	defer other.Discard()
	if v, err := other.Get([]byte("a/1")); err != nil || string(v) != "old" {
		t.Errorf("other txn Get(a/1) = %q, %v; want old", v, err)
	}
}

func TestTxnDiscardAndCommit(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, dir)
	at := time.UnixMilli(1_700_000_000_123).UTC()

	dropped := s.Begin("chat/a")
	dropped.Put([]byte("k"), []byte("dropped"))
	dropped.SetAlarm(at, 0)
	dropped.PutObject(ObjectRecord{Failed: "dropped"})
	dropped.Discard()
	dropped.Discard() // twice is fine
	if err := dropped.Put([]byte("k"), nil); err == nil {
		t.Error("Put after Discard succeeded")
	}
	for _, prefix := range [][]byte{{kindStorage}, {kindAlarm}, {kindAlarmIndex}, {kindObject}} {
		if n := countKeys(t, s, prefix); n != 0 {
			t.Errorf("after Discard, %d keys of kind %q", n, prefix)
		}
	}

	clean := s.Begin("chat/a")
	if _, err := clean.Get([]byte("k")); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get: %v", err)
	}
	if err := clean.Commit(); err != nil {
		t.Errorf("Commit of a read-only txn: %v", err)
	}

	txn := s.Begin("chat/a")
	if err := txn.Put([]byte("k"), []byte("kept")); err != nil {
		t.Fatal(err)
	}
	if err := txn.SetAlarm(at, 2); err != nil {
		t.Fatal(err)
	}
	if err := txn.PutObject(ObjectRecord{Version: "v1"}); err != nil {
		t.Fatal(err)
	}
	if err := txn.Commit(); err != nil {
		t.Fatal(err)
	}
	txn.Discard() // after Commit is fine
	if err := txn.Commit(); err == nil {
		t.Error("second Commit succeeded")
	}

	s = reopen(t, s, dir)
	check := s.Begin("chat/a")
	defer check.Discard()
	if v, err := check.Get([]byte("k")); err != nil || string(v) != "kept" {
		t.Errorf("Get after reopen = %q, %v", v, err)
	}
	if a, err := check.Alarm(); err != nil || !a.At.Equal(at) || a.Retry != 2 {
		t.Errorf("Alarm after reopen = %+v, %v", a, err)
	}
	if rec, err := s.Object("chat/a"); err != nil || rec.Version != "v1" {
		t.Errorf("Object after reopen = %+v, %v", rec, err)
	}
}

func TestTxnTooLarge(t *testing.T) {
	s := openStore(t)
	txn := s.Begin("chat/a")
	defer txn.Discard()
	value := bytes.Repeat([]byte("x"), 64<<10) // under the value threshold: counts in full
	var err error
	n := 0
	for ; n < 1000 && err == nil; n++ {
		err = txn.Put(fmt.Appendf(nil, "k%d", n), value)
	}
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("after %d puts of 64 KiB: %v, want ErrTooLarge", n, err)
	}
	// The txn stays usable: what fitted commits.
	if err := txn.Commit(); err != nil {
		t.Fatal(err)
	}
	if keys, _, _ := s.StorageStats("chat/a"); keys != n-1 {
		t.Errorf("committed %d keys, want %d", keys, n-1)
	}

	sizes := []struct {
		name       string
		key, value int
	}{
		{"key", MaxKeySize, 0},
		{"value", 1, MaxValueSize + 1},
	}
	for _, sz := range sizes {
		t.Run(sz.name, func(t *testing.T) {
			txn := s.Begin("chat/a")
			defer txn.Discard()
			if err := txn.Put(make([]byte, sz.key), make([]byte, sz.value)); !errors.Is(err, ErrTooLarge) {
				t.Errorf("got %v, want ErrTooLarge", err)
			}
		})
	}
}
