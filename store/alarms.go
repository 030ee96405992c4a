package store

import (
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Alarm is an object's one pending alarm.
type Alarm struct {
	Object string
	At     time.Time // millisecond precision; read back in UTC
	Retry  int       // failed attempts so far
}

// Alarm returns id's alarm, or ErrNotFound. Safe for concurrent use.
func (s *Store) Alarm(id string) (Alarm, error) {
	var a Alarm
	err := s.view(func(txn *badger.Txn) error {
		var err error
		a, err = getAlarm(txn, id)
		return err
	})
	if err != nil {
		return Alarm{}, fmt.Errorf("alarm of %s: %w", id, err)
	}
	return a, nil
}

// SetAlarm replaces a.Object's alarm with a. Safe for concurrent use, but the
// object's alarm should not be changed by a Txn at the same time (see Store).
func (s *Store) SetAlarm(a Alarm) error {
	err := s.update(func(txn *badger.Txn) error { return setAlarm(txn, a) })
	if err != nil {
		return fmt.Errorf("set alarm of %s: %w", a.Object, err)
	}
	return nil
}

// DeleteAlarm removes id's alarm; an absent alarm is not an error. Safe for
// concurrent use.
func (s *Store) DeleteAlarm(id string) error {
	err := s.update(func(txn *badger.Txn) error { return deleteAlarm(txn, id) })
	if err != nil {
		return fmt.Errorf("delete alarm of %s: %w", id, err)
	}
	return nil
}

// NextAlarm returns the earliest alarm of all objects, or ErrNotFound if there is
// none. Safe for concurrent use.
func (s *Store) NextAlarm() (Alarm, error) {
	as, err := s.scanAlarms(nil, 1)
	if err != nil {
		return Alarm{}, fmt.Errorf("next alarm: %w", err)
	}
	if len(as) == 0 {
		return Alarm{}, fmt.Errorf("next alarm: %w", ErrNotFound)
	}
	return as[0], nil
}

// DueAlarms returns the alarms with At <= now, earliest first, at most limit of them
// (limit <= 0: all). Safe for concurrent use.
func (s *Store) DueAlarms(now time.Time, limit int) ([]Alarm, error) {
	as, err := s.scanAlarms(&now, limit)
	if err != nil {
		return nil, fmt.Errorf("due alarms: %w", err)
	}
	return as, nil
}

// scanAlarms walks the alarm index in time order up to *until (nil: no bound),
// keeping entries that agree with their object's alarm key.
func (s *Store) scanAlarms(until *time.Time, limit int) ([]Alarm, error) {
	var out []Alarm
	err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{kindAlarmIndex}})
		defer it.Close()
		for it.Rewind(); it.Valid() && (limit <= 0 || len(out) < limit); it.Next() {
			ms, id, ok := parseAlarmIndexKey(it.Item().Key())
			if !ok {
				continue
			}
			if until != nil && ms > until.UnixMilli() {
				break
			}
			a, err := getAlarm(txn, id)
			if errors.Is(err, ErrNotFound) || errors.Is(err, errMalformed) {
				continue // stale index entry, or an alarm no one can fire
			}
			if err != nil {
				return fmt.Errorf("alarm of %s: %w", id, err)
			}
			if a.At.UnixMilli() == ms {
				out = append(out, a)
			}
		}
		return nil
	})
	return out, err
}

// getAlarm reads id's alarm key.
func getAlarm(txn *badger.Txn, id string) (Alarm, error) {
	b, err := get(txn, alarmKey(id))
	if err != nil {
		return Alarm{}, err
	}
	ms, retry, err := decodeAlarm(b)
	if err != nil {
		return Alarm{}, err
	}
	return Alarm{Object: id, At: time.UnixMilli(ms).UTC(), Retry: retry}, nil
}

// setAlarm replaces a.Object's alarm key and index entry.
func setAlarm(txn *badger.Txn, a Alarm) error {
	if err := deleteAlarm(txn, a.Object); err != nil {
		return err
	}
	ms := a.At.UnixMilli()
	if err := set(txn, alarmKey(a.Object), encodeAlarm(ms, a.Retry)); err != nil {
		return err
	}
	return set(txn, alarmIndexKey(ms, a.Object), nil)
}

// deleteAlarm removes id's alarm key and its index entry, if any.
func deleteAlarm(txn *badger.Txn, id string) error {
	old, err := getAlarm(txn, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil
	case errors.Is(err, errMalformed):
		// Unreadable: drop the key; its index entry, if any, no longer matches it
		// and is skipped by scanAlarms.
	case err != nil:
		return err
	default:
		if err := txn.Delete(alarmIndexKey(old.At.UnixMilli(), id)); err != nil {
			return mapErr(err)
		}
	}
	return mapErr(txn.Delete(alarmKey(id)))
}
