;; closes.wat: counts its close events in storage key "c" (u64 LE); a frame "t"
;; traps, any other frame sends the count back as 8 binary bytes.
(module
  (import "torpor_v1" "storage_put" (func $put (param i32 i32 i32 i32) (result i32)))
  (import "torpor_v1" "storage_get" (func $get (param i32 i32 i32 i32 i32) (result i32)))
  (import "torpor_v1" "send" (func $send (param i64 i32 i32 i32) (result i32)))
  (import "torpor_v1" "event_read" (func $read (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "c")
  (func (export "torpor_abi_version") (result i32) (i32.const 0x00010000))
  (func $load
    (i64.store (i32.const 0x100) (i64.const 0))
    (drop (call $get (i32.const 0) (i32.const 1) (i32.const 0x100) (i32.const 8) (i32.const 0x200))))
  (func (export "torpor_on_close") (param i64 i32 i32) (result i32)
    (call $load)
    (i64.store (i32.const 0x100) (i64.add (i64.load (i32.const 0x100)) (i64.const 1)))
    (drop (call $put (i32.const 0) (i32.const 1) (i32.const 0x100) (i32.const 8)))
    (i32.const 0))
  (func (export "torpor_on_message") (param $conn i64) (param $kind i32) (param $len i32) (result i32)
    (drop (call $read (i32.const 0x300) (i32.const 1)))
    (if (i32.eq (i32.load8_u (i32.const 0x300)) (i32.const 116)) (then unreachable)) ;; 't'
    (call $load)
    (drop (call $send (local.get $conn) (i32.const 2) (i32.const 0x100) (i32.const 8)))
    (i32.const 0))
)
