// Command conform is the conformance room (../../PROTOCOL.md) written with
// the Go SDK: every command is one SDK call, replied with the status the
// SDK reported, so the suite sees the host through the SDK.
package main

import (
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/torpor-dev/torpor/abi"
	"github.com/torpor-dev/torpor/sdk"
)

// state is the bytes of the last "remember"; the snapshot is them exactly.
type state struct{ mem []byte }

func init() {
	sdk.Register(sdk.Plugin[state]{
		Connect:  connect,
		Message:  message,
		Close:    closed,
		Alarm:    alarm,
		Snapshot: func(s *state) ([]byte, error) { return s.mem, nil },
		Restore:  func(s *state, data []byte) error { s.mem = append([]byte(nil), data...); return nil },
	})
}

func connect(_ *state, c sdk.Conn, r *sdk.Request) error {
	var tagStatus abi.Status
	switch q := r.Query; {
	case strings.HasPrefix(q, "t"):
		tags, err := abi.DecodeList([]byte(q[1:]))
		if err != nil {
			return err // the Go SDK can only send a well-formed list
		}
		tagStatus = statusOf(c.SetTags(tags...))
	case strings.HasPrefix(q, "r") && len(q) == 4:
		status, err := strconv.Atoi(q[1:])
		if err != nil {
			return err
		}
		return sdk.Reject(status, q)
	case q == "f":
		return errors.New("connect asked to fail")
	}
	_ = c.SendBytes([]byte{'H', byte(tagStatus)})
	return nil
}

func message(s *state, c sdk.Conn, m sdk.Message) error {
	if m.IsText() {
		return c.Send(m.Text())
	}
	items, err := abi.DecodeList(m.Data)
	if err != nil {
		return err
	}
	for len(items) > 0 {
		op := items[0]
		if len(op) != 1 {
			return errors.New("bad opcode item")
		}
		args, ok := take(&items, arity[op[0]])
		if !ok {
			return errors.New("short command " + strconv.Itoa(int(op[0])))
		}
		st, res, err := run(s, c, op[0], args)
		if err != nil {
			return err
		}
		out := append([]byte{'R', op[0], byte(st)}, res...)
		if st != abi.OK {
			out = out[:3]
		}
		_ = c.SendBytes(out)
	}
	return nil
}

// arity is the number of argument items of each opcode; -1: unknown.
var arity = func() [256]int {
	var a [256]int
	for i := range a {
		a[i] = -1
	}
	for op, n := range map[byte]int{1: 3, 2: 4, 3: 3, 4: 2, 5: 1, 6: 1, 7: 2, 8: 1, 9: 1, 10: 3, 11: 1, 12: 0, 13: 0,
		14: 2, 15: 1, 16: 0, 17: 0, 18: 0, 19: 2, 20: 0, 21: 0, 22: 2, 23: 1} {
		a[op] = n
	}
	return a
}()

// take removes the opcode and its n arguments from items.
func take(items *[]string, n int) ([][]byte, bool) {
	if n < 0 || len(*items) < 1+n {
		return nil, false
	}
	args := make([][]byte, n)
	for i, it := range (*items)[1 : 1+n] {
		args[i] = []byte(it)
	}
	*items = (*items)[1+n:]
	return args, true
}

func conn(self sdk.Conn, b []byte) sdk.Conn {
	if id := binary.LittleEndian.Uint64(pad(b, 8)); id != 0 {
		return sdk.Conn(id)
	}
	return self
}

func u32(b []byte) uint32 { return binary.LittleEndian.Uint32(pad(b, 4)) }

func pad(b []byte, n int) []byte {
	if len(b) >= n {
		return b
	}
	return append(append([]byte(nil), b...), make([]byte, n-len(b))...)
}

// statusOf finds the ABI status an SDK error wraps.
func statusOf(err error) abi.Status {
	if err == nil {
		return abi.OK
	}
	var st abi.Status
	if errors.As(err, &st) {
		return st
	}
	return abi.Internal
}

func run(s *state, self sdk.Conn, op byte, a [][]byte) (abi.Status, []byte, error) {
	switch op {
	case 1:
		return statusOf(frame(conn(self, a[0]), abi.FrameKind(u32(a[1])), a[2])), nil, nil
	case 2:
		opts := []sdk.BroadcastOption{sdk.OnlyTag(string(a[3]))}
		if id := binary.LittleEndian.Uint64(pad(a[2], 8)); id != 0 {
			opts = append(opts, sdk.Except(sdk.Conn(id)))
		}
		return statusOf(sdk.BroadcastFrame(abi.FrameKind(u32(a[0])), a[1], opts...)), nil, nil
	case 3:
		return statusOf(conn(self, a[0]).Close(int(u32(a[1])), string(a[2]))), nil, nil
	case 4:
		return statusOf(conn(self, a[0]).SetAttachment(a[1])), nil, nil
	case 5:
		b, err := conn(self, a[0]).Attachment()
		return statusOf(err), b, nil
	case 6:
		cs, err := sdk.Connections(string(a[0]))
		var out []byte
		for _, c := range cs {
			out = binary.LittleEndian.AppendUint64(out, c.ID())
		}
		return statusOf(err), out, nil
	case 7:
		return statusOf(sdk.Storage.Put(string(a[0]), a[1])), nil, nil
	case 8:
		b, err := sdk.Storage.Get(string(a[0]))
		return statusOf(err), b, nil
	case 9:
		existed, err := sdk.Storage.Delete(string(a[0]))
		if err == nil && !existed {
			return abi.NotFound, nil, nil
		}
		return statusOf(err), nil, nil
	case 10:
		// The pairs exactly as the host wrote them: List decodes them, so
		// encode them back (the encoding is canonical).
		kvs, err := sdk.Storage.List(string(a[0]), sdk.ListOptions{After: string(a[1]), Limit: int(u32(a[2]))})
		var out []byte
		for _, kv := range kvs {
			out = abi.AppendItem(abi.AppendItem(out, []byte(kv.Key)), kv.Value)
		}
		return statusOf(err), out, nil
	case 11:
		return statusOf(sdk.SetAlarm(time.UnixMilli(int64(binary.LittleEndian.Uint64(pad(a[0], 8)))))), nil, nil
	case 12:
		t, ok, err := sdk.GetAlarm()
		if err == nil && !ok {
			return abi.NotFound, nil, nil
		}
		return statusOf(err), binary.LittleEndian.AppendUint64(nil, uint64(t.UnixMilli())), nil
	case 13:
		_, ok, err := sdk.GetAlarm()
		if err == nil && !ok {
			return abi.NotFound, nil, nil
		}
		return statusOf(sdk.CancelAlarm()), nil, nil
	case 14:
		if len(a[1]) == 0 {
			return statusOf(sdk.RemoveAutoResponse(string(a[0]))), nil, nil
		}
		return statusOf(sdk.SetAutoResponse(string(a[0]), string(a[1]))), nil, nil
	case 15:
		s.mem = append([]byte(nil), a[0]...)
		return abi.OK, nil, nil
	case 16:
		return abi.OK, s.mem, nil
	case 17:
		return abi.OK, []byte(sdk.ObjectID()), nil
	case 18:
		return abi.OK, binary.LittleEndian.AppendUint64(nil, self.ID()), nil
	case 19:
		sdk.Log(abi.LogLevel(u32(a[0])), string(a[1]))
		return abi.OK, nil, nil
	case 20:
		return 0, nil, errors.New("fail requested")
	case 21:
		panic("trap requested")
	case 22:
		return statusOf(frame(self, abi.FrameKind(u32(a[0])), make([]byte, u32(a[1])))), nil, nil
	case 23:
		tags, err := abi.DecodeList(a[0])
		if err != nil {
			return abi.Invalid, nil, nil
		}
		return statusOf(self.SetTags(tags...)), nil, nil
	}
	return 0, nil, errors.New("unknown opcode " + strconv.Itoa(int(op)))
}

func frame(c sdk.Conn, kind abi.FrameKind, b []byte) error {
	switch kind {
	case abi.Text:
		return c.Send(string(b))
	case abi.Binary:
		return c.SendBytes(b)
	}
	return abi.Invalid // the Go SDK has no call for other kinds
}

func closed(_ *state, c sdk.Conn, code int, reason string) error {
	out := []byte{'C'}
	out = binary.LittleEndian.AppendUint32(out, uint32(code))
	out = binary.LittleEndian.AppendUint64(out, c.ID())
	out = append(out, reason...)
	return sdk.BroadcastBytes(out)
}

func alarm(_ *state, retry int) error {
	fail, err := sdk.Storage.Get("alarm-fail")
	if err != nil && !errors.Is(err, sdk.ErrNotFound) {
		return err
	}
	if retry < int(u32(fail)) {
		return errors.New("alarm asked to fail")
	}
	n := uint64(0)
	if b, err := sdk.Storage.Get("alarms"); err == nil {
		n = binary.LittleEndian.Uint64(pad(b, 8))
	}
	if err := sdk.Storage.Put("alarms", binary.LittleEndian.AppendUint64(nil, n+1)); err != nil {
		return err
	}
	return sdk.BroadcastBytes(binary.LittleEndian.AppendUint32([]byte{'A'}, uint32(retry)))
}

// main is never called: the host runs the module as a WASI reactor.
func main() {}
