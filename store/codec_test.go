package store

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestObjectRecordRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		rec  ObjectRecord
	}{
		{"zero", ObjectRecord{}},
		{"full", sampleRecord()},
		{"pre-1970 and far-future times", ObjectRecord{
			Hibernated: time.Date(1, 2, 3, 4, 5, 6, 7, time.UTC),
			LastEvent:  time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		}},
		{"empty tag and attachment", ObjectRecord{Conns: []ConnRecord{{ID: 7, Tags: []string{""}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := encodeObjectRecord(tt.rec)
			if b[0] != recordFormat {
				t.Errorf("first byte %d, want format %d", b[0], recordFormat)
			}
			got, err := decodeObjectRecord(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.rec) {
				t.Errorf("round trip:\ngot  %+v\nwant %+v", got, tt.rec)
			}
		})
	}
}

// TestDecodeObjectRecordFormat1 reads a record as the first format wrote
// it (no hibernation reason), as a store written by an older torpor holds.
func TestDecodeObjectRecordFormat1(t *testing.T) {
	rec := sampleRecord()
	rec.HibernatedWhy = ""
	b := encodeObjectRecord(rec)
	old := append([]byte{1}, b[1:len(b)-1]...) // format 1, without the empty reason
	got, err := decodeObjectRecord(old)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, rec) {
		t.Errorf("format 1:\ngot  %+v\nwant %+v", got, rec)
	}
}

func TestDecodeObjectRecordRejects(t *testing.T) {
	good := encodeObjectRecord(sampleRecord())
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"unknown format", append([]byte{recordFormat + 1}, good[1:]...)},
		{"trailing byte", append(append([]byte(nil), good...), 0)},
		{"huge length", []byte{recordFormat, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"huge conn count", []byte{recordFormat, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"overlong varint", []byte{recordFormat, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"nanoseconds out of range", func() []byte {
			b := encodeObjectRecord(ObjectRecord{})
			return append(b[:len(b)-1], 0x80, 0x94, 0xeb, 0xdc, 0x03) // 1e9
		}()},
	}
	// Every truncation of a valid record is malformed too.
	for n := range len(good) {
		tests = append(tests, struct {
			name string
			in   []byte
		}{"truncated", good[:n]})
	}
	for _, tt := range tests {
		if rec, err := decodeObjectRecord(tt.in); !errors.Is(err, errMalformed) {
			t.Errorf("%s (% x): got %+v, %v; want errMalformed", tt.name, tt.in, rec, err)
		}
	}
}

func TestSmallCodecs(t *testing.T) {
	m := versionMeta{size: 1 << 40, created: time.Date(2025, 3, 4, 5, 6, 7, 8, time.UTC)}
	if got, err := decodeVersionMeta(encodeVersionMeta(m)); err != nil || got != m {
		t.Errorf("version meta round trip = %+v, %v", got, err)
	}
	if ms, retry, err := decodeAlarm(encodeAlarm(-5, 9)); err != nil || ms != -5 || retry != 9 {
		t.Errorf("alarm round trip = %d, %d, %v", ms, retry, err)
	}
	for _, in := range [][]byte{nil, {alarmFormat, 1, 2}, {versionFormat + 1}} {
		if _, _, err := decodeAlarm(in); !errors.Is(err, errMalformed) {
			t.Errorf("decodeAlarm(% x) = %v", in, err)
		}
		if _, err := decodeVersionMeta(in); !errors.Is(err, errMalformed) {
			t.Errorf("decodeVersionMeta(% x) = %v", in, err)
		}
	}
}

func FuzzDecodeObjectRecord(f *testing.F) {
	f.Add(encodeObjectRecord(sampleRecord()))
	f.Add(encodeObjectRecord(ObjectRecord{}))
	f.Add([]byte{recordFormat, 0, 0, 0xff, 0xff, 0x03})
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := decodeObjectRecord(b)
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("error %v does not wrap errMalformed", err)
			}
			return
		}
		again, err := decodeObjectRecord(encodeObjectRecord(rec))
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if !reflect.DeepEqual(again, rec) {
			t.Fatalf("round trip changed the record:\n%+v\n%+v", rec, again)
		}
	})
}
