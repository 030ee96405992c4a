;; nomemory.wat: broken. Defines a linear memory but does not export it as
;; "memory", so the host cannot reach the guest's bytes; validation must
;; refuse it for the missing memory export.
(module
  (memory 1)
  (func (export "torpor_abi_version") (result i32)
    (i32.const 0x00010000))
  (func (export "torpor_on_message") (param i64 i32 i32) (result i32)
    (i32.const 0))
)
