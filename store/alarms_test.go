package store

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// alarmIDs renders alarms as their object ids.
func alarmIDs(as []Alarm) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Object)
	}
	return out
}

func TestAlarms(t *testing.T) {
	s := openStore(t)
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(sec int) time.Time { return base.Add(time.Duration(sec) * time.Second) }

	if _, err := s.NextAlarm(); !errors.Is(err, ErrNotFound) {
		t.Errorf("NextAlarm of an empty store: %v", err)
	}
	for _, a := range []Alarm{
		{Object: "chat/c", At: at(30)},
		{Object: "chat/a", At: at(10)},
		{Object: "chat/b", At: at(20), Retry: 1},
		{Object: "old/x", At: time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)}, // before 1970
		{Object: "chat/d", At: at(40)},
	} {
		if err := s.SetAlarm(a); err != nil {
			t.Fatal(err)
		}
	}
	// Replace: chat/a moves behind chat/b; delete chat/d; deleting again is fine.
	if err := s.SetAlarm(Alarm{Object: "chat/a", At: at(25).Add(1500 * time.Microsecond), Retry: 3}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.DeleteAlarm("chat/d"); err != nil {
			t.Fatal(err)
		}
	}
	if n := countKeys(t, s, []byte{kindAlarmIndex}); n != 4 {
		t.Errorf("%d alarm index entries, want 4 (one per alarm)", n)
	}

	a, err := s.Alarm("chat/a")
	if err != nil || !a.At.Equal(at(25).Add(time.Millisecond)) || a.Retry != 3 {
		t.Errorf("Alarm(chat/a) = %+v, %v; want at 25.001 s (ms precision), retry 3", a, err)
	}
	if _, err := s.Alarm("chat/d"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Alarm(chat/d) after delete: %v", err)
	}
	if next, err := s.NextAlarm(); err != nil || next.Object != "old/x" {
		t.Errorf("NextAlarm = %+v, %v; want old/x", next, err)
	}

	tests := []struct {
		name  string
		now   time.Time
		limit int
		want  []string
	}{
		{"none due", time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC), 0, nil},
		{"due exactly at now", at(20), 0, []string{"old/x", "chat/b"}},
		{"all", at(100), 0, []string{"old/x", "chat/b", "chat/a", "chat/c"}},
		{"limit", at(100), 3, []string{"old/x", "chat/b", "chat/a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			due, err := s.DueAlarms(tt.now, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if got := alarmIDs(due); !slices.Equal(got, tt.want) {
				t.Errorf("DueAlarms = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTxnAlarmAtomic(t *testing.T) {
	s := openStore(t)
	at := time.UnixMilli(1_800_000_000_000).UTC()

	txn := s.Begin("chat/a")
	if _, err := txn.Alarm(); !errors.Is(err, ErrNotFound) {
		t.Errorf("Txn.Alarm before set: %v", err)
	}
	if err := txn.Put([]byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := txn.SetAlarm(at, 0); err != nil {
		t.Fatal(err)
	}
	if err := txn.SetAlarm(at.Add(time.Second), 1); err != nil { // replaced within the txn
		t.Fatal(err)
	}
	if a, err := txn.Alarm(); err != nil || !a.At.Equal(at.Add(time.Second)) || a.Retry != 1 {
		t.Errorf("Txn.Alarm sees %+v, %v", a, err)
	}
	if _, err := s.NextAlarm(); !errors.Is(err, ErrNotFound) {
		t.Errorf("alarm visible before commit: %v", err)
	}
	if err := txn.Commit(); err != nil {
		t.Fatal(err)
	}
	if due, err := s.DueAlarms(at.Add(time.Hour), 0); err != nil || len(due) != 1 || due[0].Retry != 1 {
		t.Errorf("DueAlarms after commit = %+v, %v", due, err)
	}
	if n, _, _ := s.StorageStats("chat/a"); n != 1 {
		t.Errorf("storage keys after commit = %d, want 1", n)
	}

	// A delete in a discarded txn changes nothing; a committed one removes both keys.
	for _, commit := range []bool{false, true} {
		txn := s.Begin("chat/a")
		if err := txn.DeleteAlarm(); err != nil {
			t.Fatal(err)
		}
		if commit {
			if err := txn.Commit(); err != nil {
				t.Fatal(err)
			}
		}
		txn.Discard()
		_, err := s.Alarm("chat/a")
		if commit != errors.Is(err, ErrNotFound) {
			t.Errorf("commit=%v: Alarm = %v", commit, err)
		}
	}
	if n := countKeys(t, s, []byte{kindAlarmIndex}); n != 0 {
		t.Errorf("%d alarm index entries left", n)
	}
}

func TestStaleAlarmIndexIgnored(t *testing.T) {
	s := openStore(t)
	at := time.UnixMilli(1_000).UTC()
	// Two writers that raced on one object can leave an index entry behind.
	if err := s.SetAlarm(Alarm{Object: "chat/a", At: at.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	err := s.update(func(txn *badger.Txn) error { return txn.Set(alarmIndexKey(at.UnixMilli(), "chat/a"), nil) })
	if err != nil {
		t.Fatal(err)
	}
	if next, err := s.NextAlarm(); err != nil || !next.At.Equal(at.Add(time.Hour)) {
		t.Errorf("NextAlarm = %+v, %v; want the real alarm", next, err)
	}
	if due, err := s.DueAlarms(at, 0); err != nil || len(due) != 0 {
		t.Errorf("DueAlarms = %+v, %v; want none", due, err)
	}
}
