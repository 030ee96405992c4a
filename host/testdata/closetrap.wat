;; closetrap.wat: a close handler that always traps, for racing close events
;; against the object leaving memory.
(module
  (memory (export "memory") 1)
  (func (export "torpor_abi_version") (result i32) (i32.const 0x00010000))
  (func (export "torpor_on_message") (param i64 i32 i32) (result i32) (i32.const 0))
  (func (export "torpor_on_close") (param i64 i32 i32) (result i32) unreachable)
)
