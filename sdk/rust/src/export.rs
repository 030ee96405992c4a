//! The [`Room`] trait, and the handler exports that [`room!`] generates.

use crate::mem::Global;
use crate::{reply, sys, Buf, Conn, Kind, Level, Line, Request, Status};

/// A room program: one value of the type lives in each instance, serving one
/// object, and the host's events call these methods one at a time (never
/// concurrently, never re-entrantly).
///
/// Only [`Room::on_message`] is required. The other handlers have defaults
/// that behave as the ABI's absent handlers do; declare the ones you
/// override in [`Room::HANDLERS`], or the host treats them as absent and
/// never calls them.
///
/// A handler that returns `Err` fails its event: the host discards the
/// event's storage writes, alarm changes and frames, and rebuilds the
/// instance from the last stored snapshot. The SDK logs the failure. A panic
/// (trap) does the same.
///
/// The room value is created on the first event of the instance, with
/// `Default` or the constructor given to [`room!`]; `restore` then gets the
/// latest snapshot, if there is one. The value is in memory only: what must
/// survive a crash belongs in [`crate::storage`].
pub trait Room: 'static {
    /// Which optional handlers this room implements, as
    /// [`crate::handlers`] bits (`CONNECT | CLOSE | ALARM | STATE`),
    /// reported by the `torpor_handlers` export. The default, `NONE`, says
    /// the room only handles messages: the host then accepts every
    /// connection, does not wake the object for closes and alarms, and skips
    /// snapshot and restore. Set the bit of every handler you override.
    const HANDLERS: u32 = crate::handlers::NONE;

    /// A client asks to connect, before the WebSocket upgrade. `Ok` accepts
    /// it; `Err(reject(status, reason))` refuses it with an HTTP status in
    /// 400–599; any other error (`Err(ConnectError::Fail(st))`, or a status
    /// from `?`) refuses it with 500 and is logged. Only here may the room
    /// call [`Conn::set_tags`]. Frames sent to `conn` are delivered right
    /// after the upgrade. Default: accept.
    fn on_connect(&mut self, conn: Conn, req: &Request<'_>) -> Result<(), ConnectError> {
        let _ = (conn, req);
        Ok(())
    }

    /// `conn` sent a frame of `kind` (text or binary; frames of kinds from a
    /// newer ABI are not passed on). `data` is valid during the call only.
    fn on_message(&mut self, conn: Conn, kind: Kind, data: &[u8]) -> Result<(), Status>;

    /// `conn` has ended with `code` and `reason` (UTF-8 as the client sent
    /// it; not checked). `conn` is no longer in the table, but its
    /// attachment is still readable. May come for an id the room already
    /// saw close (after a crash). Default: nothing.
    fn on_close(&mut self, conn: Conn, code: u32, reason: &[u8]) -> Result<(), Status> {
        let _ = (conn, code, reason);
        Ok(())
    }

    /// The alarm is due. `retry` counts the earlier failed attempts of this
    /// alarm; a failed alarm event is retried with back-off. Default:
    /// nothing.
    fn on_alarm(&mut self, retry: u32) -> Result<(), Status> {
        let _ = retry;
        Ok(())
    }

    /// The host is about to hibernate the object: pass the in-memory state
    /// to [`crate::reply`]. Not calling it makes the snapshot empty. Only
    /// reads are allowed. Default: empty snapshot.
    fn snapshot(&mut self) -> Result<(), Status> {
        Ok(())
    }

    /// A fresh instance takes over the object: `data` is the latest
    /// non-empty snapshot (of this or an earlier version of the plugin).
    /// Not called when there is none. Only reads are allowed. Default:
    /// ignore it.
    fn restore(&mut self, data: &[u8]) -> Result<(), Status> {
        let _ = data;
        Ok(())
    }
}

/// Why [`Room::on_connect`] did not accept a connection.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ConnectError {
    /// Refuse with this HTTP status (400–599; anything else becomes 500).
    /// The reason is the event's reply: see [`reject`].
    Reject(u32),
    /// The handler failed: the client is refused with 500 and the status is
    /// logged, as the Go SDK does for an error that is not a rejection.
    Fail(Status),
}

impl From<Status> for ConnectError {
    fn from(st: Status) -> ConnectError {
        ConnectError::Fail(st)
    }
}

/// Refuses the connecting client with an HTTP `status` (400–599) and
/// `reason`, the response body (its first 1024 bytes). The reason is handed
/// to the host at once (with [`crate::reply`]); return the result from
/// `on_connect`:
///
/// ```ignore
/// return Err(torpor::reject(403, "members only"));
/// ```
pub fn reject(status: u32, reason: &(impl AsRef<[u8]> + ?Sized)) -> ConnectError {
    // A failure (only TOO_LARGE, for a reason over 32 MiB) leaves the
    // reason empty; the refusal stands.
    let _ = reply(reason.as_ref());
    ConnectError::Reject(status)
}

/// Not part of the API: what [`room!`] expands to calls these.
#[doc(hidden)]
pub mod __private {
    use super::*;

    /// The one room value of the instance, created on first use.
    pub struct Slot<T> {
        value: Global<Option<T>>,
        init: fn() -> T,
    }

    impl<T> Slot<T> {
        pub const fn new(init: fn() -> T) -> Slot<T> {
            Slot { value: Global::new(None), init }
        }

        /// SAFETY: only one reference may be live: each handler export
        /// calls this once, and the host never runs two calls into an
        /// instance at once or re-enters one from an import.
        #[allow(clippy::mut_from_ref)]
        unsafe fn get(&self) -> &mut T {
            let init = self.init;
            // SAFETY: the caller's promise above.
            unsafe { self.value.get() }.get_or_insert_with(init)
        }
    }

    // The handler entry points below are `unsafe fn` for one reason: each
    // takes the room out of its Slot with `Slot::get`, which is sound only
    // because the host never runs two calls into an instance at once and
    // never re-enters it (ABI.md sections 4 and 14). Their callers, the
    // exports room! generates, are only called by the host.

    /// The buffer message frames are read into, reused from frame to frame.
    static FRAME: Global<Buf> = Global::new(Buf::new());

    /// Reads the current event's data, `len` bytes, into `buf`.
    fn read_event(buf: &mut Buf, len: u32) -> Result<(), Status> {
        buf.clear();
        if len == 0 {
            return Ok(());
        }
        buf.reserve(len as usize);
        // SAFETY: the buffer has room for `len` bytes, and event_read writes
        // the first min(len, size) of them, where size is `len` (the length
        // the handler was given).
        unsafe {
            buf.fill_with(|ptr, _cap| {
                Status::check(sys::event_read(ptr, len))?;
                Ok(len as usize)
            })
        }
    }

    fn failed(what: &[u8], st: Status) {
        Line::new().push(b"torpor: ").push(what).push(b": ").status(st).log(Level::ERROR);
    }

    fn result(what: &[u8], r: Result<(), Status>) -> u32 {
        match r {
            Ok(()) => 0,
            Err(st) => {
                failed(what, st);
                1
            }
        }
    }

    pub unsafe fn on_connect<T: Room>(slot: &Slot<T>, conn: u64, info_len: u32) -> u32 {
        let mut info = Buf::new();
        if let Err(st) = read_event(&mut info, info_len) {
            failed(b"on_connect: read request info", st);
            return 500;
        }
        let req = match Request::parse(&info) {
            Ok(r) => r,
            Err(st) => {
                failed(b"on_connect: request info", st);
                return 500;
            }
        };
        // SAFETY: see above; one reference to the room for this event.
        match unsafe { slot.get() }.on_connect(Conn::from_id(conn), &req) {
            Ok(()) => 0,
            Err(ConnectError::Reject(s)) if (400..=599).contains(&s) => s,
            Err(ConnectError::Reject(s)) => {
                // No reason for a 500. SAFETY: (0, 0) is the empty range.
                let _ = unsafe { sys::reply(core::ptr::null(), 0) };
                Line::new()
                    .push(b"torpor: on_connect: reject status ")
                    .num(s as u64)
                    .push(b" is outside 400-599; refused with 500")
                    .log(Level::ERROR);
                500
            }
            Err(ConnectError::Fail(st)) => {
                failed(b"on_connect", st);
                500
            }
        }
    }

    pub unsafe fn on_message<T: Room>(slot: &Slot<T>, conn: u64, kind: u32, len: u32) -> u32 {
        if kind != Kind::TEXT.0 && kind != Kind::BINARY.0 {
            return 0; // a kind from a newer ABI minor: ignore it
        }
        // SAFETY: FRAME is only used here, and the handler cannot reach it,
        // so this is its one live reference.
        let frame = unsafe { FRAME.get() };
        if let Err(st) = read_event(frame, len) {
            return result(b"on_message: read frame", Err(st));
        }
        // SAFETY: see above.
        result(b"on_message", unsafe { slot.get() }.on_message(Conn::from_id(conn), Kind(kind), frame))
    }

    pub unsafe fn on_close<T: Room>(slot: &Slot<T>, conn: u64, code: u32, reason_len: u32) -> u32 {
        let mut reason = Buf::new();
        if let Err(st) = read_event(&mut reason, reason_len) {
            return result(b"on_close: read reason", Err(st));
        }
        // SAFETY: see above.
        result(b"on_close", unsafe { slot.get() }.on_close(Conn::from_id(conn), code, &reason))
    }

    pub unsafe fn on_alarm<T: Room>(slot: &Slot<T>, retry: u32) -> u32 {
        // SAFETY: see above.
        result(b"on_alarm", unsafe { slot.get() }.on_alarm(retry))
    }

    pub unsafe fn snapshot<T: Room>(slot: &Slot<T>) -> u32 {
        // SAFETY: see above.
        result(b"snapshot", unsafe { slot.get() }.snapshot())
    }

    pub unsafe fn restore<T: Room>(slot: &Slot<T>, len: u32) -> u32 {
        // SAFETY: see above.
        let room = unsafe { slot.get() };
        if len == 0 {
            return 0;
        }
        let mut data = Buf::new();
        if let Err(st) = read_event(&mut data, len) {
            return result(b"restore: read snapshot", Err(st));
        }
        result(b"restore", room.restore(&data))
    }
}

/// Generates the plugin's exports for a [`Room`] type. Invoke it once, at
/// the top level of the plugin crate:
///
/// ```ignore
/// torpor::room!(Counter);                  // created with Default
/// torpor::room!(Counter, Counter::new());  // created with this expression
/// ```
///
/// The room value is created on the instance's first event. The exports are
/// `torpor_abi_version` (v1.1), `torpor_handlers` (`Room::HANDLERS`),
/// `torpor_on_connect`, `torpor_on_message`, `torpor_on_close`,
/// `torpor_on_alarm`, `torpor_snapshot` and `torpor_restore`, with the
/// ABI's exact types; `memory` is exported by the linker.
#[macro_export]
macro_rules! room {
    ($room:ty) => {
        $crate::room!($room, <$room as ::core::default::Default>::default());
    };
    ($room:ty, $init:expr) => {
        const _: () = {
            fn __torpor_init() -> $room {
                $init
            }

            static __TORPOR_ROOM: $crate::__private::Slot<$room> = $crate::__private::Slot::new(__torpor_init);

            #[no_mangle]
            pub extern "C" fn torpor_abi_version() -> u32 {
                $crate::ABI_VERSION
            }

            #[no_mangle]
            pub extern "C" fn torpor_handlers() -> u32 {
                <$room as $crate::Room>::HANDLERS
            }

            // SAFETY (all below): the host calls one export at a time and
            // never re-enters the instance, which is what Slot::get needs.
            // They are `unsafe` so that no Rust code can call them.

            #[no_mangle]
            pub unsafe extern "C" fn torpor_on_connect(conn: u64, info_len: u32) -> u32 {
                $crate::__private::on_connect(&__TORPOR_ROOM, conn, info_len)
            }

            #[no_mangle]
            pub unsafe extern "C" fn torpor_on_message(conn: u64, kind: u32, len: u32) -> u32 {
                $crate::__private::on_message(&__TORPOR_ROOM, conn, kind, len)
            }

            #[no_mangle]
            pub unsafe extern "C" fn torpor_on_close(conn: u64, code: u32, reason_len: u32) -> u32 {
                $crate::__private::on_close(&__TORPOR_ROOM, conn, code, reason_len)
            }

            #[no_mangle]
            pub unsafe extern "C" fn torpor_on_alarm(retry: u32) -> u32 {
                $crate::__private::on_alarm(&__TORPOR_ROOM, retry)
            }

            #[no_mangle]
            pub unsafe extern "C" fn torpor_snapshot() -> u32 {
                $crate::__private::snapshot(&__TORPOR_ROOM)
            }

            #[no_mangle]
            pub unsafe extern "C" fn torpor_restore(len: u32) -> u32 {
                $crate::__private::restore(&__TORPOR_ROOM, len)
            }
        };
    };
}
