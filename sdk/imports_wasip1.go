//go:build wasip1

package sdk

import (
	"unsafe"

	"github.com/torpor-dev/torpor/abi"
)

// The host imports, one //go:wasmimport per abi.Imports entry (abi_test.go
// checks names and signatures against package abi). Pointers are
// unsafe.Pointer (i32), connection ids and times 64-bit, everything else
// uint32; every call returns an abi.Status.

//go:wasmimport torpor_v1 event_read
func torporEventRead(ptr unsafe.Pointer, n uint32) uint32

//go:wasmimport torpor_v1 reply
func torporReply(ptr unsafe.Pointer, n uint32) uint32

//go:wasmimport torpor_v1 send
func torporSend(conn uint64, kind uint32, ptr unsafe.Pointer, n uint32) uint32

//go:wasmimport torpor_v1 broadcast
func torporBroadcast(kind uint32, ptr unsafe.Pointer, n uint32, except uint64, tagPtr unsafe.Pointer, tagLen uint32) uint32

//go:wasmimport torpor_v1 close
func torporClose(conn uint64, code uint32, reasonPtr unsafe.Pointer, reasonLen uint32) uint32

//go:wasmimport torpor_v1 conn_set_tags
func torporConnSetTags(conn uint64, ptr unsafe.Pointer, n uint32) uint32

//go:wasmimport torpor_v1 conn_list
func torporConnList(tagPtr unsafe.Pointer, tagLen uint32, buf unsafe.Pointer, bufCap uint32, lenOut unsafe.Pointer) uint32

//go:wasmimport torpor_v1 attachment_get
func torporAttachmentGet(conn uint64, buf unsafe.Pointer, bufCap uint32, lenOut unsafe.Pointer) uint32

//go:wasmimport torpor_v1 attachment_set
func torporAttachmentSet(conn uint64, ptr unsafe.Pointer, n uint32) uint32

//go:wasmimport torpor_v1 storage_get
func torporStorageGet(keyPtr unsafe.Pointer, keyLen uint32, buf unsafe.Pointer, bufCap uint32, lenOut unsafe.Pointer) uint32

//go:wasmimport torpor_v1 storage_put
func torporStoragePut(keyPtr unsafe.Pointer, keyLen uint32, valPtr unsafe.Pointer, valLen uint32) uint32

//go:wasmimport torpor_v1 storage_delete
func torporStorageDelete(keyPtr unsafe.Pointer, keyLen uint32) uint32

//go:wasmimport torpor_v1 storage_list
func torporStorageList(prefixPtr unsafe.Pointer, prefixLen uint32, afterPtr unsafe.Pointer, afterLen uint32, limit uint32, buf unsafe.Pointer, bufCap uint32, lenOut unsafe.Pointer) uint32

//go:wasmimport torpor_v1 alarm_set
func torporAlarmSet(atMillis int64) uint32

//go:wasmimport torpor_v1 alarm_get
func torporAlarmGet(out unsafe.Pointer) uint32

//go:wasmimport torpor_v1 alarm_cancel
func torporAlarmCancel() uint32

//go:wasmimport torpor_v1 auto_response_set
func torporAutoResponseSet(reqPtr unsafe.Pointer, reqLen uint32, respPtr unsafe.Pointer, respLen uint32) uint32

//go:wasmimport torpor_v1 log
func torporLog(level uint32, ptr unsafe.Pointer, n uint32) uint32

//go:wasmimport torpor_v1 object_id
func torporObjectID(buf unsafe.Pointer, bufCap uint32, lenOut unsafe.Pointer) uint32

// bp and sp return the address of a byte slice's or string's data for a
// (pointer, length) argument. With length 0 the address is never read.
func bp(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }
func sp(s string) unsafe.Pointer { return unsafe.Pointer(unsafe.StringData(s)) }

// statusErr is nil for abi.OK and the abi.Status otherwise.
func statusErr(s uint32) error {
	if s == uint32(abi.OK) {
		return nil
	}
	return abi.Status(s)
}

// sized converts the result of a call that fills a buffer: the length the
// host reported (also on BufferTooSmall) and the status.
func sized(s uint32, n uint32) (int, error) {
	return int(n), statusErr(s)
}

func hostEventRead(b []byte) error {
	return statusErr(torporEventRead(bp(b), uint32(len(b))))
}

func hostReply(b []byte) error {
	return statusErr(torporReply(bp(b), uint32(len(b))))
}

func hostSend(conn uint64, kind abi.FrameKind, b []byte) error {
	return statusErr(torporSend(conn, uint32(kind), bp(b), uint32(len(b))))
}

func hostBroadcast(kind abi.FrameKind, b []byte, except uint64, tag string) error {
	return statusErr(torporBroadcast(uint32(kind), bp(b), uint32(len(b)), except, sp(tag), uint32(len(tag))))
}

func hostClose(conn uint64, code uint32, reason string) error {
	return statusErr(torporClose(conn, code, sp(reason), uint32(len(reason))))
}

func hostConnSetTags(conn uint64, list []byte) error {
	return statusErr(torporConnSetTags(conn, bp(list), uint32(len(list))))
}

func hostConnList(tag string, buf []byte) (int, error) {
	var n uint32
	s := torporConnList(sp(tag), uint32(len(tag)), bp(buf), uint32(len(buf)), unsafe.Pointer(&n))
	return sized(s, n)
}

func hostAttachmentGet(conn uint64, buf []byte) (int, error) {
	var n uint32
	s := torporAttachmentGet(conn, bp(buf), uint32(len(buf)), unsafe.Pointer(&n))
	return sized(s, n)
}

func hostAttachmentSet(conn uint64, b []byte) error {
	return statusErr(torporAttachmentSet(conn, bp(b), uint32(len(b))))
}

func hostStorageGet(key string, buf []byte) (int, error) {
	var n uint32
	s := torporStorageGet(sp(key), uint32(len(key)), bp(buf), uint32(len(buf)), unsafe.Pointer(&n))
	return sized(s, n)
}

func hostStoragePut(key string, v []byte) error {
	return statusErr(torporStoragePut(sp(key), uint32(len(key)), bp(v), uint32(len(v))))
}

func hostStorageDelete(key string) error {
	return statusErr(torporStorageDelete(sp(key), uint32(len(key))))
}

func hostStorageList(prefix, after string, limit uint32, buf []byte) (int, error) {
	var n uint32
	s := torporStorageList(sp(prefix), uint32(len(prefix)), sp(after), uint32(len(after)), limit,
		bp(buf), uint32(len(buf)), unsafe.Pointer(&n))
	return sized(s, n)
}

func hostAlarmSet(ms int64) error {
	return statusErr(torporAlarmSet(ms))
}

func hostAlarmGet() (int64, error) {
	var ms int64 // wasm is little-endian: the host's i64 LE lands as is
	s := torporAlarmGet(unsafe.Pointer(&ms))
	return ms, statusErr(s)
}

func hostAlarmCancel() error {
	return statusErr(torporAlarmCancel())
}

func hostAutoResponseSet(req, resp string) error {
	return statusErr(torporAutoResponseSet(sp(req), uint32(len(req)), sp(resp), uint32(len(resp))))
}

func hostLog(level abi.LogLevel, msg string) error {
	return statusErr(torporLog(uint32(level), sp(msg), uint32(len(msg))))
}

func hostObjectID(buf []byte) (int, error) {
	var n uint32
	s := torporObjectID(bp(buf), uint32(len(buf)), unsafe.Pointer(&n))
	return sized(s, n)
}
