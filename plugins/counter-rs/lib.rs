//! counter-rs: the Rust twin of plugins/counter (and of plugins/counter-wat),
//! built with the torpor Rust SDK (sdk/rust). Same protocol byte for byte:
//!
//! Every frame is a command, matched exactly whatever the frame kind; every
//! reply is a text frame to the sender:
//!
//!   inc     storage "count" += 1, in-memory hits += 1; replies the new count
//!   get     replies storage "count"
//!   hits    replies the in-memory hits
//!   trap    storage "count" += 1, sends "trapping", then panics (a trap):
//!           the host must discard both the write and the frame
//!   alarm   sets the alarm to now + 50 ms (WASI realtime clock); replies
//!           "alarm set"
//!   alarms  replies storage "alarms"
//!   other   replies "unknown command"
//!
//! When the alarm fires: storage "alarms" += 1 and the text "alarm" goes to
//! every connection. Numbers are replied in decimal; storage values are
//! 8-byte little-endian u64s, absent meaning 0 (any other length fails the
//! event). hits lives only in memory and in the snapshot, which is hits as
//! an 8-byte little-endian u64; a snapshot of any other length restores
//! hits = 0.
//!
//! A storage or clock error fails the event; a failed send or broadcast is
//! ignored (frames are best effort, the write still commits).
//!
//! Build: sdk/rust/build.sh plugins/counter-rs counter-rs.wasm
#![no_std]

use torpor::{handlers, storage, Conn, Kind, Room, Status};

#[derive(Default)]
struct Counter {
    /// Hits since the room was created, carried across hibernation by the
    /// snapshot (but not across a crash).
    hits: u64,
}

impl Room for Counter {
    // No connect or close handler: the host accepts every connection and
    // does not wake the room for closes, as with the WAT twin.
    const HANDLERS: u32 = handlers::ALARM | handlers::STATE;

    fn on_message(&mut self, conn: Conn, _kind: Kind, data: &[u8]) -> Result<(), Status> {
        match data {
            b"inc" => {
                let n = add(b"count")?;
                self.hits = self.hits.wrapping_add(1);
                reply_u64(conn, n);
            }
            b"get" => reply_u64(conn, load(b"count")?),
            b"hits" => reply_u64(conn, self.hits),
            b"trap" => {
                let _ = add(b"count"); // the trap discards it anyway
                reply(conn, "trapping");
                panic!("trap requested");
            }
            b"alarm" => {
                torpor::set_alarm(torpor::now_ms()? + 50)?;
                reply(conn, "alarm set");
            }
            b"alarms" => reply_u64(conn, load(b"alarms")?),
            _ => reply(conn, "unknown command"),
        }
        Ok(())
    }

    fn on_alarm(&mut self, _retry: u32) -> Result<(), Status> {
        add(b"alarms")?;
        let _ = torpor::broadcast("alarm"); // best effort, like reply
        Ok(())
    }

    fn snapshot(&mut self) -> Result<(), Status> {
        torpor::reply(&self.hits.to_le_bytes())
    }

    /// Reads hits back from an 8-byte snapshot; anything else means 0.
    fn restore(&mut self, data: &[u8]) -> Result<(), Status> {
        self.hits = 0;
        if data.len() == 8 {
            let mut b = [0u8; 8];
            b.copy_from_slice(data);
            self.hits = u64::from_le_bytes(b);
        }
        Ok(())
    }
}

/// Reads a storage counter; absent is 0, a value that is not 8 bytes is
/// INVALID.
fn load(key: &[u8]) -> Result<u64, Status> {
    let mut b = [0u8; 8];
    match storage::get_into(key, &mut b)? {
        None => Ok(0),
        Some(8) => Ok(u64::from_le_bytes(b)),
        Some(_) => Err(Status::INVALID),
    }
}

/// Adds 1 to a storage counter and returns the new value.
fn add(key: &[u8]) -> Result<u64, Status> {
    let n = load(key)?.wrapping_add(1);
    storage::put(key, &n.to_le_bytes())?;
    Ok(n)
}

fn reply_u64(conn: Conn, n: u64) {
    let mut digits = [0u8; 20];
    reply(conn, torpor::decimal(n, &mut digits));
}

/// Sends text to conn, best effort: a failed send must not fail the event
/// and undo its write.
fn reply(conn: Conn, text: &str) {
    let _ = conn.send(text);
}

torpor::room!(Counter);
