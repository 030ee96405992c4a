package store

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// logWriter sends log lines to the test log.
type logWriter struct{ tb testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// openAt opens a store in dir, closed at the end of the test.
func openAt(tb testing.TB, dir string) *Store {
	tb.Helper()
	s, err := Open(Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(logWriter{tb}, nil))})
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s
}

// openStore opens a store in a fresh temporary directory.
func openStore(tb testing.TB) *Store {
	tb.Helper()
	return openAt(tb, tb.TempDir())
}

// reopen closes s and opens the same directory again.
func reopen(tb testing.TB, s *Store, dir string) *Store {
	tb.Helper()
	if err := s.Close(); err != nil {
		tb.Fatalf("Close: %v", err)
	}
	return openAt(tb, dir)
}

func TestOpenErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	locked := t.TempDir()
	openAt(t, locked)

	tests := []struct {
		name string
		dir  string
		want string
	}{
		{"no dir", "", "Dir is required"},
		{"dir is a file", file, "open store at " + file},
		{"dir in use", locked, "open store at " + locked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(Options{Dir: tt.dir})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestClosed(t *testing.T) {
	s := openStore(t)
	early := s.Begin("chat/a")
	if err := early.Put([]byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	late := s.Begin("chat/a")
	calls := []struct {
		name string
		call func() error
	}{
		{"PutObject", func() error { return s.PutObject("chat/a", ObjectRecord{}) }},
		{"Object", func() error { _, err := s.Object("chat/a"); return err }},
		{"DeleteObject", func() error { return s.DeleteObject("chat/a") }},
		{"ObjectIDs", func() error { _, err := s.ObjectIDs("", "", 0); return err }},
		{"PutPlugin", func() error { _, err := s.PutPlugin("chat", []byte("x")); return err }},
		{"Plugins", func() error { _, err := s.Plugins(); return err }},
		{"NextAlarm", func() error { _, err := s.NextAlarm(); return err }},
		{"SetAlarm", func() error { return s.SetAlarm(Alarm{Object: "chat/a", At: time.Now()}) }},
		{"txn begun before Close: Get", func() error { _, err := early.Get([]byte("k")); return err }},
		{"txn begun before Close: Commit", early.Commit},
		{"txn begun after Close: Put", func() error { return late.Put([]byte("k"), nil) }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(); !errors.Is(err, ErrClosed) {
				t.Errorf("got %v, want ErrClosed", err)
			}
		})
	}
	early.Discard()
	late.Discard()
	if err := late.Commit(); err != nil {
		t.Errorf("Commit of a clean txn on a closed store: %v", err)
	}
}

func TestCollectGarbage(t *testing.T) {
	s := openStore(t)
	big := make([]byte, 2<<20) // over the value threshold: lives in the value log
	for i := range 3 {
		big[0] = byte(i)
		if err := s.PutObject("chat/a", ObjectRecord{Snapshot: big}); err != nil {
			t.Fatal(err)
		}
	}
	s.collectGarbage(context.Background())
	rec, err := s.Object("chat/a")
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Snapshot) != len(big) || rec.Snapshot[0] != 2 {
		t.Errorf("snapshot after GC: %d bytes, first %d", len(rec.Snapshot), rec.Snapshot[0])
	}
}
