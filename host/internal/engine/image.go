package engine

import "github.com/torpor-dev/torpor/host/internal/datamerge"

// memImage is a plugin's initial memory contents, taken out of its data
// section at compile time (datamerge.Extract). On Linux a large one lives
// in one memory file that every instance maps copy-on-write over the start
// of its linear memory (image_linux.go): an instance costs no copy of its
// data at instantiation, and only the pages it touches become its own. A
// small one, or where the file cannot be had, is copied into each
// instance, as the runtime would have done.
type memImage struct {
	img  datamerge.Image
	file imageFile // the mapped file; its zero value: none, copy instead
}

// newMemImage makes the image of img; nil for a module without one.
func newMemImage(img datamerge.Image) *memImage {
	if len(img.Segments) == 0 {
		return nil
	}
	return &memImage{img: img, file: newImageFile(img)}
}

// copyInto writes the image into the start of a fresh linear memory.
func (m *memImage) copyInto(mem []byte) {
	for _, s := range m.img.Segments {
		copy(mem[s.Offset:], s.Data)
	}
}

// close releases the file; instances that mapped it keep their mappings.
func (m *memImage) close() {
	if m != nil {
		m.file.close()
	}
}
