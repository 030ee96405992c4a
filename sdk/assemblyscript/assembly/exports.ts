// The handler exports of ABI v1. A plugin's entry file re-exports them all,
// by a relative path to this folder (asc does not resolve the package name):
//
//   export * from "../torpor-sdk/assembly/exports";
//
// Each reads its event data with event_read (the host never writes guest
// memory unasked) and hands it to the registered plugin.

import * as host from "./abi";
import "./abort";
import { plugin, Conn, Message, FrameKind, decodeRequest, takeRejectReason, trimScratch } from "./index";
import { decodeUTF8 } from "./utf8";

const ABI_VERSION: u32 = 0x00010001;

export function torpor_abi_version(): u32 {
  return ABI_VERSION;
}

export function torpor_handlers(): u32 {
  return plugin().handlers();
}

// A message's payload lands in one buffer that every frame reuses (up to
// frameKeep bytes): Message.data is a view of it, valid until the handler
// returns.
const frameKeep: i32 = 64 << 10;
let frameBuf: ArrayBuffer | null = null;

function readEvent(n: u32): Uint8Array {
  const b = new Uint8Array(<i32>n);
  if (n > 0) host.event_read(b.dataStart, n);
  return b;
}

export function torpor_on_connect(conn: u64, infoLen: u32): u32 {
  const req = decodeRequest(readEvent(infoLen));
  takeRejectReason(); // none left from an earlier connect
  const result = plugin().connect(new Conn(conn), req);
  const reason = takeRejectReason();
  if (result != 0 && reason.length > 0) {
    const b = String.UTF8.encode(reason);
    host.reply(changetype<usize>(b), <u32>b.byteLength);
  }
  trimScratch();
  return <u32>result;
}

export function torpor_on_message(conn: u64, kind: u32, n: u32): u32 {
  // A frame of a kind this SDK does not know (from a later ABI) is
  // ignored, as ABI.md section 3 asks.
  if (kind != FrameKind.Text && kind != FrameKind.Binary) return 0;
  let buf = frameBuf;
  if (buf == null || <i32>n > buf.byteLength) {
    buf = new ArrayBuffer(<i32>n);
    if (<i32>n <= frameKeep) frameBuf = buf;
  }
  if (n > 0) host.event_read(changetype<usize>(buf), n);
  plugin().message(new Conn(conn), new Message(<FrameKind>kind, Uint8Array.wrap(buf!, 0, <i32>n)));
  trimScratch();
  return 0;
}

export function torpor_on_close(conn: u64, code: u32, reasonLen: u32): u32 {
  const r = readEvent(reasonLen);
  plugin().close(new Conn(conn), code, decodeUTF8(r.dataStart, r.length));
  trimScratch();
  return 0;
}

export function torpor_on_alarm(retry: u32): u32 {
  plugin().alarm(retry);
  trimScratch();
  return 0;
}

export function torpor_snapshot(): u32 {
  const data = plugin().snapshot();
  if (data.length > 0) {
    const st = host.reply(data.dataStart, data.length);
    if (st != 0) throw new Error("snapshot: reply: status " + st.toString());
  }
  return 0;
}

export function torpor_restore(n: u32): u32 {
  plugin().restore(readEvent(n));
  return 0;
}
