package sdk

import (
	"encoding/json"
	"fmt"

	"github.com/torpor-dev/torpor/abi"
)

// Storage is the object's durable key-value space. The writes of one event
// commit atomically when its handler returns, and only then do the frames it
// sent leave the host; a failed event discards both. Reads see the event's
// own writes. Its methods:
//
//	Get(key string) ([]byte, error)              // ErrNotFound if absent
//	Put(key string, v []byte) error
//	Delete(key string) (existed bool, err error)
//	List(prefix string, opt ListOptions) ([]KV, error)
//	GetJSON(key string, v any) error             // ErrNotFound if absent
//	PutJSON(key string, v any) error
var Storage storage

// storage is the type of Storage; it has no state of its own.
type storage struct{}

// KV is one key and value of a List result.
type KV struct {
	Key   string
	Value []byte
}

// ListOptions narrow a List.
type ListOptions struct {
	// After starts the listing strictly after this key ("" from the first).
	After string
	// Limit caps the number of entries returned; 0 means no limit.
	Limit int
}

// listPage is how many entries List asks the host for per call.
const listPage = 128

// Get returns the value stored under key, or ErrNotFound.
func (storage) Get(key string) ([]byte, error) {
	b, err := fetch(func(buf []byte) (int, error) { return hostStorageGet(key, buf) })
	if err == abi.NotFound {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("storage get %q: %w", key, err)
	}
	return append(make([]byte, 0, len(b)), b...), nil
}

// Put stores v under key.
func (storage) Put(key string, v []byte) error {
	if err := hostStoragePut(key, v); err != nil {
		return fmt.Errorf("storage put %q: %w", key, err)
	}
	return nil
}

// Delete removes key and reports whether it existed.
func (storage) Delete(key string) (existed bool, err error) {
	switch err := hostStorageDelete(key); err {
	case nil:
		return true, nil
	case abi.NotFound:
		return false, nil
	default:
		return false, fmt.Errorf("storage delete %q: %w", key, err)
	}
}

// List returns the entries whose keys start with prefix, in byte order of
// the keys, after opt.After and at most opt.Limit of them. It asks the host
// for pages of entries until it has them all.
func (storage) List(prefix string, opt ListOptions) ([]KV, error) {
	var out []KV
	after := opt.After
	for opt.Limit <= 0 || len(out) < opt.Limit {
		limit := listPage
		if opt.Limit > 0 {
			limit = min(limit, opt.Limit-len(out))
		}
		b, err := fetch(func(buf []byte) (int, error) {
			return hostStorageList(prefix, after, uint32(limit), buf)
		})
		if err != nil {
			return out, fmt.Errorf("storage list %q after %q: %w", prefix, after, err)
		}
		pairs, err := abi.DecodePairs(b)
		if err != nil {
			return out, fmt.Errorf("storage list %q after %q: %w", prefix, after, err)
		}
		for _, p := range pairs {
			out = append(out, KV{Key: string(p.Key), Value: clone(p.Value)})
		}
		if len(pairs) < limit || len(pairs) == 0 {
			break
		}
		after = out[len(out)-1].Key
	}
	return out, nil
}

// GetJSON decodes the JSON value stored under key into v, or returns
// ErrNotFound.
func (s storage) GetJSON(key string, v any) error {
	b, err := s.Get(key)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("storage get %q: %w", key, err)
	}
	return nil
}

// PutJSON stores v under key as JSON.
func (s storage) PutJSON(key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("storage put %q: %w", key, err)
	}
	return s.Put(key, b)
}
