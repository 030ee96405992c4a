// chat-as is the AssemblyScript twin of plugins/chat, the chat room of the
// demo page: the same query, refusals, frames and JSON, byte for byte (the
// JSON is written the way Go's encoding/json writes it, escapes included).
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
// The last 50 messages are kept in memory and in the snapshot (the SDK's
// Writer encoding, not the Go twin's JSON: a snapshot this room cannot parse
// is ignored, so swapping one twin for the other forgets the history).
import {
  register, Plugin, Conn, Message, Request, ACCEPT, reject, broadcast, connections,
  setAutoResponse, check, log, LogLevel, nowMs, Writer, Reader, lastStatus,
} from "../../sdk/assemblyscript/assembly/index";
export * from "../../sdk/assemblyscript/assembly/exports";

const maxName = 32;
const maxText = 4096;
const maxHistory = 50;
const tag = "chat";
const snapshotVersion: u8 = 1;

class Line {
  constructor(public from: string, public text: string, public ts: i64) {}

  json(): string {
    return '{"type":"message","from":' + quote(this.from) + ',"text":' + quote(this.text) + ',"ts":' + this.ts.toString() + "}";
  }
}

class Room {
  history: Line[] = [];
}


// memberNames returns the JSON array of the room's member names in the
// host's order. self, when given, is named selfName and included even if
// the host does not list it yet; gone, when given, is left out.
function memberNames(self: Conn | null, selfName: string, gone: Conn | null): string {
  const conns = connections(tag);
  check(lastStatus(), "list connections");
  let out = "[";
  let n = 0;
  let seen = false;
  for (let i = 0; i < conns.length; i++) {
    const c = conns[i];
    let name: string;
    if (gone != null && c.id == gone.id) continue;
    if (self != null && c.id == self.id) {
      name = selfName;
      seen = true;
    } else {
      const got = nameOf(c);
      if (got == null) throw new Error("chat: name of conn " + c.id.toString() + ": status " + (<u32>lastStatus()).toString());
      name = got!;
    }
    out += (n++ > 0 ? "," : "") + quote(name);
  }
  if (self != null && !seen) out += (n > 0 ? "," : "") + quote(selfName);
  return out + "]";
}

// nameOf returns the name a connection chose, kept as its attachment, or
// null when the host cannot say (lastStatus tells why).
function nameOf(c: Conn): string | null {
  const name = c.attachmentText();
  if (name == null) return null;
  return name.length == 0 ? guestName(c) : name;
}

// guestName is "guest-" and the last four decimal digits of the id.
function guestName(c: Conn): string {
  return "guest-" + (10000 + c.id % 10000).toString().substring(1);
}

// isSpace is Go's unicode.IsSpace, so that names and messages trim as in
// the Go twin (JavaScript's trim differs at U+0085 and U+FEFF).
function isSpace(c: i32): bool {
  if (c <= 0xff) return c == 32 || (c >= 9 && c <= 13) || c == 0x85 || c == 0xa0;
  return c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

function trimSpace(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isSpace(s.charCodeAt(a))) a++;
  while (b > a && isSpace(s.charCodeAt(b - 1))) b--;
  return s.substring(a, b);
}

function asciiLower(s: string): string {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += String.fromCharCode(c >= 65 && c <= 90 ? c + 32 : c);
  }
  return out;
}

const hexDigits = "0123456789abcdef";

// quote writes s as a JSON string the way Go's encoding/json does: ", \ and
// the control characters escaped (\b \f \n \r \t by name, the rest as
// \u00XX), and <, >, &, U+2028 and U+2029 as \u escapes.
function quote(s: string): string {
  let out = '"';
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let esc: string | null = null;
    if (c == 34) esc = '\\"';
    else if (c == 92) esc = "\\\\";
    else if (c == 8) esc = "\\b";
    else if (c == 12) esc = "\\f";
    else if (c == 10) esc = "\\n";
    else if (c == 13) esc = "\\r";
    else if (c == 9) esc = "\\t";
    else if (c < 0x20 || c == 60 || c == 62 || c == 38) esc = "\\u00" + hexDigits.charAt(c >> 4) + hexDigits.charAt(c & 15);
    else if (c == 0x2028) esc = "\\u2028";
    else if (c == 0x2029) esc = "\\u2029";
    if (esc != null) {
      out += s.substring(from, i) + esc!;
      from = i + 1;
    }
  }
  return out + s.substring(from) + '"';
}

// Registered last: top-level statements run in order, and the handlers use
// the helpers and constants above.
register<Room>({
  connect: (r: Room, c: Conn, req: Request): i32 => {
    let name = trimSpace(req.param("name"));
    if (name.length == 0) name = guestName(c);
    else if (String.UTF8.byteLength(name) > maxName) return reject(400, "name too long (max 32 bytes)");
    else if (asciiLower(name) == "admin") return reject(403, "name reserved");
    check(c.setAttachmentText(name), "set attachment");
    check(c.setTags([tag]), "set tags");
    check(setAutoResponse("ping", "pong"), "set auto-response");
    const members = memberNames(c, name, null);
    let history = "[";
    for (let i = 0; i < r.history.length; i++) history += (i > 0 ? "," : "") + r.history[i].json();
    history += "]";
    const welcome = '{"type":"welcome","you":' + quote(name) + ',"id":' + quote(c.id.toString()) +
      ',"members":' + members + ',"history":' + history + "}";
    check(c.send(welcome), "send welcome");
    check(broadcast('{"type":"join","name":' + quote(name) + ',"members":' + members + "}", c, tag), "broadcast join");
    return ACCEPT;
  },

  message: (r: Room, c: Conn, m: Message): void => {
    if (!m.isText()) {
      check(c.send('{"type":"error","error":"binary frames are not supported"}'), "send error");
      return;
    }
    const text = trimSpace(m.text());
    if (text.length == 0) return;
    if (String.UTF8.byteLength(text) > maxText) {
      check(c.send('{"type":"error","error":"message too long"}'), "send error");
      return;
    }
    const name = nameOf(c);
    if (name == null) throw new Error("chat: name of conn " + c.id.toString() + ": status " + (<u32>lastStatus()).toString());
    const line = new Line(name, text, nowMs());
    if (r.history.length >= maxHistory) r.history = r.history.slice(r.history.length - maxHistory + 1);
    r.history.push(line);
    check(broadcast(line.json(), null, tag), "broadcast message");
  },

  close: (r: Room, c: Conn, code: u32, reason: string): void => {
    let name = nameOf(c);
    if (name == null) {
      // The host may have dropped the closed connection's attachment.
      log(LogLevel.Warn, "chat: name of closed conn " + c.id.toString() + ": status " + (<u32>lastStatus()).toString());
      name = guestName(c);
    }
    const members = memberNames(null, "", c);
    check(broadcast('{"type":"leave","name":' + quote(name!) + ',"members":' + members + "}", c, tag), "broadcast leave");
  },

  snapshot: (r: Room): Uint8Array => {
    const w = new Writer().u8(snapshotVersion).u32(<u32>r.history.length);
    for (let i = 0; i < r.history.length; i++) {
      const l = r.history[i];
      w.itemString(l.from).itemString(l.text).i64(l.ts);
    }
    return w.finish();
  },

  restore: (r: Room, data: Uint8Array): void => {
    const rd = new Reader(data);
    if (rd.u8() != snapshotVersion) return; // not ours (the Go twin's JSON, say): start afresh
    const n = rd.u32();
    const lines: Line[] = [];
    for (let i: u32 = 0; i < n && !rd.failed(); i++) {
      const from = rd.itemString();
      const text = rd.itemString();
      const ts = rd.i64();
      lines.push(new Line(from, text, ts));
    }
    if (!rd.failed()) r.history = lines;
  },
} as Plugin<Room>);
