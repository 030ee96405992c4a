// Package abi is the single source of truth for the torpor host ABI: the names
// of the exports a plugin provides and of the imports the host provides, their
// WebAssembly signatures, the status codes every import returns, and the small
// byte encodings that cross the boundary. The readable spec is ABI.md beside
// this file; the host and the Go SDK both import this package, so the two can
// never disagree.
//
// The package has no dependencies beyond the standard library's encoding/binary
// and unicode/utf8 and builds for GOOS=wasip1, because plugins link it too.
package abi

// Major and Minor are the ABI version this package describes. A host refuses a
// plugin whose marker names another major version; minor versions only add
// optional exports and imports, so a v1.0 plugin runs on any v1.x host.
const (
	Major = 1
	Minor = 1
)

// Version is the value a plugin's marker export returns: Major<<16 | Minor.
const Version = Major<<16 | Minor

// SplitVersion returns the major and minor parts of a marker value.
func SplitVersion(v uint32) (major, minor uint16) {
	return uint16(v >> 16), uint16(v)
}

// ImportModule is the module name under which the host provides its imports.
// It carries the major version so that a guest built for another major version
// fails validation with a message that says so.
const ImportModule = "torpor_v1"

// ImportModulePrefix is what every torpor import module name starts with; the
// host uses it to tell "built for another ABI" from "imports something unknown".
const ImportModulePrefix = "torpor_v"

// WASIModule is the only other import module a plugin may use. The host gives it
// clocks, random and stdout/stderr (routed to its log); every other WASI call
// finds no file system, no environment and no network.
const WASIModule = "wasi_snapshot_preview1"

// FrameKind says whether a WebSocket frame is text or binary.
type FrameKind uint32

// Frame kinds, as passed to on_message, send and broadcast.
const (
	Text   FrameKind = 1
	Binary FrameKind = 2
)

// Valid reports whether k is a known frame kind.
func (k FrameKind) Valid() bool { return k == Text || k == Binary }

func (k FrameKind) String() string {
	switch k {
	case Text:
		return "text"
	case Binary:
		return "binary"
	}
	return "unknown"
}

// LogLevel is the level argument of the log import.
type LogLevel uint32

// Log levels, in increasing severity. Unknown levels are logged as Info.
const (
	LogDebug LogLevel = 0
	LogInfo  LogLevel = 1
	LogWarn  LogLevel = 2
	LogError LogLevel = 3
)

// Connect results. on_connect returns Accept, or an HTTP status in
// [RejectMin, RejectMax] to refuse the connection before the WebSocket upgrade;
// the reason is whatever the guest passed to reply during the event.
const (
	Accept    = 0
	RejectMin = 400
	RejectMax = 599
)

// NoConn is the connection id that means "no connection", for broadcast's
// except argument. Real connection ids are never zero.
const NoConn uint64 = 0
