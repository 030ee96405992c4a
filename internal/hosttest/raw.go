package hosttest

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// RawUpgrade opens a TLS connection to addr, completes a WebSocket
// handshake for path on it and returns the connection, with nothing of what
// follows the 101 read: the test writes and reads raw frames, or leaves the
// socket unread to play a slow reader. The connection closes with the test.
func RawUpgrade(tb testing.TB, addr string, cfg *tls.Config, path string) net.Conn {
	tb.Helper()
	conn, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", path, addr)
	// One byte at a time, so that nothing after the response is buffered
	// away from the test.
	var head []byte
	one := make([]byte, 1)
	for !strings.HasSuffix(string(head), "\r\n\r\n") {
		if _, err := conn.Read(one); err != nil {
			tb.Fatalf("read the handshake response: %v (so far %q)", err, head)
		}
		head = append(head, one[0])
	}
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(head))), nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		tb.Fatalf("handshake answered %q", head)
	}
	_ = conn.SetDeadline(time.Time{})
	return conn
}
