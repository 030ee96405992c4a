;; loop.wat: a handler that never returns, for the per-event CPU-time limit.
;;
;; torpor_on_message loops forever on every frame except the text "ok", which
;; it answers with "ok" and returns 0, so a test can check that the object
;; still serves after the host stopped a runaway event (and rebuilt the
;; instance), or that repeated overruns mark it failed and close its sockets
;; with 1011.
(module
  (import "torpor_v1" "event_read" (func $event_read (param i32 i32) (result i32)))
  (import "torpor_v1" "send" (func $send (param i64 i32 i32 i32) (result i32)))

  (memory (export "memory") 1)
  (data (i32.const 0x0010) "ok")   ;; 0x0000: first 2 bytes of the message

  (func (export "torpor_abi_version") (result i32)
    (i32.const 0x00010000))

  (func (export "torpor_on_message") (param $conn i64) (param $kind i32) (param $len i32) (result i32)
    (drop (call $event_read (i32.const 0) (i32.const 2)))
    (if (i32.and
          (i32.eq (local.get $len) (i32.const 2))
          (i32.eq (i32.load16_u (i32.const 0)) (i32.load16_u (i32.const 0x0010))))
      (then
        (drop (call $send (local.get $conn) (i32.const 1) (i32.const 0x0010) (i32.const 2)))
        (return (i32.const 0))))
    (loop $forever (br $forever))
    (i32.const 0))
)
