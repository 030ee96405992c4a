package store

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// An object moved with ExportObject and ImportObject arrives whole: record,
// storage and alarm, and nothing of another object comes with it.
func TestExportImportMovesAnObjectWhole(t *testing.T) {
	src, dst := openStore(t), openStore(t)
	rec := ObjectRecord{Version: "v1", Snapshot: []byte("state"), Conns: []ConnRecord{{ID: 7, Tags: []string{"a"}}}}
	if err := src.PutObject("p/a", rec); err != nil {
		t.Fatal(err)
	}
	tx := src.Begin("p/a")
	for _, k := range []string{"k1", "k2"} {
		if err := tx.Put([]byte(k), []byte("val-"+k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	tx.Discard()
	at := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	if err := src.SetAlarm(Alarm{Object: "p/a", At: at}); err != nil {
		t.Fatal(err)
	}
	// A neighbour whose id starts with the same bytes stays behind.
	if err := src.PutObject("p/ab", ObjectRecord{Version: "v1"}); err != nil {
		t.Fatal(err)
	}
	tx = src.Begin("p/ab")
	tx.Put([]byte("k1"), []byte("neighbour"))
	tx.Commit()
	tx.Discard()
	// dst had an older copy with a key the move does not carry.
	tx = dst.Begin("p/a")
	tx.Put([]byte("stale"), []byte("x"))
	tx.Commit()
	tx.Discard()

	blob, err := src.ExportObject("p/a")
	if err != nil {
		t.Fatal(err)
	}
	if err := dst.ImportObject("p/a", blob); err != nil {
		t.Fatal(err)
	}
	got, err := dst.Object("p/a")
	if err != nil || got.Version != "v1" || !bytes.Equal(got.Snapshot, []byte("state")) || len(got.Conns) != 1 || got.Conns[0].ID != 7 {
		t.Fatalf("record after import: %+v, %v", got, err)
	}
	tx = dst.Begin("p/a")
	defer tx.Discard()
	for k, want := range map[string]string{"k1": "val-k1", "k2": "val-k2", "stale": ""} {
		v, err := tx.Get([]byte(k))
		if want == "" {
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("key %s of the older copy: %q, %v; want it gone", k, v, err)
			}
			continue
		}
		if err != nil || string(v) != want {
			t.Errorf("key %s: %q, %v; want %q", k, v, err, want)
		}
	}
	if a, err := dst.Alarm("p/a"); err != nil || !a.At.Equal(at) {
		t.Errorf("alarm after import: %+v, %v", a, err)
	}
	if due, err := dst.DueAlarms(at.Add(time.Second), 10); err != nil || len(due) != 1 || due[0].Object != "p/a" {
		t.Errorf("due alarms after import: %+v, %v (the index must move too)", due, err)
	}
	if _, err := dst.Object("p/ab"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the neighbour p/ab came along: %v", err)
	}
}

func TestImportRefusesWhatExportDidNotMake(t *testing.T) {
	src, dst := openStore(t), openStore(t)
	if err := src.PutObject("p/a", ObjectRecord{Version: "v1"}); err != nil {
		t.Fatal(err)
	}
	blob, err := src.ExportObject("p/a")
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"empty":            nil,
		"another format":   append([]byte{9}, blob[1:]...),
		"truncated":        blob[:len(blob)-1],
		"another object":   blob, // imported as p/b below
		"no record at all": {exportFormat},
	} {
		id := "p/a"
		if name == "another object" {
			id = "p/b"
		}
		if err := dst.ImportObject(id, b); err == nil {
			t.Errorf("%s: imported", name)
		}
	}
	if _, err := src.ExportObject("p/none"); !errors.Is(err, ErrNotFound) {
		t.Errorf("export of an unknown object: %v, want ErrNotFound", err)
	}
}
