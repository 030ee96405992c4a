// UTF-8 as Go reads it. AssemblyScript's own decoder checks nothing (it
// drops a truncated sequence, accepts overlong forms and turns an encoded
// surrogate into a lone one, which the host then refuses as text), so the
// SDK decodes with these rules instead: each byte that does not start a
// valid sequence becomes one U+FFFD, as in Go's `for range` and its JSON.

/** The length of the valid UTF-8 sequence at p (at most end), or 0. */
export function validAt(p: usize, end: usize): i32 {
  const b0 = <u32>load<u8>(p);
  if (b0 < 0x80) return 1;
  let n = 0;
  let lo: u32 = 0x80;
  let hi: u32 = 0xbf;
  if (b0 >= 0xc2 && b0 <= 0xdf) n = 2;
  else if (b0 >= 0xe0 && b0 <= 0xef) {
    n = 3;
    if (b0 == 0xe0) lo = 0xa0;
    else if (b0 == 0xed) hi = 0x9f; // no surrogates
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    n = 4;
    if (b0 == 0xf0) lo = 0x90;
    else if (b0 == 0xf4) hi = 0x8f;
  } else return 0;
  if (p + <usize>n > end) return 0;
  const b1 = <u32>load<u8>(p + 1);
  if (b1 < lo || b1 > hi) return 0;
  for (let i = 2; i < n; i++) {
    const b = <u32>load<u8>(p + <usize>i);
    if (b < 0x80 || b > 0xbf) return 0;
  }
  return n;
}

/** Whether len bytes at ptr are valid UTF-8. */
export function validUTF8(ptr: usize, len: usize): bool {
  const end = ptr + len;
  for (let p = ptr; p < end;) {
    const n = validAt(p, end);
    if (n == 0) return false;
    p += <usize>n;
  }
  return true;
}

/** Decodes len bytes at ptr, each invalid byte becoming U+FFFD. */
export function decodeUTF8(ptr: usize, len: usize): string {
  if (validUTF8(ptr, len)) return String.UTF8.decodeUnsafe(ptr, len);
  const end = ptr + len;
  let out = "";
  let run = ptr;
  for (let p = ptr; p < end;) {
    const n = validAt(p, end);
    if (n > 0) {
      p += <usize>n;
      continue;
    }
    out += String.UTF8.decodeUnsafe(run, p - run) + "\uFFFD";
    p++;
    run = p;
  }
  return out + String.UTF8.decodeUnsafe(run, end - run);
}

/** Decodes bytes as decodeUTF8 does. */
export function bytesToString(b: Uint8Array): string {
  return decodeUTF8(b.dataStart, <usize>b.length);
}
