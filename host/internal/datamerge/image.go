package datamerge

import (
	"errors"
	"fmt"
)

// Image is a module's initial memory contents, taken out of its data
// section by Extract: the segments in the order the runtime would have
// written them (a later one wins where two overlap). Size is the end of the
// furthest one.
type Image struct {
	Segments []Segment
	Size     uint64
}

// Segment is one run of bytes of an Image, at Offset in memory 0.
type Segment struct {
	Offset uint32
	Data   []byte
}

// Extract returns wasm without its data section and the memory image that
// section would have written at instantiation, for a host that puts the
// image in place itself: mapped copy-on-write from one shared file, say,
// instead of copied into every instance. It does so only when that cannot
// change what the module does:
//
//   - every segment is active in memory 0 at an i32.const offset (no
//     passive segment, none at a global's offset), and there is no data
//     count section, so nothing can name a segment;
//   - the memory is the module's own (zero at instantiation, so the image
//     on zeros is the same memory) and its one memory;
//   - every segment lies within the memory's initial size, so the
//     instantiation the original would fail (a segment out of bounds) is
//     never one the stripped module would pass.
//
// Otherwise it returns wasm unchanged and an empty Image. The input is not
// modified; the Image's bytes alias it. It returns an error for a module it
// cannot parse.
func Extract(wasm []byte) ([]byte, Image, error) {
	m, err := scan(wasm)
	if err != nil {
		return nil, Image{}, err
	}
	if m.data == nil || m.hasDataCount || m.importsMemory || m.memories != 1 {
		return wasm, Image{}, nil
	}
	initial, err := initialMemory(m.memory)
	if err != nil {
		return nil, Image{}, err
	}
	segs, err := parseData(m.data)
	if err != nil {
		return nil, Image{}, fmt.Errorf("data section: %w", err)
	}
	img := Image{Segments: make([]Segment, 0, len(segs))}
	for _, s := range segs {
		if !s.fixed || s.end() > initial {
			return wasm, Image{}, nil
		}
		img.Segments = append(img.Segments, Segment{Offset: s.offset, Data: s.init})
		img.Size = max(img.Size, s.end())
	}
	out := make([]byte, 0, len(wasm)-(m.dataEnd-m.dataStart))
	out = append(out, wasm[:m.dataStart]...)
	return append(out, wasm[m.dataEnd:]...), img, nil
}

// initialMemory is the initial size, in bytes, of the one memory a memory
// section (scan's module.memory) defines.
func initialMemory(section []byte) (uint64, error) {
	if section == nil {
		return 0, errors.New("no memory section")
	}
	cr := &reader{b: section}
	if n := cr.u32(); n != 1 {
		return 0, fmt.Errorf("memory section with %d memories", n)
	}
	switch flag := cr.byte(); flag {
	case 0, 1, 2, 3: // without or with a maximum, shared or not
		pages := cr.u32()
		if cr.err != nil {
			return 0, cr.err
		}
		return uint64(pages) << 16, nil
	default:
		return 0, fmt.Errorf("memory limits flags 0x%02x", flag)
	}
}
