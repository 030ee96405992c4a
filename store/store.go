// Package store is the persistence of torpor: plugins and their versions, object
// records (snapshot, connection table, failure mark), each object's key-value
// storage and alarms, all in one badger v4 database.
//
// # Key layout
//
// Every key starts with one byte naming its kind. An object id or plugin name that
// is followed by more key bytes is length-prefixed (u16 big-endian length, then the
// bytes), so one object's key space can never overlap another's ("chat/a" vs
// "chat/ab"). A name that ends the key needs no prefix.
//
//	'a' name                      -> sha256 (32 bytes) of the name's active version
//	'v' len16 name sha256         -> version metadata (format byte, size, created)
//	'w' sha256                    -> wasm bytes, stored once whatever the names
//	'r' sha256 name               -> empty: name references these wasm bytes
//	'o' id                        -> object record (see ObjectRecord)
//	's' len16 id key              -> value of storage key `key` of object id
//	'l' id                        -> the object's alarm: format byte, u64 Unix ms, uvarint retry
//	't' u64 ms id                 -> empty: alarm index, earliest first
//
// Object records ('o') sort by id, so ObjectIDs is a prefix scan of 'o' plugin '/'
// (plugin names never contain '/'). In the alarm index the Unix ms has its sign bit
// flipped, so a forward scan yields alarms in time order across the whole range of
// time.Time. The per-object alarm key is authoritative: index entries that disagree
// with it are ignored by NextAlarm and DueAlarms.
//
// Records and version metadata use a small hand-written binary encoding whose first
// byte is its format version (see codec.go); decoders reject malformed input.
//
// # Concurrency
//
// A Store is safe for concurrent use. Transactions run with badger's conflict
// detection off: the host guarantees that one object's keys are written by one
// goroutine at a time (one event at a time per object), so conflicts cannot arise and
// checking for them would only cost. A Txn is used by one goroutine.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Sentinel errors. Errors returned by this package wrap them with context, so test
// for them with errors.Is.
var (
	// ErrNotFound means the plugin, version, object, alarm or key does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrTooLarge means a transaction holds more writes than one commit can carry, or a
	// key or value is larger than the store accepts (see MaxKeySize, MaxValueSize).
	ErrTooLarge = errors.New("store: transaction too large")
	// ErrClosed means the Store was closed.
	ErrClosed = errors.New("store: closed")
)

const (
	// MaxValueSize is the largest value (snapshot, storage value, wasm module) the
	// store accepts; larger ones fail with ErrTooLarge. It is badger's value log file
	// size, kept well below badger's default so that an empty store is cheap to open.
	MaxValueSize = 64 << 20
	// MaxKeySize is the largest storage key, after the object id and the key prefix
	// are added, that badger accepts.
	MaxKeySize = 65000

	// memTableSize bounds one transaction: badger allows 15% of it per commit, about
	// 2.4 MiB of small values (values over 1 MiB go to the value log and count only by
	// their pointer). 16 MiB instead of badger's 64 MiB makes Open cheap.
	memTableSize = 16 << 20
	// blockCacheSize is enough for the hot blocks of small values.
	blockCacheSize = 32 << 20
	// gcInterval is how often value log garbage collection runs: snapshots and
	// modules over 1 MiB live in the value log, and overwriting them leaves garbage
	// there that only value log GC reclaims.
	gcInterval = 10 * time.Minute
	// gcDiscardRatio rewrites a value log file once half of it is garbage.
	gcDiscardRatio = 0.5
)

// Options configures Open.
type Options struct {
	// Dir is the badger directory; it is created if missing. Required.
	Dir string
	// NoSync turns off badger's SyncWrites. By default (false) every commit is synced
	// to disk before it returns, so a committed event survives a crash; with NoSync
	// a crash may lose the last commits (a clean Close loses nothing).
	NoSync bool
	// Logger receives badger's own log messages at Warn and above (badger's info and
	// debug chatter is dropped). Nil means slog.Default().
	Logger *slog.Logger
}

// Store is torpor's persistence on badger. It is safe for concurrent use; Close
// waits for calls in progress and makes later calls fail with ErrClosed.
type Store struct {
	db *badger.DB

	mu     sync.RWMutex // held for reading by every call, for writing by Close
	closed bool

	stopGC context.CancelFunc
	gcDone chan struct{}
}

// Open opens (creating if needed) the store in opts.Dir and starts its value log
// garbage collector, which Close stops. Errors read "open store at DIR: ...".
func Open(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("open store: Options.Dir is required")
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	bo := badger.DefaultOptions(opts.Dir).
		WithSyncWrites(!opts.NoSync).
		WithLogger(badgerLogger{logger.With("component", "badger")}).
		WithDetectConflicts(false).
		WithMemTableSize(memTableSize).
		WithValueLogFileSize(MaxValueSize).
		WithBlockCacheSize(blockCacheSize).
		WithNumCompactors(2).
		WithMetricsEnabled(false)
	db, err := badger.Open(bo)
	if err != nil {
		return nil, fmt.Errorf("open store at %s: %w", opts.Dir, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Store{db: db, stopGC: cancel, gcDone: make(chan struct{})}
	go s.gcLoop(ctx)
	return s, nil
}

// Close stops the garbage collector, waits for calls in progress and closes the
// database. Transactions still open fail with ErrClosed afterwards. Calling Close
// again returns nil.
func (s *Store) Close() error {
	s.stopGC()
	<-s.gcDone
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// gcLoop runs value log GC every gcInterval until ctx is cancelled.
func (s *Store) gcLoop(ctx context.Context) {
	defer close(s.gcDone)
	t := time.NewTicker(gcInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.collectGarbage(ctx)
		}
	}
}

// collectGarbage rewrites value log files while there are ones worth rewriting.
func (s *Store) collectGarbage(ctx context.Context) {
	for ctx.Err() == nil {
		if err := s.db.RunValueLogGC(gcDiscardRatio); err != nil {
			return // badger.ErrNoRewrite: nothing (more) to reclaim
		}
	}
}

// view runs fn in a read-only badger transaction.
func (s *Store) view(fn func(*badger.Txn) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return s.db.View(fn)
}

// update runs fn in a read-write badger transaction and commits it.
func (s *Store) update(fn func(*badger.Txn) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return mapErr(s.db.Update(fn))
}

// mapErr turns badger's "transaction too big" into ErrTooLarge.
func mapErr(err error) error {
	if errors.Is(err, badger.ErrTxnTooBig) && !errors.Is(err, ErrTooLarge) {
		return fmt.Errorf("%w: %w", ErrTooLarge, err)
	}
	return err
}

// checkSize rejects keys and values that badger would refuse with an untyped error.
func checkSize(key, value []byte) error {
	if len(key) > MaxKeySize {
		return fmt.Errorf("%w: key of %d bytes exceeds %d", ErrTooLarge, len(key), MaxKeySize)
	}
	if len(value) > MaxValueSize {
		return fmt.Errorf("%w: value of %d bytes exceeds %d", ErrTooLarge, len(value), MaxValueSize)
	}
	return nil
}

// set writes key=value in txn after checking sizes.
func set(txn *badger.Txn, key, value []byte) error {
	if err := checkSize(key, value); err != nil {
		return err
	}
	return mapErr(txn.Set(key, value))
}

// get returns a copy of key's value, or ErrNotFound.
func get(txn *badger.Txn, key []byte) ([]byte, error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return item.ValueCopy(nil)
}

// badgerLogger routes badger's warnings and errors to slog and drops the rest.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, args ...any) {
	b.l.Error(strings.TrimSpace(fmt.Sprintf(f, args...)))
}

func (b badgerLogger) Warningf(f string, args ...any) {
	b.l.Warn(strings.TrimSpace(fmt.Sprintf(f, args...)))
}

func (badgerLogger) Infof(string, ...any)  {}
func (badgerLogger) Debugf(string, ...any) {}
