;; lister.wat: storage_list bounds, for the host tests.
;;
;; torpor_on_message writes 300 keys ("k" followed by the index as two
;; bytes, big-endian, value "v") in one event, then lists them three ways and
;; sends one binary frame of three status bytes:
;;   byte 0: storage_list(prefix "k", limit 0)   -> TooLarge (300 > 256)
;;   byte 1: storage_list(prefix "k", limit 257) -> TooLarge (limit > 256)
;;   byte 2: storage_list(prefix "k", limit 256) -> OK
;; followed by the u32 LE length storage_list wrote for the third call.
;;
;; Memory map: 0x0000 key buffer (3 bytes); 0x0010 "v"; 0x0020 status frame
;; (3 bytes + u32 length); 0x0040 len_out; 0x1000.. list output (60 KiB).
(module
  (import "torpor_v1" "storage_put" (func $put (param i32 i32 i32 i32) (result i32)))
  (import "torpor_v1" "storage_list" (func $list (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "torpor_v1" "send" (func $send (param i64 i32 i32 i32) (result i32)))

  (memory (export "memory") 1)
  (data (i32.const 0x0000) "k")
  (data (i32.const 0x0010) "v")

  (func (export "torpor_abi_version") (result i32) (i32.const 0x00010000))

  (func (export "torpor_on_message") (param $conn i64) (param $kind i32) (param $len i32) (result i32)
    (local $i i32)
    (loop $fill
      (i32.store8 (i32.const 1) (i32.shr_u (local.get $i) (i32.const 8)))
      (i32.store8 (i32.const 2) (local.get $i))
      (drop (call $put (i32.const 0) (i32.const 3) (i32.const 0x0010) (i32.const 1)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $fill (i32.lt_u (local.get $i) (i32.const 300))))
    (i32.store8 (i32.const 0x20)
      (call $list (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 0)
                  (i32.const 0x1000) (i32.const 0xF000) (i32.const 0x40)))
    (i32.store8 (i32.const 0x21)
      (call $list (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 257)
                  (i32.const 0x1000) (i32.const 0xF000) (i32.const 0x40)))
    (i32.store8 (i32.const 0x22)
      (call $list (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 256)
                  (i32.const 0x1000) (i32.const 0xF000) (i32.const 0x40)))
    (i32.store (i32.const 0x23) (i32.load (i32.const 0x40)))
    (drop (call $send (local.get $conn) (i32.const 2) (i32.const 0x20) (i32.const 7)))
    (i32.const 0))
)
