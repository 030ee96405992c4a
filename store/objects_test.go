package store

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// countKeys counts the raw keys starting with prefix.
func countKeys(tb testing.TB, s *Store, prefix []byte) int {
	tb.Helper()
	n := 0
	err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// putStorage commits key=value pairs into id's storage.
func putStorage(tb testing.TB, s *Store, id string, kv ...string) {
	tb.Helper()
	t := s.Begin(id)
	defer t.Discard()
	for i := 0; i < len(kv); i += 2 {
		if err := t.Put([]byte(kv[i]), []byte(kv[i+1])); err != nil {
			tb.Fatal(err)
		}
	}
	if err := t.Commit(); err != nil {
		tb.Fatal(err)
	}
}

func sampleRecord() ObjectRecord {
	return ObjectRecord{
		Version:  "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		Snapshot: []byte("state\x00with nul"),
		Conns: []ConnRecord{
			{ID: 1, Attachment: []byte(`{"user":"ann"}`), Tags: []string{"admin", "room:1"}},
			{ID: 1 << 60},
		},
		AutoResponses: []AutoResponse{{Request: []byte("ping"), Response: []byte("pong")}},
		Failed:        "trapped 3 times",
		Hibernated:    time.Date(2025, 6, 1, 12, 0, 0, 123456789, time.UTC),
		LastEvent:     time.Date(2025, 6, 1, 11, 59, 50, 0, time.UTC),
		HibernatedWhy: "budget: live memory 512 MiB of 512 MiB",
	}
}

func TestObjectRecordDurable(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, dir)
	if _, err := s.Object("chat/a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Object of a new store: %v, want ErrNotFound", err)
	}
	want := sampleRecord()
	if err := s.PutObject("chat/a", want); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, dir)
	got, err := s.Object("chat/a")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after reopen:\ngot  %+v\nwant %+v", got, want)
	}
}

func TestObjectIDs(t *testing.T) {
	s := openStore(t)
	for _, id := range []string{"chat/b", "chat/a", "chat/ab", "chatty/x", "counter/1", "counter/2"} {
		if err := s.PutObject(id, ObjectRecord{}); err != nil {
			t.Fatal(err)
		}
	}
	putStorage(t, s, "echo/has-storage-only", "k", "v") // no record: not listed

	tests := []struct {
		name, plugin, after string
		limit               int
		want                []string
	}{
		{"all", "", "", 0, []string{"chat/a", "chat/ab", "chat/b", "chatty/x", "counter/1", "counter/2"}},
		{"plugin prefix of another", "chat", "", 0, []string{"chat/a", "chat/ab", "chat/b"}},
		{"first page", "", "", 2, []string{"chat/a", "chat/ab"}},
		{"next page", "", "chat/ab", 2, []string{"chat/b", "chatty/x"}},
		{"after an absent id", "", "chat/aa", 1, []string{"chat/ab"}},
		{"after sorts before the plugin", "counter", "chat/z", 0, []string{"counter/1", "counter/2"}},
		{"after sorts after the plugin", "chat", "counter/1", 0, nil},
		{"after the last", "", "counter/2", 0, nil},
		{"unknown plugin", "nope", "", 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ObjectIDs(tt.plugin, tt.after, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("ObjectIDs(%q, %q, %d) = %q, want %q", tt.plugin, tt.after, tt.limit, got, tt.want)
			}
		})
	}
}

func TestStorageIsolation(t *testing.T) {
	s := openStore(t)
	putStorage(t, s, "chat/a", "b-key", "1", "", "empty key")
	putStorage(t, s, "chat/ab", "key", "22")

	tests := []struct {
		id        string
		wantKeys  []string
		wantBytes int64
	}{
		{"chat/a", []string{"", "b-key"}, 10},
		{"chat/ab", []string{"key"}, 2},
		{"chat/", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			txn := s.Begin(tt.id)
			defer txn.Discard()
			kvs, err := txn.List(nil, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, kv := range kvs {
				keys = append(keys, string(kv.Key))
			}
			if !slices.Equal(keys, tt.wantKeys) {
				t.Errorf("List = %q, want %q", keys, tt.wantKeys)
			}
			n, size, err := s.StorageStats(tt.id)
			if err != nil || n != len(tt.wantKeys) || size != tt.wantBytes {
				t.Errorf("StorageStats = %d, %d, %v; want %d, %d", n, size, err, len(tt.wantKeys), tt.wantBytes)
			}
		})
	}
}

func TestDeleteObject(t *testing.T) {
	tests := []struct {
		name string
		keys int // storage keys to create; enough to need several commits in "huge"
	}{
		{"absent", -1},
		{"record only", 0},
		{"small", 10},
		{"huge", 40000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t)
			id := "chat/a"
			if tt.keys >= 0 {
				if err := s.PutObject(id, sampleRecord()); err != nil {
					t.Fatal(err)
				}
				if err := s.SetAlarm(Alarm{Object: id, At: time.Now()}); err != nil {
					t.Fatal(err)
				}
				for i := 0; i < tt.keys; {
					txn := s.Begin(id)
					for end := min(i+5000, tt.keys); i < end; i++ {
						if err := txn.Put(fmt.Appendf(nil, "k%06d", i), []byte("v")); err != nil {
							t.Fatal(err)
						}
					}
					if err := txn.Commit(); err != nil {
						t.Fatal(err)
					}
				}
			}
			if tt.name == "huge" && int64(tt.keys) <= s.db.MaxBatchCount() {
				t.Fatalf("%d keys fit in one commit of at most %d", tt.keys, s.db.MaxBatchCount())
			}
			putStorage(t, s, "chat/ab", "neighbour", "stays")

			if err := s.DeleteObject(id); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Object(id); !errors.Is(err, ErrNotFound) {
				t.Errorf("Object after delete: %v", err)
			}
			if _, err := s.Alarm(id); !errors.Is(err, ErrNotFound) {
				t.Errorf("Alarm after delete: %v", err)
			}
			if _, err := s.NextAlarm(); !errors.Is(err, ErrNotFound) {
				t.Errorf("NextAlarm after delete: %v", err)
			}
			if n := countKeys(t, s, []byte{kindAlarmIndex}); n != 0 {
				t.Errorf("%d alarm index entries left", n)
			}
			if n, _, err := s.StorageStats(id); n != 0 || err != nil {
				t.Errorf("StorageStats after delete = %d, %v", n, err)
			}
			if n, _, _ := s.StorageStats("chat/ab"); n != 1 {
				t.Errorf("neighbour chat/ab has %d keys, want 1", n)
			}
		})
	}
}
