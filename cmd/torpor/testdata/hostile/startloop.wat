;; startloop.wat: a start function (the wasm start section) that never
;; returns. The host runs it on every instantiation, the first one at deploy
;; included, so the upload must be refused within the host's initialisation
;; budget instead of holding the deploy (and every deploy after it) forever.
(module
  (memory (export "memory") 1)

  (func $spin
    (loop $forever (br $forever)))
  (start $spin)

  (func (export "torpor_abi_version") (result i32)
    (i32.const 0x00010000))

  (func (export "torpor_on_message") (param i64 i32 i32) (result i32)
    (i32.const 0))
)
