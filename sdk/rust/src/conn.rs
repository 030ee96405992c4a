//! Connections, frames and broadcasts (ABI.md section 6, "Frames and
//! connections").

use crate::{call_into, encoding, fetch, len32, sys, Buf, Kind, Status};

/// A client connection, named by its id: stable for the socket's whole life,
/// across hibernation, and never zero.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Conn(u64);

impl Conn {
    /// The connection with this id (for ids kept in storage or attachments).
    pub const fn from_id(id: u64) -> Conn {
        Conn(id)
    }

    /// The connection id.
    pub const fn id(self) -> u64 {
        self.0
    }

    /// Queues a text frame. Like every frame an event sends, it leaves the
    /// host only once the event commits.
    pub fn send(self, text: &str) -> Result<(), Status> {
        self.send_frame(Kind::TEXT, text.as_bytes())
    }

    /// Queues a binary frame.
    pub fn send_bytes(self, data: &[u8]) -> Result<(), Status> {
        self.send_frame(Kind::BINARY, data)
    }

    /// Queues a frame of any kind; the host checks the kind, and that a text
    /// payload is UTF-8.
    pub fn send_frame(self, kind: Kind, data: &[u8]) -> Result<(), Status> {
        // SAFETY: a valid slice.
        Status::check(unsafe { sys::send(self.0, kind.0, data.as_ptr(), len32(data)) })
    }

    /// Closes the connection with a WebSocket close code (1000 or
    /// 3000–4999) and a reason (UTF-8, at most 123 bytes). No close event
    /// follows.
    pub fn close(self, code: u32, reason: &(impl AsRef<[u8]> + ?Sized)) -> Result<(), Status> {
        let r = reason.as_ref();
        // SAFETY: a valid slice.
        Status::check(unsafe { sys::close(self.0, code, r.as_ptr(), len32(r)) })
    }

    /// The connection's attachment (empty if none was set), as this event
    /// sees it.
    pub fn attachment(self) -> Result<Buf, Status> {
        // SAFETY (in the closure): the host writes only the output ranges.
        fetch(|buf, cap, len_out| unsafe { sys::attachment_get(self.0, buf, cap, len_out) })
    }

    /// Reads the attachment into `buf` without allocating. Returns its full
    /// length; when that is over `buf.len()` nothing was copied.
    pub fn attachment_into(self, buf: &mut [u8]) -> Result<usize, Status> {
        // SAFETY (in the closure): the output range is `buf` and a local.
        call_into(buf, |p, cap, len_out| unsafe { sys::attachment_get(self.0, p, cap, len_out) })
    }

    /// Replaces the attachment (at most 2048 bytes by default); empty clears
    /// it. It is kept by the host, so it survives hibernation.
    pub fn set_attachment(self, data: &[u8]) -> Result<(), Status> {
        // SAFETY: a valid slice.
        Status::check(unsafe { sys::attachment_set(self.0, data.as_ptr(), len32(data)) })
    }

    /// Sets the tags of the connecting connection; only in its own
    /// [`crate::Room::on_connect`] (elsewhere `BAD_STATE`).
    pub fn set_tags<T: AsRef<[u8]>>(self, tags: &[T]) -> Result<(), Status> {
        let list = encoding::encode_list(tags);
        self.set_tags_encoded(&list)
    }

    /// [`Conn::set_tags`] with the tags already in the list encoding, passed
    /// to the host as they are.
    pub fn set_tags_encoded(self, list: &[u8]) -> Result<(), Status> {
        // SAFETY: a valid slice.
        Status::check(unsafe { sys::conn_set_tags(self.0, list.as_ptr(), len32(list)) })
    }
}

/// A broadcast being set up: every connection of the object, narrowed by
/// [`Broadcast::except`] and [`Broadcast::only_tag`].
///
/// ```ignore
/// Broadcast::new().except(conn).only_tag("mods").send("hello")?;
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Broadcast<'a> {
    except: u64,
    tag: &'a [u8],
}

impl<'a> Broadcast<'a> {
    /// Every connection.
    pub const fn new() -> Broadcast<'a> {
        Broadcast { except: 0, tag: &[] }
    }

    /// Leaves `conn` out. Only one connection can be left out: the last
    /// call wins.
    pub fn except(mut self, conn: Conn) -> Broadcast<'a> {
        self.except = conn.0;
        self
    }

    /// Only connections carrying `tag` (empty: every connection).
    pub fn only_tag<T: AsRef<[u8]> + ?Sized>(mut self, tag: &'a T) -> Broadcast<'a> {
        self.tag = tag.as_ref();
        self
    }

    /// Queues a text frame.
    pub fn send(&self, text: &str) -> Result<(), Status> {
        self.send_frame(Kind::TEXT, text.as_bytes())
    }

    /// Queues a binary frame.
    pub fn send_bytes(&self, data: &[u8]) -> Result<(), Status> {
        self.send_frame(Kind::BINARY, data)
    }

    /// Queues a frame of any kind (a room forwarding a client's frame keeps
    /// its kind).
    pub fn send_frame(&self, kind: Kind, data: &[u8]) -> Result<(), Status> {
        // SAFETY: valid slices.
        Status::check(unsafe {
            sys::broadcast(kind.0, data.as_ptr(), len32(data), self.except, self.tag.as_ptr(), len32(self.tag))
        })
    }
}

/// Queues a text frame to every connection of the object.
pub fn broadcast(text: &str) -> Result<(), Status> {
    Broadcast::new().send(text)
}

/// Queues a binary frame to every connection of the object.
pub fn broadcast_bytes(data: &[u8]) -> Result<(), Status> {
    Broadcast::new().send_bytes(data)
}

/// The object's connections that carry `tag` (empty: all of them), in
/// ascending order of id.
pub fn connections(tag: &(impl AsRef<[u8]> + ?Sized)) -> Result<ConnList, Status> {
    let tag = tag.as_ref();
    // SAFETY (in the closure): the host writes only the output ranges.
    let buf = fetch(|buf, cap, len_out| unsafe { sys::conn_list(tag.as_ptr(), len32(tag), buf, cap, len_out) })?;
    if buf.len() % 8 != 0 {
        return Err(Status::INTERNAL); // not a list of ids
    }
    Ok(ConnList { buf })
}

/// The result of [`connections`].
#[derive(Clone, Debug)]
pub struct ConnList {
    buf: Buf,
}

impl ConnList {
    /// The number of connections.
    pub fn len(&self) -> usize {
        self.buf.len() / 8
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The connections in ascending order of id.
    pub fn iter(&self) -> impl Iterator<Item = Conn> + '_ {
        self.buf.chunks_exact(8).map(|c| {
            let mut id = [0u8; 8];
            id.copy_from_slice(c);
            Conn(u64::from_le_bytes(id))
        })
    }

    /// The ids as the host wrote them: u64 LE, 8 bytes each.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }
}
