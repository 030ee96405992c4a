//! The object's durable key-value space (ABI.md section 6, "Storage").
//!
//! Keys are 1 to 2048 bytes, values 0 to 128 KiB (host defaults). Reads see
//! the event's own writes; the writes of one event commit atomically with it,
//! and only then do the event's frames leave the host. A failed event
//! discards both.
//!
//! Keys and values are anything that is `AsRef<[u8]>`: `"count"`,
//! `b"count"`, a `Buf`, a slice.

use crate::encoding::{self, Pairs};
use crate::{call_into, fetch, len32, sys, Buf, Status};

/// The value stored under `key`, or None when there is none.
pub fn get(key: &(impl AsRef<[u8]> + ?Sized)) -> Result<Option<Buf>, Status> {
    let k = key.as_ref();
    // SAFETY (in the closure): the host writes only the output ranges.
    match fetch(|buf, cap, len_out| unsafe { sys::storage_get(k.as_ptr(), len32(k), buf, cap, len_out) }) {
        Ok(v) => Ok(Some(v)),
        Err(Status::NOT_FOUND) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads the value under `key` into `buf` without allocating: None when
/// there is none, else the value's full length. When that length is over
/// `buf.len()`, nothing was copied.
///
/// ```ignore
/// let mut b = [0u8; 8];
/// let n = match storage::get_into("count", &mut b)? {
///     None => 0,
///     Some(8) => u64::from_le_bytes(b),
///     Some(_) => return Err(Status::INVALID),
/// };
/// ```
pub fn get_into(key: &(impl AsRef<[u8]> + ?Sized), buf: &mut [u8]) -> Result<Option<usize>, Status> {
    let k = key.as_ref();
    // SAFETY (in the closure): the output range is `buf` and a local.
    match call_into(buf, |p, cap, len_out| unsafe { sys::storage_get(k.as_ptr(), len32(k), p, cap, len_out) }) {
        Ok(n) => Ok(Some(n)),
        Err(Status::NOT_FOUND) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Stores `value` under `key`.
pub fn put(key: &(impl AsRef<[u8]> + ?Sized), value: &(impl AsRef<[u8]> + ?Sized)) -> Result<(), Status> {
    let (k, v) = (key.as_ref(), value.as_ref());
    // SAFETY: valid slices.
    Status::check(unsafe { sys::storage_put(k.as_ptr(), len32(k), v.as_ptr(), len32(v)) })
}

/// Deletes `key`; reports whether it existed.
pub fn delete(key: &(impl AsRef<[u8]> + ?Sized)) -> Result<bool, Status> {
    let k = key.as_ref();
    // SAFETY: a valid slice.
    match unsafe { sys::storage_delete(k.as_ptr(), len32(k)) } {
        0 => Ok(true),
        2 => Ok(false),
        st => Err(Status::from_code(st).unwrap_or(Status::INTERNAL)),
    }
}

/// One page of keys that start with `prefix` (empty: every key) and, when
/// `after` is not empty, sort strictly after it, with their values, in
/// ascending bytewise order: at most `limit` pairs (at most 256; 0 means
/// every matching pair, which is `TOO_LARGE` when there are more than 256).
/// To page on, pass the last key returned as `after`.
pub fn list(
    prefix: &(impl AsRef<[u8]> + ?Sized),
    after: &(impl AsRef<[u8]> + ?Sized),
    limit: u32,
) -> Result<List, Status> {
    let (p, a) = (prefix.as_ref(), after.as_ref());
    // SAFETY (in the closure): the host writes only the output ranges.
    let buf = fetch(|buf, cap, len_out| unsafe {
        sys::storage_list(p.as_ptr(), len32(p), a.as_ptr(), len32(a), limit, buf, cap, len_out)
    })?;
    encoding::check_pairs(&buf).map_err(|_| Status::INTERNAL)?;
    Ok(List { buf })
}

/// The result of [`list`]: pairs, key then value.
#[derive(Clone, Debug)]
pub struct List {
    buf: Buf,
}

impl List {
    /// The pairs in ascending order of key. The encoding was checked when
    /// the list was read, so every item is `Ok`.
    pub fn pairs(&self) -> Pairs<'_> {
        encoding::pairs(&self.buf)
    }

    /// Iterates over `(key, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.pairs().filter_map(|p| p.ok())
    }

    /// The number of pairs.
    pub fn len(&self) -> usize {
        self.pairs().count()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The last key, to pass as `after` for the next page.
    pub fn last_key(&self) -> Option<&[u8]> {
        self.iter().last().map(|(k, _)| k)
    }

    /// The pairs encoding as the host wrote it.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }
}
