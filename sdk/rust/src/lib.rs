//! The Rust SDK for torpor room programs (torpor ABI v1.1, `abi/ABI.md`).
//!
//! A plugin is a `no_std` cdylib crate for `wasm32-unknown-unknown` that
//! implements [`Room`] for one type and invokes [`room!`] once:
//!
//! ```ignore
//! #![no_std]
//! use torpor::{Conn, Kind, Room, Status};
//!
//! #[derive(Default)]
//! struct Echo;
//!
//! impl Room for Echo {
//!     fn on_message(&mut self, conn: Conn, kind: Kind, data: &[u8]) -> Result<(), Status> {
//!         conn.send_frame(kind, data)
//!     }
//! }
//!
//! torpor::room!(Echo);
//! ```
//!
//! The crate has no dependencies beyond `core`: no `alloc`, no `std`. It
//! provides the plugin's `#[panic_handler]` (a panic logs where it happened
//! and traps with `unreachable`, failing the event), and [`Buf`], an owned
//! byte buffer over a tiny allocator that grows memory with `memory.grow`.
//!
//! Every host call returns `Result<_, Status>`, the error being the ABI
//! status the host returned. Calls are only valid inside a handler; outside
//! an event the host answers [`Status::BAD_STATE`].

#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(not(target_arch = "wasm32"))]
compile_error!("the torpor SDK builds only for wasm32-unknown-unknown (see sdk/rust/README.md)");

mod conn;
pub mod encoding;
mod export;
mod mem;
mod request;
pub mod storage;
mod sys;

pub use conn::{broadcast, broadcast_bytes, connections, Broadcast, Conn, ConnList};
pub use export::{reject, ConnectError, Room};
pub use mem::Buf;
pub use request::Request;

#[doc(hidden)]
pub use export::__private;

/// The ABI version the generated `torpor_abi_version` export returns:
/// `major << 16 | minor`, v1.1.
pub const ABI_VERSION: u32 = 0x0001_0001;

/// Bits of [`Room::HANDLERS`], as the `torpor_handlers` export reports them
/// (ABI.md section 5).
pub mod handlers {
    /// `on_connect` is implemented.
    pub const CONNECT: u32 = 1;
    /// `on_close` is implemented.
    pub const CLOSE: u32 = 2;
    /// `on_alarm` is implemented.
    pub const ALARM: u32 = 4;
    /// `snapshot` and `restore` are implemented (the room keeps in-memory
    /// state across hibernation).
    pub const STATE: u32 = 8;
    /// Every optional handler.
    pub const ALL: u32 = CONNECT | CLOSE | ALARM | STATE;
    /// No optional handler: only `on_message`.
    pub const NONE: u32 = 0;
}

/// A non-OK ABI status (ABI.md section 8): the error of every host call, and
/// what a handler returns to fail its event.
///
/// A `Status` is never 0 (OK). Statuses this SDK does not know (added by a
/// later minor version) are kept as they are; treat them like `INTERNAL`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Status(u32);

impl Status {
    /// A range lies outside linear memory (never seen through this SDK's
    /// safe API).
    pub const BOUNDS: Status = Status(1);
    /// No such key, connection or alarm.
    pub const NOT_FOUND: Status = Status(2);
    /// An argument exceeds a host limit.
    pub const TOO_LARGE: Status = Status(3);
    /// An argument is malformed.
    pub const INVALID: Status = Status(4);
    /// The result did not fit (the SDK's own calls retry with room to spare,
    /// so this is rarely seen).
    pub const BUFFER_TOO_SMALL: Status = Status(5);
    /// The call is not allowed in this event, or no event is running.
    pub const BAD_STATE: Status = Status(6);
    /// The host failed; the event fails whatever the handler does.
    pub const INTERNAL: Status = Status(7);

    /// The status for an ABI code, or None for 0 (OK).
    pub const fn from_code(code: u32) -> Option<Status> {
        if code == 0 {
            None
        } else {
            Some(Status(code))
        }
    }

    /// The ABI code, 1 or more.
    pub const fn code(self) -> u32 {
        self.0
    }

    /// A short description, as the Go SDK spells it.
    pub fn name(self) -> &'static str {
        match self.0 {
            1 => "out of bounds",
            2 => "not found",
            3 => "too large",
            4 => "invalid argument",
            5 => "buffer too small",
            6 => "not allowed in this event",
            7 => "internal host error",
            _ => "unknown status",
        }
    }

    /// Turns an import's result into a Result.
    pub(crate) fn check(code: u32) -> Result<(), Status> {
        if code == 0 {
            Ok(())
        } else {
            Err(Status(code))
        }
    }
}

/// The kind of a WebSocket frame: [`Kind::TEXT`] or [`Kind::BINARY`]. Any
/// other value is passed to the host as is (which answers `INVALID`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Kind(pub u32);

impl Kind {
    pub const TEXT: Kind = Kind(1);
    pub const BINARY: Kind = Kind(2);

    pub fn is_text(self) -> bool {
        self == Kind::TEXT
    }
}

/// A host log level. Levels the host does not know are logged as info.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Level(pub u32);

impl Level {
    pub const DEBUG: Level = Level(0);
    pub const INFO: Level = Level(1);
    pub const WARN: Level = Level(2);
    pub const ERROR: Level = Level(3);
}

/// The length of a byte range as the ABI's `u32`. Slices on wasm32 never
/// exceed `u32::MAX` bytes.
#[inline]
pub(crate) fn len32(b: &[u8]) -> u32 {
    b.len() as u32
}

/// Runs an import that follows the output convention (ABI.md section 2) on
/// `buf`: returns the full length of the result, which was copied only if it
/// is at most `buf.len()`.
pub(crate) fn call_into(
    buf: &mut [u8],
    call: impl FnOnce(*mut u8, u32, *mut u32) -> u32,
) -> Result<usize, Status> {
    let mut n: u32 = 0;
    match call(buf.as_mut_ptr(), len32(buf), &mut n) {
        0 | 5 => Ok(n as usize),
        st => Err(Status(st)),
    }
}

/// Runs an import that follows the output convention and returns its whole
/// result in a new [`Buf`]: a first try into a small stack buffer, and when
/// the host reports a longer result, again into a block of that size.
/// `call` is always given a valid output range (`buf`, `cap`) and a valid
/// `len_out`, which is what makes the unsafe import calls inside the
/// callers' closures sound.
pub(crate) fn fetch(mut call: impl FnMut(*mut u8, u32, *mut u32) -> u32) -> Result<Buf, Status> {
    let mut small = [0u8; 64];
    let mut n = call_into(&mut small, &mut call)?;
    if n <= small.len() {
        return Ok(Buf::from_slice(&small[..n]));
    }
    // Within one event a repeated call returns the same result unless the
    // event changed it, which it cannot between these calls; still, retry
    // a few times rather than trust that blindly.
    for _ in 0..3 {
        let mut buf = Buf::with_capacity(n);
        let mut full = 0usize;
        // SAFETY: the host writes at most `cap` bytes at the pointer and
        // only when the result fits (then exactly `full` bytes).
        let r = unsafe {
            buf.fill_with(|ptr, cap| {
                let mut len: u32 = 0;
                let st = call(ptr, cap as u32, &mut len);
                full = len as usize;
                match st {
                    0 if full <= cap => Ok(full),
                    0 => Err(Status::INTERNAL), // a length it did not write
                    5 => Ok(0),
                    st => Err(Status(st)),
                }
            })
        };
        r?;
        if full <= buf.capacity() {
            return Ok(buf);
        }
        n = full;
    }
    Err(Status::BUFFER_TOO_SMALL)
}

/// Sets the current event's reply (ABI.md `reply`): the state in a
/// [`Room::snapshot`] handler, the refusal reason in connect (see [`reject`]).
/// A later call replaces an earlier one. Elsewhere: `BAD_STATE`.
pub fn reply(data: &[u8]) -> Result<(), Status> {
    // SAFETY: a valid slice.
    Status::check(unsafe { sys::reply(data.as_ptr(), len32(data)) })
}

/// Sets the object's one alarm to `at_ms` (Unix milliseconds), replacing any
/// earlier one. It commits with the event; then the host calls
/// [`Room::on_alarm`] at or after that time.
pub fn set_alarm(at_ms: i64) -> Result<(), Status> {
    // SAFETY: no pointers.
    Status::check(unsafe { sys::alarm_set(at_ms) })
}

/// The time the alarm is set to (Unix ms), or None when there is none.
pub fn get_alarm() -> Result<Option<i64>, Status> {
    let mut at: i64 = 0;
    // SAFETY: `at` is 8 writable bytes.
    match unsafe { sys::alarm_get(&mut at) } {
        0 => Ok(Some(at)),
        2 => Ok(None),
        st => Err(Status(st)),
    }
}

/// Removes the alarm; reports whether there was one.
pub fn cancel_alarm() -> Result<bool, Status> {
    // SAFETY: no pointers.
    match unsafe { sys::alarm_cancel() } {
        0 => Ok(true),
        2 => Ok(false),
        st => Err(Status(st)),
    }
}

/// Makes the host answer a text frame equal to `request` with the text
/// `response`, without waking the object, from the commit of this event on.
/// `response` must not be empty (`INVALID`; use [`remove_auto_response`]).
pub fn set_auto_response(
    request: &(impl AsRef<[u8]> + ?Sized),
    response: &(impl AsRef<[u8]> + ?Sized),
) -> Result<(), Status> {
    let (req, resp) = (request.as_ref(), response.as_ref());
    if resp.is_empty() {
        return Err(Status::INVALID);
    }
    // SAFETY: valid slices.
    Status::check(unsafe { sys::auto_response_set(req.as_ptr(), len32(req), resp.as_ptr(), len32(resp)) })
}

/// Removes the auto-response for `request`, if there is one.
pub fn remove_auto_response(request: &(impl AsRef<[u8]> + ?Sized)) -> Result<(), Status> {
    let req = request.as_ref();
    // SAFETY: a valid slice; (0, 0) is the empty response.
    Status::check(unsafe { sys::auto_response_set(req.as_ptr(), len32(req), core::ptr::null(), 0) })
}

/// Writes `msg` to the host log at `level`, tagged with the object.
/// Failures are ignored; see [`try_log`].
pub fn log(level: Level, msg: &(impl AsRef<[u8]> + ?Sized)) {
    let _ = try_log(level, msg);
}

/// [`log`], reporting the host's status.
pub fn try_log(level: Level, msg: &(impl AsRef<[u8]> + ?Sized)) -> Result<(), Status> {
    let m = msg.as_ref();
    // SAFETY: a valid slice.
    Status::check(unsafe { sys::log(level.0, m.as_ptr(), len32(m)) })
}

/// The id of the object this instance serves, `plugin/name`.
pub fn object_id() -> Result<Buf, Status> {
    // SAFETY (in the closure): the host writes only the output ranges.
    fetch(|buf, cap, len_out| unsafe { sys::object_id(buf, cap, len_out) })
}

/// Now, in nanoseconds since the Unix epoch (WASI realtime clock).
pub fn now_ns() -> Result<u64, Status> {
    let mut t: u64 = 0;
    // SAFETY: `t` is 8 writable bytes. Clock 0 is realtime; the precision
    // (1 µs) is a hint.
    match unsafe { sys::clock_time_get(0, 1000, &mut t) } {
        0 => Ok(t),
        _ => Err(Status::INTERNAL),
    }
}

/// Now, in milliseconds since the Unix epoch, as [`set_alarm`] takes it.
pub fn now_ms() -> Result<i64, Status> {
    now_ns().map(|ns| (ns / 1_000_000) as i64)
}

/// Writes `n` in decimal into `buf` and returns the digits (at most 20).
pub fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    match core::str::from_utf8(&buf[i..]) {
        Ok(s) => s,
        Err(_) => "",
    }
}

/// A short log line built without allocating; longer text is cut.
pub(crate) struct Line {
    buf: [u8; 160],
    len: usize,
}

impl Line {
    pub(crate) fn new() -> Line {
        Line { buf: [0; 160], len: 0 }
    }

    pub(crate) fn push(&mut self, s: &[u8]) -> &mut Line {
        let n = core::cmp::min(s.len(), self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
        self
    }

    pub(crate) fn num(&mut self, n: u64) -> &mut Line {
        let mut d = [0u8; 20];
        let s = decimal(n, &mut d);
        self.push(s.as_bytes())
    }

    pub(crate) fn status(&mut self, st: Status) -> &mut Line {
        self.push(st.name().as_bytes()).push(b" (").num(st.code() as u64).push(b")")
    }

    pub(crate) fn log(&self, level: Level) {
        log(level, &self.buf[..self.len]);
    }
}

/// The plugin's panic handler: logs where the panic happened (not its
/// message, which would pull in `core::fmt`) and traps. A trap fails the
/// event and discards the instance (ABI.md section 12).
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut line = Line::new();
    line.push(b"torpor: panic");
    if let Some(loc) = info.location() {
        line.push(b" at ")
            .push(loc.file().as_bytes())
            .push(b":")
            .num(loc.line() as u64)
            .push(b":")
            .num(loc.column() as u64);
    }
    line.log(Level::ERROR);
    core::arch::wasm32::unreachable()
}
