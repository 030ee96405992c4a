;; churn.wat: storage_list with the largest results it can get, as often as
;; the CPU limit lets it.
;;
;; Protocol (the first byte of each frame decides):
;;   "f"  fill: write values of 128 KiB (random bytes) under the keys "v" +
;;        u16 big-endian index, continuing from the last index written, until
;;        storage_put refuses (the per-event write limit) or 200 values exist.
;;        Answers the text "more", or "full" once all 200 are stored.
;;   "l"  list: call storage_list(prefix "v", limit 256) into a buffer big
;;        enough for all 200 values (about 26 MiB per call) again and again
;;        for 400 ms of wall time, then answer a binary frame of two u32 LE:
;;        the calls made and the calls that returned OK.
;; Each list call makes the host read and encode every value and copy the
;; result into guest memory: tens of MiB of host allocations per call, which
;; no per-instance limit covers.
;;
;; Memory map (464 pages, 29 MiB):
;;   0x0000  key: "v", u16 BE index        0x0010  u32 len_out
;;   0x0018  u64 clock: start              0x0020  u64 clock: now
;;   0x0030  first byte of the message     0x0040  reply texts / counters
;;   0x10000 .. 0x30000   value buffer, 128 KiB
;;   0x100000 ..          storage_list output, to the end of memory
(module
  (import "torpor_v1" "event_read" (func $event_read (param i32 i32) (result i32)))
  (import "torpor_v1" "send" (func $send (param i64 i32 i32 i32) (result i32)))
  (import "torpor_v1" "storage_put" (func $put (param i32 i32 i32 i32) (result i32)))
  (import "torpor_v1" "storage_list" (func $list (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))

  (memory (export "memory") 464)
  (data (i32.const 0x0000) "v")
  (data (i32.const 0x0040) "more")
  (data (i32.const 0x0048) "full")

  (global $next (mut i32) (i32.const 0)) ;; values written so far

  (func (export "torpor_abi_version") (result i32)
    (i32.const 0x00010000))

  (func $now (param $at i32)
    (drop (call $clock (i32.const 1) (i64.const 1) (local.get $at))))

  (func $fill (param $conn i64)
    (drop (call $random (i32.const 0x10000) (i32.const 0x20000)))
    (block $stop
      (loop $value
        (br_if $stop (i32.ge_u (global.get $next) (i32.const 200)))
        (i32.store8 (i32.const 1) (i32.shr_u (global.get $next) (i32.const 8)))
        (i32.store8 (i32.const 2) (global.get $next))
        (br_if $stop (call $put (i32.const 0) (i32.const 3) (i32.const 0x10000) (i32.const 0x20000)))
        (global.set $next (i32.add (global.get $next) (i32.const 1)))
        (br $value)))
    (if (i32.ge_u (global.get $next) (i32.const 200))
      (then (drop (call $send (local.get $conn) (i32.const 1) (i32.const 0x0048) (i32.const 4))))
      (else (drop (call $send (local.get $conn) (i32.const 1) (i32.const 0x0040) (i32.const 4))))))

  (func $churn (param $conn i64)
    (local $calls i32) (local $ok i32) (local $cap i32)
    (local.set $cap (i32.sub (i32.shl (memory.size) (i32.const 16)) (i32.const 0x100000)))
    (call $now (i32.const 0x18))
    (loop $again
      (if (i32.eqz
            (call $list (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 256)
                        (i32.const 0x100000) (local.get $cap) (i32.const 0x10)))
        (then (local.set $ok (i32.add (local.get $ok) (i32.const 1)))))
      (local.set $calls (i32.add (local.get $calls) (i32.const 1)))
      (call $now (i32.const 0x20))
      (br_if $again
        (i64.lt_u (i64.sub (i64.load (i32.const 0x20)) (i64.load (i32.const 0x18)))
                  (i64.const 400000000))))
    (i32.store (i32.const 0x50) (local.get $calls))
    (i32.store (i32.const 0x54) (local.get $ok))
    (drop (call $send (local.get $conn) (i32.const 2) (i32.const 0x50) (i32.const 8))))

  (func (export "torpor_on_message") (param $conn i64) (param $kind i32) (param $len i32) (result i32)
    (drop (call $event_read (i32.const 0x30) (i32.const 1)))
    (if (i32.eq (i32.load8_u (i32.const 0x30)) (i32.const 0x66)) ;; "f"
      (then (call $fill (local.get $conn)) (return (i32.const 0))))
    (if (i32.eq (i32.load8_u (i32.const 0x30)) (i32.const 0x6c)) ;; "l"
      (then (call $churn (local.get $conn)) (return (i32.const 0))))
    (i32.const 0))
)
