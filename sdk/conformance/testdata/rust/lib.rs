//! The conformance room (sdk/conformance/PROTOCOL.md) written with the torpor
//! Rust SDK (sdk/rust). A binary frame is a sequence of commands, each
//! naming one SDK call; the room makes it and replies with the status the
//! SDK saw.
//!
//! Build: sdk/rust/build.sh sdk/conformance/testdata/rust conformance.wasm
#![no_std]

use torpor::encoding::split_item;
use torpor::storage;
use torpor::{handlers, Broadcast, Buf, Conn, ConnectError, Kind, Level, Request, Room, Status};

#[derive(Default)]
struct Conformance {
    /// The bytes of the last `remember`: the in-memory state and the
    /// snapshot.
    state: Buf,
}

impl Room for Conformance {
    const HANDLERS: u32 = handlers::ALL;

    fn on_connect(&mut self, conn: Conn, req: &Request<'_>) -> Result<(), ConnectError> {
        let q = req.query();
        let mut tag_status = 0u8;
        match q {
            [b't', list @ ..] => tag_status = code(conn.set_tags_encoded(list)),
            [b'r', d @ ..] if d.len() == 3 && d.iter().all(u8::is_ascii_digit) => {
                let status = d.iter().fold(0u32, |n, c| n * 10 + (c - b'0') as u32);
                return Err(torpor::reject(status, q));
            }
            b"f" => return Err(ConnectError::Fail(Status::INVALID)),
            _ => {}
        }
        let _ = conn.send_bytes(&[b'H', tag_status]);
        Ok(())
    }

    fn on_message(&mut self, conn: Conn, kind: Kind, data: &[u8]) -> Result<(), Status> {
        if kind == Kind::TEXT {
            let _ = conn.send_frame(Kind::TEXT, data);
            return Ok(());
        }
        let mut args = Args { rest: data, sender: conn };
        while !args.rest.is_empty() {
            let op = match args.item()? {
                [op] => *op,
                _ => return Err(Status::INVALID), // an opcode item is one byte
            };
            self.command(conn, op, &mut args)?;
        }
        Ok(())
    }

    fn on_close(&mut self, conn: Conn, code: u32, reason: &[u8]) -> Result<(), Status> {
        let mut frame = Buf::with_capacity(13 + reason.len());
        frame.push(b'C');
        frame.extend_from_slice(&code.to_le_bytes());
        frame.extend_from_slice(&conn.id().to_le_bytes());
        frame.extend_from_slice(reason);
        let _ = torpor::broadcast_bytes(&frame);
        Ok(())
    }

    fn on_alarm(&mut self, retry: u32) -> Result<(), Status> {
        let mut b = [0u8; 4];
        let fail_below = match storage::get_into("alarm-fail", &mut b)? {
            None => 0,
            Some(4) => u32::from_le_bytes(b),
            Some(_) => return Err(Status::INVALID),
        };
        if retry < fail_below {
            return Err(Status::INVALID);
        }
        let mut b = [0u8; 8];
        let n = match storage::get_into("alarms", &mut b)? {
            None => 0,
            Some(8) => u64::from_le_bytes(b),
            Some(_) => return Err(Status::INVALID),
        };
        storage::put("alarms", &n.wrapping_add(1).to_le_bytes())?;
        let mut frame = [0u8; 5];
        frame[0] = b'A';
        frame[1..].copy_from_slice(&retry.to_le_bytes());
        let _ = torpor::broadcast_bytes(&frame);
        Ok(())
    }

    fn snapshot(&mut self) -> Result<(), Status> {
        torpor::reply(&self.state)
    }

    fn restore(&mut self, data: &[u8]) -> Result<(), Status> {
        self.state.set(data);
        Ok(())
    }
}

impl Conformance {
    /// Runs one command and sends its reply.
    fn command(&mut self, sender: Conn, op: u8, a: &mut Args<'_>) -> Result<(), Status> {
        let none: &[u8] = &[];
        match op {
            1 => {
                let (c, kind, payload) = (a.conn()?, a.u32()?, a.item()?);
                answer(sender, op, c.send_frame(Kind(kind), payload).map(|()| none));
            }
            2 => {
                let (kind, payload, except, tag) = (a.u32()?, a.item()?, a.u64()?, a.item()?);
                let b = Broadcast::new().except(Conn::from_id(except)).only_tag(tag);
                answer(sender, op, b.send_frame(Kind(kind), payload).map(|()| none));
            }
            3 => {
                let (c, code, reason) = (a.conn()?, a.u32()?, a.item()?);
                answer(sender, op, c.close(code, reason).map(|()| none));
            }
            4 => {
                let (c, data) = (a.conn()?, a.item()?);
                answer(sender, op, c.set_attachment(data).map(|()| none));
            }
            5 => {
                let c = a.conn()?;
                answer_owned(sender, op, c.attachment());
            }
            6 => {
                let tag = a.item()?;
                let r = torpor::connections(tag);
                answer(sender, op, r.as_ref().map(|l| l.as_bytes()).map_err(|e| *e));
            }
            7 => {
                let (key, value) = (a.item()?, a.item()?);
                answer(sender, op, storage::put(key, value).map(|()| none));
            }
            8 => {
                let key = a.item()?;
                answer_owned(sender, op, storage::get(key).and_then(|v| v.ok_or(Status::NOT_FOUND)));
            }
            9 => {
                let key = a.item()?;
                let r = storage::delete(key).and_then(|existed| if existed { Ok(none) } else { Err(Status::NOT_FOUND) });
                answer(sender, op, r);
            }
            10 => {
                let (prefix, after, limit) = (a.item()?, a.item()?, a.u32()?);
                let r = storage::list(prefix, after, limit);
                answer(sender, op, r.as_ref().map(|l| l.as_bytes()).map_err(|e| *e));
            }
            11 => {
                let at = a.u64()? as i64;
                answer(sender, op, torpor::set_alarm(at).map(|()| none));
            }
            12 => {
                let r = torpor::get_alarm().and_then(|at| at.ok_or(Status::NOT_FOUND));
                answer_owned(sender, op, r.map(i64::to_le_bytes));
            }
            13 => {
                let r = torpor::cancel_alarm().and_then(|had| if had { Ok(none) } else { Err(Status::NOT_FOUND) });
                answer(sender, op, r);
            }
            14 => {
                let (request, response) = (a.item()?, a.item()?);
                let r = if response.is_empty() {
                    torpor::remove_auto_response(request)
                } else {
                    torpor::set_auto_response(request, response)
                };
                answer(sender, op, r.map(|()| none));
            }
            15 => {
                let data = a.item()?;
                self.state.set(data);
                answer(sender, op, Ok(none));
            }
            16 => answer(sender, op, Ok(&self.state[..])),
            17 => answer_owned(sender, op, torpor::object_id()),
            18 => answer(sender, op, Ok(&sender.id().to_le_bytes()[..])),
            19 => {
                let (level, text) = (a.u32()?, a.item()?);
                answer(sender, op, torpor::try_log(Level(level), text).map(|()| none));
            }
            20 => return Err(Status::INVALID), // fail: no reply
            21 => panic!("trap requested"),
            22 => {
                let (kind, size) = (a.u32()?, a.u32()?);
                let zeros = Buf::zeroed(size as usize);
                answer(sender, op, sender.send_frame(Kind(kind), &zeros).map(|()| none));
            }
            23 => {
                let list = a.item()?;
                answer(sender, op, sender.set_tags_encoded(list).map(|()| none));
            }
            _ => return Err(Status::INVALID), // unknown opcode
        }
        Ok(())
    }
}

/// The argument items of a binary frame, read in order. A short or
/// missing item, or a number of the wrong size, is INVALID: the frame
/// cannot be parsed, which fails the event.
struct Args<'a> {
    rest: &'a [u8],
    sender: Conn,
}

impl<'a> Args<'a> {
    fn item(&mut self) -> Result<&'a [u8], Status> {
        let (item, rest) = split_item(self.rest)?;
        self.rest = rest;
        Ok(item)
    }

    fn u32(&mut self) -> Result<u32, Status> {
        let mut b = [0u8; 4];
        fixed(self.item()?, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn u64(&mut self) -> Result<u64, Status> {
        let mut b = [0u8; 8];
        fixed(self.item()?, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// A connection argument: 8 bytes, 0 meaning the sender.
    fn conn(&mut self) -> Result<Conn, Status> {
        match self.u64()? {
            0 => Ok(self.sender),
            id => Ok(Conn::from_id(id)),
        }
    }
}

fn fixed(item: &[u8], out: &mut [u8]) -> Result<(), Status> {
    if item.len() != out.len() {
        return Err(Status::INVALID);
    }
    out.copy_from_slice(item);
    Ok(())
}

/// The status byte of a reply: the ABI status, 0 for OK.
fn code<T>(r: Result<T, Status>) -> u8 {
    match r {
        Ok(_) => 0,
        Err(st) => st.code() as u8,
    }
}

/// [`answer`] for a result the SDK returned as an owned value.
fn answer_owned<B: AsRef<[u8]>>(sender: Conn, op: u8, r: Result<B, Status>) {
    match r {
        Ok(b) => answer(sender, op, Ok(b.as_ref())),
        Err(st) => answer(sender, op, Err(st)),
    }
}

/// Sends the reply of a command to its sender: `R`, the opcode, the status
/// byte, then the result when the status is OK. A reply that cannot be sent
/// (the sender closed itself, a frame limit) is dropped.
fn answer(sender: Conn, op: u8, r: Result<&[u8], Status>) {
    let result = match r {
        Ok(b) => b,
        Err(_) => &[],
    };
    let mut frame = Buf::with_capacity(3 + result.len());
    frame.extend_from_slice(&[b'R', op, code(r)]);
    frame.extend_from_slice(result);
    let _ = sender.send_bytes(&frame);
}

torpor::room!(Conformance);
