// Unit checks of the SDK's host-independent parts, run by run.mjs in node.
// Each check returns 0 when it holds, or the number of the first failed
// expectation.
import { Writer, Reader, State, decodeRequest, bytesToString, validUTF8 } from "../assembly/index";
import "../assembly/abort";

export function checkWriterReader(): i32 {
  const b = new Writer().u8(7).u32(0xdeadbeef).u64(0x0102030405060708).f64(1.5).itemString("héllo").item(new Uint8Array(0)).finish();
  const r = new Reader(b);
  if (r.u8() != 7) return 1;
  if (r.u32() != 0xdeadbeef) return 2;
  if (r.u64() != 0x0102030405060708) return 3;
  if (r.f64() != 1.5) return 4;
  if (r.itemString() != "héllo") return 5;
  if (r.item().length != 0) return 6;
  if (r.more() || r.failed()) return 7;
  r.u32(); // past the end
  if (!r.failed()) return 8;
  // The list encoding of ABI.md section 9: ["a", "bc"].
  const list = new Writer().itemString("a").itemString("bc").finish();
  const want: u8[] = [1, 0, 0, 0, 0x61, 2, 0, 0, 0, 0x62, 0x63];
  if (list.length != want.length) return 9;
  for (let i = 0; i < want.length; i++) if (list[i] != want[i]) return 10;
  return 0;
}

export function checkState(): i32 {
  const s = new State();
  s.setU64("n", 42);
  s.setString("name", "ann");
  s.setF64("x", -0.25);
  const again = new State();
  again.decode(s.encode());
  if (again.getU64("n") != 42) return 1;
  if (again.getString("name") != "ann") return 2;
  if (again.getF64("x") != -0.25) return 3;
  if (again.keys().join(",") != "n,name,x") return 4;
  const bad = new State();
  bad.setU64("kept", 1);
  bad.decode(new Writer().u32(99).finish()); // a length past the end
  if (bad.has("kept") || bad.keys().length != 0) return 5;
  return 0;
}

export function checkRequest(): i32 {
  const info = new Writer()
    .itemString(":path").itemString("/chat/lobby")
    .itemString(":query").itemString("name=J%C3%BCrgen+B&x=1;2&e=%zz&name=second&empty=")
    .itemString(":remote").itemString("127.0.0.1:5")
    .itemString(":object").itemString("chat/lobby")
    .itemString(":future").itemString("ignored")
    .itemString("x-tag").itemString("one")
    .itemString("x-tag").itemString("two")
    .finish();
  const r = decodeRequest(info);
  if (r.path != "/chat/lobby" || r.remote != "127.0.0.1:5" || r.object != "chat/lobby") return 1;
  // As Go's url.ParseQuery: '+' is a space, the first value wins, a pair
  // with ';' or a bad escape is skipped.
  if (r.param("name") != "Jürgen B") return 2;
  if (r.param("x") != "") return 3;
  if (r.param("e") != "") return 4;
  if (r.param("empty") != "") return 5;
  if (r.param("missing") != "") return 6;
  if (r.header("X-Tag") != "one" || r.headers.get("x-tag").length != 2) return 7;
  if (r.headers.has(":future")) return 8;
  return 0;
}

// Bytes decode as Go reads them: one U+FFFD per byte that does not start a
// valid sequence (a bad lead, a truncated or overlong sequence, an encoded
// surrogate).
export function checkUTF8(): i32 {
  const raw: u8[] = [0x61, 0xff, 0xed, 0xa0, 0x80, 0xe2, 0x82, 0xc0, 0x80, 0xf0, 0x9f, 0x98, 0x80, 0xc3, 0xa9];
  const b = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) b[i] = raw[i];
  const want = "a" + "\uFFFD".repeat(8) + "\u{1F600}\u00E9";
  if (bytesToString(b) != want) return 1;
  if (validUTF8(b.dataStart, b.length)) return 2;
  if (!validUTF8(b.dataStart + 9, 6)) return 3;
  return 0;
}
