;; nomarker.wat: broken. Has memory and torpor_on_message but no
;; torpor_abi_version, so it is not a torpor plugin; validation must refuse it
;; for the missing version marker and for nothing else.
(module
  (memory (export "memory") 1)
  (func (export "torpor_on_message") (param i64 i32 i32) (result i32)
    (i32.const 0))
)
