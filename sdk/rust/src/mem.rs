//! Memory: a tiny size-class allocator over `memory.grow`, and [`Buf`], the
//! one owned, growable byte buffer of the SDK.
//!
//! Rust 1.63 cannot use the `alloc` crate in a `no_std` cdylib without a
//! nightly-only `#[alloc_error_handler]`, so the SDK does not use `alloc`.
//! Instead every variable-length thing (event data, storage values, lists,
//! the plugin's own buffers) lives in a `Buf` whose block comes from this
//! allocator:
//!
//! - Blocks are powers of two from 16 bytes to 1 GiB. A freed block goes on
//!   the free list of its size and is reused by the next block of that size;
//!   blocks are never split, merged or given back (WebAssembly memory cannot
//!   shrink). So the memory an instance holds is about its peak use per size,
//!   at most twice what it asked for.
//! - New blocks are cut from the free space after `__heap_base` (the end of
//!   the stack and static data, placed by the linker) and then from pages
//!   added with `memory.grow`. A plugin that never allocates never grows its
//!   memory past the linker's initial size.
//! - When `memory.grow` fails (the host's memory limit), the allocation
//!   panics, and the panic traps: the event fails, as ABI.md section 12 says
//!   of a guest out of memory.

use core::arch::wasm32;
use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::ptr::{self, NonNull};

// The cells below rely on there being one thread. wasm32-unknown-unknown has
// none unless the atomics feature is on; refuse that build outright.
#[cfg(target_feature = "atomics")]
compile_error!("the torpor SDK is single-threaded: build without the atomics target feature");

/// A global cell. The host runs one call into an instance at a time and never
/// re-enters it (ABI.md section 14), and the module has a single thread (see
/// the `compile_error!` above), so a `Global` is never accessed concurrently.
/// Each user of `Global::get` must still make sure that it does not hold two
/// `&mut` to the same cell at once; every use in this crate is commented.
pub(crate) struct Global<T>(UnsafeCell<T>);

// SAFETY: single-threaded target (see above), so sharing never races.
unsafe impl<T> Sync for Global<T> {}

impl<T> Global<T> {
    pub(crate) const fn new(v: T) -> Self {
        Global(UnsafeCell::new(v))
    }

    /// SAFETY: the caller must not let two returned references to the same
    /// cell be live at once.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn get(&self) -> &mut T {
        // SAFETY: the pointer is valid for the cell's life; exclusivity is
        // the caller's promise.
        unsafe { &mut *self.0.get() }
    }
}

const PAGE: usize = 65536;
const MIN_SHIFT: u32 = 4; // 16-byte smallest block
const MAX_SHIFT: u32 = 30; // 1 GiB largest block
const CLASSES: usize = (MAX_SHIFT - MIN_SHIFT + 1) as usize;

struct Heap {
    /// Start and end of the free space blocks are cut from; `end` is the
    /// end of linear memory when the space was last extended.
    top: usize,
    end: usize,
    started: bool,
    /// Heads of the free lists, one per size; 0 is the empty list (address 0
    /// is static data, never a block). A free block's first 4 bytes hold the
    /// address of the next free block of its size.
    free: [usize; CLASSES],
}

static HEAP: Global<Heap> = Global::new(Heap {
    top: 0,
    end: 0,
    started: false,
    free: [0; CLASSES],
});

extern "C" {
    /// Defined by the linker (rust-lld): the first address after the stack
    /// and the static data. Only its address is used.
    static __heap_base: u8;
}

/// The size class (log2 of the block size) for `n` bytes, or None when `n`
/// is over the largest block.
fn class_of(n: usize) -> Option<u32> {
    if n <= 1 << MIN_SHIFT {
        return Some(MIN_SHIFT);
    }
    let shift = usize::BITS - (n - 1).leading_zeros();
    if shift > MAX_SHIFT {
        None
    } else {
        Some(shift)
    }
}

/// Returns a block of `1 << shift` bytes, or None when memory is exhausted.
fn alloc_block(shift: u32) -> Option<NonNull<u8>> {
    // SAFETY: HEAP is only touched here and in free_block, neither of which
    // calls the other or anything that could re-enter; one live reference.
    let heap = unsafe { HEAP.get() };
    let class = (shift - MIN_SHIFT) as usize;
    let head = heap.free[class];
    if head != 0 {
        // SAFETY: `head` is a free block of at least 16 bytes that
        // free_block linked in; its first word is the next free block.
        heap.free[class] = unsafe { ptr::read(head as *const usize) };
        return NonNull::new(head as *mut u8);
    }
    bump(heap, 1 << shift).and_then(|p| NonNull::new(p as *mut u8))
}

/// Cuts `size` bytes (a multiple of 16) from the free space, growing memory
/// when it is short.
fn bump(heap: &mut Heap, size: usize) -> Option<usize> {
    if !heap.started {
        heap.started = true;
        // SAFETY: only the address of the linker symbol is taken.
        let base = unsafe { ptr::addr_of!(__heap_base) } as usize;
        heap.top = (base + 15) & !15;
        heap.end = wasm32::memory_size(0).checked_mul(PAGE)?;
        if heap.top > heap.end {
            heap.top = heap.end;
        }
    }
    if heap.end - heap.top < size {
        let cur = wasm32::memory_size(0).checked_mul(PAGE)?;
        if cur != heap.end {
            // Someone else grew memory since: the free space no longer
            // ends at the end of memory. Start afresh at the end.
            heap.top = cur;
            heap.end = cur;
        }
        let need = size - (heap.end - heap.top);
        let pages = (need + PAGE - 1) / PAGE;
        if wasm32::memory_grow(0, pages) == usize::MAX {
            return None;
        }
        heap.end = heap.end.checked_add(pages * PAGE)?;
    }
    let p = heap.top;
    heap.top += size;
    Some(p)
}

/// Puts a block from alloc_block back on its free list.
///
/// SAFETY: `p` must be a block alloc_block returned for `shift`, not in use.
unsafe fn free_block(p: NonNull<u8>, shift: u32) {
    // SAFETY: as in alloc_block, one live reference to HEAP.
    let heap = unsafe { HEAP.get() };
    let class = (shift - MIN_SHIFT) as usize;
    // SAFETY: the block is ours, at least 16 bytes and 16-aligned; its first
    // word becomes the free-list link.
    unsafe { ptr::write(p.as_ptr() as *mut usize, heap.free[class]) };
    heap.free[class] = p.as_ptr() as usize;
}

/// An owned, growable byte buffer (a small `Vec<u8>`), the SDK's only
/// allocation. `Buf::new()` allocates nothing and is `const`, so a `Buf` can
/// be a field of a room built by a const constructor. It derefs to `[u8]`.
///
/// Running out of memory panics (and so traps, failing the event).
pub struct Buf {
    ptr: NonNull<u8>,
    len: usize,
    /// log2 of the capacity; 0 when nothing is allocated.
    shift: u32,
}

impl Buf {
    /// An empty buffer; allocates nothing.
    pub const fn new() -> Buf {
        Buf { ptr: NonNull::dangling(), len: 0, shift: 0 }
    }

    /// An empty buffer with room for at least `n` bytes.
    pub fn with_capacity(n: usize) -> Buf {
        let mut b = Buf::new();
        b.reserve(n);
        b
    }

    /// A buffer holding a copy of `data`.
    pub fn from_slice(data: &[u8]) -> Buf {
        let mut b = Buf::new();
        b.extend_from_slice(data);
        b
    }

    /// A buffer of `n` zero bytes.
    pub fn zeroed(n: usize) -> Buf {
        let mut b = Buf::new();
        b.resize(n, 0);
        b
    }

    /// The number of bytes held.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many bytes fit without reallocating.
    pub fn capacity(&self) -> usize {
        if self.shift == 0 {
            0
        } else {
            1 << self.shift
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the first `len` bytes of the block are initialised.
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in as_slice, and `self` is borrowed mutably.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// Empties the buffer, keeping its block.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Shortens the buffer to `n` bytes; no effect if it is not longer.
    pub fn truncate(&mut self, n: usize) {
        if n < self.len {
            self.len = n;
        }
    }

    /// Makes room for at least `additional` more bytes.
    pub fn reserve(&mut self, additional: usize) {
        let need = match self.len.checked_add(additional) {
            Some(n) => n,
            None => out_of_memory(),
        };
        if need <= self.capacity() {
            return;
        }
        let shift = match class_of(need) {
            Some(s) => s,
            None => out_of_memory(),
        };
        let block = match alloc_block(shift) {
            Some(p) => p,
            None => out_of_memory(),
        };
        if self.shift != 0 {
            // SAFETY: the new block is at least as large as `len`, the
            // blocks are distinct, and the old block is ours to free.
            unsafe {
                ptr::copy_nonoverlapping(self.ptr.as_ptr(), block.as_ptr(), self.len);
                free_block(self.ptr, self.shift);
            }
        }
        self.ptr = block;
        self.shift = shift;
    }

    /// Appends one byte.
    pub fn push(&mut self, b: u8) {
        self.extend_from_slice(&[b]);
    }

    /// Appends a copy of `data`.
    pub fn extend_from_slice(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        self.reserve(data.len());
        // SAFETY: reserve made room for data.len() more bytes; `data` cannot
        // overlap the free part of our block.
        unsafe {
            ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.as_ptr().add(self.len), data.len());
        }
        self.len += data.len();
    }

    /// Replaces the contents with a copy of `data`.
    pub fn set(&mut self, data: &[u8]) {
        self.clear();
        self.extend_from_slice(data);
    }

    /// Resizes to `n` bytes, filling new bytes with `value`.
    pub fn resize(&mut self, n: usize, value: u8) {
        if n <= self.len {
            self.len = n;
            return;
        }
        self.reserve(n - self.len);
        // SAFETY: reserve made room for n bytes.
        unsafe { ptr::write_bytes(self.ptr.as_ptr().add(self.len), value, n - self.len) };
        self.len = n;
    }

    /// Runs a host call that writes up to `capacity()` bytes at the start of
    /// the block and returns how many it wrote; the buffer then holds them.
    /// Used for event_read and the output convention.
    ///
    /// SAFETY: `write` must write exactly the first `n` bytes it reports (at
    /// most the capacity it was given) and nothing else.
    pub(crate) unsafe fn fill_with<E>(
        &mut self,
        write: impl FnOnce(*mut u8, usize) -> Result<usize, E>,
    ) -> Result<(), E> {
        self.len = 0;
        // A Buf without a block has a dangling pointer; a zero capacity
        // makes it a valid empty range for the host.
        let n = write(self.ptr.as_ptr(), self.capacity())?;
        debug_assert!(n <= self.capacity());
        self.len = n;
        Ok(())
    }
}

fn out_of_memory() -> ! {
    panic!("torpor: out of memory")
}

impl Drop for Buf {
    fn drop(&mut self) {
        if self.shift != 0 {
            // SAFETY: the block came from alloc_block for this shift.
            unsafe { free_block(self.ptr, self.shift) };
        }
    }
}

impl Default for Buf {
    fn default() -> Buf {
        Buf::new()
    }
}

impl Clone for Buf {
    fn clone(&self) -> Buf {
        Buf::from_slice(self)
    }
}

impl Deref for Buf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl DerefMut for Buf {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.as_mut_slice()
    }
}

impl AsRef<[u8]> for Buf {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl PartialEq for Buf {
    fn eq(&self, other: &Buf) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Buf {}

impl PartialEq<[u8]> for Buf {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_slice() == other
    }
}

impl core::fmt::Debug for Buf {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.as_slice().fmt(f)
    }
}
