package host

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/torpor-dev/torpor/abi"
	"github.com/torpor-dev/torpor/host/internal/engine"
	"github.com/torpor-dev/torpor/store"
)

// event gathers the effects of one handler call. Nothing it collects leaves
// the host until commit: storage writes and the alarm go into one store
// transaction; attachment, tag and auto-response changes and outbound frames
// are applied only after that transaction is durable (the output gate).
type event struct {
	o       *object
	export  int
	connect uint64   // the connection being connected, in a connect event
	gone    *conn    // the connection being closed, in a close event
	closed  []uint64 // connections this event closed
	data    []byte
	reply   []byte

	txn        *store.Txn
	written    int
	alarmTouch bool
	failed     error // a host-side failure that fails the whole event

	outputs     []output
	outBytes    int // payload bytes of the frames in outputs
	attachments map[uint64][]byte
	tags        []string
	autoResp    map[string][]byte // copy-on-write of the object's pairs

	logBytes int // guest log bytes this event wrote

	lease Lease // the activation's, kept across events (see Options.Leases)
}

// output is one frame or close, kept in the order the guest asked for them.
type output struct {
	conn      uint64 // target; broadcast when frame != nil and broadcast
	broadcast bool
	except    uint64
	tag       string
	frame     *Frame
	close     bool
	code      int
	reason    string
}

var _ engine.Env = (*event)(nil)

func (o *object) beginEvent(export int, data []byte, args []uint64) *event {
	ev := o.ev
	if ev == nil {
		ev = &event{o: o}
		o.ev = ev
	}
	*ev = event{o: o, export: export, data: data, outputs: ev.outputs[:0], gone: o.closing, lease: ev.lease}
	if export == engine.ExportConnect {
		ev.connect = args[0]
	}
	if export == engine.ExportAlarm {
		// The alarm is consumed by the event that handles it, unless the
		// handler sets a new one; a failed handler keeps it for the retry.
		if err := ev.tx().DeleteAlarm(); err != nil {
			ev.failed = err
		}
		ev.alarmTouch = true
	}
	return ev
}

func (ev *event) tx() *store.Txn {
	if ev.txn == nil {
		ev.txn = ev.o.h.store.Begin(ev.o.key)
	}
	return ev.txn
}

// commit makes the event's effects durable and visible, in that order.
func (ev *event) commit() error {
	if ev.failed != nil {
		return ev.failed
	}
	if ev.lease != nil && !ev.lease.Held() {
		return fmt.Errorf("%s: %w", ev.o.key, ErrLeaseLost)
	}
	if ev.txn != nil {
		// Only a transaction that wrote costs a commit worth timing.
		wrote, start := ev.txn.Dirty(), time.Now()
		err := ev.txn.Commit()
		ev.txn.Discard()
		ev.txn = nil
		if err != nil {
			return err
		}
		if wrote {
			ev.o.h.counters.commitTime.observe(time.Since(start))
		}
	}
	o := ev.o
	for id, b := range ev.attachments {
		if c := o.conns[id]; c != nil {
			c.attachment = b
			o.connsDirty = true
		}
	}
	if ev.tags != nil {
		if c := o.conns[ev.connect]; c != nil {
			c.tags = ev.tags
			o.connsDirty = true
		}
	}
	if ev.autoResp != nil {
		m := ev.autoResp
		if len(m) == 0 {
			o.autoResp.Store(nil)
		} else {
			o.autoResp.Store(&m)
		}
		o.pushAutoResponses()
	}
	if ev.alarmTouch {
		o.h.kickAlarms()
	}
	ev.flush()
	return nil
}

// flush sends the event's frames and closes, in order.
func (ev *event) flush() {
	o := ev.o
	var frames, size uint64 // handed to connections, a broadcast once per receiver
	var bs batches
	for i := range ev.outputs {
		out := &ev.outputs[i]
		switch {
		case out.close:
			if c := o.conns[out.conn]; c != nil {
				o.removeConn(out.conn)
				o.publishConns()
				c.c.Close(out.code, out.reason)
			}
		case out.broadcast:
			for _, c := range o.orderedConns() {
				if c.id == out.except || out.tag != "" && !hasTag(c.tags, out.tag) {
					continue
				}
				c.c.Send(out.frame)
				bs.note(c.c)
				frames++
				size += uint64(len(out.frame.Data))
			}
		default:
			if c := o.conns[out.conn]; c != nil {
				c.c.Send(out.frame)
				bs.note(c.c)
				frames++
				size += uint64(len(out.frame.Data))
			}
		}
		ev.outputs[i] = output{}
	}
	ev.outputs = ev.outputs[:0]
	bs.end()
	if frames > 0 {
		o.h.counters.framesOut.Add(frames)
		o.h.counters.bytesOut.Add(size)
	}
}

// discard drops everything the event gathered.
func (ev *event) discard() {
	if ev.txn != nil {
		ev.txn.Discard()
		ev.txn = nil
	}
	clear(ev.outputs)
	ev.outputs = ev.outputs[:0]
	ev.attachments, ev.tags, ev.autoResp = nil, nil, nil
}

func hasTag(tags []string, tag string) bool {
	for _, t := range tags {
		if t == tag {
			return true
		}
	}
	return false
}

// effects reports whether this event may change state. Snapshot and restore
// may only read: they move the object between sleep and waking, and no
// client event is behind them.
func (ev *event) effects() bool {
	return ev.export != engine.ExportSnapshot && ev.export != engine.ExportRestore
}

// conn returns an open connection by id, or nil if there is none or this
// event already closed it.
func (ev *event) conn(id uint64) *conn {
	c := ev.o.conns[id]
	if c == nil || slices.Contains(ev.closed, id) {
		return nil
	}
	return c
}

func (ev *event) EventData() []byte { return ev.data }

func (ev *event) Reply(b []byte) abi.Status {
	if ev.export != engine.ExportConnect && ev.export != engine.ExportSnapshot {
		return abi.BadState
	}
	if len(b) > ev.o.h.opts.Limits.SnapshotSize {
		return abi.TooLarge
	}
	if ev.export == engine.ExportConnect {
		b = b[:min(len(b), maxRejectReason)] // all a refusal's reason may use
	}
	// Reuse the buffer: a guest replying in a loop costs one copy, not
	// garbage for every call.
	ev.reply = append(ev.reply[:0], b...)
	return abi.OK
}

func (ev *event) frame(kind abi.FrameKind, data []byte) (*Frame, abi.Status) {
	if !ev.effects() {
		return nil, abi.BadState
	}
	if !kind.Valid() {
		return nil, abi.Invalid
	}
	if len(data) > ev.o.h.opts.Limits.FrameSize {
		return nil, abi.TooLarge
	}
	if kind == abi.Text && !utf8.Valid(data) {
		return nil, abi.Invalid
	}
	// Frames wait in memory until the event commits: bound them, or a
	// guest sending in a loop could hold gigabytes within its CPU time.
	if ev.outBytes+len(data) > ev.o.h.opts.Limits.EventOutput {
		return nil, abi.TooLarge
	}
	ev.outBytes += len(data)
	return &Frame{Kind: kind, Data: bytes.Clone(data)}, abi.OK
}

func (ev *event) Send(conn uint64, kind abi.FrameKind, data []byte) abi.Status {
	f, st := ev.frame(kind, data)
	if st != abi.OK {
		return st
	}
	if ev.conn(conn) == nil {
		return abi.NotFound
	}
	ev.outputs = append(ev.outputs, output{conn: conn, frame: f})
	return abi.OK
}

func (ev *event) Broadcast(kind abi.FrameKind, data []byte, except uint64, tag []byte) abi.Status {
	f, st := ev.frame(kind, data)
	if st != abi.OK {
		return st
	}
	ev.outputs = append(ev.outputs, output{broadcast: true, except: except, tag: string(tag), frame: f})
	return abi.OK
}

func (ev *event) CloseConn(conn uint64, code uint32, reason []byte) abi.Status {
	if !ev.effects() {
		return abi.BadState
	}
	if code != 1000 && (code < 3000 || code > 4999) {
		return abi.Invalid
	}
	if len(reason) > 123 {
		return abi.TooLarge
	}
	if !utf8.Valid(reason) {
		return abi.Invalid
	}
	if ev.conn(conn) == nil {
		return abi.NotFound
	}
	ev.closed = append(ev.closed, conn)
	ev.outputs = append(ev.outputs, output{conn: conn, close: true, code: int(code), reason: string(reason)})
	return abi.OK
}

func (ev *event) SetTags(conn uint64, list []byte) abi.Status {
	if ev.export != engine.ExportConnect || conn != ev.connect {
		return abi.BadState
	}
	lim := ev.o.h.opts.Limits
	var tags []string
	err := abi.EachItem(list, func(item []byte) error {
		if len(tags) == lim.Tags || len(item) > lim.TagSize {
			return errTooLarge
		}
		if len(item) == 0 || !utf8.Valid(item) {
			return abi.ErrMalformed
		}
		tags = append(tags, string(item))
		return nil
	})
	switch {
	case errors.Is(err, errTooLarge):
		return abi.TooLarge
	case err != nil:
		return abi.Invalid
	}
	if tags == nil {
		tags = []string{}
	}
	ev.tags = tags
	return abi.OK
}

var errTooLarge = errors.New("too large")

func (ev *event) ConnList(dst []byte, tag []byte) ([]byte, abi.Status) {
	for _, id := range ev.o.sortedConnIDs() {
		c := ev.conn(id)
		if c == nil {
			continue
		}
		tags := c.tags
		if id == ev.connect && ev.tags != nil {
			tags = ev.tags
		}
		if len(tag) > 0 && !hasTag(tags, string(tag)) {
			continue
		}
		dst = binary.LittleEndian.AppendUint64(dst, id)
	}
	return dst, abi.OK
}

func (ev *event) Attachment(conn uint64) ([]byte, abi.Status) {
	if b, ok := ev.attachments[conn]; ok {
		return b, abi.OK
	}
	c := ev.conn(conn)
	if c == nil && ev.gone != nil && ev.gone.id == conn {
		c = ev.gone
	}
	if c == nil {
		return nil, abi.NotFound
	}
	return c.attachment, abi.OK
}

func (ev *event) SetAttachment(conn uint64, b []byte) abi.Status {
	if !ev.effects() {
		return abi.BadState
	}
	if len(b) > ev.o.h.opts.Limits.AttachmentSize {
		return abi.TooLarge
	}
	if ev.conn(conn) == nil {
		return abi.NotFound
	}
	if ev.attachments == nil {
		ev.attachments = map[uint64][]byte{}
	}
	ev.attachments[conn] = bytes.Clone(b)
	return abi.OK
}

func (ev *event) checkKey(key []byte) abi.Status {
	switch {
	case len(key) == 0:
		return abi.Invalid
	case len(key) > ev.o.h.opts.Limits.KeySize:
		return abi.TooLarge
	}
	return abi.OK
}

// storeFailed turns a store error into a status, failing the event when the
// store itself is in trouble.
func (ev *event) storeFailed(err error) abi.Status {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return abi.NotFound
	case errors.Is(err, store.ErrTooLarge):
		return abi.TooLarge
	}
	ev.failed = err
	return abi.Internal
}

func (ev *event) StorageGet(key, buf []byte) (int, abi.Status) {
	if st := ev.checkKey(key); st != abi.OK {
		return 0, st
	}
	n, st := 0, abi.OK
	err := ev.tx().View(key, func(v []byte) error {
		n = len(v)
		if n > len(buf) {
			st = abi.BufferTooSmall
			return nil
		}
		copy(buf, v)
		return nil
	})
	if err != nil {
		return 0, ev.storeFailed(err)
	}
	return n, st
}

func (ev *event) StoragePut(key, value []byte) abi.Status {
	if !ev.effects() {
		return abi.BadState
	}
	if st := ev.checkKey(key); st != abi.OK {
		return st
	}
	if len(value) > ev.o.h.opts.Limits.ValueSize {
		return abi.TooLarge
	}
	if ev.written+len(key)+len(value) > ev.o.h.opts.Limits.EventWrites {
		return abi.TooLarge
	}
	// The store keeps the value until commit, and the guest may reuse its
	// buffer for the next call: copy it.
	if err := ev.tx().Put(key, bytes.Clone(value)); err != nil {
		return ev.storeFailed(err)
	}
	ev.written += len(key) + len(value)
	return abi.OK
}

func (ev *event) StorageDelete(key []byte) abi.Status {
	if !ev.effects() {
		return abi.BadState
	}
	if st := ev.checkKey(key); st != abi.OK {
		return st
	}
	ok, err := ev.tx().Has(key)
	if err != nil {
		return ev.storeFailed(err)
	}
	if !ok {
		return abi.NotFound
	}
	if err := ev.tx().Delete(key); err != nil {
		return ev.storeFailed(err)
	}
	return abi.OK
}

// maxListEntries bounds one storage_list call, so that a guest cannot make
// the host load a whole large key space at once: at 128 KiB values, 256
// entries are 32 MiB. A call that would return more answers TooLarge rather
// than a silently shortened list; the guest pages with limit and after.
const maxListEntries = 256

func (ev *event) StorageList(buf []byte, prefix, after []byte, limit uint32) (int, abi.Status) {
	if limit > maxListEntries {
		return 0, abi.TooLarge
	}
	want := int(limit)
	if want == 0 {
		want = maxListEntries + 1 // one more tells "all" from "too many"
	}
	// Two passes over the store, neither copying a value into the host's
	// heap: the first sizes the result, the second encodes it into the
	// guest's buffer, when it fits.
	size, count := 0, 0
	err := ev.tx().Scan(prefix, after, want, func(key, value []byte) error {
		size += abi.PairSize(len(key), len(value))
		count++
		return nil
	})
	if err != nil {
		return 0, ev.storeFailed(err)
	}
	if count > maxListEntries {
		return 0, abi.TooLarge
	}
	if size > len(buf) {
		return size, abi.BufferTooSmall
	}
	dst := buf[:0]
	err = ev.tx().Scan(prefix, after, count, func(key, value []byte) error {
		if abi.PairSize(len(key), len(value)) > cap(dst)-len(dst) {
			return errListChanged
		}
		dst = abi.AppendPair(dst, key, value)
		return nil
	})
	if err != nil {
		return 0, ev.storeFailed(err)
	}
	return len(dst), abi.OK
}

// errListChanged cannot happen: one event's transaction sees the same data
// in both passes of StorageList. It guards the guest's buffer all the same.
var errListChanged = errors.New("storage changed between the passes of a list")

func (ev *event) AlarmSet(unixMilli int64) abi.Status {
	if !ev.effects() {
		return abi.BadState
	}
	if unixMilli <= 0 {
		return abi.Invalid
	}
	if err := ev.tx().SetAlarm(time.UnixMilli(unixMilli), 0); err != nil {
		return ev.storeFailed(err)
	}
	ev.alarmTouch = true
	return abi.OK
}

func (ev *event) AlarmGet() (int64, abi.Status) {
	a, err := ev.tx().Alarm()
	if err != nil {
		return 0, ev.storeFailed(err)
	}
	return a.At.UnixMilli(), abi.OK
}

func (ev *event) AlarmCancel() abi.Status {
	if !ev.effects() {
		return abi.BadState
	}
	if _, err := ev.tx().Alarm(); err != nil {
		return ev.storeFailed(err)
	}
	if err := ev.tx().DeleteAlarm(); err != nil {
		return ev.storeFailed(err)
	}
	ev.alarmTouch = true
	return abi.OK
}

func (ev *event) SetAutoResponse(request, response []byte) abi.Status {
	if !ev.effects() {
		return abi.BadState
	}
	lim := ev.o.h.opts.Limits
	if len(request) == 0 || !utf8.Valid(request) || !utf8.Valid(response) {
		return abi.Invalid
	}
	if len(request) > lim.AutoResponseSize || len(response) > lim.AutoResponseSize {
		return abi.TooLarge
	}
	if ev.autoResp == nil {
		ev.autoResp = map[string][]byte{}
		if m := ev.o.autoResp.Load(); m != nil {
			maps.Copy(ev.autoResp, *m)
		}
	}
	if len(response) == 0 {
		delete(ev.autoResp, string(request))
		return abi.OK
	}
	if _, ok := ev.autoResp[string(request)]; !ok && len(ev.autoResp) >= lim.AutoResponses {
		return abi.TooLarge
	}
	ev.autoResp[string(request)] = bytes.Clone(response)
	return abi.OK
}

func (ev *event) ObjectID() string { return ev.o.key }
