// The conformance room (../../PROTOCOL.md) written with the AssemblyScript
// SDK: every command is one SDK call, replied with the status it reported.
import {
  register, Plugin, Conn, Message, Request, ACCEPT, reject, Status, FrameKind, LogLevel,
  broadcastFrame, broadcastBytes, connections, storage, setAlarm, getAlarm, cancelAlarm,
  setAutoResponse, removeAutoResponse, log, objectId, lastStatus, Writer, Reader,
} from "../../../assemblyscript/assembly/index";
export * from "../../../assemblyscript/assembly/exports";

class Memory {
  mem: Uint8Array = new Uint8Array(0);
}

// arity is the number of argument items of each opcode; -1: unknown.
const arity: StaticArray<i32> = [-1, 3, 4, 3, 2, 1, 1, 2, 1, 1, 3, 1, 0, 0, 2, 1, 0, 0, 0, 2, 0, 0, 2, 1];

function u32of(b: Uint8Array): u32 {
  let v: u32 = 0;
  for (let i = 0; i < 4 && i < b.length; i++) v |= (<u32>b[i]) << (8 * i);
  return v;
}

function u64of(b: Uint8Array): u64 {
  let v: u64 = 0;
  for (let i = 0; i < 8 && i < b.length; i++) v |= (<u64>b[i]) << (8 * i);
  return v;
}

function connOf(self: Conn, b: Uint8Array): Conn {
  const id = u64of(b);
  return id == 0 ? self : new Conn(id);
}

function utf8(b: Uint8Array): string {
  return String.UTF8.decodeUnsafe(b.dataStart, b.length);
}

function le64(v: u64): Uint8Array {
  return new Writer().u64(v).finish();
}

const empty = new Uint8Array(0);

// result is the data of the command just run, for its reply.
let result: Uint8Array = empty;

function run(s: Memory, self: Conn, op: u8, a: Uint8Array[]): Status {
  result = empty;
  switch (op) {
    case 1: return connOf(self, a[0]).sendFrame(<FrameKind>u32of(a[1]), a[2]);
    case 2: {
      const except = u64of(a[2]);
      return broadcastFrame(<FrameKind>u32of(a[0]), a[1], except == 0 ? null : new Conn(except), utf8(a[3]));
    }
    case 3: return connOf(self, a[0]).close(u32of(a[1]), utf8(a[2]));
    case 4: return connOf(self, a[0]).setAttachment(a[1]);
    case 5: {
      const b = connOf(self, a[0]).attachment();
      if (b == null) return lastStatus();
      result = b;
      return Status.OK;
    }
    case 6: {
      const cs = connections(utf8(a[0]));
      if (lastStatus() != Status.OK) return lastStatus();
      const w = new Writer();
      for (let i = 0; i < cs.length; i++) w.u64(cs[i].id);
      result = w.finish();
      return Status.OK;
    }
    case 7: return storage.put(utf8(a[0]), a[1]);
    case 8: {
      const b = storage.get(utf8(a[0]));
      if (b == null) return lastStatus();
      result = b;
      return Status.OK;
    }
    case 9: return storage.remove(utf8(a[0]));
    case 10: {
      const b = storage.listRaw(utf8(a[0]), utf8(a[1]), u32of(a[2]));
      if (b == null) return lastStatus();
      result = b;
      return Status.OK;
    }
    case 11: return setAlarm(<i64>u64of(a[0]));
    case 12: {
      const at = getAlarm();
      if (lastStatus() != Status.OK) return lastStatus();
      result = le64(<u64>at);
      return Status.OK;
    }
    case 13: return cancelAlarm();
    case 14: return a[1].length == 0 ? removeAutoResponse(utf8(a[0])) : setAutoResponse(utf8(a[0]), utf8(a[1]));
    case 15: s.mem = a[0].slice(); return Status.OK;
    case 16: result = s.mem; return Status.OK;
    case 17: result = Uint8Array.wrap(String.UTF8.encode(objectId())); return Status.OK;
    case 18: result = le64(self.id); return Status.OK;
    case 19: log(<LogLevel>u32of(a[0]), utf8(a[1])); return Status.OK;
    case 20: throw new Error("fail requested"); // a handler fails by throwing
    case 21: throw new Error("trap requested");
    case 22: return self.sendFrame(<FrameKind>u32of(a[0]), new Uint8Array(<i32>u32of(a[1])));
    case 23: return self.setTagList(a[0]);
  }
  throw new Error("unknown opcode " + op.toString());
}

register<Memory>({
  connect: (s: Memory, c: Conn, r: Request): i32 => {
    const q = r.query;
    let tagStatus = Status.OK;
    if (q.startsWith("t")) {
      const raw = Uint8Array.wrap(String.UTF8.encode(q));
      tagStatus = c.setTagList(raw.subarray(1));
    } else if (q.startsWith("r") && q.length == 4) {
      return reject(<i32>I32.parseInt(q.substring(1)), q);
    } else if (q == "f") {
      throw new Error("connect asked to fail");
    }
    c.sendBytes(new Writer().u8(72).u8(<u8>tagStatus).finish()); // 'H'
    return ACCEPT;
  },

  message: (s: Memory, c: Conn, m: Message): void => {
    if (m.isText()) {
      c.send(m.text());
      return;
    }
    const r = new Reader(m.data);
    while (r.more()) {
      const opItem = r.item();
      if (r.failed() || opItem.length != 1) throw new Error("bad opcode item");
      const op = opItem[0];
      const n = op < <u8>arity.length ? arity[op] : -1;
      if (n < 0) throw new Error("unknown opcode " + op.toString());
      const args = new Array<Uint8Array>(0);
      for (let i = 0; i < n; i++) args.push(r.item());
      if (r.failed()) throw new Error("short command " + op.toString());
      const st = run(s, c, op, args);
      const w = new Writer().u8(82).u8(op).u8(<u8>st); // 'R'
      if (st == Status.OK) w.bytes(result);
      c.sendBytes(w.finish());
    }
  },

  close: (s: Memory, c: Conn, code: u32, reason: string): void => {
    broadcastBytes(new Writer().u8(67).u32(code).u64(c.id).string(reason).finish()); // 'C'
  },

  alarm: (s: Memory, retry: u32): void => {
    const fail = storage.get("alarm-fail");
    if (fail == null && lastStatus() != Status.NotFound) throw new Error("get alarm-fail");
    if (fail != null && retry < u32of(fail)) throw new Error("alarm asked to fail");
    const b = storage.get("alarms");
    const n = b == null ? 0 : u64of(b);
    if (storage.put("alarms", le64(n + 1)) != Status.OK) throw new Error("put alarms");
    broadcastBytes(new Writer().u8(65).u32(retry).finish()); // 'A'
  },

  snapshot: (s: Memory): Uint8Array => s.mem,
  restore: (s: Memory, data: Uint8Array): void => {
    s.mem = data.slice();
  },
} as Plugin<Memory>);
