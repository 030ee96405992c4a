package host_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/torpor-dev/torpor/abi"
	"github.com/torpor-dev/torpor/host"
	"github.com/torpor-dev/torpor/internal/plugintest"
)

// transcript records what every client of a scripted session saw, with
// the run's own connection ids and timestamps replaced by stable names, so
// that two plugins can be compared byte for byte.
type transcript struct {
	lines []string
	ids   map[uint64]string
}

func (tr *transcript) add(format string, args ...any) {
	tr.lines = append(tr.lines, fmt.Sprintf(format, args...))
}

var tsField = regexp.MustCompile(`"ts":[0-9]+`)

func (tr *transcript) normalize(s string) string {
	for id, name := range tr.ids {
		d := strconv.FormatUint(id, 10)
		s = strings.ReplaceAll(s, d, name)
		s = strings.ReplaceAll(s, "guest-"+strconv.FormatUint(10000+id%10000, 10)[1:], "guest-of-"+name)
	}
	return tsField.ReplaceAllString(s, `"ts":T`)
}

// drain records the frames every client has received, in client order,
// once the event that sent them has had a moment to commit.
func (tr *transcript) drain(names []string, clients []*client) {
	time.Sleep(10 * time.Millisecond)
	for i, c := range clients {
		for more := true; more; {
			select {
			case f := <-c.Frames:
				tr.add("%s <- %s %q", names[i], f.Kind, tr.normalize(string(f.Data)))
			default:
				more = false
			}
		}
	}
}

// chatScript drives one chat room: joins with awkward names (bytes that are
// not UTF-8, encoded surrogates, escapes, Unicode spaces, the limits), odd
// messages, a hibernation with a join after it, and leaves.
func chatScript(t *testing.T, h *host.Host) []string {
	tr := &transcript{ids: map[uint64]string{}}
	names := []string{
		"ann", "+%20bob%09", "%FF", "bob%FF", "%C0%80", "%ED%A0%80", "%3C%26%3E%22%5C", "a%E2%80%A8b",
		"", strings.Repeat("x", 32), strings.Repeat("x", 33), strings.Repeat("x", 31) + "%FF", "ADMIN", "adm%C4%B1n",
		"%F0%9F%98%80", "%E3%80%80pad%E3%80%80", "%C2%85nel", "%EF%BB%BFbom", "%E2", "a;b", "x%zz",
	}
	var clients []*client
	var cnames []string
	for i, q := range names {
		c, err := tryConnect(h, "chat/twins", "name="+q)
		var rej *host.RejectError
		switch {
		case errors.As(err, &rej):
			tr.add("join %q refused %d %q", q, rej.Status, rej.Reason)
			continue
		case err != nil:
			t.Fatalf("connect %q: %v", q, err)
		}
		name := fmt.Sprintf("c%d", i)
		tr.ids[c.sess.ID()] = name
		clients, cnames = append(clients, c), append(cnames, name)
		tr.drain(cnames, clients)
	}
	sender := clients[0]
	for _, m := range []struct {
		kind abi.FrameKind
		data string
	}{
		{abi.Text, "  hello  "}, {abi.Text, "<b>&amp;</b> \"q\" \\ \u2028\u2029"}, {abi.Text, "\x00\x1f\x7f\b\f\n\r\t"},
		{abi.Text, "\xff\xfe half \xe2\x82"}, {abi.Text, "   "}, {abi.Binary, "bin"}, {abi.Text, strings.Repeat("y", 4096)},
		{abi.Text, strings.Repeat("y", 4097)}, {abi.Text, "\u3000\u0085ok\u00a0"}, {abi.Text, "ping"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := sender.sess.Message(ctx, m.kind, []byte(m.data)); err != nil {
			t.Fatalf("message %q: %v", m.data, err)
		}
		cancel()
		tr.drain(cnames, clients)
	}
	if err := h.Evict(context.Background(), host.ObjectID{Plugin: "chat", Name: "twins"}, host.EvictOptions{}); err != nil {
		t.Fatal(err)
	}
	late, err := tryConnect(h, "chat/twins", "name=late")
	if err != nil {
		t.Fatal(err)
	}
	tr.ids[late.sess.ID()] = "late"
	clients, cnames = append(clients, late), append(cnames, "late")
	tr.drain(cnames, clients)
	for i := len(clients) - 1; i >= 0; i-- {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := clients[i].sess.Close(ctx, 1000, "bye"); err != nil {
			t.Fatal(err)
		}
		cancel()
		tr.drain(cnames[:i], clients[:i])
	}
	return tr.lines
}

// The AssemblyScript chat room speaks the Go one's protocol byte for byte,
// on inputs chosen to break a careless port.
func TestChatTwinsSpeakTheSameBytes(t *testing.T) {
	run := func(build func(testing.TB) []byte) []string {
		h := newHost(t, host.Options{})
		deploy(t, h, "chat", build)
		return chatScript(t, h)
	}
	goLines := run(func(tb testing.TB) []byte { return plugintest.Go(tb, "plugins/chat") })
	asLines := run(func(tb testing.TB) []byte { return plugintest.AS(tb, "plugins/chat-as/index.ts") })
	compareTranscripts(t, "go", goLines, "as", asLines)
}

// Either chat twin restores the other's snapshot: replacing one with the
// other keeps a room's history.
func TestChatTwinsReadEachOthersSnapshots(t *testing.T) {
	goChat := func(tb testing.TB) []byte { return plugintest.Go(tb, "plugins/chat") }
	asChat := func(tb testing.TB) []byte { return plugintest.AS(tb, "plugins/chat-as/index.ts") }
	for _, order := range [][2]func(testing.TB) []byte{{goChat, asChat}, {asChat, goChat}} {
		h := newHost(t, host.Options{})
		deploy(t, h, "chat", order[0])
		c := connect(t, h, "chat/swap", "name=ann")
		c.nextText(t)
		c.send(t, "kept <across> \u2028 the swap")
		c.nextText(t)
		deploy(t, h, "chat", order[1])
		if err := h.Evict(context.Background(), host.ObjectID{Plugin: "chat", Name: "swap"}, host.EvictOptions{}); err != nil {
			t.Fatal(err)
		}
		b := connect(t, h, "chat/swap", "name=bob")
		if got := b.nextText(t); !strings.Contains(got, `"text":"kept \u003cacross\u003e \u2028 the swap"`) {
			t.Fatalf("welcome after the swap = %s", got)
		}
	}
}

// The counter twins answer the same commands with the same bytes,
// malformed ones included.
func TestCounterTwinsSpeakTheSameBytes(t *testing.T) {
	var first []string
	for i, p := range counters {
		h := newHost(t, host.Options{})
		deploy(t, h, "counter", p.build)
		c := connect(t, h, "counter/twins", "")
		var lines []string
		for _, cmd := range []struct {
			kind abi.FrameKind
			data string
		}{
			{abi.Text, "inc"}, {abi.Binary, "inc"}, {abi.Text, "inc\x80"}, {abi.Binary, "\xc1\xa9nc"}, {abi.Text, "inc "},
			{abi.Text, "INC"}, {abi.Text, ""}, {abi.Text, "get"}, {abi.Text, "hits"}, {abi.Text, "alarms"}, {abi.Text, "gets"},
		} {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := c.sess.Message(ctx, cmd.kind, []byte(cmd.data)); err != nil {
				t.Fatal(err)
			}
			cancel()
			f := c.next(t)
			lines = append(lines, fmt.Sprintf("%s %q -> %s %q", cmd.kind, cmd.data, f.Kind, f.Data))
		}
		if i == 0 {
			first = lines
			continue
		}
		compareTranscripts(t, counters[0].name, first, p.name, lines)
	}
}

func compareTranscripts(t *testing.T, aName string, a []string, bName string, b []string) {
	t.Helper()
	for i := range max(len(a), len(b)) {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			t.Errorf("line %d differs:\n%s: %s\n%s: %s", i, aName, x, bName, y)
		}
	}
	if t.Failed() {
		t.Logf("%s saw %d lines, %s %d", aName, len(a), bName, len(b))
	}
}
