// chat-as is the AssemblyScript twin of plugins/chat, the chat room of the
// demo page: the same query, refusals, frames and JSON, byte for byte. Names
// and texts are handled as bytes and written as JSON the way Go's
// encoding/json writes them (escapes, and \ufffd for each byte that is not
// UTF-8), and trimmed with Go's unicode.IsSpace.
//
// Clients connect with ?name=NAME (trimmed; empty becomes "guest-" and the
// last four digits of the connection id). A name longer than 32 bytes is
// refused with 400, the name "admin" (in any case) with 403. The name is kept
// as the connection's attachment, so it survives hibernation. The host
// answers the text frame "ping" with "pong" without waking the room.
//
//   {"type":"welcome","you":NAME,"id":"CONN ID","members":[NAMES],"history":[MESSAGES]}
//   {"type":"join","name":NAME,"members":[NAMES]}      to the others
//   {"type":"message","from":NAME,"text":TEXT,"ts":UNIX_MS}  to everyone
//   {"type":"leave","name":NAME,"members":[NAMES]}     when a client is gone
//   {"type":"error","error":REASON}                    binary or over 4096 bytes
//
// The last 50 messages are kept in memory and in the snapshot, which is the
// Go twin's JSON ({"history":[MESSAGES]}), so either twin restores the
// other's. A welcome holds as much of the history as fits in one frame.
import {
  register, Plugin, Conn, Message, Request, ACCEPT, reject, broadcastFrame, connections, Status, FrameKind,
  setAutoResponse, check, log, LogLevel, nowMs, Writer, lastStatus, validAt,
} from "../../sdk/assemblyscript/assembly/index";
export * from "../../sdk/assemblyscript/assembly/exports";

const maxName = 32;
const maxText = 4096;
const maxHistory = 50;
const maxFrame = 1 << 20; // the host's default frame limit
const tag = "chat";

class Line {
  constructor(public from: Uint8Array, public text: Uint8Array, public ts: i64) {}

  json(w: Writer): void {
    w.string('{"type":"message","from":');
    quote(w, this.from);
    w.string(',"text":');
    quote(w, this.text);
    w.string(',"ts":' + this.ts.toString() + "}");
  }
}

class Room {
  history: Line[] = [];
}

function bytesOf(s: string): Uint8Array {
  return Uint8Array.wrap(String.UTF8.encode(s));
}

// welcome is the welcome frame with the most recent history that fits.
function welcome(r: Room, c: Conn, name: Uint8Array, members: Uint8Array): Uint8Array {
  let from = 0;
  let w: Writer;
  do {
    w = new Writer().string('{"type":"welcome","you":');
    quote(w, name);
    w.string(',"id":"' + c.id.toString() + '","members":').bytes(members).string(',"history":[');
    for (let i = from; i < r.history.length; i++) {
      if (i > from) w.string(",");
      r.history[i].json(w);
    }
    w.string("]}");
  } while (w.length > maxFrame && from++ < r.history.length);
  return w.finish();
}

// fail500 refuses a connect whose host call failed, without failing the
// event: Go's SDK does the same for an error from Connect.
function fail500(what: string, st: Status): i32 {
  log(LogLevel.Error, "chat: connect: " + what + ": status " + (<u32>st).toString());
  return 500;
}

function connect(r: Room, c: Conn, req: Request): i32 {
  let name = trimSpace(req.paramBytes("name"));
  if (name.length == 0) name = guestName(c);
  else if (name.length > maxName) return reject(400, "name too long (max 32 bytes)");
  else if (isAdmin(name)) return reject(403, "name reserved");
  let st = c.setAttachment(name);
  if (st != Status.OK) return fail500("set attachment", st);
  st = c.setTags([tag]);
  if (st != Status.OK) return fail500("set tags", st);
  st = setAutoResponse("ping", "pong");
  if (st != Status.OK) return fail500("set auto-response", st);
  const members = memberNames(c, name, null);
  if (members == null) return fail500("member names", lastStatus());
  st = c.sendFrame(FrameKind.Text, welcome(r, c, name, members!));
  if (st != Status.OK) return fail500("send welcome", st);
  const join = new Writer().string('{"type":"join","name":');
  quote(join, name);
  join.string(',"members":').bytes(members!).string("}");
  st = broadcastFrame(FrameKind.Text, join.finish(), c, tag);
  if (st != Status.OK) return fail500("broadcast join", st);
  return ACCEPT;
}

function message(r: Room, c: Conn, m: Message): void {
  if (!m.isText()) {
    check(c.send('{"type":"error","error":"binary frames are not supported"}'), "send error");
    return;
  }
  const text = trimSpace(m.data);
  if (text.length == 0) return;
  if (text.length > maxText) {
    check(c.send('{"type":"error","error":"message too long"}'), "send error");
    return;
  }
  const name = nameOf(c);
  if (name == null) throw new Error("chat: name of conn " + c.id.toString() + ": status " + (<u32>lastStatus()).toString());
  const line = new Line(name!, text.slice(), nowMs());
  if (r.history.length >= maxHistory) r.history = r.history.slice(r.history.length - maxHistory + 1);
  r.history.push(line);
  const w = new Writer();
  line.json(w);
  check(broadcastFrame(FrameKind.Text, w.finish(), null, tag), "broadcast message");
}

function leave(r: Room, c: Conn, code: u32, reason: string): void {
  let name = nameOf(c);
  if (name == null) {
    // The host may have dropped the closed connection's attachment.
    log(LogLevel.Warn, "chat: name of closed conn " + c.id.toString() + ": status " + (<u32>lastStatus()).toString());
    name = guestName(c);
  }
  const members = memberNames(null, new Uint8Array(0), c);
  if (members == null) throw new Error("chat: member names: status " + (<u32>lastStatus()).toString());
  const w = new Writer().string('{"type":"leave","name":');
  quote(w, name!);
  w.string(',"members":').bytes(members!).string("}");
  check(broadcastFrame(FrameKind.Text, w.finish(), c, tag), "broadcast leave");
}

function snapshot(r: Room): Uint8Array {
  const w = new Writer().string('{"history":[');
  for (let i = 0; i < r.history.length; i++) {
    if (i > 0) w.string(",");
    r.history[i].json(w);
  }
  return w.string("]}").finish();
}

function restore(r: Room, data: Uint8Array): void {
  const lines = parseHistory(data);
  if (lines != null) r.history = lines!;
  else log(LogLevel.Warn, "chat: snapshot not understood; starting with no history");
}

// memberNames returns the JSON array of the room's member names in the
// host's order, or null (lastStatus says why). self, when given, is named
// selfName and included even if the host does not list it yet; gone, when
// given, is left out.
function memberNames(self: Conn | null, selfName: Uint8Array, gone: Conn | null): Uint8Array | null {
  const conns = connections(tag);
  if (lastStatus() != Status.OK) return null;
  const w = new Writer().string("[");
  let n = 0;
  let seen = false;
  for (let i = 0; i < conns.length; i++) {
    const c = conns[i];
    let name: Uint8Array;
    if (gone != null && c.id == gone.id) continue;
    if (self != null && c.id == self.id) {
      name = selfName;
      seen = true;
    } else {
      const got = nameOf(c);
      if (got == null) return null;
      name = got!;
    }
    if (n++ > 0) w.string(",");
    quote(w, name);
  }
  if (self != null && !seen) {
    if (n > 0) w.string(",");
    quote(w, selfName);
  }
  return w.string("]").finish();
}

// nameOf returns the name a connection chose, kept as its attachment, or
// null when the host cannot say (lastStatus tells why).
function nameOf(c: Conn): Uint8Array | null {
  const name = c.attachment();
  if (name == null) return null;
  return name.length == 0 ? guestName(c) : name;
}

// guestName is "guest-" and the last four decimal digits of the id.
function guestName(c: Conn): Uint8Array {
  return bytesOf("guest-" + (10000 + c.id % 10000).toString().substring(1));
}

// isAdmin is Go's strings.EqualFold(name, "admin"): no other rune folds to
// one of its letters, so ASCII case folding decides.
function isAdmin(b: Uint8Array): bool {
  if (b.length != 5) return false;
  const want = "admin";
  for (let i = 0; i < 5; i++) {
    let c = <i32>b[i];
    if (c >= 65 && c <= 90) c += 32;
    if (c != want.charCodeAt(i)) return false;
  }
  return true;
}

// runeAt decodes the valid UTF-8 sequence of n bytes at p.
function runeAt(p: usize, n: i32): i32 {
  const b0 = <i32>load<u8>(p);
  if (n == 1) return b0;
  let r = b0 & (0xff >> (n + 1));
  for (let i = 1; i < n; i++) r = (r << 6) | (<i32>load<u8>(p + <usize>i) & 0x3f);
  return r;
}

// isSpace is Go's unicode.IsSpace.
function isSpace(c: i32): bool {
  if (c <= 0xff) return c == 32 || (c >= 9 && c <= 13) || c == 0x85 || c == 0xa0;
  return c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

// trimSpace is Go's bytes.TrimSpace: a byte that is not valid UTF-8 is
// not a space.
function trimSpace(b: Uint8Array): Uint8Array {
  const start = b.dataStart;
  const end = start + <usize>b.length;
  let from = -1;
  let to = 0;
  for (let p = start; p < end;) {
    let n = validAt(p, end);
    const space = n > 0 && isSpace(runeAt(p, n));
    if (n == 0) n = 1;
    if (!space) {
      if (from < 0) from = <i32>(p - start);
      to = <i32>(p - start) + n;
    }
    p += <usize>n;
  }
  return from < 0 ? new Uint8Array(0) : b.subarray(from, to);
}

const hexDigits = "0123456789abcdef";

// quote writes b as a JSON string the way Go's encoding/json does: ", \
// and control characters escaped (\b \f \n \r \t by name, the rest as
// \u00XX), <, >, &, U+2028 and U+2029 as \u escapes, and \ufffd for each
// byte that does not start valid UTF-8.
function quote(w: Writer, b: Uint8Array): void {
  w.u8(34);
  const start = b.dataStart;
  const end = start + <usize>b.length;
  let run = start;
  for (let p = start; p < end;) {
    const c = <i32>load<u8>(p);
    let esc: string | null = null;
    let n = 1;
    if (c < 0x80) {
      if (c == 34) esc = '\\"';
      else if (c == 92) esc = "\\\\";
      else if (c == 8) esc = "\\b";
      else if (c == 12) esc = "\\f";
      else if (c == 10) esc = "\\n";
      else if (c == 13) esc = "\\r";
      else if (c == 9) esc = "\\t";
      else if (c < 0x20 || c == 60 || c == 62 || c == 38) esc = "\\u00" + hexDigits.charAt(c >> 4) + hexDigits.charAt(c & 15);
    } else {
      n = validAt(p, end);
      if (n == 0) {
        esc = "\\ufffd";
        n = 1;
      } else {
        const r = runeAt(p, n);
        if (r == 0x2028) esc = "\\u2028";
        else if (r == 0x2029) esc = "\\u2029";
      }
    }
    if (esc != null) {
      w.bytes(b.subarray(<i32>(run - start), <i32>(p - start))).string(esc!);
      run = p + <usize>n;
    }
    p += <usize>n;
  }
  w.bytes(b.subarray(<i32>(run - start), b.length)).u8(34);
}

// ---------------------------------------------------------------- snapshot JSON

// parseHistory reads {"history":[{"type":..,"from":..,"text":..,"ts":..},...]}
// (or "history": null), as either twin writes it; null if it cannot.
function parseHistory(data: Uint8Array): Line[] | null {
  const j = new JSONReader(data);
  const lines: Line[] = [];
  if (!j.expect(123)) return null; // {
  if (j.peek() == 125) return lines;
  for (;;) {
    const key = j.str();
    if (key == null || !j.expect(58)) return null;
    if (String.UTF8.decode(key!.buffer.slice(key!.byteOffset, key!.byteOffset + key!.length)) == "history") {
      if (!j.history(lines)) return null;
    } else if (!j.skip()) return null;
    if (j.peek() == 44) { j.i++; continue; }
    return j.expect(125) ? lines : null;
  }
}

class JSONReader {
  i: i32 = 0;
  constructor(public b: Uint8Array) {}

  peek(): i32 {
    while (this.i < this.b.length) {
      const c = <i32>this.b[this.i];
      if (c != 32 && c != 9 && c != 10 && c != 13) return c;
      this.i++;
    }
    return -1;
  }

  expect(c: i32): bool {
    if (this.peek() != c) return false;
    this.i++;
    return true;
  }

  literal(s: string): bool {
    this.peek();
    for (let k = 0; k < s.length; k++) {
      if (this.i >= this.b.length || <i32>this.b[this.i] != s.charCodeAt(k)) return false;
      this.i++;
    }
    return true;
  }

  hex4(): i32 {
    if (this.i + 4 > this.b.length) return -1;
    let v = 0;
    for (let k = 0; k < 4; k++) {
      const c = <i32>this.b[this.i++];
      let d = -1;
      if (c >= 48 && c <= 57) d = c - 48;
      else if (c >= 97 && c <= 102) d = c - 87;
      else if (c >= 65 && c <= 70) d = c - 55;
      if (d < 0) return -1;
      v = (v << 4) | d;
    }
    return v;
  }

  // str reads a string into its UTF-8 bytes; null if malformed.
  str(): Uint8Array | null {
    if (!this.expect(34)) return null;
    const w = new Writer();
    while (this.i < this.b.length) {
      const c = <i32>this.b[this.i++];
      if (c == 34) return w.finish();
      if (c != 92) {
        w.u8(<u8>c);
        continue;
      }
      if (this.i >= this.b.length) return null;
      const e = <i32>this.b[this.i++];
      if (e == 34 || e == 92 || e == 47) w.u8(<u8>e);
      else if (e == 98) w.u8(8);
      else if (e == 102) w.u8(12);
      else if (e == 110) w.u8(10);
      else if (e == 114) w.u8(13);
      else if (e == 116) w.u8(9);
      else if (e == 117) {
        let r = this.hex4();
        if (r < 0) return null;
        if (r >= 0xd800 && r < 0xdc00) {
          // A surrogate pair, or U+FFFD for a lone half, as in Go.
          const save = this.i;
          if (this.literal("\\u")) {
            const lo = this.hex4();
            if (lo >= 0xdc00 && lo < 0xe000) r = 0x10000 + ((r - 0xd800) << 10) + (lo - 0xdc00);
            else { r = 0xfffd; this.i = save; }
          } else { r = 0xfffd; this.i = save; }
        } else if (r >= 0xdc00 && r < 0xe000) r = 0xfffd;
        w.string(String.fromCodePoint(r));
      } else return null;
    }
    return null;
  }

  num(): i64 {
    this.peek();
    let neg = false;
    if (this.i < this.b.length && this.b[this.i] == 45) { neg = true; this.i++; }
    let v: i64 = 0;
    let digits = 0;
    while (this.i < this.b.length && this.b[this.i] >= 48 && this.b[this.i] <= 57) {
      v = v * 10 + <i64>(this.b[this.i++] - 48);
      digits++;
    }
    if (digits == 0) this.i = this.b.length + 1; // malformed: past the end marks it
    return neg ? -v : v;
  }

  // skip passes over one value of any kind.
  skip(): bool {
    const c = this.peek();
    if (c == 34) return this.str() != null;
    if (c == 123 || c == 91) {
      const close = c == 123 ? 125 : 93;
      this.i++;
      if (this.peek() == close) { this.i++; return true; }
      for (;;) {
        if (c == 123 && (this.str() == null || !this.expect(58))) return false;
        if (!this.skip()) return false;
        if (this.peek() == 44) { this.i++; continue; }
        return this.expect(close);
      }
    }
    if (c == 116) return this.literal("true");
    if (c == 102) return this.literal("false");
    if (c == 110) return this.literal("null");
    this.num();
    return this.i <= this.b.length;
  }

  history(lines: Line[]): bool {
    if (this.peek() == 110) return this.literal("null");
    if (!this.expect(91)) return false;
    if (this.peek() == 93) { this.i++; return true; }
    for (;;) {
      if (!this.expect(123)) return false;
      let from = new Uint8Array(0);
      let text = new Uint8Array(0);
      let ts: i64 = 0;
      if (this.peek() != 125) {
        for (;;) {
          const k = this.str();
          if (k == null || !this.expect(58)) return false;
          const key = String.UTF8.decode(k!.buffer.slice(k!.byteOffset, k!.byteOffset + k!.length));
          if (key == "from" || key == "text") {
            const v = this.str();
            if (v == null) return false;
            if (key == "from") from = v!; else text = v!;
          } else if (key == "ts") {
            ts = this.num();
            if (this.i > this.b.length) return false;
          } else if (!this.skip()) return false;
          if (this.peek() == 44) { this.i++; continue; }
          break;
        }
      }
      if (!this.expect(125)) return false;
      lines.push(new Line(from, text, ts));
      if (this.peek() == 44) { this.i++; continue; }
      return this.expect(93);
    }
  }
}

// Registered last: top-level statements run in order, and the handlers use
// the constants above.
register<Room>({
  connect: connect,
  message: message,
  close: leave,
  snapshot: snapshot,
  restore: restore,
} as Plugin<Room>);
