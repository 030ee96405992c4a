//! The raw host imports, with exactly the signatures of ABI.md section 6
//! (and `clock_time_get` from the WASI subset, section 15).
//!
//! Every argument is an `i32` or an `i64` in WebAssembly: pointers, `u32`
//! lengths, kinds, codes and statuses are `i32`; connection ids (`u64`) and
//! alarm times (`i64`) are `i64`. Every function returns the ABI status as a
//! `u32`.
//!
//! These are private to the crate: the safe wrappers in the other modules are
//! the only callers, and each passes ranges that are valid Rust slices or
//! locals, so the host never sees a range outside linear memory.

#[link(wasm_import_module = "torpor_v1")]
extern "C" {
    pub fn event_read(ptr: *mut u8, len: u32) -> u32;
    pub fn reply(ptr: *const u8, len: u32) -> u32;

    pub fn send(conn: u64, kind: u32, ptr: *const u8, len: u32) -> u32;
    pub fn broadcast(
        kind: u32,
        ptr: *const u8,
        len: u32,
        except: u64,
        tag_ptr: *const u8,
        tag_len: u32,
    ) -> u32;
    pub fn close(conn: u64, code: u32, reason_ptr: *const u8, reason_len: u32) -> u32;
    pub fn conn_set_tags(conn: u64, ptr: *const u8, len: u32) -> u32;
    pub fn conn_list(tag_ptr: *const u8, tag_len: u32, buf: *mut u8, cap: u32, len_out: *mut u32) -> u32;
    pub fn attachment_get(conn: u64, buf: *mut u8, cap: u32, len_out: *mut u32) -> u32;
    pub fn attachment_set(conn: u64, ptr: *const u8, len: u32) -> u32;

    pub fn storage_get(key_ptr: *const u8, key_len: u32, buf: *mut u8, cap: u32, len_out: *mut u32) -> u32;
    pub fn storage_put(key_ptr: *const u8, key_len: u32, val_ptr: *const u8, val_len: u32) -> u32;
    pub fn storage_delete(key_ptr: *const u8, key_len: u32) -> u32;
    pub fn storage_list(
        prefix_ptr: *const u8,
        prefix_len: u32,
        after_ptr: *const u8,
        after_len: u32,
        limit: u32,
        buf: *mut u8,
        cap: u32,
        len_out: *mut u32,
    ) -> u32;

    pub fn alarm_set(at_ms: i64) -> u32;
    pub fn alarm_get(out_ptr: *mut i64) -> u32;
    pub fn alarm_cancel() -> u32;

    pub fn auto_response_set(req_ptr: *const u8, req_len: u32, resp_ptr: *const u8, resp_len: u32) -> u32;

    pub fn log(level: u32, ptr: *const u8, len: u32) -> u32;
    pub fn object_id(buf: *mut u8, cap: u32, len_out: *mut u32) -> u32;
}

#[link(wasm_import_module = "wasi_snapshot_preview1")]
extern "C" {
    /// WASI `clock_time_get(id, precision, *time) -> errno`.
    pub fn clock_time_get(id: u32, precision: u64, time: *mut u64) -> u32;
}
