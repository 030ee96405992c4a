;; alias.wat: storage_put must copy the value: "w" puts a="1", then reuses its buffer
;; to put b="2"; any other frame sends back storage_get(a), which must be "1".
(module
  (import "torpor_v1" "storage_put" (func $put (param i32 i32 i32 i32) (result i32)))
  (import "torpor_v1" "storage_get" (func $get (param i32 i32 i32 i32 i32) (result i32)))
  (import "torpor_v1" "send" (func $send (param i64 i32 i32 i32) (result i32)))
  (import "torpor_v1" "event_read" (func $read (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "a")
  (data (i32.const 1) "b")
  (func (export "torpor_abi_version") (result i32) (i32.const 0x00010000))
  (func (export "torpor_on_message") (param $conn i64) (param $kind i32) (param $len i32) (result i32)
    (drop (call $read (i32.const 0x200) (i32.const 1)))
    (if (i32.eq (i32.load8_u (i32.const 0x200)) (i32.const 119)) ;; 'w'
      (then
        (i32.store8 (i32.const 0x100) (i32.const 49)) ;; '1'
        (drop (call $put (i32.const 0) (i32.const 1) (i32.const 0x100) (i32.const 1)))
        (i32.store8 (i32.const 0x100) (i32.const 50)) ;; '2': reuse the buffer, as ABI 14 allows
        (drop (call $put (i32.const 1) (i32.const 1) (i32.const 0x100) (i32.const 1)))
        (drop (call $send (local.get $conn) (i32.const 1) (i32.const 0x100) (i32.const 1))))
      (else
        (drop (call $get (i32.const 0) (i32.const 1) (i32.const 0x300) (i32.const 16) (i32.const 0x400)))
        (drop (call $send (local.get $conn) (i32.const 1) (i32.const 0x300) (i32.load (i32.const 0x400))))))
    (i32.const 0))
)
