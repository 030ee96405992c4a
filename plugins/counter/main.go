// Command counter is a test room with a durable and an in-memory counter. Its
// WAT twin (plugins/counter-wat) implements the same protocol byte for byte,
// including the snapshot, so the host tests can run against either.
//
// Every frame is a text command; every reply is a text frame to the sender:
//
//	inc     storage "count" += 1, in-memory hits += 1; replies the new count
//	get     replies storage "count"
//	hits    replies the in-memory hits
//	trap    storage "count" += 1, sends "trapping", then traps: the host must
//	        discard both the write and the frame
//	alarm   sets the alarm to now + 50 ms; replies "alarm set"
//	alarms  replies storage "alarms"
//	other   replies "unknown command"
//
// When the alarm fires: storage "alarms" += 1 and "alarm" goes to every
// connection. Numbers are replied in decimal; storage values are 8-byte
// little-endian uint64s, absent meaning 0. hits lives only in memory and in
// the snapshot, which is hits as an 8-byte little-endian uint64; a snapshot
// of any other length restores hits = 0.
//
// Commands match the payload exactly, whatever the frame kind. A storage
// error fails the event; a failed send or broadcast is ignored (frames are
// best effort, the write still commits), as in the twin.
package main

import (
	"encoding/binary"
	"errors"
	"strconv"
	"time"

	"github.com/torpor-dev/torpor/abi"
	"github.com/torpor-dev/torpor/sdk"
)

// state is the in-memory part: hits since the room was created, carried
// across hibernation by the snapshot (but not across a crash).
type state struct {
	hits uint64
}

func init() {
	sdk.Register(sdk.Plugin[state]{
		Message:  message,
		Alarm:    alarm,
		Snapshot: snapshot,
		Restore:  restore,
	})
}

func message(s *state, c sdk.Conn, m sdk.Message) error {
	switch m.Text() {
	case "inc":
		n, err := add("count", 1)
		if err != nil {
			return err
		}
		s.hits++
		reply(c, strconv.FormatUint(n, 10))
		return nil
	case "get":
		return sendCount(c, "count")
	case "hits":
		reply(c, strconv.FormatUint(s.hits, 10))
		return nil
	case "trap":
		_, _ = add("count", 1) // the trap discards it anyway
		reply(c, "trapping")
		panic("trap requested")
	case "alarm":
		if err := sdk.SetAlarm(time.Now().Add(50 * time.Millisecond)); err != nil {
			return err
		}
		reply(c, "alarm set")
		return nil
	case "alarms":
		return sendCount(c, "alarms")
	default:
		reply(c, "unknown command")
		return nil
	}
}

func alarm(_ *state, _ int) error {
	if _, err := add("alarms", 1); err != nil {
		return err
	}
	_ = sdk.Broadcast("alarm") // best effort, like reply
	return nil
}

func snapshot(s *state) ([]byte, error) {
	return binary.LittleEndian.AppendUint64(nil, s.hits), nil
}

// restore reads hits back from an 8-byte snapshot; anything else means 0.
func restore(s *state, data []byte) error {
	if len(data) == 8 {
		s.hits = binary.LittleEndian.Uint64(data)
	}
	return nil
}

// load reads a storage counter; absent is 0.
func load(key string) (uint64, error) {
	b, err := sdk.Storage.Get(key)
	if errors.Is(err, sdk.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(b) != 8 {
		return 0, errors.New("counter: storage " + strconv.Quote(key) + " is " + strconv.Itoa(len(b)) + " bytes, want 8")
	}
	return binary.LittleEndian.Uint64(b), nil
}

// add adds delta to a storage counter and returns the new value.
func add(key string, delta uint64) (uint64, error) {
	n, err := load(key)
	if err != nil {
		return 0, err
	}
	n += delta
	return n, sdk.Storage.Put(key, binary.LittleEndian.AppendUint64(nil, n))
}

func sendCount(c sdk.Conn, key string) error {
	n, err := load(key)
	if err != nil {
		return err
	}
	reply(c, strconv.FormatUint(n, 10))
	return nil
}

// reply sends text to c, best effort: a failed send must not fail the event
// and undo its write (the WAT twin behaves the same).
func reply(c sdk.Conn, text string) {
	if err := c.Send(text); err != nil {
		sdk.Log(abi.LogWarn, "counter: "+err.Error())
	}
}

// main is never called: the host runs the module as a WASI reactor.
func main() {}
