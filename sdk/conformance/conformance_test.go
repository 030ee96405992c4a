// Package conformance_test runs one suite of ABI behaviours against the
// conformance room (PROTOCOL.md) as each SDK builds it: Go, AssemblyScript,
// Rust, and hand-written WAT as the reference without an SDK. Every case
// runs on a real host (badger in a temp dir, wazero) for every language, so
// a behaviour one SDK gets wrong, or a case one room leaves out, fails for
// that language alone.
package conformance_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/torpor-dev/torpor/abi"
	"github.com/torpor-dev/torpor/host"
	"github.com/torpor-dev/torpor/internal/hosttest"
	"github.com/torpor-dev/torpor/internal/plugintest"
)

// rooms are the conformance room's builds, one per language.
var rooms = []struct {
	lang  string
	build func(testing.TB) []byte
}{
	{"go", func(tb testing.TB) []byte { return plugintest.Go(tb, "sdk/conformance/testdata/go") }},
	{"as", func(tb testing.TB) []byte { return plugintest.AS(tb, "sdk/conformance/testdata/as/index.ts") }},
	{"wat", func(tb testing.TB) []byte { return plugintest.WAT(tb, "sdk/conformance/testdata/wat/conform.wat") }},
	{"rust", func(tb testing.TB) []byte { return plugintest.Rust(tb, "sdk/conformance/testdata/rust") }},
}

// Opcodes of PROTOCOL.md.
const (
	opSend byte = 1 + iota
	opBroadcast
	opClose
	opAttach
	opAttached
	opConns
	opPut
	opGet
	opDelete
	opList
	opAlarm
	opAlarmGet
	opUnalarm
	opAuto
	opRemember
	opRecall
	opID
	opWhoami
	opLog
	opFail
	opTrap
	opBig
	opTags
)

// cases are the behaviours every build must show, each on a fresh host.
var cases = []struct {
	name string
	run  func(t *testing.T, r *rig)
}{
	{"connect accepts and greets", testConnectAccepts},
	{"connect refuses with status and reason", testConnectRefuses},
	{"connect failure refuses with 500", testConnectFails},
	{"tags at connect and their limits", testTags},
	{"message kinds", testMessageKinds},
	{"object id and conn ids", testIdentity},
	{"send to others and its statuses", testSend},
	{"close codes and reasons both ways", testCloses},
	{"attachments across sleep", testAttachments},
	{"storage reads its own writes", testStorageOwnWrites},
	{"storage is atomic per event", testStorageAtomic},
	{"storage list and limits", testStorageList},
	{"alarms fire and are consumed", testAlarms},
	{"alarm retries", testAlarmRetries},
	{"snapshot and restore across hibernation", testSnapshot},
	{"broadcast except and tag filter", testBroadcastFilters},
	{"auto-responses while asleep", testAutoResponses},
	{"frame limits", testFrameLimits},
	{"per-event limits", testEventLimits},
	{"trap and failure discard the event", testFailures},
	{"log reaches the host log", testLog},
}

func TestConformance(t *testing.T) {
	for _, room := range rooms {
		t.Run(room.lang, func(t *testing.T) {
			wasm := room.build(t)
			for _, c := range cases {
				t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
					c.run(t, newRig(t, wasm))
				})
			}
		})
	}
}

// rig is a host with the conformance room deployed as "conform".
type rig struct {
	h    *host.Host
	logs *logRecorder
}

func newRig(t *testing.T, wasm []byte) *rig {
	t.Helper()
	logs := &logRecorder{}
	h := hosttest.New(t, host.Options{
		Idle:           time.Hour, // the tests hibernate objects themselves
		AlarmRetryBase: 20 * time.Millisecond,
		Logger:         slog.New(logs),
	})
	if _, err := h.Deploy(context.Background(), "conform", wasm); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	return &rig{h: h, logs: logs}
}

// client is one connection to an object of the room.
type client struct {
	*hosttest.Conn
	sess *host.Session
	id   uint64
}

func (r *rig) tryConnect(object, query string) (*client, error) {
	id, err := host.ParseObjectID("conform/" + object)
	if err != nil {
		return nil, err
	}
	c := &client{Conn: hosttest.NewConn()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.sess, err = r.h.Connect(ctx, host.ConnectRequest{Object: id, Path: "/conform/" + object, Query: query, Remote: "127.0.0.1:1"}, c)
	if err != nil {
		return nil, err
	}
	c.id = c.sess.ID()
	return c, nil
}

// connect connects and checks the hello frame, returning the tag status.
func (r *rig) connect(t *testing.T, object, query string) (*client, abi.Status) {
	t.Helper()
	c, err := r.tryConnect(object, query)
	if err != nil {
		t.Fatalf("connect %s?%q: %v", object, query, err)
	}
	f := c.next(t)
	if f.Kind != abi.Binary || len(f.Data) != 2 || f.Data[0] != 'H' {
		t.Fatalf("first frame = %s %q, want the hello frame", f.Kind, f.Data)
	}
	return c, abi.Status(f.Data[1])
}

func (r *rig) evict(t *testing.T, object string) {
	t.Helper()
	id, _ := host.ParseObjectID("conform/" + object)
	if err := r.h.Evict(context.Background(), id, host.EvictOptions{}); err != nil {
		t.Fatalf("evict: %v", err)
	}
	if s := r.state(t, object); s != host.StateHibernated {
		t.Fatalf("after evict the object is %s", s)
	}
}

func (r *rig) state(t *testing.T, object string) host.State {
	t.Helper()
	infos, err := r.h.Objects(host.ObjectFilter{Plugin: "conform"})
	if err != nil {
		t.Fatal(err)
	}
	for _, info := range infos {
		if info.ID.String() == "conform/"+object {
			return info.State
		}
	}
	return ""
}

func (c *client) next(t *testing.T) host.Frame {
	t.Helper()
	select {
	case f := <-c.Frames:
		return f
	case <-time.After(10 * time.Second):
		t.Fatal("no frame within 10 s")
	}
	return host.Frame{}
}

// none checks that no frame arrives for a while.
func (c *client) none(t *testing.T, within time.Duration) {
	t.Helper()
	select {
	case f := <-c.Frames:
		t.Fatalf("unexpected frame %s %q", f.Kind, f.Data)
	case <-time.After(within):
	}
}

func (c *client) sendFrame(t *testing.T, kind abi.FrameKind, data []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.sess.Message(ctx, kind, data); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// cmd is one command of a binary frame.
type cmd struct {
	op   byte
	args [][]byte
}

func do(op byte, args ...[]byte) cmd { return cmd{op, args} }

func encode(cmds ...cmd) []byte {
	var b []byte
	for _, c := range cmds {
		b = abi.AppendItem(b, []byte{c.op})
		for _, a := range c.args {
			b = abi.AppendItem(b, a)
		}
	}
	return b
}

// reply is one R frame.
type reply struct {
	op     byte
	status abi.Status
	data   []byte
}

// run sends the commands in one frame and returns their replies.
func (c *client) run(t *testing.T, cmds ...cmd) []reply {
	t.Helper()
	c.sendFrame(t, abi.Binary, encode(cmds...))
	out := make([]reply, 0, len(cmds))
	for range cmds {
		out = append(out, c.nextReply(t))
	}
	return out
}

// one runs a single command and returns its reply.
func (c *client) one(t *testing.T, op byte, args ...[]byte) reply {
	t.Helper()
	return c.run(t, do(op, args...))[0]
}

// expect runs a single command and checks its status.
func (c *client) expect(t *testing.T, want abi.Status, op byte, args ...[]byte) []byte {
	t.Helper()
	r := c.one(t, op, args...)
	if r.status != want {
		t.Fatalf("op %d: status %s, want %s", op, r.status, want)
	}
	return r.data
}

func (c *client) nextReply(t *testing.T) reply {
	t.Helper()
	f := c.next(t)
	if f.Kind != abi.Binary || len(f.Data) < 3 || f.Data[0] != 'R' {
		t.Fatalf("frame %s %q, want a reply", f.Kind, f.Data)
	}
	return reply{f.Data[1], abi.Status(f.Data[2]), f.Data[3:]}
}

func u32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
func u64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }
func i64(v int64) []byte  { return u64(uint64(v)) }
func str(s string) []byte { return []byte(s) }

var (
	self = u64(0)
	none = u64(0)
	text = u32(uint32(abi.Text))
	bin  = u32(uint32(abi.Binary))
)

func testConnectAccepts(t *testing.T, r *rig) {
	if _, st := r.connect(t, "a", ""); st != abi.OK {
		t.Fatalf("hello status %s", st)
	}
}

func testConnectRefuses(t *testing.T, r *rig) {
	for _, status := range []int{400, 403, 599} {
		q := fmt.Sprintf("r%d", status)
		_, err := r.tryConnect("a", q)
		var rej *host.RejectError
		if !errors.As(err, &rej) || rej.Status != status || rej.Reason != q {
			t.Fatalf("connect ?%s: %v, want refused with %d %q", q, err, status, q)
		}
	}
	// A refused connection leaves no trace: the next one is alone.
	c, _ := r.connect(t, "a", "")
	if ids := c.expect(t, abi.OK, opConns, nil); !bytes.Equal(ids, u64(c.id)) {
		t.Fatalf("conns = %x, want only %x", ids, c.id)
	}
}

func testConnectFails(t *testing.T, r *rig) {
	_, err := r.tryConnect("a", "f")
	var rej *host.RejectError
	if !errors.As(err, &rej) || rej.Status != 500 {
		t.Fatalf("connect ?f: %v, want refused with 500", err)
	}
}

func testTags(t *testing.T, r *rig) {
	red, st := r.connect(t, "a", "t"+string(abi.EncodeList([]string{"red", "warm"})))
	if st != abi.OK {
		t.Fatalf("two tags: %s", st)
	}
	plain, _ := r.connect(t, "a", "")
	if got := red.expect(t, abi.OK, opConns, str("warm")); !bytes.Equal(got, u64(red.id)) {
		t.Fatalf("conns tagged warm = %x, want %x", got, red.id)
	}
	all := red.expect(t, abi.OK, opConns, nil)
	if !bytes.Equal(all, append(u64(min(red.id, plain.id)), u64(max(red.id, plain.id))...)) {
		t.Fatalf("conns = %x, want both in ascending order", all)
	}
	limits := []struct {
		name string
		tags []string
		want abi.Status
	}{
		{"eleven tags", strings.Split("a b c d e f g h i j k", " "), abi.TooLarge},
		{"a tag of 257 bytes", []string{strings.Repeat("x", 257)}, abi.TooLarge},
		{"a tag of 256 bytes", []string{strings.Repeat("x", 256)}, abi.OK},
		{"an empty tag", []string{""}, abi.Invalid},
		{"a tag that is not UTF-8", []string{"\xff"}, abi.Invalid},
	}
	for _, l := range limits {
		if _, st := r.connect(t, "a", "t"+string(abi.EncodeList(l.tags))); st != l.want {
			t.Errorf("%s: %s, want %s", l.name, st, l.want)
		}
	}
	// Tags are set only at connect.
	plain.expect(t, abi.BadState, opTags, abi.EncodeList([]string{"late"}))
}

func testMessageKinds(t *testing.T, r *rig) {
	c, _ := r.connect(t, "a", "")
	for _, payload := range []string{"hello", "héllo, wörld ✓", ""} {
		c.sendFrame(t, abi.Text, str(payload))
		if f := c.next(t); f.Kind != abi.Text || string(f.Data) != payload {
			t.Fatalf("echo of %q = %s %q", payload, f.Kind, f.Data)
		}
	}
	// Binary payloads reach the room intact, zero bytes included.
	payload := []byte{0, 1, 2, 0xff, 0}
	if got := c.expect(t, abi.OK, opRemember, payload); len(got) != 0 {
		t.Fatalf("remember replied %q", got)
	}
	if got := c.expect(t, abi.OK, opRecall); !bytes.Equal(got, payload) {
		t.Fatalf("recall = %x, want %x", got, payload)
	}
}

func testIdentity(t *testing.T, r *rig) {
	c, _ := r.connect(t, "room-7", "")
	if got := string(c.expect(t, abi.OK, opID)); got != "conform/room-7" {
		t.Fatalf("object id %q", got)
	}
	if got := c.expect(t, abi.OK, opWhoami); !bytes.Equal(got, u64(c.id)) {
		t.Fatalf("whoami %x, want %x", got, c.id)
	}
}

func testSend(t *testing.T, r *rig) {
	a, _ := r.connect(t, "a", "")
	b, _ := r.connect(t, "a", "")
	a.expect(t, abi.OK, opSend, u64(b.id), text, str("to b"))
	if f := b.next(t); f.Kind != abi.Text || string(f.Data) != "to b" {
		t.Fatalf("b got %s %q", f.Kind, f.Data)
	}
	a.expect(t, abi.OK, opSend, u64(b.id), bin, []byte{9, 9})
	if f := b.next(t); f.Kind != abi.Binary || !bytes.Equal(f.Data, []byte{9, 9}) {
		t.Fatalf("b got %s %q", f.Kind, f.Data)
	}
	// The frame a command sends precedes its reply.
	a.sendFrame(t, abi.Binary, encode(do(opSend, self, text, str("first"))))
	if f := a.next(t); string(f.Data) != "first" {
		t.Fatalf("a got %q before its reply", f.Data)
	}
	a.nextReply(t)
	a.expect(t, abi.NotFound, opSend, u64(1<<52), text, str("nobody"))
	a.expect(t, abi.Invalid, opSend, self, text, []byte{0xff, 0xfe})
}

func testCloses(t *testing.T, r *rig) {
	a, _ := r.connect(t, "a", "")
	b, _ := r.connect(t, "a", "")
	a.expect(t, abi.Invalid, opClose, self, u32(1001), str("going away is the host's"))
	a.expect(t, abi.Invalid, opClose, self, u32(2999), nil)
	a.expect(t, abi.TooLarge, opClose, self, u32(4000), str(strings.Repeat("r", 124)))
	a.expect(t, abi.NotFound, opClose, u64(1<<52), u32(4000), nil)
	// The room closes b: b sees the code and reason, and no close event follows.
	a.expect(t, abi.OK, opClose, u64(b.id), u32(4321), str("by the room"))
	select {
	case <-b.Done:
	case <-time.After(10 * time.Second):
		t.Fatal("b not closed")
	}
	if _, code, reason := b.Closed(); code != 4321 || reason != "by the room" {
		t.Fatalf("b closed with %d %q", code, reason)
	}
	// A client's close reaches the room with its code and reason.
	c, _ := r.connect(t, "a", "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.sess.Close(ctx, 4002, "client leaves"); err != nil {
		t.Fatal(err)
	}
	f := a.next(t)
	want := append(append(append([]byte{'C'}, u32(4002)...), u64(c.id)...), "client leaves"...)
	if !bytes.Equal(f.Data, want) {
		t.Fatalf("close event frame %q, want %q", f.Data, want)
	}
	a.none(t, 50*time.Millisecond) // none for b, which the room closed
}

func testAttachments(t *testing.T, r *rig) {
	a, _ := r.connect(t, "a", "")
	if got := a.expect(t, abi.OK, opAttached, self); len(got) != 0 {
		t.Fatalf("fresh attachment %q", got)
	}
	a.expect(t, abi.OK, opAttach, self, str("ann"))
	a.expect(t, abi.TooLarge, opAttach, self, bytes.Repeat([]byte{1}, 2049))
	a.expect(t, abi.OK, opAttach, self, bytes.Repeat([]byte{2}, 2048))
	a.expect(t, abi.OK, opAttach, self, str("ann, kept"))
	a.expect(t, abi.NotFound, opAttached, u64(1<<52))
	r.evict(t, "a")
	if got := string(a.expect(t, abi.OK, opAttached, self)); got != "ann, kept" {
		t.Fatalf("attachment after sleep %q", got)
	}
}

func testStorageOwnWrites(t *testing.T, r *rig) {
	c, _ := r.connect(t, "a", "")
	c.expect(t, abi.NotFound, opGet, str("k"))
	got := c.run(t, do(opPut, str("k"), str("v1")), do(opGet, str("k")), do(opPut, str("k"), nil), do(opGet, str("k")))
	if got[1].status != abi.OK || string(got[1].data) != "v1" {
		t.Fatalf("own write read %s %q", got[1].status, got[1].data)
	}
	if got[3].status != abi.OK || len(got[3].data) != 0 {
		t.Fatalf("an empty value is a value: %s %q", got[3].status, got[3].data)
	}
	got = c.run(t, do(opDelete, str("k")), do(opGet, str("k")), do(opDelete, str("k")))
	if got[0].status != abi.OK || got[1].status != abi.NotFound || got[2].status != abi.NotFound {
		t.Fatalf("delete, get, delete: %s %s %s", got[0].status, got[1].status, got[2].status)
	}
	c.expect(t, abi.OK, opPut, str("durable"), str("yes"))
	r.evict(t, "a")
	if got := string(c.expect(t, abi.OK, opGet, str("durable"))); got != "yes" {
		t.Fatalf("after sleep %q", got)
	}
}

func testStorageAtomic(t *testing.T, r *rig) {
	for _, end := range []byte{opFail, opTrap} {
		c, _ := r.connect(t, "a", "")
		c.expect(t, abi.OK, opPut, str("k"), str("before"))
		// The put and its reply are discarded with the failing event.
		c.sendFrame(t, abi.Binary, encode(do(opPut, str("k"), str("after")), do(opSend, self, text, str("lost")), do(end)))
		c.none(t, 50*time.Millisecond)
		if got := string(c.expect(t, abi.OK, opGet, str("k"))); got != "before" {
			t.Fatalf("op %d: value %q after the failed event", end, got)
		}
	}
}

func testStorageList(t *testing.T, r *rig) {
	c, _ := r.connect(t, "a", "")
	var puts []cmd
	for _, k := range []string{"b/2", "a", "b/1", "b/3", "c"} {
		puts = append(puts, do(opPut, str(k), str("v"+k)))
	}
	c.run(t, puts...)
	pairs := func(kv ...string) []byte {
		var b []byte
		for i := 0; i < len(kv); i += 2 {
			b = abi.AppendPair(b, str(kv[i]), str(kv[i+1]))
		}
		return b
	}
	list := []struct {
		prefix, after string
		limit         uint32
		want          []byte
	}{
		{"b/", "", 0, pairs("b/1", "vb/1", "b/2", "vb/2", "b/3", "vb/3")},
		{"b/", "b/1", 0, pairs("b/2", "vb/2", "b/3", "vb/3")},
		{"", "", 2, pairs("a", "va", "b/1", "vb/1")},
		{"z", "", 0, nil},
	}
	for _, l := range list {
		if got := c.expect(t, abi.OK, opList, str(l.prefix), str(l.after), u32(l.limit)); !bytes.Equal(got, l.want) {
			t.Errorf("list %q after %q limit %d = %q, want %q", l.prefix, l.after, l.limit, got, l.want)
		}
	}
	c.expect(t, abi.Invalid, opPut, nil, str("v"))
	c.expect(t, abi.Invalid, opGet, nil)
	c.expect(t, abi.TooLarge, opPut, bytes.Repeat([]byte("k"), 2049), nil)
	c.expect(t, abi.TooLarge, opGet, bytes.Repeat([]byte("k"), 2049))
	c.expect(t, abi.TooLarge, opPut, str("big"), make([]byte, 128<<10+1))
	c.expect(t, abi.OK, opPut, str("big"), make([]byte, 128<<10))
	if got := c.expect(t, abi.OK, opGet, str("big")); len(got) != 128<<10 {
		t.Fatalf("a value at the limit came back as %d bytes", len(got))
	}
}

func testAlarms(t *testing.T, r *rig) {
	c, _ := r.connect(t, "a", "")
	c.expect(t, abi.NotFound, opAlarmGet)
	c.expect(t, abi.NotFound, opUnalarm)
	c.expect(t, abi.Invalid, opAlarm, i64(0))
	far := time.Now().Add(time.Hour).UnixMilli()
	c.expect(t, abi.OK, opAlarm, i64(far))
	if got := c.expect(t, abi.OK, opAlarmGet); !bytes.Equal(got, i64(far)) {
		t.Fatalf("alarm? = %x, want %x", got, far)
	}
	c.expect(t, abi.OK, opUnalarm)
	c.expect(t, abi.NotFound, opAlarmGet)
	// A due alarm fires once, while the object sleeps too, and is consumed.
	c.expect(t, abi.OK, opAlarm, i64(time.Now().Add(100*time.Millisecond).UnixMilli()))
	r.evict(t, "a")
	if f := c.next(t); !bytes.Equal(f.Data, append([]byte{'A'}, u32(0)...)) {
		t.Fatalf("alarm frame %q", f.Data)
	}
	c.expect(t, abi.NotFound, opAlarmGet)
	if got := c.expect(t, abi.OK, opGet, str("alarms")); !bytes.Equal(got, u64(1)) {
		t.Fatalf("alarms = %x", got)
	}
}

func testAlarmRetries(t *testing.T, r *rig) {
	c, _ := r.connect(t, "a", "")
	c.expect(t, abi.OK, opPut, str("alarm-fail"), u32(2))
	c.expect(t, abi.OK, opAlarm, i64(time.Now().UnixMilli()))
	// Attempts 0 and 1 fail; retry 2 succeeds.
	if f := c.next(t); !bytes.Equal(f.Data, append([]byte{'A'}, u32(2)...)) {
		t.Fatalf("alarm frame %q, want retry 2", f.Data)
	}
	if got := c.expect(t, abi.OK, opGet, str("alarms")); !bytes.Equal(got, u64(1)) {
		t.Fatalf("alarms = %x: the failed attempts must not count", got)
	}
}

func testSnapshot(t *testing.T, r *rig) {
	c, _ := r.connect(t, "a", "")
	c.expect(t, abi.OK, opRemember, str("in memory only"))
	r.evict(t, "a")
	if got := string(c.expect(t, abi.OK, opRecall)); got != "in memory only" {
		t.Fatalf("after sleep the room recalls %q", got)
	}
	// A failure rebuilds the room from its last snapshot, not from memory.
	c.expect(t, abi.OK, opRemember, str("not snapshotted"))
	c.sendFrame(t, abi.Binary, encode(do(opTrap)))
	if got := string(c.expect(t, abi.OK, opRecall)); got != "in memory only" {
		t.Fatalf("after a trap the room recalls %q", got)
	}
}

func testBroadcastFilters(t *testing.T, r *rig) {
	tagged := "t" + string(abi.EncodeList([]string{"blue"}))
	a, _ := r.connect(t, "a", tagged)
	b, _ := r.connect(t, "a", tagged)
	c, _ := r.connect(t, "a", "")
	a.sendFrame(t, abi.Binary, encode(do(opBroadcast, text, str("all"), none, nil)))
	for _, x := range []*client{a, b, c} {
		if f := x.next(t); string(f.Data) != "all" {
			t.Fatalf("broadcast to all: %q", f.Data)
		}
	}
	a.nextReply(t)
	a.sendFrame(t, abi.Binary, encode(do(opBroadcast, bin, str("blue but a"), u64(a.id), str("blue"))))
	a.nextReply(t) // a is excluded: only its reply
	if f := b.next(t); f.Kind != abi.Binary || string(f.Data) != "blue but a" {
		t.Fatalf("b got %s %q", f.Kind, f.Data)
	}
	c.none(t, 50*time.Millisecond)
	a.expect(t, abi.Invalid, opBroadcast, text, []byte{0xff}, none, nil)
	a.expect(t, abi.OK, opBroadcast, text, str("nobody"), none, str("green"))
	b.none(t, 20*time.Millisecond)
}

func testAutoResponses(t *testing.T, r *rig) {
	c, _ := r.connect(t, "a", "")
	c.expect(t, abi.OK, opAuto, str("ping"), str("pong"))
	c.expect(t, abi.Invalid, opAuto, nil, str("x"))
	c.expect(t, abi.TooLarge, opAuto, bytes.Repeat([]byte("q"), 2049), str("x"))
	r.evict(t, "a")
	for range 3 {
		c.sendFrame(t, abi.Text, str("ping"))
		if f := c.next(t); f.Kind != abi.Text || string(f.Data) != "pong" {
			t.Fatalf("auto-response %s %q", f.Kind, f.Data)
		}
	}
	if s := r.state(t, "a"); s != host.StateHibernated {
		t.Fatalf("an auto-response woke the object: %s", s)
	}
	c.expect(t, abi.OK, opAuto, str("ping"), nil) // removed
	c.sendFrame(t, abi.Text, str("ping"))
	if f := c.next(t); string(f.Data) != "ping" {
		t.Fatalf("after removal %q, want the room's echo", f.Data)
	}
	var pairs []cmd
	for i := range 31 {
		pairs = append(pairs, do(opAuto, str(fmt.Sprint("q", i)), str("r")))
	}
	for _, rep := range c.run(t, pairs...) {
		if rep.status != abi.OK {
			t.Fatalf("pair under the limit: %s", rep.status)
		}
	}
	c.expect(t, abi.OK, opAuto, str("q31"), str("r")) // the 32nd pair
	c.expect(t, abi.TooLarge, opAuto, str("q32"), str("r"))
}

func testFrameLimits(t *testing.T, r *rig) {
	c, _ := r.connect(t, "a", "")
	c.sendFrame(t, abi.Binary, encode(do(opBig, bin, u32(1<<20))))
	if f := c.next(t); len(f.Data) != 1<<20 {
		t.Fatalf("a frame at the limit arrived as %d bytes", len(f.Data))
	}
	c.nextReply(t)
	c.expect(t, abi.TooLarge, opBig, bin, u32(1<<20+1))
	c.expect(t, abi.Invalid, opSend, self, u32(3), str("kind 3"))
}

func testEventLimits(t *testing.T, r *rig) {
	c, _ := r.connect(t, "a", "")
	// 16 MiB of frames per event: fifteen of 1 MiB and their replies fit,
	// a sixteenth does not.
	var bigs []cmd
	for range 16 {
		bigs = append(bigs, do(opBig, bin, u32(1<<20)))
	}
	c.sendFrame(t, abi.Binary, encode(bigs...))
	for i := range 15 {
		if f := c.next(t); len(f.Data) != 1<<20 {
			t.Fatalf("frame %d: %d bytes", i, len(f.Data))
		}
		if rep := c.nextReply(t); rep.status != abi.OK {
			t.Fatalf("frame %d: %s", i, rep.status)
		}
	}
	if rep := c.nextReply(t); rep.status != abi.TooLarge {
		t.Fatalf("a frame past 16 MiB in one event: %s", rep.status)
	}
}

func testFailures(t *testing.T, r *rig) {
	c, _ := r.connect(t, "a", "")
	c.expect(t, abi.OK, opRemember, str("kept"))
	r.evict(t, "a")
	for _, op := range []byte{opFail, opTrap} {
		c.sendFrame(t, abi.Binary, encode(do(opSend, self, text, str("lost")), do(op)))
		c.none(t, 50*time.Millisecond)
		// The next event gets a fresh instance from the last snapshot;
		// the socket stays open.
		if got := string(c.expect(t, abi.OK, opRecall)); got != "kept" {
			t.Fatalf("after op %d the room recalls %q", op, got)
		}
	}
	if closed, _, _ := c.Closed(); closed {
		t.Fatal("a failed event closed the socket")
	}
}

func testLog(t *testing.T, r *rig) {
	c, _ := r.connect(t, "a", "")
	c.expect(t, abi.OK, opLog, u32(uint32(abi.LogWarn)), str("a line from the room"))
	if !r.logs.has(slog.LevelWarn, "a line from the room") {
		t.Fatalf("log line missing; got %q", r.logs.all())
	}
}

// logRecorder is a slog handler keeping every message.
type logRecorder struct {
	mu    sync.Mutex
	lines []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, r)
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

func (l *logRecorder) has(level slog.Level, msg string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.lines {
		if r.Level == level && strings.Contains(r.Message, msg) {
			return true
		}
	}
	return false
}

func (l *logRecorder) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.lines {
		out = append(out, r.Message)
	}
	return out
}
