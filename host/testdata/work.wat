;; work.wat: a handler that does a given amount of real work, for the CPU-time
;; limit under contention.
;;
;; torpor_on_message reads an 8-byte little-endian iteration count from the
;; frame, runs a loop of that many steps (a multiply-add the compiler cannot
;; drop: its result is sent back) and answers with the 8-byte result. A
;; count of 0 loops forever.
(module
  (import "torpor_v1" "event_read" (func $event_read (param i32 i32) (result i32)))
  (import "torpor_v1" "send" (func $send (param i64 i32 i32 i32) (result i32)))

  (memory (export "memory") 1)

  (func (export "torpor_abi_version") (result i32)
    (i32.const 0x00010000))

  (func (export "torpor_on_message") (param $conn i64) (param $kind i32) (param $len i32) (result i32)
    (local $n i64) (local $x i64)
    (drop (call $event_read (i32.const 0) (i32.const 8)))
    (local.set $n (i64.load (i32.const 0)))
    (local.set $x (i64.const 1))
    (loop $work
      (local.set $x (i64.add (i64.mul (local.get $x) (i64.const 6364136223846793005)) (i64.const 1442695040888963407)))
      (local.set $n (i64.sub (local.get $n) (i64.const 1)))
      (br_if $work (i64.ne (local.get $n) (i64.const 0))))
    (i64.store (i32.const 8) (local.get $x))
    (drop (call $send (local.get $conn) (i32.const 2) (i32.const 8) (i32.const 8)))
    (i32.const 0))
)
