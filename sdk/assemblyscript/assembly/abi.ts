// The torpor_v1 imports (ABI.md section 6) with their exact wasm types, and
// the few WASI calls the SDK needs. Nothing else is imported: a module that
// imports from any other module is refused at deploy.

@external("torpor_v1", "event_read")
export declare function event_read(ptr: usize, len: u32): u32;
@external("torpor_v1", "reply")
export declare function reply(ptr: usize, len: u32): u32;
@external("torpor_v1", "send")
export declare function send(conn: u64, kind: u32, ptr: usize, len: u32): u32;
@external("torpor_v1", "broadcast")
export declare function broadcast(kind: u32, ptr: usize, len: u32, except: u64, tagPtr: usize, tagLen: u32): u32;
@external("torpor_v1", "close")
export declare function close(conn: u64, code: u32, reasonPtr: usize, reasonLen: u32): u32;
@external("torpor_v1", "conn_set_tags")
export declare function conn_set_tags(conn: u64, ptr: usize, len: u32): u32;
@external("torpor_v1", "conn_list")
export declare function conn_list(tagPtr: usize, tagLen: u32, buf: usize, cap: u32, lenOut: usize): u32;
@external("torpor_v1", "attachment_get")
export declare function attachment_get(conn: u64, buf: usize, cap: u32, lenOut: usize): u32;
@external("torpor_v1", "attachment_set")
export declare function attachment_set(conn: u64, ptr: usize, len: u32): u32;
@external("torpor_v1", "storage_get")
export declare function storage_get(keyPtr: usize, keyLen: u32, buf: usize, cap: u32, lenOut: usize): u32;
@external("torpor_v1", "storage_put")
export declare function storage_put(keyPtr: usize, keyLen: u32, valPtr: usize, valLen: u32): u32;
@external("torpor_v1", "storage_delete")
export declare function storage_delete(keyPtr: usize, keyLen: u32): u32;
@external("torpor_v1", "storage_list")
export declare function storage_list(prefixPtr: usize, prefixLen: u32, afterPtr: usize, afterLen: u32, limit: u32, buf: usize, cap: u32, lenOut: usize): u32;
@external("torpor_v1", "alarm_set")
export declare function alarm_set(atMs: i64): u32;
@external("torpor_v1", "alarm_get")
export declare function alarm_get(outPtr: usize): u32;
@external("torpor_v1", "alarm_cancel")
export declare function alarm_cancel(): u32;
@external("torpor_v1", "auto_response_set")
export declare function auto_response_set(reqPtr: usize, reqLen: u32, respPtr: usize, respLen: u32): u32;
@external("torpor_v1", "log")
export declare function log(level: u32, ptr: usize, len: u32): u32;
@external("torpor_v1", "object_id")
export declare function object_id(buf: usize, cap: u32, lenOut: usize): u32;

@external("wasi_snapshot_preview1", "clock_time_get")
export declare function clock_time_get(clock: u32, precision: u64, out: usize): u16;
