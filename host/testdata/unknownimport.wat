;; unknownimport.wat: broken. A correct plugin that also imports env.teleport,
;; a function the host does not provide (env is neither torpor_v1 nor
;; wasi_snapshot_preview1); validation must refuse it naming env.teleport.
(module
  (import "torpor_v1" "send" (func $send (param i64 i32 i32 i32) (result i32)))
  (import "env" "teleport" (func $teleport (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "torpor_abi_version") (result i32)
    (i32.const 0x00010000))
  (func (export "torpor_on_message") (param $conn i64) (param $kind i32) (param $len i32) (result i32)
    (drop (call $teleport (i32.const 0) (i32.const 0)))
    (drop (call $send (local.get $conn) (i32.const 1) (i32.const 0) (i32.const 0)))
    (i32.const 0))
)
