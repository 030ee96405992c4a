package store

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// PluginVersion describes one uploaded version of a plugin.
type PluginVersion struct {
	Name    string
	SHA256  string    // lower-case hex sha256 of the wasm bytes
	Size    int64     // length of the wasm bytes
	Created time.Time // first upload of these bytes under this name
	Active  bool      // this is the name's active version
}

// PutPlugin stores wasm under name and makes it the name's active version, in one
// transaction. The bytes are stored once per sha256 whatever the names; uploading
// bytes the name already had reactivates that version and keeps its Created time.
// Safe for concurrent use.
func (s *Store) PutPlugin(name string, wasm []byte) (PluginVersion, error) {
	sum := sha256.Sum256(wasm)
	sha := sum[:]
	v := PluginVersion{Name: name, SHA256: hex.EncodeToString(sha), Size: int64(len(wasm)), Active: true}
	err := s.update(func(txn *badger.Txn) error {
		vp, err := versionPrefix(name)
		if err != nil {
			return err
		}
		if _, err := txn.Get(wasmKey(sha)); errors.Is(err, badger.ErrKeyNotFound) {
			if err := set(txn, wasmKey(sha), wasm); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		vk := key(kindVersion, vp[1:], sha)
		switch old, err := get(txn, vk); {
		case err == nil:
			m, err := decodeVersionMeta(old)
			if err != nil {
				return err
			}
			v.Created = m.created
		case errors.Is(err, ErrNotFound):
			v.Created = time.Unix(0, time.Now().UnixNano()).UTC()
			if err := set(txn, vk, encodeVersionMeta(versionMeta{size: v.Size, created: v.Created})); err != nil {
				return err
			}
			if err := set(txn, refKey(sha, name), nil); err != nil {
				return err
			}
		default:
			return err
		}
		return set(txn, activeKey(name), sha)
	})
	if err != nil {
		return PluginVersion{}, fmt.Errorf("put plugin %s: %w", name, err)
	}
	return v, nil
}

// ActivePlugin returns name's active version, or ErrNotFound. Safe for concurrent use.
func (s *Store) ActivePlugin(name string) (PluginVersion, error) {
	var v PluginVersion
	err := s.view(func(txn *badger.Txn) error {
		var err error
		v, err = activeVersion(txn, name)
		return err
	})
	if err != nil {
		return PluginVersion{}, fmt.Errorf("active plugin %s: %w", name, err)
	}
	return v, nil
}

// activeVersion reads name's active pointer and its version metadata.
func activeVersion(txn *badger.Txn, name string) (PluginVersion, error) {
	sha, err := get(txn, activeKey(name))
	if err != nil {
		return PluginVersion{}, err
	}
	vp, err := versionPrefix(name)
	if err != nil {
		return PluginVersion{}, err
	}
	b, err := get(txn, key(kindVersion, vp[1:], sha))
	if err != nil {
		return PluginVersion{}, fmt.Errorf("version %x of the active pointer: %w", sha, err)
	}
	m, err := decodeVersionMeta(b)
	if err != nil {
		return PluginVersion{}, err
	}
	return PluginVersion{Name: name, SHA256: hex.EncodeToString(sha), Size: m.size, Created: m.created, Active: true}, nil
}

// PluginWasm returns the wasm bytes of version sha (lower-case hex) of name, or
// ErrNotFound if name has no such version. Safe for concurrent use.
func (s *Store) PluginWasm(name, sha string) ([]byte, error) {
	var wasm []byte
	err := s.view(func(txn *badger.Txn) error {
		raw, err := hex.DecodeString(sha)
		if err != nil || len(raw) != shaLen {
			return ErrNotFound
		}
		vp, err := versionPrefix(name)
		if err != nil {
			return err
		}
		if _, err := get(txn, key(kindVersion, vp[1:], raw)); err != nil {
			return err
		}
		wasm, err = get(txn, wasmKey(raw))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("plugin %s version %s: %w", name, sha, err)
	}
	return wasm, nil
}

// Plugins returns the active version of every plugin, sorted by name. Safe for
// concurrent use.
func (s *Store) Plugins() ([]PluginVersion, error) {
	var out []PluginVersion
	err := s.view(func(txn *badger.Txn) error {
		var names []string
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{kindActive}})
		for it.Rewind(); it.Valid(); it.Next() {
			names = append(names, string(it.Item().Key()[1:]))
		}
		it.Close()
		for _, name := range names {
			v, err := activeVersion(txn, name)
			if err != nil {
				return fmt.Errorf("plugin %s: %w", name, err)
			}
			out = append(out, v)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list plugins: %w", err)
	}
	return out, nil
}

// PluginVersions returns every version of name, oldest first, with Active set on the
// active one; ErrNotFound if name has none. Safe for concurrent use.
func (s *Store) PluginVersions(name string) ([]PluginVersion, error) {
	var out []PluginVersion
	err := s.view(func(txn *badger.Txn) error {
		var err error
		out, err = versions(txn, name)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("plugin %s versions: %w", name, err)
	}
	return out, nil
}

// versions lists name's versions, oldest first; ErrNotFound if there are none.
func versions(txn *badger.Txn, name string) ([]PluginVersion, error) {
	vp, err := versionPrefix(name)
	if err != nil {
		return nil, err
	}
	active, err := get(txn, activeKey(name))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	var out []PluginVersion
	it := txn.NewIterator(badger.IteratorOptions{Prefix: vp, PrefetchValues: true, PrefetchSize: 16})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		sha := it.Item().Key()[len(vp):]
		b, err := it.Item().ValueCopy(nil)
		if err != nil {
			return nil, err
		}
		m, err := decodeVersionMeta(b)
		if err != nil {
			return nil, fmt.Errorf("version %x: %w", sha, err)
		}
		out = append(out, PluginVersion{
			Name: name, SHA256: hex.EncodeToString(sha), Size: m.size, Created: m.created,
			Active: bytes.Equal(sha, active),
		})
	}
	if len(out) == 0 {
		return nil, ErrNotFound
	}
	slices.SortFunc(out, func(a, b PluginVersion) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.SHA256, b.SHA256))
	})
	return out, nil
}

// RemovePlugin removes name's versions, its active pointer and the wasm bytes no
// other name references, in one transaction; ErrNotFound if name has no versions.
// Objects of the plugin and their data are not touched. Safe for concurrent use.
func (s *Store) RemovePlugin(name string) error {
	err := s.update(func(txn *badger.Txn) error {
		vs, err := versions(txn, name)
		if err != nil {
			return err
		}
		vp, err := versionPrefix(name)
		if err != nil {
			return err
		}
		for _, v := range vs {
			sha, _ := hex.DecodeString(v.SHA256)
			if err := txn.Delete(key(kindVersion, vp[1:], sha)); err != nil {
				return err
			}
			if err := txn.Delete(refKey(sha, name)); err != nil {
				return err
			}
			// The iterator sees this txn's delete above, so any key left is another name.
			it := txn.NewIterator(badger.IteratorOptions{Prefix: key(kindRef, sha)})
			it.Rewind()
			shared := it.Valid()
			it.Close()
			if !shared {
				if err := txn.Delete(wasmKey(sha)); err != nil {
					return err
				}
			}
		}
		return txn.Delete(activeKey(name))
	})
	if err != nil {
		return fmt.Errorf("remove plugin %s: %w", name, err)
	}
	return nil
}
