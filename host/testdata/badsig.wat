;; badsig.wat: broken. torpor_on_message has type () -> i32 instead of
;; (i64, i32, i32) -> i32; validation must refuse it naming the export and
;; both signatures.
(module
  (memory (export "memory") 1)
  (func (export "torpor_abi_version") (result i32)
    (i32.const 0x00010000))
  (func (export "torpor_on_message") (result i32)
    (i32.const 0))
)
