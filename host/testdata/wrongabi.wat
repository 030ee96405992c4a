;; wrongabi.wat: broken. Imports send from torpor_v2 (with v1's signature)
;; instead of torpor_v1: a module built against another major version of the
;; ABI. Its marker is v1.0 so that only the import module is wrong; validation
;; must refuse it as built for another ABI, not as an unknown import.
(module
  (import "torpor_v2" "send" (func $send (param i64 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "hi")
  (func (export "torpor_abi_version") (result i32)
    (i32.const 0x00010000))
  (func (export "torpor_on_message") (param $conn i64) (param $kind i32) (param $len i32) (result i32)
    (drop (call $send (local.get $conn) (i32.const 1) (i32.const 0) (i32.const 2)))
    (i32.const 0))
)
