// The AssemblyScript SDK for torpor room programs (torpor ABI v1).
//
// A plugin's entry file registers its handlers and re-exports the ABI
// functions:
//
//   import { register, Plugin, NoState, Conn, Message, broadcastFrame } from "../torpor-sdk/assembly/index";
//   export * from "../torpor-sdk/assembly/exports";
//
//   register<NoState>({
//     message: (s: NoState, c: Conn, m: Message): void => {
//       broadcastFrame(m.kind, m.data);
//     },
//   } as Plugin<NoState>);
//
// The host delivers one event at a time, so handlers need no locking. A
// handler fails its event by throwing: the SDK routes AssemblyScript's abort
// to a trap (after logging the message), the host discards everything the
// event did and rebuilds the room from its last committed state, exactly as
// for a Go handler that returns an error.
//
// Calls that can fail for a reason a room may want to handle return a
// Status (OK is 0); `check` turns one into a throw. Getters return null when
// there is nothing to return, and `lastStatus()` says why.

import * as host from "./abi";
import { decodeUTF8 } from "./utf8";

export { State, NoState } from "./state";
export { Writer, Reader } from "./bytes";
export { decodeUTF8, bytesToString, validUTF8, validAt } from "./utf8";

// ---------------------------------------------------------------- statuses

/** The ABI's status codes (ABI.md section 8). */
export enum Status {
  OK = 0,
  Bounds = 1,
  NotFound = 2,
  TooLarge = 3,
  Invalid = 4,
  BufferTooSmall = 5,
  BadState = 6,
  Internal = 7,
}

/** The name of a status, for messages. */
export function statusName(st: Status): string {
  switch (st) {
    case Status.OK: return "OK";
    case Status.Bounds: return "Bounds";
    case Status.NotFound: return "NotFound";
    case Status.TooLarge: return "TooLarge";
    case Status.Invalid: return "Invalid";
    case Status.BufferTooSmall: return "BufferTooSmall";
    case Status.BadState: return "BadState";
    case Status.Internal: return "Internal";
  }
  return "status " + (<u32>st).toString();
}

/** Throws (failing the event) unless st is OK; what names the call. */
export function check(st: Status, what: string): void {
  if (st != Status.OK) throw new Error(what + ": " + statusName(st));
}

let last: Status = Status.OK;

/** The status of the last getter that returned null (or OK). */
export function lastStatus(): Status {
  return last;
}

// ---------------------------------------------------------------- frames

/** A WebSocket frame kind. */
export enum FrameKind {
  Text = 1,
  Binary = 2,
}

/** Log levels of `log`. */
export enum LogLevel {
  Debug = 0,
  Info = 1,
  Warn = 2,
  Error = 3,
}

/** The connect handler's result that accepts the client. */
export const ACCEPT: i32 = 0;

// ---------------------------------------------------------------- scratch memory

// Strings cross the ABI as UTF-8 in buffers the SDK owns (outside the
// garbage-collected heap): one per argument position, so a call with two
// strings (key and value, request and response) needs no allocation once
// the buffers have grown. Buffers over keepBytes are freed after use, so
// one large value does not pin its memory.
const keepBytes: usize = 64 << 10;

// A buffer is a slot of (ptr, cap) in static memory rather than an object:
// a global with a constant initialiser is usable from the first call on,
// whatever order the compiler initialises modules in.
const ARG_A: usize = 0;
const ARG_B: usize = 1;
const RESULT: usize = 2;
const slots: usize = memory.data(48, 8);

function bufPtr(slot: usize): usize {
  return load<usize>(slots + slot * 16);
}

function bufCap(slot: usize): usize {
  return load<usize>(slots + slot * 16 + 8);
}

function ensure(slot: usize, n: usize): usize {
  if (n > bufCap(slot)) {
    const old = bufPtr(slot);
    if (old != 0) heap.free(old);
    const cap = max<usize>(n, 256);
    store<usize>(slots + slot * 16, heap.alloc(cap));
    store<usize>(slots + slot * 16 + 8, cap);
  }
  return bufPtr(slot);
}

/** Frees scratch buffers grown past keepBytes; the exports call it after every event. */
export function trimScratch(): void {
  trim(ARG_A);
  trim(ARG_B);
  trim(RESULT);
}

function trim(slot: usize): void {
  if (bufCap(slot) > keepBytes) {
    heap.free(bufPtr(slot));
    store<usize>(slots + slot * 16, 0);
    store<usize>(slots + slot * 16 + 8, 0);
  }
}

const lenOut: usize = memory.data(8, 8);

// utf8 encodes s into b and returns its length in bytes.
function utf8(s: string, slot: usize): u32 {
  const n = <usize>String.UTF8.byteLength(s);
  const p = ensure(slot, n);
  return <u32>String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, p);
}

// fetch runs a call that fills an output buffer and returns the result in
// `result` (its length), growing the buffer once when the host reports a
// larger result. On failure it returns -1 with `last` set.
function fetch(call: (buf: usize, cap: u32) => u32): i64 {
  let p = ensure(RESULT, 1024);
  let st = call(p, <u32>bufCap(RESULT));
  if (st == Status.BufferTooSmall) {
    const n = <usize>load<u32>(lenOut);
    p = ensure(RESULT, n);
    st = call(p, <u32>bufCap(RESULT));
  }
  last = <Status>st;
  if (st != Status.OK) return -1;
  return <i64>load<u32>(lenOut);
}

function resultBytes(n: i64): Uint8Array {
  const out = new Uint8Array(<i32>n);
  memory.copy(out.dataStart, bufPtr(RESULT), <usize>n);
  trim(RESULT);
  return out;
}

function resultString(n: i64): string {
  const s = decodeUTF8(bufPtr(RESULT), <usize>n);
  trim(RESULT);
  return s;
}

// Arguments of the current call, for the callbacks of fetch (which cannot
// capture locals).
let callConn: u64 = 0;
let callA: u32 = 0;
let callB: u32 = 0;
let callLimit: u32 = 0;

// ---------------------------------------------------------------- connections

/** A client connection, named by its id (stable across hibernation, never 0). */
export class Conn {
  constructor(public readonly id: u64) {}

  /** Queues a text frame; it leaves once the event's writes commit. */
  send(text: string): Status {
    const n = utf8(text, ARG_A);
    return <Status>host.send(this.id, FrameKind.Text, bufPtr(ARG_A), n);
  }

  /** Queues a binary frame. */
  sendBytes(data: Uint8Array): Status {
    return <Status>host.send(this.id, FrameKind.Binary, data.dataStart, data.length);
  }

  /** Queues a frame of the given kind. */
  sendFrame(kind: FrameKind, data: Uint8Array): Status {
    return <Status>host.send(this.id, kind, data.dataStart, data.length);
  }

  /** Closes the connection with a code (1000 or 3000-4999) and a reason. */
  close(code: u32, reason: string = ""): Status {
    const n = utf8(reason, ARG_A);
    return <Status>host.close(this.id, code, bufPtr(ARG_A), n);
  }

  /** The attachment (empty if none), or null: see lastStatus(). */
  attachment(): Uint8Array | null {
    callConn = this.id;
    const n = fetch((buf: usize, cap: u32): u32 => host.attachment_get(callConn, buf, cap, lenOut));
    return n < 0 ? null : resultBytes(n);
  }

  /** The attachment as UTF-8 text ("" if none), or null: see lastStatus(). */
  attachmentText(): string | null {
    callConn = this.id;
    const n = fetch((buf: usize, cap: u32): u32 => host.attachment_get(callConn, buf, cap, lenOut));
    return n < 0 ? null : resultString(n);
  }

  /** Replaces the attachment, kept by the host across hibernation. */
  setAttachment(data: Uint8Array): Status {
    return <Status>host.attachment_set(this.id, data.dataStart, data.length);
  }

  /** Replaces the attachment with UTF-8 text. */
  setAttachmentText(text: string): Status {
    const n = utf8(text, ARG_A);
    return <Status>host.attachment_set(this.id, bufPtr(ARG_A), n);
  }

  /** Sets the connection's tags; only in the connect handler of this connection. */
  setTags(tags: string[]): Status {
    const w = new Writer();
    for (let i = 0; i < tags.length; i++) w.itemString(tags[i]);
    return this.setTagList(w.finish());
  }

  /** Sets the tags from a list already in the ABI's list encoding. */
  setTagList(list: Uint8Array): Status {
    return <Status>host.conn_set_tags(this.id, list.dataStart, list.length);
  }
}

/** A frame a client sent. */
export class Message {
  constructor(public readonly kind: FrameKind, public readonly data: Uint8Array) {}

  isText(): bool {
    return this.kind == FrameKind.Text;
  }

  /** The payload decoded as UTF-8 (each invalid byte becomes U+FFFD). */
  text(): string {
    return decodeUTF8(this.data.dataStart, this.data.length);
  }
}

/** Queues a text frame to every connection, except one and only those with tag when given. */
export function broadcast(text: string, except: Conn | null = null, tag: string = ""): Status {
  const n = utf8(text, ARG_A);
  const t = utf8(tag, ARG_B);
  return <Status>host.broadcast(FrameKind.Text, bufPtr(ARG_A), n, except ? except.id : 0, bufPtr(ARG_B), t);
}

/** Queues a binary frame to every connection, narrowed as broadcast. */
export function broadcastBytes(data: Uint8Array, except: Conn | null = null, tag: string = ""): Status {
  return broadcastFrame(FrameKind.Binary, data, except, tag);
}

/** Queues a frame of the given kind to every connection, narrowed as broadcast. */
export function broadcastFrame(kind: FrameKind, data: Uint8Array, except: Conn | null = null, tag: string = ""): Status {
  const t = utf8(tag, ARG_B);
  return <Status>host.broadcast(kind, data.dataStart, data.length, except ? except.id : 0, bufPtr(ARG_B), t);
}

/** The object's connections carrying tag ("" for all), in ascending id order. */
export function connections(tag: string = ""): Conn[] {
  callA = utf8(tag, ARG_A);
  const n = fetch((buf: usize, cap: u32): u32 => host.conn_list(bufPtr(ARG_A), callA, buf, cap, lenOut));
  const out = new Array<Conn>(0);
  if (n < 0) return out;
  for (let i: i64 = 0; i + 8 <= n; i += 8) out.push(new Conn(load<u64>(bufPtr(RESULT) + <usize>i)));
  trim(RESULT);
  return out;
}

// ---------------------------------------------------------------- storage

/** One entry of a storage list. */
export class Entry {
  constructor(public readonly key: string, public readonly value: Uint8Array) {}
}

/** The object's durable key-value space; writes commit with the event. */
export namespace storage {
  /** The value under key, or null: absent (lastStatus() NotFound) or failed. */
  export function get(key: string): Uint8Array | null {
    callA = utf8(key, ARG_A);
    const n = fetch((buf: usize, cap: u32): u32 => host.storage_get(bufPtr(ARG_A), callA, buf, cap, lenOut));
    return n < 0 ? null : resultBytes(n);
  }

  /** The value under key as UTF-8 text, or null as get. */
  export function getString(key: string): string | null {
    callA = utf8(key, ARG_A);
    const n = fetch((buf: usize, cap: u32): u32 => host.storage_get(bufPtr(ARG_A), callA, buf, cap, lenOut));
    return n < 0 ? null : resultString(n);
  }

  export function put(key: string, value: Uint8Array): Status {
    const k = utf8(key, ARG_A);
    return <Status>host.storage_put(bufPtr(ARG_A), k, value.dataStart, value.length);
  }

  export function putString(key: string, value: string): Status {
    const k = utf8(key, ARG_A);
    const v = utf8(value, ARG_B);
    return <Status>host.storage_put(bufPtr(ARG_A), k, bufPtr(ARG_B), v);
  }

  /** Deletes key: OK, or NotFound when it did not exist. */
  export function remove(key: string): Status {
    const k = utf8(key, ARG_A);
    return <Status>host.storage_delete(bufPtr(ARG_A), k);
  }

  /**
   * Up to limit entries (at most 256 per call; 0: every one, TooLarge past
   * 256) whose keys start with prefix and sort after `after`, in key order.
   * On failure, an empty list with lastStatus() set.
   */
  export function list(prefix: string = "", after: string = "", limit: u32 = 0): Entry[] {
    const raw = listRaw(prefix, after, limit);
    const out = new Array<Entry>(0);
    if (raw == null) return out;
    const r = new Reader(raw);
    while (r.more()) {
      const k = r.itemString();
      const v = r.item();
      if (r.failed()) break;
      out.push(new Entry(k, v));
    }
    return out;
  }

  /** As list, but the host's answer in the pairs encoding, or null. */
  export function listRaw(prefix: string, after: string, limit: u32): Uint8Array | null {
    callA = utf8(prefix, ARG_A);
    callB = utf8(after, ARG_B);
    callLimit = limit;
    const n = fetch((buf: usize, cap: u32): u32 =>
      host.storage_list(bufPtr(ARG_A), callA, bufPtr(ARG_B), callB, callLimit, buf, cap, lenOut));
    return n < 0 ? null : resultBytes(n);
  }
}

// ---------------------------------------------------------------- alarm, time

/** Sets the object's one alarm to atMs (Unix ms), replacing any earlier one. */
export function setAlarm(atMs: i64): Status {
  return <Status>host.alarm_set(atMs);
}

/** The alarm time in Unix ms, or 0 when none is set (lastStatus() NotFound). */
export function getAlarm(): i64 {
  last = <Status>host.alarm_get(lenOut);
  return last == Status.OK ? load<i64>(lenOut) : 0;
}

/** Removes the alarm: OK, or NotFound when none was set (safe to ignore). */
export function cancelAlarm(): Status {
  return <Status>host.alarm_cancel();
}

/** The current time in Unix milliseconds (WASI's realtime clock). */
export function nowMs(): i64 {
  host.clock_time_get(0, 1000, lenOut);
  return <i64>(load<u64>(lenOut) / 1000000);
}

// ---------------------------------------------------------------- the rest

/** Makes the host answer a text frame equal to request with response, without waking the room. */
export function setAutoResponse(request: string, response: string): Status {
  if (response.length == 0) return Status.Invalid; // removal is removeAutoResponse
  return autoResponse(request, response);
}

/** Removes the auto-response for request, if there is one. */
export function removeAutoResponse(request: string): Status {
  return autoResponse(request, "");
}

function autoResponse(request: string, response: string): Status {
  const q = utf8(request, ARG_A);
  const r = utf8(response, ARG_B);
  return <Status>host.auto_response_set(bufPtr(ARG_A), q, bufPtr(ARG_B), r);
}

/** Writes msg to the host log, tagged with the object. */
export function log(level: LogLevel, msg: string): void {
  const n = utf8(msg, ARG_A);
  host.log(level, bufPtr(ARG_A), n);
}

let objectID: string | null = null;

/** The id of the object this instance serves, "plugin/name". */
export function objectId(): string {
  if (objectID == null) {
    const n = fetch((buf: usize, cap: u32): u32 => host.object_id(buf, cap, lenOut));
    if (n < 0) return ""; // outside an event, say: ask again next time
    objectID = resultString(n);
  }
  return objectID!;
}

// ---------------------------------------------------------------- requests

/** A client's WebSocket upgrade request, as the connect handler sees it. */
export class Request {
  path: string = "";
  query: string = "";
  remote: string = "";
  object: string = "";
  /** Lower-case header names and their values, in order. */
  headers: Map<string, string[]> = new Map<string, string[]>();

  /** The first value of the named header (any case), or "". */
  header(name: string): string {
    const k = asciiLower(name);
    if (!this.headers.has(k)) return "";
    const v = this.headers.get(k);
    return v.length > 0 ? v[0] : "";
  }

  /** The first value of the named query parameter, unescaped, or "". */
  param(name: string): string {
    const v = queryParam(this.query, name);
    return v == null ? "" : decodeUTF8(v.dataStart, v.length);
  }

  /** As param, but the unescaped bytes as they are (they need not be UTF-8). */
  paramBytes(name: string): Uint8Array {
    const v = queryParam(this.query, name);
    return v == null ? new Uint8Array(0) : v;
  }
}

export function decodeRequest(info: Uint8Array): Request {
  const req = new Request();
  const r = new Reader(info);
  while (r.more()) {
    const k = r.itemString();
    const v = r.itemString();
    if (r.failed()) break;
    if (k == ":path") req.path = v;
    else if (k == ":query") req.query = v;
    else if (k == ":remote") req.remote = v;
    else if (k == ":object") req.object = v;
    else if (!k.startsWith(":")) {
      // The host sends header names in lower case already.
      if (!req.headers.has(k)) req.headers.set(k, new Array<string>(0));
      req.headers.get(k).push(v);
    }
  }
  return req;
}

// asciiLower lowers A-Z only: header names are ASCII, and String's
// toLowerCase would bring the whole Unicode case table into every module.
function asciiLower(s: string): string {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += String.fromCharCode(c >= 65 && c <= 90 ? c + 32 : c);
  }
  return out;
}

// queryParam finds name in a raw query the way Go's url.ParseQuery does:
// one leading '?' dropped, nothing at all past 10,000 parameters, pairs
// split on '&', a pair holding ';' or a bad escape skipped, '+' as a space;
// the first value wins. It returns the value's bytes, or null.
function queryParam(query: string, name: string): Uint8Array | null {
  if (query.startsWith("?")) query = query.substring(1);
  let params = 1;
  for (let i = query.indexOf("&"); i >= 0; i = query.indexOf("&", i + 1)) params++;
  if (params > 10000) return null;
  const want = Uint8Array.wrap(String.UTF8.encode(name));
  let start = 0;
  while (start < query.length) {
    let end = query.indexOf("&", start);
    if (end < 0) end = query.length;
    const pair = query.substring(start, end);
    start = end + 1;
    if (pair.length == 0 || pair.includes(";")) continue;
    const eq = pair.indexOf("=");
    const k = unescape(eq < 0 ? pair : pair.substring(0, eq));
    if (k == null || !sameBytes(k, want)) continue;
    const v = unescape(eq < 0 ? "" : pair.substring(eq + 1));
    if (v != null) return v;
  }
  return null;
}

function sameBytes(a: Uint8Array, b: Uint8Array): bool {
  if (a.length != b.length) return false;
  return memory.compare(a.dataStart, b.dataStart, a.length) == 0;
}

function hexDigit(c: i32): i32 {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

// unescape undoes query escaping into bytes; null for a bad escape.
function unescape(s: string): Uint8Array | null {
  const src = Uint8Array.wrap(String.UTF8.encode(s));
  const out = new Uint8Array(src.length);
  let n = 0;
  for (let i = 0; i < src.length; i++) {
    let c = <i32>src[i];
    if (c == 43) c = 32; // '+'
    else if (c == 37) { // '%'
      if (i + 2 >= src.length) return null;
      const hi = hexDigit(src[i + 1]);
      const lo = hexDigit(src[i + 2]);
      if (hi < 0 || lo < 0) return null;
      c = (hi << 4) | lo;
      i += 2;
    }
    out[n++] = <u8>c;
  }
  return out.subarray(0, n);
}

// ---------------------------------------------------------------- registration

/**
 * The event handlers of a room whose in-memory state is an S. Every handler
 * is optional; a null handler has the default behaviour named here, and the
 * host is told which ones exist, so a room without a close handler is not
 * woken for closes.
 */
export class Plugin<S> {
  /** Runs before the upgrade; return ACCEPT or reject(status, reason). Null: accept all. */
  connect: ((s: S, c: Conn, r: Request) => i32) | null = null;
  /** Runs for every frame a client sends. Null: ignore frames. */
  message: ((s: S, c: Conn, m: Message) => void) | null = null;
  /** Runs after a client's socket closed. Null: ignore (the room is not woken). */
  close: ((s: S, c: Conn, code: u32, reason: string) => void) | null = null;
  /** Runs when the alarm fires; retry counts earlier failed attempts. Null: ignore. */
  alarm: ((s: S, retry: u32) => void) | null = null;
  /** Encodes the state for hibernation. Null: State's own encoding. */
  snapshot: ((s: S) => Uint8Array) | null = null;
  /** Decodes what snapshot produced into s, a fresh S. Null: State's own decoding. */
  restore: ((s: S, data: Uint8Array) => void) | null = null;
}

// Handler bits of torpor_handlers (ABI.md section 5).
const HANDLER_CONNECT: u32 = 1;
const HANDLER_CLOSE: u32 = 2;
const HANDLER_ALARM: u32 = 4;
const HANDLER_STATE: u32 = 8;

/** What the exports call; Bound<S> binds a Plugin to its state. */
export abstract class Dispatcher {
  abstract handlers(): u32;
  abstract connect(c: Conn, r: Request): i32;
  abstract message(c: Conn, m: Message): void;
  abstract close(c: Conn, code: u32, reason: string): void;
  abstract alarm(retry: u32): void;
  abstract snapshot(): Uint8Array;
  abstract restore(data: Uint8Array): void;
}

class Bound<S> extends Dispatcher {
  state: S;

  constructor(public p: Plugin<S>) {
    super();
    this.state = instantiate<S>();
    const s = this.state;
    if (p.snapshot == null || p.restore == null) {
      if (p.snapshot != null || p.restore != null) {
        throw new Error("torpor: a plugin sets both snapshot and restore, or neither");
      }
      if (!(s instanceof State) && !(s instanceof NoState)) {
        throw new Error("torpor: the state class must extend State (kept by its own encoding) or NoState, or the plugin must set snapshot and restore");
      }
    }
  }

  handlers(): u32 {
    let set: u32 = 0;
    if (this.p.connect != null) set |= HANDLER_CONNECT;
    if (this.p.close != null) set |= HANDLER_CLOSE;
    if (this.p.alarm != null) set |= HANDLER_ALARM;
    if (!(this.state instanceof NoState) || this.p.snapshot != null) set |= HANDLER_STATE;
    return set;
  }

  connect(c: Conn, r: Request): i32 {
    const f = this.p.connect;
    return f == null ? ACCEPT : f(this.state, c, r);
  }

  message(c: Conn, m: Message): void {
    const f = this.p.message;
    if (f != null) f(this.state, c, m);
  }

  close(c: Conn, code: u32, reason: string): void {
    const f = this.p.close;
    if (f != null) f(this.state, c, code, reason);
  }

  alarm(retry: u32): void {
    const f = this.p.alarm;
    if (f != null) f(this.state, retry);
  }

  snapshot(): Uint8Array {
    const f = this.p.snapshot;
    if (f != null) return f(this.state);
    const s = this.state;
    if (s instanceof State) return (<State>s).encode();
    return new Uint8Array(0);
  }

  restore(data: Uint8Array): void {
    const s = instantiate<S>();
    if (data.length > 0) {
      const f = this.p.restore;
      if (f != null) f(s, data);
      else if (s instanceof State) (<State>s).decode(data);
    }
    this.state = s;
  }
}

let registered: Dispatcher | null = null;

/** Makes p the plugin of this module. Call it once, at the top level of the entry file. */
export function register<S>(p: Plugin<S>): void {
  if (registered != null) throw new Error("torpor: register called twice");
  registered = new Bound<S>(p);
}

/** The registered plugin, for the exports. */
export function plugin(): Dispatcher {
  if (registered == null) throw new Error("torpor: no plugin registered: call register() in the entry file");
  return registered!;
}

let rejectReason: string = "";

/**
 * Refuses the connecting client with an HTTP status in 400-599 and a reason
 * (the response body): `return reject(403, "name reserved")` from connect.
 * A status outside that range refuses with 500 and logs why.
 */
export function reject(status: i32, reason: string): i32 {
  if (status < 400 || status > 599) {
    log(LogLevel.Error, "reject status " + status.toString() + " is outside 400-599; refused with 500");
    rejectReason = "";
    return 500;
  }
  rejectReason = reason;
  return status;
}

/** The reason of the last reject, taken by the connect export. */
export function takeRejectReason(): string {
  const r = rejectReason;
  rejectReason = "";
  return r;
}

import { State, NoState } from "./state";
import { Writer, Reader } from "./bytes";
