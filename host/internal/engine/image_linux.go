package engine

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/torpor-dev/torpor/host/internal/datamerge"
)

// imageFile is a memfd holding a memory image, page-rounded; fd < 0: none.
type imageFile struct {
	fd   int
	size uintptr
}

// A small image is copied instead (see copyInto): the copy, made while the
// pool refills, costs a few microseconds and leaves its pages resident and
// writable, where a mapping costs the instance's first call two page faults
// (a read, then a copy on write) per page it touches, on a wake's path.
const imageCopyMax = 64 << 10

func newImageFile(img datamerge.Image) imageFile {
	none := imageFile{fd: -1}
	page := uint64(os.Getpagesize())
	size := (img.Size + page - 1) / page * page
	if size <= imageCopyMax || size > 1<<32 {
		return none
	}
	fd, err := unix.MemfdCreate("torpor-memory-image", unix.MFD_CLOEXEC)
	if err != nil {
		return none
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		unix.Close(fd)
		return none
	}
	for _, s := range img.Segments {
		for off, b := int64(s.Offset), s.Data; len(b) > 0; {
			n, err := unix.Pwrite(fd, b, off)
			if err != nil || n <= 0 {
				unix.Close(fd)
				return none
			}
			b, off = b[n:], off+int64(n)
		}
	}
	return imageFile{fd: fd, size: uintptr(size)}
}

// mapOver maps the file, copy-on-write and inaccessible until the memory's
// first grow makes it so, over the start of a reservation at least as
// large. It reports false if it could not, when the caller copies instead.
func (f imageFile) mapOver(region []byte) bool {
	if f.fd < 0 || uintptr(len(region)) < f.size {
		return false
	}
	addr, _, errno := unix.Syscall6(unix.SYS_MMAP, uintptr(unsafe.Pointer(&region[0])), f.size,
		unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_FIXED, uintptr(f.fd), 0)
	return errno == 0 && addr == uintptr(unsafe.Pointer(&region[0]))
}

func (f imageFile) close() {
	if f.fd >= 0 {
		unix.Close(f.fd)
	}
}
