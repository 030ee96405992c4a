package abi

import (
	"encoding/binary"
	"errors"
)

// The ABI has two variable-length encodings, both plain enough to read from WAT:
//
//	list:  item*        item = u32le length, bytes
//	pairs: (key value)* key, value = u32le length, bytes
//
// A list carries tags; pairs carry the request info and storage_list results.

// ErrMalformed is returned when bytes do not follow the list or pairs encoding.
var ErrMalformed = errors.New("abi: malformed encoding")

// AppendItem appends one length-prefixed item.
func AppendItem(dst, item []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(item)))
	return append(dst, item...)
}

// EncodeList encodes items as a list.
func EncodeList(items []string) []byte {
	n := 0
	for _, s := range items {
		n += 4 + len(s)
	}
	dst := make([]byte, 0, n)
	for _, s := range items {
		dst = AppendItem(dst, []byte(s))
	}
	return dst
}

// EachItem calls fn for every item of a list, in order, without copying; it
// stops at the first error fn returns. It returns ErrMalformed if b is not a
// well-formed list.
func EachItem(b []byte, fn func(item []byte) error) error {
	for len(b) > 0 {
		if len(b) < 4 {
			return ErrMalformed
		}
		n := binary.LittleEndian.Uint32(b)
		b = b[4:]
		if uint64(n) > uint64(len(b)) {
			return ErrMalformed
		}
		if err := fn(b[:n:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// DecodeList decodes a list into strings.
func DecodeList(b []byte) ([]string, error) {
	var out []string
	err := EachItem(b, func(item []byte) error {
		out = append(out, string(item))
		return nil
	})
	return out, err
}

// Pair is one key and value of the pairs encoding.
type Pair struct {
	Key, Value []byte
}

// AppendPair appends one key and value.
func AppendPair(dst, key, value []byte) []byte {
	return AppendItem(AppendItem(dst, key), value)
}

// PairSize is how many bytes AppendPair adds for a key and a value of these
// lengths.
func PairSize(keyLen, valueLen int) int { return 8 + keyLen + valueLen }

// DecodePairs decodes pairs; the returned slices alias b.
func DecodePairs(b []byte) ([]Pair, error) {
	var out []Pair
	var key []byte
	odd := false
	err := EachItem(b, func(item []byte) error {
		if !odd {
			key = item
		} else {
			out = append(out, Pair{Key: key, Value: item})
		}
		odd = !odd
		return nil
	})
	if err == nil && odd {
		err = ErrMalformed
	}
	return out, err
}
