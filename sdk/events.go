package sdk

import (
	"errors"
	"strconv"

	"github.com/torpor-dev/torpor/abi"
)

// The functions below are the platform-independent half of the exported
// handlers: they get the event data already read and return what the export
// returns. exports_wasip1.go reads the data and replies.

var errNotRegistered = errors.New("sdk: no plugin registered: call sdk.Register from an init function")

// Results of the handlers other than connect.
const (
	eventOK     uint32 = 0
	eventFailed uint32 = 1
)

// fail logs why an event failed and returns the failure result.
func fail(event string, err error) uint32 {
	Log(abi.LogError, event+": "+err.Error())
	return eventFailed
}

func connEvent(name string, conn uint64) string {
	return name + " conn " + strconv.FormatUint(conn, 10)
}

// connectEvent returns the on_connect result and the reject reason to reply.
func connectEvent(conn uint64, info []byte) (uint32, string) {
	err := errNotRegistered
	if registered != nil {
		var req *Request
		req, err = decodeRequest(info)
		if err == nil {
			err = registered.connect(Conn(conn), req)
		}
	}
	status, reason, line := connectResult(err)
	if line != "" {
		Log(abi.LogError, connEvent("connect", conn)+": "+line)
	}
	return status, reason
}

func messageEvent(conn uint64, kind abi.FrameKind, data []byte) uint32 {
	if registered == nil {
		return fail("message", errNotRegistered)
	}
	if !kind.Valid() {
		return eventOK // a kind from a newer ABI minor: ignore it
	}
	if err := registered.message(Conn(conn), Message{Kind: kind, Data: data}); err != nil {
		return fail(connEvent("message from", conn), err)
	}
	return eventOK
}

func closeEvent(conn uint64, code uint32, reason []byte) uint32 {
	if registered == nil {
		return fail("close", errNotRegistered)
	}
	if err := registered.close(Conn(conn), int(int32(code)), string(reason)); err != nil {
		return fail(connEvent("close of", conn), err)
	}
	return eventOK
}

// handlersEvent answers torpor_handlers: what the registered plugin
// implements, or every handler when none is registered, so that the host
// keeps delivering events and each fails naming the missing Register.
func handlersEvent() uint32 {
	if registered == nil {
		return abi.HandlerConnect | abi.HandlerClose | abi.HandlerAlarm | abi.HandlerState
	}
	return registered.handlers()
}

func alarmEvent(retry uint32) uint32 {
	if registered == nil {
		return fail("alarm", errNotRegistered)
	}
	if err := registered.alarm(int(int32(retry))); err != nil {
		return fail("alarm", err)
	}
	return eventOK
}

func snapshotEvent() ([]byte, error) {
	if registered == nil {
		return nil, errNotRegistered
	}
	return registered.snapshot()
}

func restoreEvent(data []byte) uint32 {
	if registered == nil {
		return fail("restore", errNotRegistered)
	}
	if err := registered.restore(data); err != nil {
		return fail("restore", err)
	}
	return eventOK
}
