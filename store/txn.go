package store

import (
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// KV is one storage key and its value.
type KV struct{ Key, Value []byte }

// Txn is the transaction of one event of one object: its storage writes, alarm and
// record commit together, and its reads see its own writes. A Txn is not safe for
// concurrent use: one goroutine (the object's event loop) owns it. Every Txn must end
// with Commit or Discard; Discard after Commit is harmless, so `defer t.Discard()`
// is the idiom.
type Txn struct {
	s      *Store
	id     string
	prefix []byte // storage prefix of id; nil if id cannot be stored
	err    error  // set when the Txn could not start; returned by every call
	txn    *badger.Txn
	dirty  bool
	done   bool
}

// Begin starts a read-write transaction on object id's storage, alarm and record.
// It never fails: if the store is closed or id too long, every call on the Txn
// returns the error. Safe for concurrent use; the Txn itself is not.
func (s *Store) Begin(id string) *Txn {
	t := &Txn{s: s, id: id}
	t.prefix, t.err = storagePrefix(id)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		t.err = ErrClosed
	}
	if t.err != nil {
		t.done = true
		return t
	}
	t.txn = s.db.NewTransaction(true)
	return t
}

// do runs fn on the badger txn unless the Txn or the store is finished, and wraps
// the error with the operation and object id.
func (t *Txn) do(op string, fn func(*badger.Txn) error) error {
	err := t.err
	if err == nil {
		t.s.mu.RLock()
		switch {
		case t.s.closed:
			err = ErrClosed
		case t.done:
			err = badger.ErrDiscardedTxn
		default:
			err = mapErr(fn(t.txn))
		}
		t.s.mu.RUnlock()
	}
	if err != nil {
		return fmt.Errorf("%s in object %s: %w", op, t.id, err)
	}
	return nil
}

func (t *Txn) storageKey(k []byte) []byte { return key(kindStorage, t.prefix[1:], k) }

// Get returns a copy of key's value as the Txn sees it, or ErrNotFound.
func (t *Txn) Get(key []byte) ([]byte, error) {
	var v []byte
	err := t.do("get", func(txn *badger.Txn) error {
		var err error
		v, err = get(txn, t.storageKey(key))
		return err
	})
	return v, err
}

// View calls fn with key's value as the Txn sees it, without copying it
// into the heap (the slice is valid only during fn), or returns ErrNotFound.
func (t *Txn) View(key []byte, fn func(value []byte) error) error {
	return t.do("get", func(txn *badger.Txn) error {
		item, err := txn.Get(t.storageKey(key))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		return item.Value(fn)
	})
}

// Has reports whether key exists as the Txn sees it.
func (t *Txn) Has(key []byte) (bool, error) {
	var ok bool
	err := t.do("has", func(txn *badger.Txn) error {
		_, err := txn.Get(t.storageKey(key))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		ok = err == nil
		return err
	})
	return ok, err
}

// Put sets key to value. It fails with ErrTooLarge if the key or value is too large
// or the Txn cannot take more writes; the Txn stays usable after that.
func (t *Txn) Put(key, value []byte) error {
	return t.do("put", func(txn *badger.Txn) error {
		if err := set(txn, t.storageKey(key), value); err != nil {
			return err
		}
		t.dirty = true
		return nil
	})
}

// Delete removes key; deleting an absent key is not an error.
func (t *Txn) Delete(key []byte) error {
	return t.do("delete", func(txn *badger.Txn) error {
		if err := txn.Delete(t.storageKey(key)); err != nil {
			return err
		}
		t.dirty = true
		return nil
	})
}

// List returns the keys starting with prefix and their values, in byte order,
// strictly after `after` (nil: from the start), at most limit of them (limit <= 0:
// all), as the Txn sees them, its own writes and deletes included.
func (t *Txn) List(prefix, after []byte, limit int) ([]KV, error) {
	var out []KV
	err := t.Scan(prefix, after, limit, func(key, value []byte) error {
		out = append(out, KV{Key: append([]byte(nil), key...), Value: append([]byte{}, value...)})
		return nil
	})
	return out, err
}

// Scan calls fn for the pairs List would return, in the same order, without
// copying them into the heap: key and value are valid only during fn. A
// caller that must know how large a result is before it takes it scans
// twice. An error from fn ends the scan and is returned.
func (t *Txn) Scan(prefix, after []byte, limit int, fn func(key, value []byte) error) error {
	return t.do("list", func(txn *badger.Txn) error {
		full := t.storageKey(prefix)
		var from []byte
		if after != nil {
			from = t.storageKey(after)
		}
		// No prefetching: it would copy up to PrefetchSize values into the
		// host's heap ahead of the caller, which reads each value once.
		it := txn.NewIterator(badger.IteratorOptions{Prefix: full})
		defer it.Close()
		n := 0
		for it.Seek(seekAfter(full, from)); it.Valid(); it.Next() {
			item := it.Item()
			if from != nil && string(item.Key()) == string(from) {
				continue
			}
			if limit > 0 && n >= limit {
				break
			}
			n++
			key := item.Key()[len(t.prefix):]
			if err := item.Value(func(v []byte) error { return fn(key, v) }); err != nil {
				return err
			}
		}
		return nil
	})
}

// Alarm returns the object's alarm as the Txn sees it, or ErrNotFound.
func (t *Txn) Alarm() (Alarm, error) {
	var a Alarm
	err := t.do("get alarm", func(txn *badger.Txn) error {
		var err error
		a, err = getAlarm(txn, t.id)
		return err
	})
	return a, err
}

// SetAlarm replaces the object's alarm; it commits with the Txn.
func (t *Txn) SetAlarm(at time.Time, retry int) error {
	return t.do("set alarm", func(txn *badger.Txn) error {
		if err := setAlarm(txn, Alarm{Object: t.id, At: at, Retry: retry}); err != nil {
			return err
		}
		t.dirty = true
		return nil
	})
}

// DeleteAlarm removes the object's alarm, if any; it commits with the Txn.
func (t *Txn) DeleteAlarm() error {
	return t.do("delete alarm", func(txn *badger.Txn) error {
		if err := deleteAlarm(txn, t.id); err != nil {
			return err
		}
		t.dirty = true
		return nil
	})
}

// PutObject writes the object's record; it commits with the Txn.
func (t *Txn) PutObject(rec ObjectRecord) error {
	return t.do("put record", func(txn *badger.Txn) error {
		if err := set(txn, objectKey(t.id), encodeObjectRecord(rec)); err != nil {
			return err
		}
		t.dirty = true
		return nil
	})
}

// Dirty reports whether any write was made through the Txn.
func (t *Txn) Dirty() bool { return t.dirty }

// Commit makes the Txn's writes durable (synced unless Options.NoSync) and ends it.
// It returns nil at once when the Txn made no write. On error nothing is written.
func (t *Txn) Commit() error {
	if !t.dirty {
		t.Discard()
		return nil
	}
	err := t.do("commit", func(txn *badger.Txn) error { return txn.Commit() })
	t.done = true
	return err
}

// Discard ends the Txn, dropping writes not committed. It is safe after Commit and
// when called more than once.
func (t *Txn) Discard() {
	if t.txn == nil {
		return
	}
	t.s.mu.RLock()
	if !t.s.closed {
		t.txn.Discard() // a no-op after badger's Commit
	}
	t.s.mu.RUnlock()
	t.done = true
}
