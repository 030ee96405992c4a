package engine

import (
	"bytes"
	"context"
	"runtime/debug"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/torpor-dev/torpor/abi"
)

// The torpor_v1 host functions. Each is an api.GoModuleFunc (no reflection:
// ~80 ns a call). Every one reads its arguments off the stack, checks every
// (pointer, length) against the caller's memory, calls the Env and writes its
// status to stack[0]. None panics on guest input; a guest that passes garbage
// gets abi.Bounds or abi.Invalid back.

type hostFunc func(env Env, mem api.Memory, stack []uint64) abi.Status

func instantiateImports(ctx context.Context, rt wazero.Runtime) error {
	funcs := map[string]hostFunc{
		abi.ImportEventRead:       eventRead,
		abi.ImportReply:           reply,
		abi.ImportSend:            send,
		abi.ImportBroadcast:       broadcast,
		abi.ImportClose:           closeConn,
		abi.ImportConnSetTags:     connSetTags,
		abi.ImportConnList:        connList,
		abi.ImportAttachmentGet:   attachmentGet,
		abi.ImportAttachmentSet:   attachmentSet,
		abi.ImportStorageGet:      storageGet,
		abi.ImportStoragePut:      storagePut,
		abi.ImportStorageDelete:   storageDelete,
		abi.ImportStorageList:     storageList,
		abi.ImportAlarmSet:        alarmSet,
		abi.ImportAlarmGet:        alarmGet,
		abi.ImportAlarmCancel:     alarmCancel,
		abi.ImportAutoResponseSet: autoResponseSet,
		abi.ImportLog:             logLine,
		abi.ImportObjectID:        objectID,
	}
	b := rt.NewHostModuleBuilder(abi.ImportModule)
	for name, sig := range abi.Imports {
		fn, ok := funcs[name]
		if !ok {
			panic("engine: no implementation of " + name) // a build-time bug, caught by every test
		}
		b.NewFunctionBuilder().
			WithGoModuleFunction(wrap(name, fn), sig.Params, sig.Results).
			WithName(name).
			Export(name)
	}
	_, err := b.Instantiate(ctx)
	return err
}

// wrap binds a hostFunc to the instance that is calling: the instance rides
// in the call's context, set once per instance, so no lookup table is needed.
// A panic in the host's side of the call (a host bug, never the guest's) is
// handed to the Env, which fails the event as the host's fault, and the
// guest gets Internal.
func wrap(name string, fn hostFunc) api.GoModuleFunc {
	return func(ctx context.Context, mod api.Module, stack []uint64) {
		inst, _ := ctx.Value(instanceKey{}).(*Instance)
		if inst == nil || inst.env == nil {
			// Called from _initialize or a start function: no event is running.
			stack[0] = uint64(abi.BadState)
			return
		}
		env := inst.env
		defer func() {
			if r := recover(); r != nil {
				env.HostPanicked(name, r, debug.Stack())
				stack[0] = uint64(abi.Internal)
			}
		}()
		stack[0] = uint64(fn(env, mod.Memory(), stack))
	}
}

func u32(v uint64) uint32 { return uint32(v) }

// read returns the guest bytes at (ptr, n), or ok=false when they are not all
// inside memory. The slice aliases guest memory.
func read(mem api.Memory, ptr, n uint64) ([]byte, bool) {
	if n == 0 {
		return nil, true
	}
	return mem.Read(u32(ptr), u32(n))
}

// outOK reports whether an output range and its len_out pointer lie inside
// memory. Imports check them before doing any work, so a bad pointer is
// always Bounds, whatever else would have gone wrong.
func outOK(mem api.Memory, buf, capacity, lenOut uint64) bool {
	if _, ok := read(mem, buf, capacity); !ok {
		return false
	}
	_, ok := mem.Read(u32(lenOut), 4)
	return ok
}

// out writes data to (buf, cap) and its length to lenOut, following the ABI's
// BufferTooSmall convention. Every range is checked before anything is written.
func out(mem api.Memory, data []byte, buf, capacity, lenOut uint64) abi.Status {
	if !outOK(mem, buf, capacity, lenOut) {
		return abi.Bounds
	}
	mem.WriteUint32Le(u32(lenOut), uint32(len(data)))
	if uint64(len(data)) > uint64(u32(capacity)) {
		return abi.BufferTooSmall
	}
	if len(data) > 0 {
		mem.Write(u32(buf), data)
	}
	return abi.OK
}

// event_read(ptr, len)
func eventRead(env Env, mem api.Memory, s []uint64) abi.Status {
	dst, ok := read(mem, s[0], s[1])
	if !ok {
		return abi.Bounds
	}
	copy(dst, env.EventData())
	return abi.OK
}

// reply(ptr, len)
func reply(env Env, mem api.Memory, s []uint64) abi.Status {
	b, ok := read(mem, s[0], s[1])
	if !ok {
		return abi.Bounds
	}
	return env.Reply(b)
}

// send(conn i64, kind, ptr, len)
func send(env Env, mem api.Memory, s []uint64) abi.Status {
	b, ok := read(mem, s[2], s[3])
	if !ok {
		return abi.Bounds
	}
	return env.Send(s[0], abi.FrameKind(u32(s[1])), b)
}

// broadcast(kind, ptr, len, except i64, tag_ptr, tag_len)
func broadcast(env Env, mem api.Memory, s []uint64) abi.Status {
	b, ok := read(mem, s[1], s[2])
	if !ok {
		return abi.Bounds
	}
	tag, ok := read(mem, s[4], s[5])
	if !ok {
		return abi.Bounds
	}
	return env.Broadcast(abi.FrameKind(u32(s[0])), b, s[3], tag)
}

// close(conn i64, code, reason_ptr, reason_len)
func closeConn(env Env, mem api.Memory, s []uint64) abi.Status {
	reason, ok := read(mem, s[2], s[3])
	if !ok {
		return abi.Bounds
	}
	return env.CloseConn(s[0], u32(s[1]), reason)
}

// conn_set_tags(conn i64, ptr, len)
func connSetTags(env Env, mem api.Memory, s []uint64) abi.Status {
	b, ok := read(mem, s[1], s[2])
	if !ok {
		return abi.Bounds
	}
	return env.SetTags(s[0], b)
}

// conn_list(tag_ptr, tag_len, buf, cap, len_out)
func connList(env Env, mem api.Memory, s []uint64) abi.Status {
	tag, ok := read(mem, s[0], s[1])
	if !ok || !outOK(mem, s[2], s[3], s[4]) {
		return abi.Bounds
	}
	ids, st := env.ConnList(nil, tag)
	if st != abi.OK {
		return st
	}
	return out(mem, ids, s[2], s[3], s[4])
}

// attachment_get(conn i64, buf, cap, len_out)
func attachmentGet(env Env, mem api.Memory, s []uint64) abi.Status {
	if !outOK(mem, s[1], s[2], s[3]) {
		return abi.Bounds
	}
	b, st := env.Attachment(s[0])
	if st != abi.OK {
		return st
	}
	return out(mem, b, s[1], s[2], s[3])
}

// attachment_set(conn i64, ptr, len)
func attachmentSet(env Env, mem api.Memory, s []uint64) abi.Status {
	b, ok := read(mem, s[1], s[2])
	if !ok {
		return abi.Bounds
	}
	return env.SetAttachment(s[0], b)
}

// storage_get(key_ptr, key_len, buf, cap, len_out)
//
// The value goes straight from the store into the guest's buffer: a guest
// reading large values in a loop costs the host no copies.
func storageGet(env Env, mem api.Memory, s []uint64) abi.Status {
	key, ok := read(mem, s[0], s[1])
	if !ok || !outOK(mem, s[2], s[3], s[4]) {
		return abi.Bounds
	}
	buf, _ := read(mem, s[2], s[3])
	n, st := env.StorageGet(bytes.Clone(key), buf)
	if st != abi.OK && st != abi.BufferTooSmall {
		return st
	}
	mem.WriteUint32Le(u32(s[4]), uint32(n))
	return st
}

// storage_put(key_ptr, key_len, val_ptr, val_len)
func storagePut(env Env, mem api.Memory, s []uint64) abi.Status {
	key, ok := read(mem, s[0], s[1])
	if !ok {
		return abi.Bounds
	}
	v, ok := read(mem, s[2], s[3])
	if !ok {
		return abi.Bounds
	}
	return env.StoragePut(key, v)
}

// storage_delete(key_ptr, key_len)
func storageDelete(env Env, mem api.Memory, s []uint64) abi.Status {
	key, ok := read(mem, s[0], s[1])
	if !ok {
		return abi.Bounds
	}
	return env.StorageDelete(key)
}

// storage_list(prefix_ptr, prefix_len, after_ptr, after_len, limit, buf, cap, len_out)
//
// The Env encodes the result straight into the guest's buffer, so that a
// guest listing large values in a loop costs the host no buffers of its own.
func storageList(env Env, mem api.Memory, s []uint64) abi.Status {
	prefix, ok := read(mem, s[0], s[1])
	if !ok {
		return abi.Bounds
	}
	after, ok := read(mem, s[2], s[3])
	if !ok {
		return abi.Bounds
	}
	if !outOK(mem, s[5], s[6], s[7]) {
		return abi.Bounds
	}
	buf, _ := read(mem, s[5], s[6])
	// prefix and after may overlap buf: the Env reads them before it
	// writes anything, but keep its view of them stable.
	prefix, after = bytes.Clone(prefix), cloneOrNil(after)
	n, st := env.StorageList(buf, prefix, after, u32(s[4]))
	if st != abi.OK && st != abi.BufferTooSmall {
		return st
	}
	mem.WriteUint32Le(u32(s[7]), uint32(n))
	return st
}

func cloneOrNil(b []byte) []byte {
	if b == nil {
		return nil
	}
	return bytes.Clone(b)
}

// alarm_set(at_ms i64)
func alarmSet(env Env, _ api.Memory, s []uint64) abi.Status {
	return env.AlarmSet(int64(s[0]))
}

// alarm_get(out_ptr)
func alarmGet(env Env, mem api.Memory, s []uint64) abi.Status {
	if _, ok := mem.Read(u32(s[0]), 8); !ok {
		return abi.Bounds
	}
	at, st := env.AlarmGet()
	if st != abi.OK {
		return st
	}
	mem.WriteUint64Le(u32(s[0]), uint64(at))
	return abi.OK
}

// alarm_cancel()
func alarmCancel(env Env, _ api.Memory, _ []uint64) abi.Status {
	return env.AlarmCancel()
}

// auto_response_set(req_ptr, req_len, resp_ptr, resp_len)
func autoResponseSet(env Env, mem api.Memory, s []uint64) abi.Status {
	req, ok := read(mem, s[0], s[1])
	if !ok {
		return abi.Bounds
	}
	resp, ok := read(mem, s[2], s[3])
	if !ok {
		return abi.Bounds
	}
	return env.SetAutoResponse(req, resp)
}

// log(level, ptr, len)
func logLine(env Env, mem api.Memory, s []uint64) abi.Status {
	msg, ok := read(mem, s[1], s[2])
	if !ok {
		return abi.Bounds
	}
	env.Log(abi.LogLevel(u32(s[0])), msg)
	return abi.OK
}

// object_id(buf, cap, len_out)
func objectID(env Env, mem api.Memory, s []uint64) abi.Status {
	return out(mem, []byte(env.ObjectID()), s[0], s[1], s[2])
}
