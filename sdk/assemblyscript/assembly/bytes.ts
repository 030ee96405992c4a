// Writer and Reader build and walk the ABI's byte encodings (ABI.md section
// 9: items of a u32 little-endian length and that many bytes) and
// little-endian numbers, for snapshots and for the list and pairs encodings.

import { decodeUTF8 } from "./utf8";

/** Appends bytes, numbers and items to a growing buffer. */
export class Writer {
  private buf: Uint8Array = new Uint8Array(64);
  private n: i32 = 0;

  private room(more: i32): void {
    if (this.n + more <= this.buf.length) return;
    const b = new Uint8Array(max<i32>(this.buf.length * 2, this.n + more));
    b.set(this.buf.subarray(0, this.n));
    this.buf = b;
  }

  u8(v: u8): Writer {
    this.room(1);
    this.buf[this.n++] = v;
    return this;
  }

  u32(v: u32): Writer {
    this.room(4);
    store<u32>(this.buf.dataStart + <usize>this.n, v);
    this.n += 4;
    return this;
  }

  u64(v: u64): Writer {
    this.room(8);
    store<u64>(this.buf.dataStart + <usize>this.n, v);
    this.n += 8;
    return this;
  }

  i64(v: i64): Writer {
    return this.u64(<u64>v);
  }

  f64(v: f64): Writer {
    return this.u64(reinterpret<u64>(v));
  }

  /** Raw bytes, without a length. */
  bytes(b: Uint8Array): Writer {
    this.room(b.length);
    memory.copy(this.buf.dataStart + <usize>this.n, b.dataStart, b.length);
    this.n += b.length;
    return this;
  }

  /** A string as raw UTF-8, without a length. */
  string(s: string): Writer {
    const len = String.UTF8.byteLength(s);
    this.room(len);
    String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, this.buf.dataStart + <usize>this.n);
    this.n += len;
    return this;
  }

  /** An item: the length as u32, then the bytes. */
  item(b: Uint8Array): Writer {
    return this.u32(<u32>b.length).bytes(b);
  }

  /** A string as an item of its UTF-8. */
  itemString(s: string): Writer {
    return this.u32(<u32>String.UTF8.byteLength(s)).string(s);
  }

  get length(): i32 {
    return this.n;
  }

  /** The bytes written, as a copy. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.n);
  }
}

/**
 * Reads what a Writer wrote. A read past the end returns zero values and
 * marks the reader failed, so a decoder can check once at the end.
 */
export class Reader {
  private i: i32 = 0;
  private bad: bool = false;

  constructor(private b: Uint8Array) {}

  more(): bool {
    return !this.bad && this.i < this.b.length;
  }

  failed(): bool {
    return this.bad;
  }

  remaining(): i32 {
    return this.b.length - this.i;
  }

  private take(n: i32): bool {
    if (this.bad || n < 0 || this.b.length - this.i < n) {
      this.bad = true;
      return false;
    }
    return true;
  }

  u8(): u8 {
    if (!this.take(1)) return 0;
    return this.b[this.i++];
  }

  u32(): u32 {
    if (!this.take(4)) return 0;
    const v = load<u32>(this.b.dataStart + <usize>this.i);
    this.i += 4;
    return v;
  }

  u64(): u64 {
    if (!this.take(8)) return 0;
    const v = load<u64>(this.b.dataStart + <usize>this.i);
    this.i += 8;
    return v;
  }

  i64(): i64 {
    return <i64>this.u64();
  }

  f64(): f64 {
    return reinterpret<f64>(this.u64());
  }

  /** n raw bytes, as a copy. */
  bytes(n: i32): Uint8Array {
    if (!this.take(n)) return new Uint8Array(0);
    const out = this.b.slice(this.i, this.i + n);
    this.i += n;
    return out;
  }

  /** Every byte not read yet, as a copy. */
  rest(): Uint8Array {
    return this.bytes(this.b.length - this.i);
  }

  /** An item's bytes. */
  item(): Uint8Array {
    const n = this.u32();
    if (this.bad || n > <u32>i32.MAX_VALUE) {
      this.bad = true;
      return new Uint8Array(0);
    }
    return this.bytes(<i32>n);
  }

  /** An item decoded as UTF-8. */
  itemString(): string {
    const n = this.u32();
    if (this.bad || n > <u32>i32.MAX_VALUE || !this.take(<i32>n)) return "";
    const s = decodeUTF8(this.b.dataStart + <usize>this.i, <usize>n);
    this.i += <i32>n;
    return s;
  }
}
