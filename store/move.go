package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// An object's export is everything the store keeps of it, to move it to
// another host's store: its record, its storage and its alarm, as the
// store's own keys and values. Both stores must be of this layout (the
// first byte says which); hosts of one cluster run one torpor version.
const exportFormat = 1

// ExportObject returns id's record, storage and alarm as one blob, read in
// one transaction, for ImportObject on another store. ErrNotFound: the
// object has no record. Safe for concurrent use.
func (s *Store) ExportObject(id string) ([]byte, error) {
	var out []byte
	err := s.view(func(txn *badger.Txn) error {
		rec, err := txn.Get(objectKey(id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return mapErr(err)
		}
		out = []byte{exportFormat}
		add := func(item *badger.Item) error {
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			out = appendField(appendField(out, item.Key()), v)
			return nil
		}
		if err := add(rec); err != nil {
			return err
		}
		if a, err := getAlarm(txn, id); err == nil {
			for _, k := range [][]byte{alarmKey(id), alarmIndexKey(a.At.UnixMilli(), id)} {
				item, err := txn.Get(k)
				if err != nil {
					return mapErr(err)
				}
				if err := add(item); err != nil {
					return err
				}
			}
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		prefix, err := storagePrefix(id)
		if err != nil {
			return err
		}
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := add(it.Item()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("export object %s: %w", id, err)
	}
	return out, nil
}

// ImportObject writes an export of object id into this store, replacing
// whatever the store had of it. Every key must belong to id: an export of
// another object, or bytes ExportObject did not make, are refused before
// anything is written. Safe for concurrent use.
func (s *Store) ImportObject(id string, export []byte) error {
	if err := s.importObject(id, export); err != nil {
		return fmt.Errorf("import object %s: %w", id, err)
	}
	return nil
}

func (s *Store) importObject(id string, export []byte) error {
	if len(export) == 0 || export[0] != exportFormat {
		return fmt.Errorf("%w: not an object export of this store's format", errMalformed)
	}
	prefix, err := storagePrefix(id)
	if err != nil {
		return err
	}
	var pairs [][2][]byte
	sawRecord := false
	for b := export[1:]; len(b) > 0; {
		k, rest, ok := cutField(b)
		if !ok {
			return fmt.Errorf("%w: truncated export", errMalformed)
		}
		v, rest, ok := cutField(rest)
		if !ok {
			return fmt.Errorf("%w: truncated export", errMalformed)
		}
		b = rest
		if !belongsTo(k, id, prefix) {
			return fmt.Errorf("%w: export holds a key of another object", errMalformed)
		}
		sawRecord = sawRecord || string(k) == string(objectKey(id))
		pairs = append(pairs, [2][]byte{k, v})
	}
	if !sawRecord {
		return fmt.Errorf("%w: export has no object record", errMalformed)
	}
	// What this store had of the object goes first, so that nothing of an
	// older copy survives beside the import.
	if err := s.deleteObject(id); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for _, p := range pairs {
		if err := wb.Set(p[0], p[1]); err != nil {
			return mapErr(err)
		}
	}
	return mapErr(wb.Flush())
}

// belongsTo reports whether k is one of object id's keys.
func belongsTo(k []byte, id string, storage []byte) bool {
	switch {
	case string(k) == string(objectKey(id)), string(k) == string(alarmKey(id)):
		return true
	case len(k) > len(storage) && string(k[:len(storage)]) == string(storage):
		return true
	}
	_, aid, ok := parseAlarmIndexKey(k)
	return ok && aid == id
}

func appendField(b, f []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
	return append(b, f...)
}

func cutField(b []byte) (field, rest []byte, ok bool) {
	if len(b) < 4 {
		return nil, nil, false
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(len(b)-4) < uint64(n) {
		return nil, nil, false
	}
	return b[4 : 4+n], b[4+n:], true
}
