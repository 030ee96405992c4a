package store

import (
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// ConnRecord is one connection in an object's hibernated connection table.
type ConnRecord struct {
	ID         uint64
	Attachment []byte
	Tags       []string
}

// AutoResponse is a request→response pair answered without waking the object.
type AutoResponse struct{ Request, Response []byte }

// ObjectRecord is what an object leaves behind when it hibernates. Read back, empty
// byte and slice fields are nil and times are in UTC.
type ObjectRecord struct {
	Version       string         // sha256 of the plugin version that took the snapshot
	Snapshot      []byte         // the guest's in-memory state at hibernation
	Conns         []ConnRecord   // connection table at hibernation
	AutoResponses []AutoResponse // pairs answered while hibernated
	Failed        string         // non-empty: the object is marked failed, with this reason
	Hibernated    time.Time
	// HibernatedWhy says why the latest snapshot was taken: "idle",
	// "evict", "shutdown", or "budget" with what was over it.
	HibernatedWhy string
	LastEvent     time.Time
}

// Object returns id's record, or ErrNotFound. Safe for concurrent use.
func (s *Store) Object(id string) (ObjectRecord, error) {
	var rec ObjectRecord
	err := s.view(func(txn *badger.Txn) error {
		b, err := get(txn, objectKey(id))
		if err != nil {
			return err
		}
		rec, err = decodeObjectRecord(b)
		return err
	})
	if err != nil {
		return ObjectRecord{}, fmt.Errorf("object %s: %w", id, err)
	}
	return rec, nil
}

// PutObject writes id's record in one transaction. Safe for concurrent use.
func (s *Store) PutObject(id string, rec ObjectRecord) error {
	err := s.update(func(txn *badger.Txn) error {
		return set(txn, objectKey(id), encodeObjectRecord(rec))
	})
	if err != nil {
		return fmt.Errorf("put object %s: %w", id, err)
	}
	return nil
}

// deleteBatch is how many storage keys DeleteObject collects per iterator pass.
const deleteBatch = 4096

// DeleteObject removes id's record, alarm and all storage keys; an absent object is
// not an error. It is one transaction unless the storage is too large for one: then
// the record and alarm go in the first commit and the keys follow in further
// commits, so after a crash part of the storage may remain, invisible to ObjectIDs,
// and calling DeleteObject again finishes the job. Safe for concurrent use.
func (s *Store) DeleteObject(id string) error {
	if err := s.deleteObject(id); err != nil {
		return fmt.Errorf("delete object %s: %w", id, err)
	}
	return nil
}

func (s *Store) deleteObject(id string) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	prefix, err := storagePrefix(id)
	if err != nil {
		return err
	}
	txn := s.db.NewTransaction(true)
	defer func() { txn.Discard() }()
	if err := deleteAlarm(txn, id); err != nil {
		return err
	}
	if err := txn.Delete(objectKey(id)); err != nil {
		return err
	}
	for {
		// The iterator sees this txn's pending deletes, so each pass yields new keys.
		var keys [][]byte
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		for it.Rewind(); it.Valid() && len(keys) < deleteBatch; it.Next() {
			keys = append(keys, it.Item().KeyCopy(nil))
		}
		it.Close()
		if len(keys) == 0 {
			break
		}
		for _, k := range keys {
			err := txn.Delete(k)
			if errors.Is(err, badger.ErrTxnTooBig) {
				if err := txn.Commit(); err != nil {
					return mapErr(err)
				}
				txn = s.db.NewTransaction(true)
				err = txn.Delete(k)
			}
			if err != nil {
				return mapErr(err)
			}
		}
	}
	return mapErr(txn.Commit())
}

// ObjectIDs returns the ids that have a record, in byte order, strictly after
// `after` ("" = from the start), only those of plugin unless plugin is "", at most
// limit of them (limit <= 0: all). Safe for concurrent use.
func (s *Store) ObjectIDs(plugin, after string, limit int) ([]string, error) {
	prefix := []byte{kindObject}
	if plugin != "" {
		prefix = key(kindObject, []byte(plugin), []byte{'/'})
	}
	var ids []string
	err := s.view(func(txn *badger.Txn) error {
		var from []byte
		if after != "" {
			from = objectKey(after)
		}
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Seek(seekAfter(prefix, from)); it.Valid(); it.Next() {
			k := it.Item().Key()
			if from != nil && string(k) == string(from) {
				continue
			}
			if limit > 0 && len(ids) >= limit {
				break
			}
			ids = append(ids, string(k[1:]))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list objects: %w", err)
	}
	return ids, nil
}

// StorageStats returns the number of id's storage keys and the total size of their
// values, reading keys only (value sizes kept in the value log are badger's close
// estimate). Safe for concurrent use.
func (s *Store) StorageStats(id string) (keys int, size int64, err error) {
	err = s.view(func(txn *badger.Txn) error {
		prefix, err := storagePrefix(id)
		if err != nil {
			return err
		}
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			keys++
			size += it.Item().ValueSize()
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("storage stats of %s: %w", id, err)
	}
	return keys, size, nil
}
