;; wrongmajor.wat: broken. A well-formed plugin whose marker says ABI v2.0
;; (0x00020000); validation must refuse it as built for another major version.
;; It imports only torpor_v1, so the marker is the one thing wrong.
(module
  (import "torpor_v1" "send" (func $send (param i64 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "torpor_abi_version") (result i32)
    (i32.const 0x00020000))
  (func (export "torpor_on_message") (param $conn i64) (param $kind i32) (param $len i32) (result i32)
    (drop (call $send (local.get $conn) (i32.const 1) (i32.const 0) (i32.const 0)))
    (i32.const 0))
)
