// Command chat is the chat room of the demo page and the host tests.
//
// Clients connect with ?name=NAME (trimmed; empty becomes "guest-" and the
// last four digits of the connection id). A name longer than 32 bytes is
// refused with 400, the name "admin" (in any case) with 403. The name is kept
// as the connection's attachment, so it survives hibernation. The host
// answers the text frame "ping" with "pong" without waking the room.
//
// Every frame the room sends is a JSON text frame:
//
//	{"type":"welcome","you":NAME,"id":"CONN ID","members":[NAMES],"history":[MESSAGES]}
//	    to a client that just connected; members include the client
//	{"type":"join","name":NAME,"members":[NAMES]}      to the others
//	{"type":"message","from":NAME,"text":TEXT,"ts":UNIX_MS}
//	    to everyone, the sender included, for each text frame the client sends
//	    (trimmed; empty frames are ignored)
//	{"type":"leave","name":NAME,"members":[NAMES]}     when a client is gone
//	{"type":"error","error":REASON}                    to a client whose frame
//	    was binary or longer than 4096 bytes
//
// The last 50 messages are kept in memory (and in the snapshot) as history.
// A welcome holds as much of it as fits in one frame (1 MiB), newest last.
package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/torpor-dev/torpor/abi"
	"github.com/torpor-dev/torpor/sdk"
)

const (
	maxName    = 32
	maxText    = 4096
	maxHistory = 50
	maxFrame   = 1 << 20 // the host's default frame limit
	tag        = "chat"
)

// room is the in-memory state, encoded as JSON in the snapshot.
type room struct {
	History []message `json:"history"`
}

type message struct {
	Type string `json:"type"`
	From string `json:"from"`
	Text string `json:"text"`
	TS   int64  `json:"ts"`
}

type welcome struct {
	Type    string    `json:"type"`
	You     string    `json:"you"`
	ID      string    `json:"id"`
	Members []string  `json:"members"`
	History []message `json:"history"`
}

// presence is a join or a leave.
type presence struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Members []string `json:"members"`
}

type failure struct {
	Type  string `json:"type"` // "error"
	Error string `json:"error"`
}

func init() {
	sdk.Register(sdk.Plugin[room]{Connect: connect, Message: receive, Close: leave})
}

func connect(r *room, c sdk.Conn, req *sdk.Request) error {
	name := strings.TrimSpace(req.Param("name"))
	switch {
	case name == "":
		name = guestName(c)
	case len(name) > maxName:
		return sdk.Reject(400, "name too long (max 32 bytes)")
	case strings.EqualFold(name, "admin"):
		return sdk.Reject(403, "name reserved")
	}
	if err := c.SetAttachment([]byte(name)); err != nil {
		return err
	}
	if err := c.SetTags(tag); err != nil {
		return err
	}
	if err := sdk.SetAutoResponse("ping", "pong"); err != nil {
		return err
	}
	members, err := memberNames(c, name, 0)
	if err != nil {
		return err
	}
	w := welcome{"welcome", name, strconv.FormatUint(c.ID(), 10), members, append([]message{}, r.History...)} // [] rather than null
	b, err := json.Marshal(w)
	for err == nil && len(b) > maxFrame && len(w.History) > 0 {
		w.History = w.History[1:] // the most recent history that fits in a frame
		b, err = json.Marshal(w)
	}
	if err != nil {
		return err
	}
	if err := c.Send(string(b)); err != nil {
		return err
	}
	return broadcast(presence{"join", name, members}, sdk.Except(c))
}

func receive(r *room, c sdk.Conn, m sdk.Message) error {
	if !m.IsText() {
		return send(c, failure{"error", "binary frames are not supported"})
	}
	text := strings.TrimSpace(m.Text())
	switch {
	case text == "":
		return nil
	case len(text) > maxText:
		return send(c, failure{"error", "message too long"})
	}
	name, err := nameOf(c)
	if err != nil {
		return err
	}
	msg := message{"message", name, text, time.Now().UnixMilli()}
	if len(r.History) >= maxHistory {
		n := copy(r.History, r.History[len(r.History)-maxHistory+1:])
		r.History = r.History[:n]
	}
	r.History = append(r.History, msg)
	return broadcast(msg)
}

func leave(_ *room, c sdk.Conn, _ int, _ string) error {
	name, err := nameOf(c)
	if err != nil {
		// The host may have dropped the closed connection's attachment.
		sdk.Log(abi.LogWarn, "chat: name of closed conn "+strconv.FormatUint(c.ID(), 10)+": "+err.Error())
		name = guestName(c)
	}
	members, err := memberNames(0, "", c)
	if err != nil {
		return err
	}
	return broadcast(presence{"leave", name, members}, sdk.Except(c))
}

// memberNames returns the names of the room's connections in the host's
// order. self, when not 0, is named selfName and included even if the host
// does not list it yet; gone, when not 0, is left out.
func memberNames(self sdk.Conn, selfName string, gone sdk.Conn) ([]string, error) {
	conns, err := sdk.Connections(tag)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(conns)+1)
	seen := false
	for _, c := range conns {
		switch {
		case c == gone:
		case c == self:
			names, seen = append(names, selfName), true
		default:
			name, err := nameOf(c)
			if err != nil {
				return nil, err
			}
			names = append(names, name)
		}
	}
	if self != 0 && !seen {
		names = append(names, selfName)
	}
	return names, nil
}

// nameOf returns the name a connection chose, kept as its attachment.
func nameOf(c sdk.Conn) (string, error) {
	b, err := c.Attachment()
	if err != nil || len(b) == 0 {
		return guestName(c), err
	}
	return string(b), nil
}

// guestName is "guest-" and the last four decimal digits of the id.
func guestName(c sdk.Conn) string {
	return "guest-" + strconv.FormatUint(10000+c.ID()%10000, 10)[1:]
}

func send(c sdk.Conn, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.Send(string(b))
}

func broadcast(v any, opts ...sdk.BroadcastOption) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return sdk.Broadcast(string(b), append(opts, sdk.OnlyTag(tag))...)
}

// main is never called: the host runs the module as a WASI reactor.
func main() {}
