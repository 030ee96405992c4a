;; nomessage.wat: broken. Marker and memory, but no torpor_on_message (the one
;; required handler); it exports another handler so it looks like a plugin.
;; Validation must refuse it for the missing required export.
(module
  (memory (export "memory") 1)
  (func (export "torpor_abi_version") (result i32)
    (i32.const 0x00010000))
  (func (export "torpor_on_alarm") (param i32) (result i32)
    (i32.const 0))
)
