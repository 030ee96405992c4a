//go:build wasip1

package sdk

import (
	"github.com/torpor-dev/torpor/abi"
)

// The handler exports, one //go:wasmexport per abi.Exports entry (abi_test.go
// checks them against package abi). Each reads its event data with
// event_read, into a buffer of exactly the announced length (a message's
// frame into the one buffer frames reuse), and hands it to the
// platform-independent half in events.go.

//go:wasmexport torpor_abi_version
func exportVersion() uint32 { return abi.Version }

//go:wasmexport torpor_handlers
func exportHandlers() uint32 { return handlersEvent() }

//go:wasmexport torpor_on_connect
func exportConnect(conn uint64, infoLen uint32) uint32 {
	info, err := readEvent(infoLen)
	if err != nil {
		Log(abi.LogError, connEvent("connect", conn)+": read request info: "+err.Error())
		return 500
	}
	status, reason := connectEvent(conn, info)
	if reason != "" {
		if err := hostReply([]byte(reason)); err != nil {
			Log(abi.LogWarn, connEvent("connect", conn)+": reply reject reason: "+err.Error())
		}
	}
	return status
}

//go:wasmexport torpor_on_message
func exportMessage(conn uint64, kind uint32, n uint32) uint32 {
	data, err := readMessage(n)
	if err != nil {
		return fail(connEvent("message from", conn)+": read frame", err)
	}
	return messageEvent(conn, abi.FrameKind(kind), data)
}

//go:wasmexport torpor_on_close
func exportClose(conn uint64, code uint32, reasonLen uint32) uint32 {
	reason, err := readEvent(reasonLen)
	if err != nil {
		return fail(connEvent("close of", conn)+": read reason", err)
	}
	return closeEvent(conn, code, reason)
}

//go:wasmexport torpor_on_alarm
func exportAlarm(retry uint32) uint32 {
	return alarmEvent(retry)
}

//go:wasmexport torpor_snapshot
func exportSnapshot() uint32 {
	data, err := snapshotEvent()
	if err != nil {
		return fail("snapshot", err)
	}
	if err := hostReply(data); err != nil {
		return fail("snapshot: reply", err)
	}
	return eventOK
}

//go:wasmexport torpor_restore
func exportRestore(n uint32) uint32 {
	data, err := readEvent(n)
	if err != nil {
		return fail("restore: read snapshot", err)
	}
	return restoreEvent(data)
}
