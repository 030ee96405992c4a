;; logbomb.wat: three ways to flood the host log.
;;
;; Protocol (the first byte of each frame decides; each answers a text frame
;; of that same byte when it gets to the end):
;;   "L"  one enormous line: grow memory to hold 48 MiB, fill it with "A",
;;        and pass all of it to torpor_v1.log in one call.
;;   "W"  one enormous write: fd_write to stdout with 1,000,000 iovecs, every
;;        one pointing at the same 1 KiB of "B" (about 1 GiB of output from
;;        8 MB of guest memory). wazero hands each iovec to the host's writer
;;        separately, inside one host call the CPU limit cannot interrupt.
;;   "S"  spam: log 100-byte lines as fast as it can for 150 ms of wall time,
;;        just under the event's CPU limit.
;;   "P"  ping: answer "P" at once, to tell when the events before it ended.
;;
;; Memory map: 0x0000 first byte of the message; 0x0008 u64 clock start;
;; 0x0010 u64 clock now; 0x0018 u32 nwritten; 0x1000 .. 0x1400 1 KiB of "B"
;; (the first 100 bytes are the spam line); 0x100000 .. the 48 MiB line or
;; the 8 MB iovec array.
(module
  (import "torpor_v1" "event_read" (func $event_read (param i32 i32) (result i32)))
  (import "torpor_v1" "send" (func $send (param i64 i32 i32 i32) (result i32)))
  (import "torpor_v1" "log" (func $log (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))

  (memory (export "memory") 1)

  (func (export "torpor_abi_version") (result i32)
    (i32.const 0x00010000))

  ;; $need grows memory to at least bytes; false when the host refuses.
  (func $need (param $bytes i32) (result i32)
    (local $pages i32)
    (local.set $pages (i32.shr_u (i32.add (local.get $bytes) (i32.const 0xffff)) (i32.const 16)))
    (if (i32.le_u (local.get $pages) (memory.size)) (then (return (i32.const 1))))
    (i32.ne (memory.grow (i32.sub (local.get $pages) (memory.size))) (i32.const -1)))

  (func $answer (param $conn i64)
    (drop (call $send (local.get $conn) (i32.const 1) (i32.const 0) (i32.const 1))))

  (func (export "torpor_on_message") (param $conn i64) (param $kind i32) (param $len i32) (result i32)
    (local $op i32) (local $p i32) (local $end i32)
    (drop (call $event_read (i32.const 0) (i32.const 1)))
    (local.set $op (i32.load8_u (i32.const 0)))
    (memory.fill (i32.const 0x1000) (i32.const 0x42) (i32.const 1024)) ;; "B"

    (if (i32.eq (local.get $op) (i32.const 0x4c)) ;; "L"
      (then
        (if (i32.eqz (call $need (i32.const 0x3100000))) (then (return (i32.const 1))))
        (memory.fill (i32.const 0x100000) (i32.const 0x41) (i32.const 0x3000000)) ;; 48 MiB of "A"
        (drop (call $log (i32.const 1) (i32.const 0x100000) (i32.const 0x3000000)))
        (call $answer (local.get $conn))
        (return (i32.const 0))))

    (if (i32.eq (local.get $op) (i32.const 0x57)) ;; "W"
      (then
        (if (i32.eqz (call $need (i32.const 0x900000))) (then (return (i32.const 1))))
        (local.set $p (i32.const 0x100000))
        (local.set $end (i32.add (i32.const 0x100000) (i32.const 8000000)))
        (loop $iov
          (i32.store (local.get $p) (i32.const 0x1000))
          (i32.store offset=4 (local.get $p) (i32.const 1024))
          (local.set $p (i32.add (local.get $p) (i32.const 8)))
          (br_if $iov (i32.lt_u (local.get $p) (local.get $end))))
        (drop (call $fd_write (i32.const 1) (i32.const 0x100000) (i32.const 1000000) (i32.const 0x18)))
        (call $answer (local.get $conn))
        (return (i32.const 0))))

    (if (i32.eq (local.get $op) (i32.const 0x53)) ;; "S"
      (then
        (drop (call $clock (i32.const 1) (i64.const 1) (i32.const 0x08)))
        (loop $spam
          (drop (call $log (i32.const 1) (i32.const 0x1000) (i32.const 100)))
          (drop (call $clock (i32.const 1) (i64.const 1) (i32.const 0x10)))
          (br_if $spam
            (i64.lt_u (i64.sub (i64.load (i32.const 0x10)) (i64.load (i32.const 0x08)))
                      (i64.const 150000000))))
        (call $answer (local.get $conn))
        (return (i32.const 0))))

    (call $answer (local.get $conn)) ;; "P" and anything else
    (i32.const 0))
)
