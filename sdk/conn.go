package sdk

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"github.com/torpor-dev/torpor/abi"
)

// Conn is a client connection, named by its id. The id is stable for the
// socket's whole life, across hibernation, and never zero.
type Conn uint64

// ID returns the connection id.
func (c Conn) ID() uint64 { return uint64(c) }

// Send queues a text frame to the connection. Like every frame an event
// sends, it leaves the host only after the event's storage writes commit.
func (c Conn) Send(text string) error {
	return c.send(abi.Text, readOnlyBytes(text))
}

// SendBytes queues a binary frame to the connection.
func (c Conn) SendBytes(b []byte) error {
	return c.send(abi.Binary, b)
}

func (c Conn) send(kind abi.FrameKind, b []byte) error {
	if err := hostSend(uint64(c), kind, b); err != nil {
		return fmt.Errorf("send %s frame to conn %d: %w", kind, uint64(c), err)
	}
	return nil
}

// Close closes the connection with a WebSocket close code (1000 or
// 3000–4999) and a reason.
func (c Conn) Close(code int, reason string) error {
	if code < 0 || code > 0xffff {
		return fmt.Errorf("close conn %d: code %d: %w", uint64(c), code, abi.Invalid)
	}
	if err := hostClose(uint64(c), uint32(code), reason); err != nil {
		return fmt.Errorf("close conn %d with %d: %w", uint64(c), code, err)
	}
	return nil
}

// Attachment returns the bytes attached to the connection with
// SetAttachment; nil and no error if there are none. The attachment is kept
// by the host, so it survives hibernation.
func (c Conn) Attachment() ([]byte, error) {
	b, err := fetch(func(buf []byte) (int, error) { return hostAttachmentGet(uint64(c), buf) })
	if err != nil {
		return nil, fmt.Errorf("attachment of conn %d: %w", uint64(c), err)
	}
	if len(b) == 0 {
		return nil, nil
	}
	return clone(b), nil
}

// SetAttachment replaces the connection's attachment; the host bounds its size.
func (c Conn) SetAttachment(b []byte) error {
	if err := hostAttachmentSet(uint64(c), b); err != nil {
		return fmt.Errorf("set attachment of conn %d: %w", uint64(c), err)
	}
	return nil
}

// SetTags sets the connection's tags, which Broadcast and Connections filter
// on. It is only allowed in the Connect handler of this connection.
func (c Conn) SetTags(tags ...string) error {
	if err := hostConnSetTags(uint64(c), abi.EncodeList(tags)); err != nil {
		return fmt.Errorf("set tags of conn %d: %w", uint64(c), err)
	}
	return nil
}

// readOnlyBytes views s as bytes without copying it. Only for handing a string
// to a host call: the host copies what it reads and never writes to it, so
// the string's immutability holds and the frame costs the guest no
// allocation.
func readOnlyBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// Message is a frame a client sent.
type Message struct {
	Kind abi.FrameKind
	// Data is the payload. It lives in a buffer the SDK reuses for the
	// next frame, so it is valid only until the handler returns: keep a
	// copy (bytes.Clone, or Text, which copies) to hold on to it. Handing
	// it to Send, Broadcast or Storage meanwhile is fine, since the host
	// copies what it reads.
	Data []byte
}

// IsText reports whether the frame is a text frame.
func (m Message) IsText() bool { return m.Kind == abi.Text }

// Text returns the payload as a string.
func (m Message) Text() string { return string(m.Data) }

// BroadcastOption narrows the connections a broadcast reaches. Make one
// with Except or OnlyTag; the zero BroadcastOption changes nothing.
//
// It is a value rather than a function so that applying options needs no
// allocation: a closure writing through a pointer would move the options to
// the guest heap on every broadcast.
type BroadcastOption struct {
	set    optionField
	except uint64
	tag    string
}

type optionField uint8

const (
	setExcept optionField = 1 + iota
	setTag
)

type broadcastOptions struct {
	except uint64
	tag    string
}

func applyBroadcastOptions(opts []BroadcastOption) broadcastOptions {
	o := broadcastOptions{except: abi.NoConn}
	for _, opt := range opts {
		switch opt.set {
		case setExcept:
			o.except = opt.except
		case setTag:
			o.tag = opt.tag
		}
	}
	return o
}

// Except leaves c out of the broadcast. Only one connection can be left out:
// the last Except given wins.
func Except(c Conn) BroadcastOption {
	return BroadcastOption{set: setExcept, except: uint64(c)}
}

// OnlyTag limits the broadcast to the connections that carry tag. The last
// OnlyTag given wins; "" means every connection.
func OnlyTag(tag string) BroadcastOption {
	return BroadcastOption{set: setTag, tag: tag}
}

// Broadcast queues a text frame to every connection of the object, narrowed
// by the options.
func Broadcast(text string, opts ...BroadcastOption) error {
	return broadcast(abi.Text, readOnlyBytes(text), opts)
}

// BroadcastBytes queues a binary frame to every connection of the object,
// narrowed by the options.
func BroadcastBytes(b []byte, opts ...BroadcastOption) error {
	return broadcast(abi.Binary, b, opts)
}

// BroadcastFrame queues a frame of the given kind to every connection of
// the object, narrowed by the options: a room that forwards what a client
// sent keeps its kind without converting it, BroadcastFrame(m.Kind, m.Data).
func BroadcastFrame(kind abi.FrameKind, b []byte, opts ...BroadcastOption) error {
	return broadcast(kind, b, opts)
}

func broadcast(kind abi.FrameKind, b []byte, opts []BroadcastOption) error {
	o := applyBroadcastOptions(opts)
	if err := hostBroadcast(kind, b, o.except, o.tag); err != nil {
		return fmt.Errorf("broadcast %s frame: %w", kind, err)
	}
	return nil
}

// Connections returns the object's open connections that carry tag, or all
// of them for "".
func Connections(tag string) ([]Conn, error) {
	b, err := fetch(func(buf []byte) (int, error) { return hostConnList(tag, buf) })
	if err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	return decodeConnList(b)
}

// decodeConnList decodes conn_list's result: ids as u64 LE.
func decodeConnList(b []byte) ([]Conn, error) {
	if len(b)%8 != 0 {
		return nil, fmt.Errorf("list connections: %d bytes is not a list of ids: %w", len(b), abi.ErrMalformed)
	}
	conns := make([]Conn, len(b)/8)
	for i := range conns {
		conns[i] = Conn(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return conns, nil
}
