// counter-as is the AssemblyScript twin of plugins/counter: the same
// commands, replies, storage keys and snapshot, byte for byte, so the host
// tests run against either. Every frame is a text command (matched exactly,
// whatever the frame kind); every reply is a text frame to the sender:
//
//   inc     storage "count" += 1, in-memory hits += 1; replies the new count
//   get     replies storage "count"
//   hits    replies the in-memory hits
//   trap    storage "count" += 1, sends "trapping", then throws: the host
//           discards both the write and the frame
//   alarm   sets the alarm to now + 50 ms; replies "alarm set"
//   alarms  replies storage "alarms"
//   other   replies "unknown command"
//
// When the alarm fires: storage "alarms" += 1 and "alarm" goes to every
// connection. Storage values are 8-byte little-endian u64s (absent: 0); the
// snapshot is hits as one. A storage error fails the event; a failed send
// is ignored (frames are best effort, the write still commits).
import {
  register, Plugin, Conn, Message, Status, storage, broadcast, setAlarm, nowMs,
  check, lastStatus, log, LogLevel,
} from "../../sdk/assemblyscript/assembly/index";
export * from "../../sdk/assemblyscript/assembly/exports";

class Counter {
  hits: u64 = 0;
}

function loadCount(key: string): u64 {
  const b = storage.get(key);
  if (b == null) {
    if (lastStatus() == Status.NotFound) return 0;
    check(lastStatus(), "storage get " + key);
    return 0;
  }
  if (b.length != 8) throw new Error("counter: storage " + key + " is " + b.length.toString() + " bytes, want 8");
  return load<u64>(b.dataStart);
}

function add(key: string, delta: u64): u64 {
  const n = loadCount(key) + delta;
  const b = new Uint8Array(8);
  store<u64>(b.dataStart, n);
  check(storage.put(key, b), "storage put " + key);
  return n;
}

function reply(c: Conn, text: string): void {
  const st = c.send(text);
  if (st != Status.OK) log(LogLevel.Warn, "counter: send: status " + (<u32>st).toString());
}

register<Counter>({
  message: (s: Counter, c: Conn, m: Message): void => {
    const cmd = m.text();
    if (cmd == "inc") {
      const n = add("count", 1);
      s.hits++;
      reply(c, n.toString());
    } else if (cmd == "get") {
      reply(c, loadCount("count").toString());
    } else if (cmd == "hits") {
      reply(c, s.hits.toString());
    } else if (cmd == "trap") {
      add("count", 1); // the trap discards it anyway
      reply(c, "trapping");
      throw new Error("trap requested");
    } else if (cmd == "alarm") {
      check(setAlarm(nowMs() + 50), "set alarm");
      reply(c, "alarm set");
    } else if (cmd == "alarms") {
      reply(c, loadCount("alarms").toString());
    } else {
      reply(c, "unknown command");
    }
  },
  alarm: (s: Counter, retry: u32): void => {
    add("alarms", 1);
    broadcast("alarm"); // best effort, like reply
  },
  snapshot: (s: Counter): Uint8Array => {
    const b = new Uint8Array(8);
    store<u64>(b.dataStart, s.hits);
    return b;
  },
  restore: (s: Counter, data: Uint8Array): void => {
    if (data.length == 8) s.hits = load<u64>(data.dataStart);
  },
} as Plugin<Counter>);
