;; spinner.wat: handlers that take all the CPU they are allowed.
;;
;; A frame starting with "f" spins forever: the host must stop it at its CPU
;; limit (the event fails and the instance is rebuilt on the next frame). A
;; frame starting with "p" is answered with the text "p" at once, so that a
;; client can tell when the spin before it ended. Any other frame spins for
;; 150 ms of wall time, just under a 200 ms limit, and answers the text "n":
;; an event that succeeds while holding a core for as long as it may. Six of
;; these driven at once on a small machine compete with every other object
;; for the cores.
(module
  (import "torpor_v1" "event_read" (func $event_read (param i32 i32) (result i32)))
  (import "torpor_v1" "send" (func $send (param i64 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))

  (memory (export "memory") 1)
  (data (i32.const 0x0020) "n")
  (data (i32.const 0x0021) "p")

  (func (export "torpor_abi_version") (result i32)
    (i32.const 0x00010000))

  (func (export "torpor_on_message") (param $conn i64) (param $kind i32) (param $len i32) (result i32)
    (drop (call $event_read (i32.const 0) (i32.const 1)))
    (if (i32.eq (i32.load8_u (i32.const 0)) (i32.const 0x66)) ;; "f"
      (then (loop $forever (br $forever))))
    (if (i32.eq (i32.load8_u (i32.const 0)) (i32.const 0x70)) ;; "p"
      (then
        (drop (call $send (local.get $conn) (i32.const 1) (i32.const 0x0021) (i32.const 1)))
        (return (i32.const 0))))
    (drop (call $clock (i32.const 1) (i64.const 1) (i32.const 0x08)))
    (loop $spin
      (drop (call $clock (i32.const 1) (i64.const 1) (i32.const 0x10)))
      (br_if $spin
        (i64.lt_u (i64.sub (i64.load (i32.const 0x10)) (i64.load (i32.const 0x08)))
                  (i64.const 150000000))))
    (drop (call $send (local.get $conn) (i32.const 1) (i32.const 0x0020) (i32.const 1)))
    (i32.const 0))
)
