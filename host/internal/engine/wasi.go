package engine

import (
	"context"
	"encoding/binary"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/torpor-dev/torpor/abi"
)

// WASI errno values (wasi_snapshot_preview1's errno enum) that fd_write
// answers with.
const (
	errnoSuccess = 0
	errnoBadf    = 8
	errnoFault   = 21
	errnoInval   = 28
)

// Bounds of one fd_write call. A guest's stdout and stderr are the host
// log, one line per call: a call with more than maxIovecs buffers is refused
// (POSIX's IOV_MAX), and at most maxLogWrite bytes of it are read; the rest
// is counted as written and dropped, so that the work of one host call is
// bounded whatever the guest hands it, and a guest does not retry a short
// write forever.
const (
	maxIovecs   = 1024
	maxLogWrite = 16 << 10
)

// instantiateWASI provides wazero's WASI preview 1 with fd_write replaced:
// wazero's writes every buffer of a call through the module's stdout,
// however many there are, inside one host call that no deadline can stop.
func instantiateWASI(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(abi.WASIModule)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(b)
	i32 := api.ValueTypeI32
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(fdWrite), []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}).
		WithName("fd_write").
		Export("fd_write")
	_, err := b.Instantiate(ctx)
	return err
}

// fd_write(fd, iovs, iovs_len, nwritten_out) -> errno
func fdWrite(ctx context.Context, mod api.Module, s []uint64) {
	s[0] = uint64(fdWriteErrno(ctx, mod.Memory(), s))
}

func fdWriteErrno(ctx context.Context, mem api.Memory, s []uint64) uint32 {
	fd, iovs, count, out := u32(s[0]), u32(s[1]), u32(s[2]), u32(s[3])
	if fd != 1 && fd != 2 {
		return errnoBadf
	}
	if count > maxIovecs {
		return errnoInval
	}
	list, ok := mem.Read(iovs, count*8)
	if !ok {
		return errnoFault
	}
	if _, ok := mem.Read(out, 4); !ok {
		return errnoFault
	}
	inst, _ := ctx.Value(instanceKey{}).(*Instance)
	var line []byte
	if inst != nil {
		line = inst.logBuf[:0]
	}
	var total uint64
	for i := uint32(0); i < count; i++ {
		ptr := binary.LittleEndian.Uint32(list[i*8:])
		n := binary.LittleEndian.Uint32(list[i*8+4:])
		b, ok := mem.Read(ptr, n)
		if !ok {
			return errnoFault
		}
		if room := maxLogWrite - len(line); room > 0 && inst != nil {
			line = append(line, b[:min(len(b), room)]...)
		}
		total += uint64(n)
	}
	if inst != nil {
		inst.logBuf = line[:0]
		inst.logLine(line)
	}
	mem.WriteUint32Le(out, uint32(min(total, 1<<32-1)))
	return errnoSuccess
}
