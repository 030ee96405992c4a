//! The ABI's two encodings (ABI.md section 9): a *list* is a sequence of
//! items, each a u32 LE length and that many bytes; *pairs* is a list of an
//! even number of items, key then value. Both end where their bytes end.

use crate::{Buf, Status};

/// Splits the first item off `b`: returns the item and the rest, or
/// `INVALID` when fewer than 4 bytes remain or the length runs past the end.
pub fn split_item(b: &[u8]) -> Result<(&[u8], &[u8]), Status> {
    if b.len() < 4 {
        return Err(Status::INVALID);
    }
    let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    let rest = &b[4..];
    if n > rest.len() {
        return Err(Status::INVALID);
    }
    Ok(rest.split_at(n))
}

/// Appends one item (length and bytes) to `out`.
pub fn append_item(out: &mut Buf, item: &[u8]) {
    out.reserve(4 + item.len());
    out.extend_from_slice(&(item.len() as u32).to_le_bytes());
    out.extend_from_slice(item);
}

/// Encodes items as a list, as `conn_set_tags` takes it.
pub fn encode_list<T: AsRef<[u8]>>(items: &[T]) -> Buf {
    let mut out = Buf::new();
    for it in items {
        append_item(&mut out, it.as_ref());
    }
    out
}

/// Iterates over the items of a list. A malformed list yields one
/// `Err(INVALID)` where it goes wrong, then ends.
#[derive(Clone, Debug)]
pub struct Items<'a> {
    rest: &'a [u8],
}

/// The items of the list `b`.
pub fn items(b: &[u8]) -> Items<'_> {
    Items { rest: b }
}

impl<'a> Items<'a> {
    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.rest
    }
}

impl<'a> Iterator for Items<'a> {
    type Item = Result<&'a [u8], Status>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match split_item(self.rest) {
            Ok((item, rest)) => {
                self.rest = rest;
                Some(Ok(item))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// Iterates over the pairs of a pairs encoding. A malformed encoding
/// (including a key without a value) yields one `Err(INVALID)`, then ends.
#[derive(Clone, Debug)]
pub struct Pairs<'a> {
    items: Items<'a>,
}

/// The pairs of `b`.
pub fn pairs(b: &[u8]) -> Pairs<'_> {
    Pairs { items: items(b) }
}

impl<'a> Iterator for Pairs<'a> {
    type Item = Result<(&'a [u8], &'a [u8]), Status>;

    fn next(&mut self) -> Option<Self::Item> {
        let key = match self.items.next()? {
            Ok(k) => k,
            Err(e) => return Some(Err(e)),
        };
        match self.items.next() {
            Some(Ok(v)) => Some(Ok((key, v))),
            Some(Err(e)) => Some(Err(e)),
            None => Some(Err(Status::INVALID)),
        }
    }
}

/// Checks that `b` is a well-formed pairs encoding.
pub fn check_pairs(b: &[u8]) -> Result<(), Status> {
    for p in pairs(b) {
        p?;
    }
    Ok(())
}
