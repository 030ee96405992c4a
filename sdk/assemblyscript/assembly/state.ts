// State is the in-memory state a room keeps with the SDK's own encoding:
// named values, snapshotted when the room hibernates and restored into a
// fresh instance when it wakes. A room with state of its own shape gives
// Plugin.snapshot and Plugin.restore instead.

import { Writer, Reader } from "./bytes";
import { decodeUTF8 } from "./utf8";

/** Named byte values with typed helpers; encoded as the ABI's pairs encoding. */
export class State {
  private values: Map<string, Uint8Array> = new Map<string, Uint8Array>();

  has(key: string): bool {
    return this.values.has(key);
  }

  get(key: string): Uint8Array | null {
    return this.values.has(key) ? this.values.get(key) : null;
  }

  set(key: string, value: Uint8Array): void {
    this.values.set(key, value);
  }

  delete(key: string): void {
    this.values.delete(key);
  }

  keys(): string[] {
    const ks = this.values.keys();
    ks.sort();
    return ks;
  }

  getString(key: string, fallback: string = ""): string {
    const v = this.get(key);
    return v == null ? fallback : decodeUTF8(v.dataStart, v.length);
  }

  setString(key: string, value: string): void {
    this.set(key, Uint8Array.wrap(String.UTF8.encode(value)));
  }

  getU64(key: string, fallback: u64 = 0): u64 {
    const v = this.get(key);
    return v == null || v.length != 8 ? fallback : load<u64>(v.dataStart);
  }

  setU64(key: string, value: u64): void {
    const b = new Uint8Array(8);
    store<u64>(b.dataStart, value);
    this.set(key, b);
  }

  getF64(key: string, fallback: f64 = 0): f64 {
    const v = this.get(key);
    return v == null || v.length != 8 ? fallback : load<f64>(v.dataStart);
  }

  setF64(key: string, value: f64): void {
    const b = new Uint8Array(8);
    store<f64>(b.dataStart, value);
    this.set(key, b);
  }

  /** The snapshot: every pair in key order, in the pairs encoding. */
  encode(): Uint8Array {
    const w = new Writer();
    const ks = this.keys();
    for (let i = 0; i < ks.length; i++) w.itemString(ks[i]).item(this.values.get(ks[i]));
    return w.finish();
  }

  /** Replaces the values with a snapshot's; one it cannot parse leaves it empty. */
  decode(data: Uint8Array): void {
    const fresh = new Map<string, Uint8Array>();
    const r = new Reader(data);
    while (r.more()) {
      const k = r.itemString();
      const v = r.item();
      if (r.failed()) {
        this.values = new Map<string, Uint8Array>();
        return;
      }
      fresh.set(k, v);
    }
    this.values = fresh;
  }
}

/** The state of a room that keeps nothing in memory: the host skips its snapshots. */
export class NoState {}
