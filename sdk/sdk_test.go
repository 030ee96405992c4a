package sdk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/torpor-dev/torpor/abi"
)

// withRegistered runs fn with h as the registered plugin and restores the
// previous one afterwards.
func withRegistered(t *testing.T, h handler) {
	t.Helper()
	old := registered
	registered = h
	t.Cleanup(func() { registered = old })
}

func TestRegisterTwicePanics(t *testing.T) {
	withRegistered(t, nil)
	Register(Plugin[struct{}]{})
	defer func() {
		if recover() == nil {
			t.Fatal("second Register did not panic")
		}
	}()
	Register(Plugin[struct{}]{})
}

func TestConnectResult(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantStatus uint32
		wantReason string
		wantLog    string // substring; "" means no log line
	}{
		{name: "accept", err: nil, wantStatus: abi.Accept},
		{name: "reject 400", err: Reject(400, "bad name"), wantStatus: 400, wantReason: "bad name"},
		{name: "reject 599", err: Reject(599, ""), wantStatus: 599},
		{name: "reject wrapped", err: fmt.Errorf("ctx: %w", Reject(403, "no")), wantStatus: 403, wantReason: "no"},
		{name: "status below range", err: Reject(399, "x"), wantStatus: 500, wantLog: "399 is outside 400–599"},
		{name: "status above range", err: Reject(600, "x"), wantStatus: 500, wantLog: "600 is outside"},
		{name: "status zero", err: Reject(0, "x"), wantStatus: 500, wantLog: "outside"},
		{name: "other error", err: errors.New("boom"), wantStatus: 500, wantLog: "boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, reason, line := connectResult(tt.err)
			if status != tt.wantStatus || reason != tt.wantReason {
				t.Errorf("got (%d, %q), want (%d, %q)", status, reason, tt.wantStatus, tt.wantReason)
			}
			if (tt.wantLog == "") != (line == "") || !strings.Contains(line, tt.wantLog) {
				t.Errorf("log line %q, want one containing %q", line, tt.wantLog)
			}
		})
	}
}

type testState struct {
	Count  int
	Names  []string
	hidden int
}

func TestDefaultStateEncoding(t *testing.T) {
	in := newInstance(Plugin[testState]{})
	in.state.Count = 3
	in.state.Names = []string{"a", "b"}
	in.state.hidden = 7
	data, err := in.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(data), `{"Count":3,"Names":["a","b"]}`; got != want {
		t.Fatalf("snapshot = %s, want %s", got, want)
	}

	fresh := newInstance(Plugin[testState]{})
	if err := fresh.restore(data); err != nil {
		t.Fatal(err)
	}
	if fresh.state.Count != 3 || len(fresh.state.Names) != 2 || fresh.state.hidden != 0 {
		t.Fatalf("restored %+v", *fresh.state)
	}

	// No snapshot yet: the state becomes the zero value.
	if err := fresh.restore(nil); err != nil {
		t.Fatal(err)
	}
	if fresh.state.Count != 0 || fresh.state.Names != nil {
		t.Fatalf("restore(nil) left %+v", *fresh.state)
	}

	// A bad snapshot fails and leaves the state alone.
	fresh.state.Count = 9
	if err := fresh.restore([]byte("{")); err == nil {
		t.Fatal("restore of malformed JSON succeeded")
	}
	if fresh.state.Count != 9 {
		t.Fatalf("failed restore changed the state to %+v", *fresh.state)
	}
}

func TestCustomStateEncoding(t *testing.T) {
	calls := 0
	p := Plugin[uint64]{
		Snapshot: func(s *uint64) ([]byte, error) {
			return binary.LittleEndian.AppendUint64(nil, *s), nil
		},
		Restore: func(s *uint64, data []byte) error {
			calls++
			if *s != 0 {
				t.Errorf("Restore got non-zero state %d", *s)
			}
			if len(data) != 8 {
				return errors.New("bad length")
			}
			*s = binary.LittleEndian.Uint64(data)
			return nil
		},
	}
	in := newInstance(p)
	*in.state = 42
	data, err := in.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	fresh := newInstance(p)
	*fresh.state = 5
	if err := fresh.restore(data); err != nil {
		t.Fatal(err)
	}
	if *fresh.state != 42 {
		t.Fatalf("restored %d, want 42", *fresh.state)
	}
	if err := fresh.restore(nil); err != nil || *fresh.state != 0 || calls != 1 {
		t.Fatalf("restore(nil): err %v, state %d, Restore calls %d; want nil, 0, 1", err, *fresh.state, calls)
	}
}

func TestEvents(t *testing.T) {
	var got []string
	withRegistered(t, newInstance(Plugin[int]{
		Connect: func(s *int, c Conn, r *Request) error {
			got = append(got, fmt.Sprintf("connect %d %s %s", c.ID(), r.Path, r.Param("name")))
			if r.Param("name") == "admin" {
				return Reject(403, "name reserved")
			}
			return nil
		},
		Message: func(s *int, c Conn, m Message) error {
			*s++
			got = append(got, fmt.Sprintf("message %d %v %q", c, m.IsText(), m.Text()))
			if m.Text() == "fail" {
				return errors.New("failing")
			}
			return nil
		},
		Close: func(s *int, c Conn, code int, reason string) error {
			got = append(got, fmt.Sprintf("close %d %d %q", c, code, reason))
			return nil
		},
		Alarm: func(s *int, retry int) error {
			got = append(got, fmt.Sprintf("alarm %d state %d", retry, *s))
			return nil
		},
	}))

	info := abi.AppendPair(nil, []byte(abi.RequestInfoPath), []byte("/chat/lobby"))
	info = abi.AppendPair(info, []byte(abi.RequestInfoQuery), []byte("name=bob"))
	if status, reason := connectEvent(7, info); status != abi.Accept || reason != "" {
		t.Errorf("connect = (%d, %q), want accept", status, reason)
	}
	admin := abi.AppendPair(nil, []byte(abi.RequestInfoQuery), []byte("name=admin"))
	if status, reason := connectEvent(8, admin); status != 403 || reason != "name reserved" {
		t.Errorf("connect admin = (%d, %q), want (403, name reserved)", status, reason)
	}
	if status, _ := connectEvent(9, []byte{1, 2}); status != 500 {
		t.Errorf("connect with malformed info = %d, want 500", status)
	}
	if r := messageEvent(7, abi.Text, []byte("hi")); r != eventOK {
		t.Errorf("message = %d", r)
	}
	if r := messageEvent(7, abi.Binary, []byte("fail")); r != eventFailed {
		t.Errorf("failing message = %d", r)
	}
	if r := messageEvent(7, 99, []byte("future")); r != eventOK {
		t.Errorf("message of unknown kind = %d, want ignored", r)
	}
	if r := closeEvent(7, 1001, []byte("going away")); r != eventOK {
		t.Errorf("close = %d", r)
	}
	if r := alarmEvent(2); r != eventOK {
		t.Errorf("alarm = %d", r)
	}
	want := []string{
		"connect 7 /chat/lobby bob",
		"connect 8  admin",
		`message 7 true "hi"`,
		`message 7 false "fail"`,
		`close 7 1001 "going away"`,
		"alarm 2 state 2",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("handlers saw\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestEventsDefaults(t *testing.T) {
	withRegistered(t, newInstance(Plugin[struct{}]{}))
	if status, _ := connectEvent(1, nil); status != abi.Accept {
		t.Errorf("default connect = %d, want accept", status)
	}
	if messageEvent(1, abi.Text, nil) != eventOK || closeEvent(1, 1000, nil) != eventOK ||
		alarmEvent(0) != eventOK || restoreEvent(nil) != eventOK {
		t.Error("a default handler failed")
	}
	if data, err := snapshotEvent(); err != nil || string(data) != "{}" {
		t.Errorf("default snapshot = %q, %v", data, err)
	}
}

func TestEventsUnregistered(t *testing.T) {
	withRegistered(t, nil)
	if status, _ := connectEvent(1, nil); status != 500 {
		t.Errorf("connect = %d, want 500", status)
	}
	if messageEvent(1, abi.Text, nil) != eventFailed || alarmEvent(0) != eventFailed {
		t.Error("events without a registered plugin did not fail")
	}
	if _, err := snapshotEvent(); err == nil {
		t.Error("snapshot without a registered plugin succeeded")
	}
}

func TestNoHost(t *testing.T) {
	if err := Conn(1).Send("x"); !errors.Is(err, ErrNoHost) {
		t.Errorf("Send: %v, want ErrNoHost", err)
	}
	if _, err := Storage.Get("k"); !errors.Is(err, ErrNoHost) {
		t.Errorf("Storage.Get: %v, want ErrNoHost", err)
	}
	if _, err := Connections(""); !errors.Is(err, ErrNoHost) {
		t.Errorf("Connections: %v, want ErrNoHost", err)
	}
	if ObjectID() != "" {
		t.Error("ObjectID outside a host is not empty")
	}
	if err := SetAutoResponse("ping", ""); !errors.Is(err, abi.Invalid) {
		t.Errorf("SetAutoResponse with empty response: %v, want abi.Invalid", err)
	}
}

// TestHandlerSet checks what torpor_handlers tells the host: a handler the
// plugin leaves nil must not be announced (the host would skip events the
// plugin needs otherwise, or wake it for nothing).
func TestHandlerSet(t *testing.T) {
	noop := func(*struct{}, Conn, int, string) error { return nil }
	cases := []struct {
		name string
		h    handler
		want uint32
	}{
		{"message only, no state", newInstance(Plugin[struct{}]{}), 0},
		{"close", newInstance(Plugin[struct{}]{Close: noop}), abi.HandlerClose},
		{"connect and alarm", newInstance(Plugin[struct{}]{
			Connect: func(*struct{}, Conn, *Request) error { return nil },
			Alarm:   func(*struct{}, int) error { return nil },
		}), abi.HandlerConnect | abi.HandlerAlarm},
		{"state", newInstance(Plugin[int]{}), abi.HandlerState},
		{"custom encoding of an empty state", newInstance(Plugin[struct{}]{
			Snapshot: func(*struct{}) ([]byte, error) { return []byte("x"), nil },
		}), abi.HandlerState},
	}
	for _, c := range cases {
		if got := c.h.handlers(); got != c.want {
			t.Errorf("%s: handlers %04b, want %04b", c.name, got, c.want)
		}
	}
}
