package store

import (
	"encoding/binary"
	"fmt"
)

// Key kinds: the first byte of every key. See the package comment for the layout.
const (
	kindActive     = 'a'
	kindVersion    = 'v'
	kindWasm       = 'w'
	kindRef        = 'r'
	kindObject     = 'o'
	kindStorage    = 's'
	kindAlarm      = 'l'
	kindAlarmIndex = 't'
)

// shaLen is the length of a raw sha256 in keys.
const shaLen = 32

// key concatenates a kind byte and parts into a new slice.
func key(kind byte, parts ...[]byte) []byte {
	n := 1
	for _, p := range parts {
		n += len(p)
	}
	k := make([]byte, 1, n)
	k[0] = kind
	for _, p := range parts {
		k = append(k, p...)
	}
	return k
}

// lenPrefixed returns s preceded by its u16 big-endian length.
func lenPrefixed(s string) ([]byte, error) {
	if len(s) > 0xFFFF {
		return nil, fmt.Errorf("%w: name of %d bytes exceeds %d", ErrTooLarge, len(s), 0xFFFF)
	}
	b := make([]byte, 2, 2+len(s))
	binary.BigEndian.PutUint16(b, uint16(len(s)))
	return append(b, s...), nil
}

func activeKey(name string) []byte { return key(kindActive, []byte(name)) }

func wasmKey(sha []byte) []byte { return key(kindWasm, sha) }

func refKey(sha []byte, name string) []byte { return key(kindRef, sha, []byte(name)) }

// versionPrefix is the prefix of all version keys of name.
func versionPrefix(name string) ([]byte, error) {
	n, err := lenPrefixed(name)
	if err != nil {
		return nil, err
	}
	return key(kindVersion, n), nil
}

func objectKey(id string) []byte { return key(kindObject, []byte(id)) }

// storagePrefix is the prefix of all storage keys of object id.
func storagePrefix(id string) ([]byte, error) {
	n, err := lenPrefixed(id)
	if err != nil {
		return nil, err
	}
	return key(kindStorage, n), nil
}

func alarmKey(id string) []byte { return key(kindAlarm, []byte(id)) }

// alarmIndexKey orders alarms by time: ms with its sign bit flipped sorts signed
// values correctly as unsigned big-endian bytes.
func alarmIndexKey(ms int64, id string) []byte {
	var t [8]byte
	binary.BigEndian.PutUint64(t[:], uint64(ms)^(1<<63))
	return key(kindAlarmIndex, t[:], []byte(id))
}

// parseAlarmIndexKey is the inverse of alarmIndexKey.
func parseAlarmIndexKey(k []byte) (ms int64, id string, ok bool) {
	if len(k) < 9 || k[0] != kindAlarmIndex {
		return 0, "", false
	}
	return int64(binary.BigEndian.Uint64(k[1:9]) ^ (1 << 63)), string(k[9:]), true
}

// seekAfter returns where a forward scan of prefix starts to yield only keys strictly
// after `after` (the caller skips a key equal to after): the later of the two.
func seekAfter(prefix, after []byte) []byte {
	if after == nil || string(after) < string(prefix) {
		return prefix
	}
	return after
}
