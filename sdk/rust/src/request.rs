//! The request info of a connect event (ABI.md section 10).

use crate::encoding::{self, Pairs};
use crate::Status;

/// A client's WebSocket upgrade request, as [`crate::Room::on_connect`] sees
/// it: a view of the request info (pairs encoding), borrowed from the
/// event's data. Values are bytes as the gateway supplied them.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    info: &'a [u8],
}

impl<'a> Request<'a> {
    /// Wraps request info, checking that it is well formed.
    pub fn parse(info: &'a [u8]) -> Result<Request<'a>, Status> {
        encoding::check_pairs(info)?;
        Ok(Request { info })
    }

    /// The request path as received, for example `/chat/lobby`.
    pub fn path(&self) -> &'a [u8] {
        self.get(b":path").unwrap_or(&[])
    }

    /// The raw query string without the `?`; empty when there is none.
    pub fn query(&self) -> &'a [u8] {
        self.get(b":query").unwrap_or(&[])
    }

    /// The client's address as the gateway saw it, `host:port`.
    pub fn remote(&self) -> &'a [u8] {
        self.get(b":remote").unwrap_or(&[])
    }

    /// The object id, `plugin/name`.
    pub fn object(&self) -> &'a [u8] {
        self.get(b":object").unwrap_or(&[])
    }

    /// The first value of the named header, matched case-insensitively
    /// (ASCII), or None.
    pub fn header(&self, name: &(impl AsRef<[u8]> + ?Sized)) -> Option<&'a [u8]> {
        let name = name.as_ref();
        if name.first() == Some(&b':') {
            return None;
        }
        self.pairs()
            .filter_map(|p| p.ok())
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The first value of the named query parameter, still percent-encoded
    /// as it came (`a%20b` stays so; `+` is not turned into a space), or None.
    /// A parameter without `=` has the empty value.
    pub fn param(&self, name: &(impl AsRef<[u8]> + ?Sized)) -> Option<&'a [u8]> {
        let name = name.as_ref();
        self.query()
            .split(|&b| b == b'&')
            .find_map(|kv| {
                let (k, v) = match kv.iter().position(|&b| b == b'=') {
                    Some(i) => (&kv[..i], &kv[i + 1..]),
                    None => (kv, &kv[kv.len()..]),
                };
                if k == name {
                    Some(v)
                } else {
                    None
                }
            })
    }

    /// The value of the first pair whose key is exactly `key` (a pseudo-key
    /// such as `:path`, or a lower-case header name).
    pub fn get(&self, key: &[u8]) -> Option<&'a [u8]> {
        self.pairs().filter_map(|p| p.ok()).find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Every pair in order: the pseudo-keys, then one pair per header value
    /// (names in lower case). Keys starting with `:` that you do not know
    /// come from a newer host; skip them.
    pub fn pairs(&self) -> Pairs<'a> {
        encoding::pairs(self.info)
    }

    /// The request info as the host encoded it.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.info
    }
}
